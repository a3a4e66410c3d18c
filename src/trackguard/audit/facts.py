"""What a row is made of before it is counted: facts per origin and per page, and flags.

An origin's facts (host, site, tunnel verdict) and a page's site are memoised per engine
(`Memo`, bounded); a classified row's verdicts are bits of one int (flags), and
`_row_counts` says what rows sharing flags add to a counts vector. Shared by both paths
of `tally.tally_rows` (`plain.py` for log rows, the general path for HAR detail and
entity data). No I/O; nothing here decides what to block (the engine does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from trackguard.audit.entities import EntityMap
from trackguard.audit.figures import (
    BLOCKED,
    BLOCKED_BYTES,
    BYTES,
    COOKIES_SENT,
    COOKIES_SET,
    DETAILED,
    DNT,
    GPC,
    REQUESTS,
    SUBRESOURCES,
    THIRD_PARTY,
    THIRD_PARTY_BY_SITE,
    THIRD_PARTY_BYTES,
    TUNNEL,
    N,
    RuleKey,
)
from trackguard.domain import MEMO_URL_MAX, site_of, split_url_fast
from trackguard.engine.batch import Question
from trackguard.model import Decision, RequestType


class Checker(Protocol):
    """What the tally needs from the engine (`trackguard.engine.Engine` fits)."""

    def check_batch(self, questions: Sequence[Question]) -> list[Decision]: ...

    def check_host(self, host: str) -> Decision: ...


def _rule_key(decision: Decision) -> RuleKey | None:
    rule = decision.matched
    if rule is None:
        return None
    return (rule.source.list_id, rule.source.line, rule.source.text)


_DOCUMENT = RequestType.DOCUMENT
_TYPE_NAMES = {t: (t.name or "other").lower() for t in RequestType}
_TYPE_BITS = {t: int(t) for t in RequestType}


# Flags of one classified row, packed into an int so rows with the same page, type and
# verdicts collapse into one counter entry before anything is added up (most do).
_THIRD = 1
_THIRD_BY_SITE = 2
_BLOCKED = 4
_TUNNEL = 8
_DETAILED = 16
_DNT = 32
_GPC = 64
_SENT = 128
_SET = 256
_SUB = 512


def _row_counts(flags: int, n: int, size: int) -> list[int]:
    """The counts vector of `n` rows sharing `flags` and `size` bytes in total."""
    counts = [0] * N
    counts[REQUESTS] = n
    counts[BYTES] = size
    if flags & _SUB:
        counts[SUBRESOURCES] = n
        if flags & _BLOCKED:
            counts[BLOCKED] = n
            counts[BLOCKED_BYTES] = size
        if flags & _TUNNEL:
            counts[TUNNEL] = n
        if flags & _THIRD_BY_SITE:
            counts[THIRD_PARTY_BY_SITE] = n
        if flags & _THIRD:
            counts[THIRD_PARTY] = n
            counts[THIRD_PARTY_BYTES] = size
            if flags & _DETAILED:
                counts[COOKIES_SENT] = n if flags & _SENT else 0
                counts[COOKIES_SET] = n if flags & _SET else 0
    if flags & _DETAILED:
        counts[DETAILED] = n
        counts[DNT] = n if flags & _DNT else 0
        counts[GPC] = n if flags & _GPC else 0
    return counts


#: What an origin key says about every URL under it: (host, site, tunnel), or `()` for
#: URLs with no web host (`_origin_facts`; falsy, so one `all()` finds them).
WebFacts = tuple[str, str, int]
OriginFacts = WebFacts | tuple[()]
_NOT_WEB: tuple[()] = ()


class Memo:
    """Facts per origin and per page URL for one engine, kept across batches.

    Hosts repeat massively (64,295 requests of the real log come from ~3,000 origins), and
    each new origin costs a URL split, a PSL lookup and a tunnel decision. A memo belongs
    to one engine (a different engine starts it afresh) and is cleared past `limit`
    entries, so hostile inputs with endless hosts cannot grow it without bound.
    """

    __slots__ = ("engine", "entities", "limit", "origins", "pages", "relations")

    def __init__(self, limit: int = 200_000) -> None:
        self.engine: Checker | None = None
        self.entities: EntityMap | None = None
        self.limit = limit
        self.origins: dict[str, OriginFacts] = {}
        self.pages: dict[str | None, str] = {}  # page URL -> its site
        # (host, page site) -> (third party, company or site): with entity data only
        self.relations: dict[tuple[str, str], tuple[bool, str]] = {}

    def ready(self, engine: Checker, entities: EntityMap | None = None) -> Memo:
        size = len(self.origins) + len(self.pages) + len(self.relations)
        if self.engine is not engine or size > self.limit:
            self.engine = engine
            self.origins, self.pages, self.relations = {}, {}, {}
        if self.entities is not entities:
            self.entities, self.relations = entities, {}
        return self


def _page_site(pages_seen: dict[str | None, str], source: str | None) -> str:
    """The site of a page URL ("" for none), memoised in `pages_seen` (page URLs of at
    most `MEMO_URL_MAX` characters: `Memo` is bounded by count, so keys must be too)."""
    page_host = split_url_fast(source)[1] if source else ""
    site = site_of(page_host) if page_host else ""
    if source is None or len(source) <= MEMO_URL_MAX:
        pages_seen[source] = site
    return site


def _origin_memo(
    origins: dict[str, OriginFacts], origin: str, url: str, engine: Checker
) -> OriginFacts:
    """`_origin_facts(url)` for a URL whose origin key is `origin`, remembered in
    `origins` (keys of at most `MEMO_URL_MAX` characters, as in `_page_site`). Called on
    a memo miss only: the hot loops read `origins` inline."""
    facts = _origin_facts(url, engine)
    if len(origin) <= MEMO_URL_MAX:  # a hostile row's 64 KB key is not kept
        origins[origin] = facts
    return facts


_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SECURE = frozenset({"https", "wss"})


def _origin_facts(url: str, engine: Checker) -> OriginFacts:
    """(host, site, tunnel) of a URL's origin: tunnel is `_TUNNEL` or 0 for `https`/`wss`
    (the proxy decides a tunnel by host alone), -1 for plain `http`/`ws` (by URL).

    Memoised under the origin key `url[:url.find("/", 8)]` (the whole URL without such a
    `/`). All URLs with one key have the same facts: a web scheme (`https` is the longest)
    puts `://` before index 8, so the authority the host comes from ends inside the key;
    a URL with another scheme has no host, and so has every URL sharing its key (they
    start alike, so they are not web URLs either).
    """
    scheme, host, _ = split_url_fast(url)
    if scheme not in _WEB_SCHEMES or not host:
        return _NOT_WEB
    tunnel = (_TUNNEL if engine.check_host(host).blocked else 0) if scheme in _SECURE else -1
    return host, site_of(host), tunnel
