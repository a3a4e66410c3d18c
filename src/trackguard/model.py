"""Shared value types: rules, requests, decisions, diagnostics.

Every other module imports its vocabulary from here, so the list parsers and the engine
never need to import each other. Nothing in this module does I/O or matching.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class TrackguardError(Exception):
    """Base for problems a user can see and act on (bad list file, unusable cache...)."""


class ListRejected(TrackguardError):
    """A list as a whole is unusable (bad header, no valid rule, too large)."""


class Format(enum.Enum):
    """List syntaxes trackguard reads. Values are the names used on the CLI and in state."""

    TPL = "tpl"
    ABP = "abp"
    HOSTS = "hosts"


class Action(enum.Enum):
    BLOCK = "block"
    ALLOW = "allow"


class Severity(enum.Enum):
    ERROR = "error"  # the line was skipped
    WARNING = "warning"  # the line loaded, but not as written (clamped, partly ignored)
    NOTICE = "notice"  # informational: loaded as written, or deliberately not applied


class RequestType(enum.IntFlag):
    """Request types with Adblock Plus option names; one bit each so rules keep a mask."""

    SCRIPT = 1 << 0
    IMAGE = 1 << 1
    STYLESHEET = 1 << 2
    OBJECT = 1 << 3
    XMLHTTPREQUEST = 1 << 4
    SUBDOCUMENT = 1 << 5
    PING = 1 << 6
    MEDIA = 1 << 7
    FONT = 1 << 8
    WEBSOCKET = 1 << 9
    OTHER = 1 << 10
    DOCUMENT = 1 << 11
    POPUP = 1 << 12

    @classmethod
    def parse(cls, name: str) -> RequestType:
        """Map an ABP type name (or a common alias) to its flag; unknown names are OTHER."""
        return _TYPE_NAMES.get(name.strip().lower(), cls.OTHER)


_TYPE_NAMES: dict[str, RequestType] = {t.name.lower(): t for t in RequestType}  # type: ignore[union-attr]
_TYPE_NAMES.update(
    {
        "xhr": RequestType.XMLHTTPREQUEST,
        "fetch": RequestType.XMLHTTPREQUEST,
        "sub_frame": RequestType.SUBDOCUMENT,
        "frame": RequestType.SUBDOCUMENT,
        "iframe": RequestType.SUBDOCUMENT,
        "main_frame": RequestType.DOCUMENT,
        "css": RequestType.STYLESHEET,
        "beacon": RequestType.PING,
        "imageset": RequestType.IMAGE,
        "object_subrequest": RequestType.OBJECT,
        "object-subrequest": RequestType.OBJECT,
        "": RequestType.OTHER,
    }
)

ALL_TYPES = RequestType(sum(t.value for t in RequestType))
#: Types a network rule applies to when it names none: everything but page-level types,
#: as in Adblock Plus (a rule needs `$document` / `$popup` to act on those).
DEFAULT_TYPES = ALL_TYPES & ~(RequestType.DOCUMENT | RequestType.POPUP)


class Party(enum.Enum):
    """Which requests a rule applies to, by first/third party relative to the page."""

    ANY = "any"
    FIRST = "first"
    THIRD = "third"


class Anchor(enum.IntFlag):
    """Where an ABP pattern is anchored. TPL and hosts rules never set these."""

    NONE = 0
    LEFT = 1  # `|pattern`: at the start of the URL
    RIGHT = 2  # `pattern|`: at the end of the URL
    HOST = 4  # `||pattern`: at the start of the host or of one of its labels


class HostMode(enum.Enum):
    """How `Rule.host` constrains the request host (TPL spec §A.5.1; hosts files)."""

    NONE = "none"  # no host constraint
    SUFFIX = "suffix"  # host equals `host` or ends with `.host` (TPL allow, hosts entries)
    LABELS = "labels"  # `host`'s labels occur as a contiguous run in the host (TPL block)
    EXACT = "exact"  # host equals `host` exactly (IP literals)


class SourceRef(NamedTuple):
    """Where a rule came from: enough to explain any decision to a person.

    A NamedTuple for the same reason as `Rule` (one per filter, made in a C call)."""

    list_id: str
    line: int  # 1-based line number in the list text
    text: str  # the raw line, stripped of surrounding whitespace


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about one line of a list. `code` is stable; tests assert on it."""

    list_id: str
    line: int  # 0 when it concerns the list as a whole
    severity: Severity
    code: str  # e.g. "tpl.bad-domain", "abp.unknown-option"
    message: str

    def __str__(self) -> str:
        where = f"{self.list_id}:{self.line}" if self.line else self.list_id
        return f"{where}: {self.severity.value}: {self.message} [{self.code}]"


class Rule(NamedTuple):
    """One network rule, in the one model every list format compiles to.

    Parsers fill in syntax; the engine gives it meaning. `pattern` is the URL pattern as
    written minus anchors and options (`*` is a wildcard everywhere; `^` is the ABP
    separator only when `syntax` is ABP, literal in TPL). Case is kept as written: the
    engine folds it unless `match_case` is set.

    A NamedTuple, not a frozen dataclass like the other records: a build makes one per
    filter (100k+ for EasyList + EasyPrivacy), and a frozen dataclass spends ~4x as long
    in `__init__` (one `object.__setattr__` per field); that was a fifth of the build.
    Immutable all the same; derive a changed copy with `rule._replace(field=...)`.
    """

    action: Action
    source: SourceRef
    syntax: Format
    pattern: str = ""
    anchor: Anchor = Anchor.NONE
    regex: str | None = None  # `/.../` filters: the regex body, for RE2 only
    host: str = ""  # A-label, lower case; used with host_mode
    host_mode: HostMode = HostMode.NONE
    scheme_equivalence: bool = False  # TPL: a leading `http://` also matches `https://`
    match_case: bool = False
    party: Party = Party.ANY
    types: RequestType = DEFAULT_TYPES
    include_domains: tuple[str, ...] = ()  # `$domain=` page domains; `name.*` = entity
    exclude_domains: tuple[str, ...] = ()  # `$domain=~...`
    denyallow: tuple[str, ...] = ()  # request hosts the rule does not apply to
    important: bool = False
    badfilter: bool = False  # this rule cancels its twin (same text without `badfilter`)
    removeparam: str | None = None  # `$removeparam=`: for the proxy, never blocks
    redirect: str | None = None  # `$redirect=` resource name: the block applies, not the redirect
    not_applied: tuple[str, ...] = ()  # options parsed but not enforced (csp, ...)

    @property
    def is_exception(self) -> bool:
        return self.action is Action.ALLOW


@dataclass(frozen=True, slots=True)
class ParsedList:
    """What a parser returns: the rules it could read and everything it noticed."""

    list_id: str
    format: Format
    rules: tuple[Rule, ...]
    diagnostics: tuple[Diagnostic, ...]
    #: Lines that are valid but not network rules, by kind ("cosmetic", "scriptlet",
    #: "comment", "csp", ...); reported so nothing is dropped silently.
    skipped: dict[str, int] = field(default_factory=dict)
    #: Metadata from the header/comments: "title", "expires_days", "homepage", ...
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListSource:
    """The text of one list as loaded, before parsing: what an engine cache is keyed by."""

    list_id: str
    text: str
    format: Format | None = None  # None: detect from content


@dataclass(frozen=True, slots=True)
class Request:
    """One web request in its page context, as the engine sees it."""

    url: str
    source_url: str | None = None
    type: RequestType = RequestType.OTHER


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request, with the rules that made it.

    `matched` is the deciding rule: the block rule when blocked, the exception when an
    exception overrode a block (then `overridden` is that block), else None. `rule`,
    `list` and `line` name it for people and JSON.
    """

    blocked: bool
    matched: Rule | None = None
    overridden: Rule | None = None
    reason: str = ""  # short human text: "third-party request matched block rule", ...

    @property
    def rule(self) -> str | None:
        return self.matched.source.text if self.matched else None

    @property
    def list(self) -> str | None:
        return self.matched.source.list_id if self.matched else None

    @property
    def line(self) -> int | None:
        return self.matched.source.line if self.matched else None

    def to_json(self) -> dict[str, object]:
        """The stable JSON shape used by the CLI and the proxy log."""

        def ref(rule: Rule | None) -> dict[str, object] | None:
            if rule is None:
                return None
            return {"rule": rule.source.text, "list": rule.source.list_id, "line": rule.source.line}

        return {
            "blocked": self.blocked,
            "rule": self.rule,
            "list": self.list,
            "line": self.line,
            "action": self.matched.action.value if self.matched else None,
            "overridden": ref(self.overridden),
            "reason": self.reason,
        }
