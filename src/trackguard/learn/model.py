"""The learner's value types (learning.md §B3, §B4, §B6): what goes into the core and out.

Observations carry cookie and query values, but only in memory while one observation is
scored: nothing here is ever persisted as is. Evidence (what the core returns) holds a
tracker key, a keyed site tag and kind bits, never a site name, URL or cookie value.
No I/O and no logic beyond trivial properties lives here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from trackguard.model import RequestType


class Kind(enum.IntFlag):
    """Evidence kinds (§B4), one bit each: the store keeps their OR per (tracker, site)."""

    COOKIE = 1 << 0  # identifier cookie sent or set
    URL_ID = 1 << 1  # a first-party cookie value shared through the query string
    BEACON = 1 << 2  # beacon / hyperlink-auditing ping
    STORAGE = 1 << 3  # third-party frame localStorage identifier (instrumented adapters)
    FINGERPRINT = 1 << 4  # canvas fingerprinting script (instrumented adapters)
    PIXEL = 1 << 5  # tiny image / 204 answer to a request carrying an identifier-sized value

    @property
    def names(self) -> list[str]:
        return [k.name.lower() for k in Kind if k & self and k.name]


NO_KIND = Kind(0)
#: Kinds that stripping cookies cannot stop (§B6 rule 3).
NON_COOKIE = Kind.URL_ID | Kind.BEACON | Kind.STORAGE | Kind.FINGERPRINT | Kind.PIXEL


def kinds_from_names(names: list[str] | tuple[str, ...]) -> Kind:
    out = NO_KIND
    for name in names:
        member = Kind.__members__.get(name.upper())
        if member is not None:
            out |= member
    return out


class Mode(enum.Enum):
    """§B6 modes. `suggest` is the default: learned state never changes traffic."""

    OFF = "off"
    SUGGEST = "suggest"
    AUTO = "auto"


class Remedy(enum.Enum):
    """What a learned decision does (§B6). `path` blocks one script path on a shared host."""

    NONE = "none"
    STRIP = "strip"
    BLOCK = "block"
    PATH = "path"


class Source(enum.Enum):
    LEARNED = "learned"
    IMPORTED = "imported"
    PRESENCE = "presence"


@dataclass(frozen=True, slots=True)
class SetCookieInfo:
    """One `Set-Cookie` as the detectors need it (attributes other than these are ignored)."""

    name: str
    value: str
    partitioned: bool = False
    deletes: bool = False  # Max-Age<=0 or an Expires in the past


@dataclass(frozen=True, slots=True)
class ResponseShape:
    """Status, content class and size of a response: enough to tell assets from beacons."""

    status: int
    content_class: str  # script/style/font/media/image/html/json/text/other
    size: int  # body bytes (-1 when unknown)

    @property
    def is_asset(self) -> bool:
        return self.content_class in ASSET_CLASSES and self.size >= ASSET_MIN_SIZE


ASSET_CLASSES = frozenset({"script", "style", "font", "media", "image"})
ASSET_MIN_SIZE = 1024


class ExtraKind(enum.Enum):
    STORAGE_ID = "storage_id"
    CANVAS_FP = "canvas_fp"


@dataclass(frozen=True, slots=True)
class ExtraSignal:
    """A signal only an instrumented browser sees (§B4 `storage` / `fingerprint`)."""

    kind: ExtraKind
    bits: float = 0.0  # STORAGE_ID: summed key+value estimate
    script_path: str = ""  # CANVAS_FP: path of the script that read the canvas


@dataclass(frozen=True, slots=True)
class Observation:
    """One attributed third-party request (§B3). The adapter did the attribution (§B2)."""

    day: int  # UTC day number; no finer time enters the core
    site_host: str  # host of the attributed top-level page
    request_host: str  # after optional CNAME uncloaking by an adapter
    request_type: RequestType
    method: str = "GET"
    path: str = "/"  # for presence items and fingerprint path rules only
    sent_cookies: tuple[tuple[str, str], ...] = ()
    set_cookies: tuple[SetCookieInfo, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    response: ResponseShape | None = None
    extra: frozenset[ExtraSignal] = frozenset()
    #: The page context's first-party cookie values (memory only, §B3), for `url_id`.
    page_cookie_values: tuple[str, ...] = ()
    #: The page URL and user agent, removed from query values before `url_id` matching.
    page_url: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the core keeps of one observation: keys and bits, nothing that names a site."""

    tracker: str  # eTLD+1 of the request host (PSL with private section), or host+path
    site_tag: int  # keyed, truncated tag of the (entity-merged) site key
    kinds: Kind
    day: int
    novel: bool  # no enabled list or seed knows the tracker (§B9.3)
    asset: bool | None = None  # the response was asset-shaped; None without a response
    path: str = ""  # fingerprint script path on a shared host (path rule key)


@dataclass(frozen=True, slots=True)
class PresenceItem:
    """IE-compatible presence mode (TPL spec §B.2): host + path, query removed."""

    item: str
    site_tag: int
    day: int


@dataclass(frozen=True, slots=True)
class Decision:
    """A learned decision and its reason, in words a person can check (§B7, L-10)."""

    action: Remedy
    reason: str


#: Cookie names never counted, each with its reason (§B4).
IGNORED_COOKIE_REASONS: dict[str, str] = {
    "__cf_bm": "Cloudflare bot management: per-site, short-lived, not a cross-site id",
    "cf_clearance": "Cloudflare challenge clearance: per-site",
    "__cfruid": "Cloudflare rate limiting: per-site",
    "_cfuvid": "Cloudflare rate limiting: per-site",
    "awsalb": "AWS load-balancer stickiness",
    "awsalbcors": "AWS load-balancer stickiness",
}
IGNORED_COOKIES = frozenset(IGNORED_COOKIE_REASONS)


@dataclass(frozen=True, slots=True)
class LearnConfig:
    """Learner parameters with the defaults of §B4, §B6, §B9 and §B10."""

    mode: Mode = Mode.SUGGEST
    threshold: int = 3  # T, distinct sites (3-30)
    cookie_bits: float = 12.0
    url_id_bits: float = 33.0
    storage_bits: float = 33.0
    pixel_bits: float = 33.0
    novelty_cap: int = 2  # M novel domains per site per day
    min_days: int = 2  # evidence on at least this many distinct days before auto
    evidence_days: int = 30
    rule_days: int = 90
    asset_share: float = 0.8
    presence: bool = False  # IE-compatible presence mode (opt-in)
    presence_threshold: int = 10  # 3-30
    ignore_cookie_names: frozenset[str] = field(default_factory=lambda: IGNORED_COOKIES)

    def __post_init__(self) -> None:
        for name in ("threshold", "presence_threshold"):
            value = getattr(self, name)
            if not 3 <= value <= 30:
                raise ValueError(f"{name} must be between 3 and 30 (got {value})")
