"""Adblock Plus / EasyList syntax: network filters in, `Rule`s and diagnostics out.

No I/O and no matching here: the parser only records what each line says. Cosmetic,
scriptlet and other non-network filters are recognised, counted in `ParsedList.skipped`
and reported, never silently dropped. A filter with an option we cannot honour is
skipped as a whole (applying it without that option would block more than its author
meant), with a diagnostic naming the option.

Speed matters (EasyList is ~80k lines and is parsed at start-up), so lines are taken
apart with `str` methods; the only regular expressions are fixed linear ones that tell
the plain `||host^` filters apart (for `scan_abp`, in one C-level pass over the lines).
The `$options` vocabulary and splitting live in `abp_options`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import compress, count
from operator import itemgetter, not_
from typing import NamedTuple

from trackguard.domain import to_ascii_host
from trackguard.lists.abp_options import (
    COSMETIC_EXCEPTION_OPTIONS,
    NOOP_OPTIONS,
    NOT_APPLIED_KINDS,
    REDIRECT_ALIASES,
    TYPE_OPTIONS,
    parse_domains,
    split_options,
)
from trackguard.lists.text import MAX_LIST_BYTES, split_lines, utf8_size
from trackguard.model import (
    ALL_TYPES,
    DEFAULT_TYPES,
    Action,
    Anchor,
    Diagnostic,
    Format,
    HostMode,
    ListRejected,
    ParsedList,
    Party,
    RequestType,
    Rule,
    Severity,
    SourceRef,
)

MAX_RULES = 500_000
MAX_LINE = 65536  # EasyList has `$domain=` lists of several KiB; TPL keeps 4,096 (§A.10)

_LEFT, _RIGHT, _HOST = int(Anchor.LEFT), int(Anchor.RIGHT), int(Anchor.HOST)
_DEFAULT = int(DEFAULT_TYPES)
_ALL = int(ALL_TYPES)
_FLAGS: dict[int, RequestType] = {}
_ANCHORS = {int(a): a for a in (Anchor(i) for i in range(8))}


def _types_flag(mask: int) -> RequestType:
    flag = _FLAGS.get(mask)
    if flag is None:
        flag = _FLAGS[mask] = RequestType(mask)
    return flag


#: Separators that start a cosmetic (element hiding / scriptlet) filter.
_COSMETIC_MARKERS = ("##", "#@#", "#?#", "#@?#", "#$#", "#@$#", "#%#", "#@%#", "#$?#")


_SCRIPTLET_STARTS = ("+js(", "//scriptlet")


def _cosmetic_kind(line: str) -> str | None:
    """Which kind of non-network filter a line is, or None for a network filter."""
    if "#" not in line:
        return None
    for marker in _COSMETIC_MARKERS:
        at = line.find(marker)
        if at < 0:
            continue
        body = line[at + len(marker) :]
        if marker in ("#%#", "#@%#") or body.startswith(_SCRIPTLET_STARTS):
            return "scriptlet"
        if "@" in marker:
            return "cosmetic-exception"
        if marker in ("#?#", "#$?#"):
            return "procedural"
        if marker in ("#$#",):
            return "css-injection"
        return "cosmetic"
    return None


class _Line:
    """Per-line parse state, so `_parse_network` stays a flat sequence of steps."""

    __slots__ = ("diagnostics", "lineno", "list_id", "text")

    def __init__(self, list_id: str, lineno: int, text: str, diagnostics: list[Diagnostic]):
        self.list_id = list_id
        self.lineno = lineno
        self.text = text
        self.diagnostics = diagnostics

    def report(self, severity: Severity, code: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.list_id, self.lineno, severity, code, message))


# The fast lane's records are made by C calls: `Rule(...)` and `SourceRef(...)` go
# through a Python-level `__new__` (filling 22 fields), at twice the cost.
_new_tuple = tuple.__new__
_RULE_TAIL = tuple(Rule(Action.BLOCK, SourceRef("", 0, ""), Format.ABP))[5:]
# Enum members as module constants: `Party.ANY` is a ~90 ns metaclass lookup each time.
_BLOCK, _ALLOW, _ABP, _NO_HOST = Action.BLOCK, Action.ALLOW, Format.ABP, HostMode.NONE
_ANY_PARTY, _FIRST_PARTY, _THIRD_PARTY = Party.ANY, Party.FIRST, Party.THIRD
_HOST_ANCHOR, _HOST_RIGHT_ANCHOR = Anchor.HOST, Anchor.HOST | Anchor.RIGHT


def _split_anchors(pattern: str) -> tuple[str, int]:
    """`||x^`, `|x`, `x|` -> the pattern without anchors, and the anchor bits."""
    anchor = 0
    if pattern.startswith("||"):
        anchor = _HOST
        pattern = pattern[2:]
    elif pattern.startswith("|"):
        anchor = _LEFT
        pattern = pattern[1:]
    if pattern.endswith("|"):
        anchor |= _RIGHT
        pattern = pattern[:-1]
    return pattern, anchor


def _parse_plain(list_id: str, lineno: int, text: str) -> Rule | None:
    """Fast path for the most common shape: a block pattern with no options.

    About 80% of EasyList/EasyPrivacy network lines (`||host^`, `/path/part.`) look like
    this; building them without the option machinery halves the parse time. Anything
    unusual returns None and takes the general path.
    """
    if "$" in text or text.startswith("@@") or not text.isascii():
        return None
    if len(text) > 2 and text.startswith("/") and text.endswith("/"):
        return None  # a regex
    pattern, anchor = _split_anchors(text)
    if not pattern.strip("*"):
        return None  # let the general path report it
    src = _new_tuple(SourceRef, (list_id, lineno, text))
    return _new_tuple(Rule, (_BLOCK, src, _ABP, pattern, _ANCHORS[anchor]) + _RULE_TAIL)  # noqa: RUF005 - one C call


def _parse_network(line: _Line) -> Rule | str | None:
    """One network filter. Returns a Rule, a skipped-kind name, or None (error reported)."""
    text = line.text
    action = _BLOCK
    body = text
    if body.startswith("@@"):
        action = _ALLOW
        body = body[2:]
    pattern, options = split_options(body)

    party = _ANY_PARTY
    include: list[str] = []
    exclude: list[str] = []
    denyallow: list[str] = []
    positive = 0
    negative = 0
    match_case = important = badfilter = False
    removeparam: str | None = None
    redirect: str | None = None
    not_applied: list[str] = []
    cosmetic_only = False

    if options is not None:
        if not options:
            line.report(Severity.ERROR, "abp.empty-options", "`$` with no options after it")
            return None
        for raw in options.split(","):
            opt = raw.strip()
            name, eq, value = opt.partition("=")
            name = name.lower()
            negated = name.startswith("~")
            key = name[1:] if negated else name
            if key in TYPE_OPTIONS:
                if negated:
                    negative |= TYPE_OPTIONS[key]
                else:
                    positive |= TYPE_OPTIONS[key]
            elif key in ("third-party", "3p"):
                party = _FIRST_PARTY if negated else _THIRD_PARTY
            elif key in ("first-party", "1p"):
                party = _THIRD_PARTY if negated else _FIRST_PARTY
            elif key in ("domain", "from") and eq and not negated:
                inc, exc, bad = parse_domains(value, "|")
                if bad:
                    line.report(
                        Severity.WARNING,
                        "abp.bad-domain",
                        f"ignored invalid domain(s) in `{key}=`: {', '.join(bad)}",
                    )
                include += inc
                exclude += exc
                if not inc and not exc:
                    line.report(Severity.ERROR, "abp.bad-domain", f"`{key}=` has no valid domain")
                    return None
            elif key == "denyallow" and eq and not negated:
                inc, exc, bad = parse_domains(value, "|")
                if bad or exc or not inc or any(d.endswith(".*") for d in inc):
                    line.report(
                        Severity.ERROR,
                        "abp.bad-denyallow",
                        "`denyallow=` takes plain domains without `~` or wildcards",
                    )
                    return None
                denyallow += inc
            elif key == "match-case":
                match_case = not negated
            elif key == "important" and not negated:
                important = True
            elif key == "badfilter" and not negated:
                badfilter = True
            elif key == "all" and not negated:
                positive |= _ALL
            elif key == "removeparam" or key == "queryprune":
                removeparam = value if eq else ""
            elif key == "redirect" and eq:
                redirect = value
            elif key in REDIRECT_ALIASES and not eq:
                redirect = REDIRECT_ALIASES[key]
            elif key in COSMETIC_EXCEPTION_OPTIONS:
                cosmetic_only = True
                not_applied.append(key)
            elif key in NOT_APPLIED_KINDS:
                return NOT_APPLIED_KINDS[key]
            elif key in NOOP_OPTIONS:
                pass
            else:
                line.report(
                    Severity.ERROR,
                    "abp.unknown-option",
                    f"unknown option `{opt}`: filter skipped (applying it without the "
                    "option would block more than intended)",
                )
                return None

    if cosmetic_only:
        # `@@||site^$generichide` etc. govern cosmetic filtering only.
        return "cosmetic-exception" if action is _ALLOW else "cosmetic"

    if positive:
        types = positive & ~negative
    elif negative:
        types = _DEFAULT & ~negative
    else:
        types = _DEFAULT
    if not types:
        line.report(Severity.ERROR, "abp.no-types", "the options exclude every request type")
        return None

    regex: str | None = None
    anchor = 0
    if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
        regex = pattern[1:-1]
        pattern = ""
    else:
        pattern, anchor = _split_anchors(pattern)
        if anchor & _HOST and pattern and not pattern.isascii():
            # The host part of `||host^...` is compared in A-label form.
            end = len(pattern)
            for ch in "/^*|:?":
                i = pattern.find(ch)
                if 0 <= i < end:
                    end = i
            pattern = to_ascii_host(pattern[:end]) + pattern[end:]

    if (
        not pattern.strip("*")
        and regex is None
        and not include
        and not exclude
        and removeparam is None
        and not (positive and types != _DEFAULT)
        and party is _ANY_PARTY
        and action is _BLOCK
        and not anchor
    ):
        line.report(
            Severity.ERROR,
            "abp.match-all",
            "filter would block every request; add a pattern or options",
        )
        return None

    # Positional, by a C call (see `_new_tuple`), in `Rule`'s field order.
    return _new_tuple(
        Rule,
        (
            action,
            _new_tuple(SourceRef, (line.list_id, line.lineno, text)),
            _ABP,
            pattern,
            _ANCHORS[anchor],
            regex,
            "",  # host
            _NO_HOST,
            False,  # scheme_equivalence
            match_case,
            party,
            _types_flag(types),
            tuple(include),
            tuple(exclude),
            tuple(denyallow),
            important,
            badfilter,
            removeparam,
            redirect,
            tuple(not_applied),
        ),
    )


def _header_metadata(line: str, metadata: dict[str, str]) -> None:
    """`! Title: EasyPrivacy` and `! Expires: 4 days (update frequency)` comments."""
    body = line[1:].strip()
    key, sep, value = body.partition(":")
    if not sep or not key or " " in key.strip():
        return
    key = key.strip().lower()
    value = value.strip()
    if key == "expires":
        value = value.split("(")[0].strip()
    if key and value and key not in metadata:
        metadata[key] = value


#: A lower-cased `||` pattern that is exactly `host^`: host characters, not starting or
#: ending with a dot. Linear: one class per position (our own fixed pattern, no list text).
PLAIN_HOST = re.compile(r"[a-z0-9\-_](?:[a-z0-9.\-_]*[a-z0-9\-_])?\^")  # noqa: TID251


#: A whole stripped line that the fast lane below would make a `||host^` rule of, with
#: a pattern that `PLAIN_HOST` accepts once lower-cased (ASCII only, at most `MAX_LINE`).
_PLAIN_LINE = re.compile(  # noqa: TID251 - our own fixed pattern, linear
    rf"\|\|[A-Za-z0-9\-_](?:[A-Za-z0-9.\-_]{{0,{MAX_LINE - 5}}}[A-Za-z0-9\-_])?\^"
).fullmatch
_HOST_PART = itemgetter(slice(2, -1))


class PlainHosts(NamedTuple):
    """The `||host^` filters with no option that `scan_abp` set aside, in line order.

    Each stands for `Rule(BLOCK, SourceRef(list_id, line, text), ABP, text[2:], HOST)`,
    the rule `parse_abp` makes of it; `hosts` holds `text[2:-1].lower()`.
    """

    lines: list[int]
    texts: list[str]
    hosts: list[str]


def parse_abp(text: str, list_id: str) -> ParsedList:
    """Parse an Adblock Plus syntax list (EasyList, EasyPrivacy, uBO/AdGuard extensions).

    Raises ListRejected when the text exceeds the size limits or has no usable filter
    (network or cosmetic) at all.
    """
    return _parse(text, list_id, None)


def parse_abp_line(text: str, list_id: str, lineno: int) -> list[Rule]:
    """One rule line of an ABP list, as `parse_abp` makes it at that line number.

    A loaded engine re-makes the few rules that decide from their list, line and text;
    the whole-list path around one line costs more than the line itself (~10 µs, on a
    request's time). Only for lines that were rules: no comment or cosmetic checks.
    """
    line = text.strip()
    if not line or len(line) > MAX_LINE:
        return []
    result = _parse_plain(list_id, lineno, line) or _parse_network(_Line(list_id, lineno, line, []))
    return [result] if isinstance(result, Rule) else []


def scan_abp(text: str, list_id: str) -> tuple[ParsedList, PlainHosts]:
    """`parse_abp` for the engine builder: the plain `||host^` filters (most of EasyList
    and EasyPrivacy) come as `PlainHosts` instead of `Rule`s, everything else as usual.

    The builder puts a plain filter in its host bucket as a bare rule id and keeps only
    its list, line and text, so a `Rule` per line would be made only to be thrown away
    (a third of the build). Same diagnostics, counts and limits as `parse_abp`.
    """
    plain = PlainHosts([], [], [])
    return _parse(text, list_id, plain), plain


def _parse(text: str, list_id: str, plain: PlainHosts | None) -> ParsedList:
    if utf8_size(text) > MAX_LIST_BYTES:
        raise ListRejected(f"{list_id}: list is larger than {MAX_LIST_BYTES // (1024 * 1024)} MiB")
    rules: list[Rule] = []
    diagnostics: list[Diagnostic] = []
    skipped: dict[str, int] = {}
    metadata: dict[str, str] = {}

    def skip(kind: str) -> None:
        skipped[kind] = skipped.get(kind, 0) + 1

    # Locals for the fast lane's per-line steps (a global lookup each, 87k times).
    new, add, tail, block, abp = _new_tuple, rules.append, _RULE_TAIL, _BLOCK, _ABP
    host_anchor, max_line = _HOST_ANCHOR, MAX_LINE
    # LF, CRLF and CR end a line (see `lists.text`); no BOM.
    lines = list(map(str.strip, split_lines(text)))
    # A line makes at most one rule: with no more lines than MAX_RULES, no need to count.
    count_rules = len(lines) > MAX_RULES
    numbered: Iterable[tuple[int, str]] = enumerate(lines, 1)
    plain_lines: list[int] = []
    if plain is not None:
        # `scan_abp`: plain `||host^` lines are set aside by C-level maps, and the loop
        # below only sees the others. They count as rules.
        marks = list(map(bool, map(_PLAIN_LINE, lines)))  # (not 87k Match objects kept)
        plain.lines.extend(compress(count(1), marks))
        plain.texts.extend(compress(lines, marks))
        plain.hosts.extend(map(str.lower, map(_HOST_PART, plain.texts)))
        plain_lines = plain.lines
        if count_rules and len(plain_lines) > MAX_RULES:
            raise ListRejected(f"{list_id}: more than {MAX_RULES} rules")
        numbered = compress(enumerate(lines, 1), map(not_, marks))
    for lineno, line in numbered:
        if line[:2] == "||" and "$" not in line and "#" not in line and line.isascii():
            # Fast lane for `||pattern` with no option (80% of EasyList + EasyPrivacy):
            # what `_parse_plain` makes of it, without the general steps.
            pattern, anchor = line[2:], host_anchor
            if pattern[-1:] == "|":
                pattern, anchor = pattern[:-1], _HOST_RIGHT_ANCHOR
            if pattern.strip("*") and len(line) <= max_line:
                src = new(SourceRef, (list_id, lineno, line))
                add(new(Rule, (block, src, abp, pattern, anchor) + tail))  # noqa: RUF005 - one C call; unpacking is slower
                if count_rules and len(rules) + len(plain_lines) > MAX_RULES:
                    raise ListRejected(f"{list_id}: more than {MAX_RULES} rules")
                continue
        if not line:
            skip("blank")
            continue
        first = line[0]
        if first == "!":
            skip("comment")
            if lineno < 100:
                _header_metadata(line, metadata)
            continue
        if first == "[" and line.endswith("]"):
            skip("header")
            continue
        if len(line) > MAX_LINE:
            diagnostics.append(
                Diagnostic(
                    list_id,
                    lineno,
                    Severity.ERROR,
                    "abp.line-too-long",
                    f"line longer than {MAX_LINE} characters",
                )
            )
            continue
        at = line.find("##")
        if at >= 0:
            # What `_cosmetic_kind` says of an element-hiding line (its first marker is
            # `##`), inline: 24k of EasyList's lines.
            hiding = "scriptlet" if line.startswith(_SCRIPTLET_STARTS, at + 2) else "cosmetic"
            skipped[hiding] = skipped.get(hiding, 0) + 1
            continue
        kind = _cosmetic_kind(line)
        if kind is not None:
            skip(kind)
            continue
        if first == "#" and (len(line) == 1 or line[1] in " #!-="):
            skip("comment")  # hosts-style comment in a mixed list
            continue
        result = _parse_plain(list_id, lineno, line) or _parse_network(
            _Line(list_id, lineno, line, diagnostics)
        )
        if isinstance(result, Rule):
            rules.append(result)
            if count_rules and len(rules) + len(plain_lines) > MAX_RULES:
                raise ListRejected(f"{list_id}: more than {MAX_RULES} rules")
        elif isinstance(result, str):
            skip(result)
            diagnostics.append(
                Diagnostic(
                    list_id,
                    lineno,
                    Severity.NOTICE,
                    f"abp.not-applied.{result}",
                    f"{result} filter parsed but not applied by the network engine",
                )
            )

    non_network = sum(v for k, v in skipped.items() if k not in ("blank", "comment", "header"))
    if not rules and not plain_lines and not non_network:
        raise ListRejected(f"{list_id}: no valid filter in the list")
    return ParsedList(list_id, Format.ABP, tuple(rules), tuple(diagnostics), skipped, metadata)
