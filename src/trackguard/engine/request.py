"""The request as filters see it: URL text, host, tokens, page keys and work budget.

`Context` is made once per question and handed to every filter looked at; everything on
it is computed when first asked for. The helpers around it are memoised per host or
page (a page's requests go to few hosts, again and again). Pure: no I/O, no index.
"""

from __future__ import annotations

from functools import lru_cache

from trackguard.domain import (
    MEMO_URL_MAX,
    host_suffixes,
    public_suffix,
    same_site,
    split_url_fast,
)
from trackguard.engine.literals import token_bytes
from trackguard.engine.pieces import BUDGET, Budget, OverBudget, reduce

DEDUPE_TOKENS_AT = 32  # longer token lists are deduplicated (see `url_tokens`)
MANY_TOKENS = 256  # past this many, a list of few distinct tokens...
FEW_DISTINCT_TOKENS = 16  # ... is ordered by one `find` per distinct token


def url_tokens(lower: str) -> list[bytes]:
    """The URL's tokens (runs of `[a-z0-9%]`, as bytes), each once when there are many.

    A split of `token_bytes`, in C: about 3x faster than a regex `findall` on real
    URLs. A hostile URL repeating one token thousands of times must not make us look
    at its bucket thousands of times; ordinary URLs repeat few, so short lists are left
    as they are. Long lists keep the URL's order (host and path tokens first: visiting
    buckets in another order made long real URLs 25% slower), and a list of few distinct
    tokens repeated many times (the hostile case: 4,000 one-letter tokens in 8 KB)
    skips the `dict.fromkeys` (65 µs there) for a `set` and one C-level `find` per
    distinct token. (`Category.first` does not call this: it walks a short URL's split
    as it is, and meets a long URL's buckets by a C-level set intersection.)
    """
    data = token_bytes(lower)
    tokens = data.split()
    if len(tokens) > DEDUPE_TOKENS_AT:
        if len(tokens) > MANY_TOKENS:
            distinct = set(tokens)
            if len(distinct) <= FEW_DISTINCT_TOKENS:
                padded = b" " + data + b" "  # a whole token is a run between spaces
                return sorted(distinct, key=lambda t: padded.find(b" " + t + b" "))
        return list(dict.fromkeys(tokens))
    return tokens


@lru_cache(maxsize=65536)
def label_runs(host: str, longest: int) -> tuple[str, ...]:
    """Contiguous runs of up to `longest` labels of a host (TPL spec §A.5.1 block rules).

    `longest` is the label count of the longest indexed TPL domain: longer runs can
    never be a key, and bounding them keeps a host of 127 labels at 127·k runs, not 8,128.
    """
    labels = host.split(".")
    n = len(labels)
    return tuple(
        ".".join(labels[i:j]) for i in range(n) for j in range(i + 1, min(n, i + longest) + 1)
    )


@lru_cache(maxsize=65536)
def suffixes(host: str) -> tuple[str, ...]:
    return tuple(host_suffixes(host)) if host else ()


#: Memos of the page side of a question, plain dicts that hot paths read inline (a
#: `functools.lru_cache` call costs several dict lookups' time on every request).
PAGES_KEPT = 4096  # source URLs whose page host is remembered (`MEMO_URL_MAX` long at most)
PAGE_KEYS_KEPT = 16384  # page hosts whose `$domain=` keys are remembered
_PAGE_HOST: dict[str, str] = {}
_PAGE_KEYS: dict[str, tuple[str, ...]] = {}


def page_keys(page_host: str) -> tuple[str, ...]:
    """Keys `$domain=` entries can match for a page, most specific first (memoised).

    For `www.google.co.uk`: `www.google.co.uk`, `www.google.*`, `google.co.uk`,
    `google.*`, `co.uk`, `uk` (entity forms `name.*` stand beside the label they start
    at, so "the most specific entry wins" works across both kinds).
    """
    found = _PAGE_KEYS.get(page_host)
    if found is None:
        found = ()
        if page_host:
            suffix = public_suffix(page_host) or ""
            keys: list[str] = []
            for s in host_suffixes(page_host):
                keys.append(s)
                if suffix and len(s) > len(suffix) + 1 and s.endswith("." + suffix):
                    keys.append(s[: -len(suffix) - 1] + ".*")
            found = tuple(keys)
        if len(_PAGE_KEYS) >= PAGE_KEYS_KEPT:
            _PAGE_KEYS.clear()
        _PAGE_KEYS[page_host] = found
    return found


def page_host(source_url: str) -> str:
    """The host of a page URL (memoised: a page asks for many requests; a URL over
    `domain.MEMO_URL_MAX` characters is not kept, so the memo's memory stays bounded)."""
    found = _PAGE_HOST.get(source_url)
    if found is None:
        found = split_url_fast(source_url)[1]
        if len(source_url) <= MEMO_URL_MAX:
            if len(_PAGE_HOST) >= PAGES_KEPT:
                _PAGE_HOST.clear()
            _PAGE_HOST[source_url] = found
    return found


class Context(Budget):
    """Everything about one request the filters look at, computed once.

    It is its own work budget (`pieces.Budget`): one object less per request."""

    __slots__ = (
        "data",
        "distinct",
        "host",
        "host_end",
        "host_start",
        "lower",
        "over",
        "page_host",
        "page_keys",
        "reduced_case",
        "reduced_lower",
        "scan",
        "split",
        "text",
        "third",
        "tokens",
        "type",
    )

    tokens: list[bytes] | None
    split: list[bytes] | None
    distinct: tuple[set[bytes], set[bytes]] | None
    data: bytes | None
    over: OverBudget | None

    def __init__(self, url: str, page_host: str, type_bit: int, has_page: bool) -> None:
        scheme, host, text = split_url_fast(url)
        self.text = text
        self.lower = text.lower()
        self.host = host
        self.host_start = len(scheme) + 3 if host else 0
        self.host_end = self.host_start + len(host)
        self.type = type_bit
        keys = _PAGE_KEYS.get(page_host)  # `page_keys`, its common case inlined
        self.page_keys = keys if keys is not None else page_keys(page_host)
        self.page_host = page_host
        # Known at once without a page (third-party: corpus README, issue 2); otherwise
        # worked out by `is_third` when a filter first asks (most requests never do).
        self.third: bool | None = True if not has_page or not page_host else None
        self.tokens = self.split = self.distinct = self.data = self.over = None  # when asked
        self.reduced_lower = self.reduced_case = ""
        self.left = BUDGET
        # Looking at a filter costs a Python step (`STEP`); scanning the URL for its
        # pattern costs `scan` more (charged per bucket, before it is walked).
        self.scan = len(text)

    def split_tokens(self) -> list[bytes]:
        """Every token of the URL in order, repeats kept (`token_bytes`, split), once."""
        split = self.split = token_bytes(self.lower).split()
        return split

    def token_sets(self) -> tuple[set[bytes], set[bytes]]:
        """A long URL's tokens as a set, and those of its part before `?` (host and
        path: the tokens that decide most blocks are visited first), made once."""
        found = self.distinct
        if found is None:
            split = self.split if self.split is not None else self.split_tokens()
            lower = self.lower
            query = lower.find("?")
            present = set(split)
            head = set(token_bytes(lower[:query]).split()) if query > 0 else present
            found = self.distinct = (present, head)
        return found

    def reduced(self, text: str, pad: int) -> str:
        """`pieces.reduce(text)` plus at least `pad` `^` (end-of-text), made once."""
        lower = text is self.lower
        have = self.reduced_lower if lower else self.reduced_case
        if len(have) - len(text) < pad or not have:
            have = reduce(text) + "^" * max(pad, 8)
            if lower:
                self.reduced_lower = have
            else:
                self.reduced_case = have
        return have

    def is_third(self) -> bool:
        """Whether the request goes to another site than its page's, memoised per
        (host, page host): one dict lookup for the pairs a page makes again and again,
        `same_site` (no PSL when the hosts end differently) for a new one."""
        third = self.third
        if third is None:
            key = (self.host, self.page_host)
            third = _THIRD.get(key)
            if third is None:
                third = not same_site(*key)
                if len(_THIRD) >= THIRD_KEPT:
                    _THIRD.clear()
                _THIRD[key] = third
            self.third = third
        return third


THIRD_KEPT = 65536  # (host, page host) pairs whose party is remembered
_THIRD: dict[tuple[str, str], bool] = {}
