"""Matcher: answers "which rule applies to this request" from a built index.

Read-only after construction (the only mutation is filling memo caches), so one matcher
can serve many threads, and a new one can be built aside and swapped in. Pure: no I/O.

Evaluation order (TPL spec §A.8 steps 3-4, the same for every format):
  1. find a block rule (important ones included); none -> allowed, no rule;
  2. an `$important` block -> blocked, exceptions cannot lift it;
  3. an exception (ABP `@@`, TPL `+d`, or a `$document` exception for the page) -> allowed,
     unless an `$important` block also applies;
  4. otherwise blocked by the rule from step 1.

Candidate filters come from, in order: the request host's parent domains (the bulk of
real lists: `||host^`, TPL domains, hosts entries), TPL label runs, URL tokens, the page's
domains (filters only known by their `$domain=`), then the few left over. Those left over
are pre-screened together: regexes by one RE2 set, plain patterns by one RE2 set of their
longest literal, so no filter costs a Python-level check on every request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

from trackguard.domain import host_suffixes, public_suffix, site_of, split_url, split_url_fast
from trackguard.engine.compiler import (
    FLAG_CASE,
    FLAG_HOST,
    FLAG_LEFT,
    FLAG_RIGHT,
    FLAG_SEPARATOR,
    KIND_GENERIC,
    KIND_LITERAL,
    KIND_REGEX,
    KIND_TAIL,
    Compiled,
    Index,
    RuleTable,
    bucket_filters,
    plain_filter,
)
from trackguard.engine.params import compile_regex
from trackguard.engine.pieces import (
    BUDGET,
    STEP,
    Budget,
    OverBudget,
    find_sep,
    prepare,
    reduce,
    sep_at,
    trailing_separators,
)
from trackguard.model import DEFAULT_TYPES, Decision, RequestType, Rule

_TOKEN_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789%")
#: bytes.translate table: token characters stay, every other byte becomes a space.
_TOKEN_TABLE = bytes(c if c in _TOKEN_CHARS else 0x20 for c in range(256))


def _url_tokens(lower: str) -> list[bytes]:
    """The URL's tokens (runs of `[a-z0-9%]`, as bytes), each once when there are many.

    Encoding, one `bytes.translate` and a split run in C at memory speed: about 3x
    faster than a regex `findall` on real URLs. Non-ASCII characters encode to bytes
    over 0x7f, which are not token bytes, exactly as the character class says. The
    token index is keyed by bytes for this. A hostile URL repeating one token
    thousands of times must not make us look at its bucket thousands of times;
    ordinary URLs repeat few, so short lists are left as they are.
    """
    tokens = lower.encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE).split()
    if len(tokens) > _DEDUPE_TOKENS_AT:
        return list(dict.fromkeys(tokens))
    return tokens


_DOCUMENT = int(RequestType.DOCUMENT)
_OTHER = int(RequestType.OTHER)
_DEFAULT = int(DEFAULT_TYPES)


@lru_cache(maxsize=65536)
def _label_runs(host: str, longest: int) -> tuple[str, ...]:
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
def _suffixes(host: str) -> tuple[str, ...]:
    return tuple(host_suffixes(host)) if host else ()


@lru_cache(maxsize=16384)
def _page_keys(page_host: str) -> tuple[str, ...]:
    """Keys `$domain=` entries can match for a page, most specific first.

    For `www.google.co.uk`: `www.google.co.uk`, `www.google.*`, `google.co.uk`,
    `google.*`, `co.uk`, `uk` (entity forms `name.*` stand beside the label they start
    at, so "the most specific entry wins" works across both kinds).
    """
    if not page_host:
        return ()
    suffix = public_suffix(page_host) or ""
    keys: list[str] = []
    for s in host_suffixes(page_host):
        keys.append(s)
        if suffix and len(s) > len(suffix) + 1 and s.endswith("." + suffix):
            keys.append(s[: -len(suffix) - 1] + ".*")
    return tuple(keys)


@lru_cache(maxsize=4096)
def _page_host(source_url: str) -> str:
    return split_url(source_url).host


@lru_cache(maxsize=4096)
def _compiled_regex(body: str, case: bool) -> Any:
    """RE2 only: list regexes are untrusted and must run in linear time."""
    return compile_regex(body, case)


class _Context(Budget):
    """Everything about one request the filters look at, computed once.

    It is its own work budget (`pieces.Budget`): one object less per request."""

    __slots__ = (
        "data",
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
        "text",
        "third",
        "tokens",
        "type",
    )

    tokens: list[bytes] | None
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
        self.page_keys = _page_keys(page_host)
        self.page_host = page_host
        # Known at once without a page (third-party: corpus README, issue 2); otherwise
        # worked out by `is_third` when a filter first asks (most requests never do).
        self.third: bool | None = True if not has_page or not page_host else None
        self.tokens = self.data = self.over = None  # made when first asked for
        self.reduced_lower = self.reduced_case = ""
        self.left = BUDGET
        # Looking at a filter costs a Python step (`STEP`); scanning the URL for its
        # pattern costs `scan` more (charged per bucket, before it is walked).
        self.scan = len(text)

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
        third = self.third
        if third is None:
            host, page_host = self.host, self.page_host
            third = self.third = host != page_host and site_of(host) != site_of(page_host)
        return third


def _find(
    ctx: _Context, text: str, piece: str, pos: int, anchored: bool, at_end: bool, flags: int
) -> int:
    """Start of the leftmost match of one piece at or after `pos` (exactly at `pos` when
    `anchored`; reaching the end of the text when `at_end`), or -1. Linear, see `pieces`."""
    if flags & FLAG_SEPARATOR and "^" in piece:
        prepared = prepare(piece)
        reduced = ctx.reduced(text, trailing_separators(piece))
        if anchored:
            return pos if sep_at(text, reduced, prepared, pos, at_end) else -1
        return find_sep(text, reduced, prepared, pos, at_end, ctx)
    if anchored:
        if at_end:
            return pos if len(text) - len(piece) == pos and text.endswith(piece) else -1
        return pos if text.startswith(piece, pos) else -1
    if at_end:
        start = len(text) - len(piece)
        return start if start >= pos and text.endswith(piece) else -1
    return text.find(piece, pos)


def _pieces(ctx: _Context, text: str, pieces: tuple[str, ...], pos: int, flags: int) -> bool:
    """Match wildcard-separated pieces in order from `pos`: greedy leftmost, linear.

    Leftmost matching of each piece is exact for fixed-length pieces, so there is no
    search tree to explore and nothing to backtrack into: one search per piece. Plain
    pieces are handled inline (the hot path); pieces with `^` go through `_find`.
    """
    last = len(pieces) - 1
    n = len(text)
    if last < 0:
        return not flags & FLAG_RIGHT or pos >= n
    separators = flags & FLAG_SEPARATOR
    anchored = flags & FLAG_LEFT
    right = flags & FLAG_RIGHT
    for i, piece in enumerate(pieces):
        if separators and "^" in piece:
            at_end = bool(right) and i == last
            s = _find(ctx, text, piece, pos, bool(anchored) and i == 0, at_end, flags)
            if s < 0:
                return False
            pos = s + len(piece)
            if pos > n:
                pos = n  # trailing `^` matched the end of the text
        elif anchored and i == 0:
            if right and i == last:
                return n - len(piece) == pos and text.endswith(piece)
            if not text.startswith(piece, pos):
                return False
            pos += len(piece)
        elif right and i == last:
            return n - len(piece) >= pos and text.endswith(piece)
        else:
            j = text.find(piece, pos)
            if j < 0:
                return False
            pos = j + len(piece)
    return True


@lru_cache(maxsize=16384)
def _dotted(piece: str) -> str:
    return "." + piece


def _host_anchored(ctx: _Context, text: str, pieces: tuple[str, ...], flags: int) -> bool:
    """`||pattern`: the first piece starts at the host's start or at a label start.

    Greedy like `_pieces`: the leftmost label start where the first piece matches leaves
    the most room for the rest, so two searches find it: at the host's start, then the
    leftmost `.piece` that starts inside the host. Only a single piece anchored at the
    end too (`||a.example^|`) has its start fixed by the end; it tries each label start,
    and a host has at most 127 (at most 253 characters).
    """
    start = ctx.host_start
    first = pieces[0]
    rest = flags & ~FLAG_LEFT
    if len(pieces) == 1 and flags & FLAG_RIGHT:
        if _find(ctx, text, first, start, True, True, flags) >= 0:
            return True
        host = ctx.host
        i = host.find(".")
        while i >= 0:
            ctx.charge(STEP + len(first))
            if _find(ctx, text, first, start + i + 1, True, True, flags) >= 0:
                return True
            i = host.find(".", i + 1)
        return False
    at = _find(ctx, text, first, start, True, False, flags)
    if at < 0:
        dot = _find(ctx, text, _dotted(first), start, False, False, flags)
        if dot < 0 or dot >= ctx.host_end:
            return False
        at = dot + 1
    return _pieces(ctx, text, pieces[1:], min(at + len(first), len(text)), rest)


def _match(f: Compiled, ctx: _Context) -> bool:
    """Does one compiled filter apply to the request? Cheapest checks first."""
    _, types, party, include, exclude, denyallow, pattern = f
    if not types & ctx.type:
        return False
    if party and (party == 2) != (ctx.third if ctx.third is not None else ctx.is_third()):
        return False
    if include is not None or exclude is not None:
        for key in ctx.page_keys:
            if exclude is not None and key in exclude:
                return False
            if include is not None and key in include:
                break
        else:
            if include is not None:
                return False
    if denyallow is not None:
        for s in _suffixes(ctx.host):
            if s in denyallow:
                return False
    if pattern is None:
        return True
    kind = pattern[0]
    if kind == KIND_LITERAL:
        return pattern[1] in ctx.lower
    flags = pattern[2]
    try:
        if kind == KIND_TAIL:
            text = ctx.text if flags & FLAG_CASE else ctx.lower
            return _pieces(ctx, text, pattern[1], ctx.host_end + pattern[3], flags)
        if kind == KIND_GENERIC:
            text = ctx.text if flags & FLAG_CASE else ctx.lower
            if not flags & FLAG_HOST:
                return _pieces(ctx, text, pattern[1], 0, flags)
            if not ctx.host:
                return False
            return _host_anchored(ctx, text, pattern[1], flags)
        if kind == KIND_REGEX:
            compiled = _compiled_regex(pattern[1], bool(flags & FLAG_CASE))
            if compiled is None:
                return False
            data = ctx.data  # the URL as UTF-8 (lone surrogates passed through), once
            if data is None:
                data = ctx.data = ctx.text.encode("utf-8", "surrogatepass")
            return compiled.search(data) is not None
    except OverBudget as exc:
        if exc.rule is None:
            exc.rule = int(f[0])
        raise
    return False


def _without_pattern(f: Compiled) -> Compiled:
    """The filter with its (already matched) pattern removed, for the option checks."""
    return (*f[:6], None)


def longest_literal(f: Compiled) -> str:
    """The longest text every URL the filter matches must contain (lower case)."""
    pattern = f[6]
    if pattern is None or pattern[0] == KIND_REGEX:
        return ""
    if pattern[0] == KIND_LITERAL:
        return str(pattern[1])
    parts: list[str] = []
    for piece in pattern[1]:
        parts.extend(piece.split("^") if pattern[2] & FLAG_SEPARATOR else (piece,))
    return max(parts, key=len, default="").lower()


def _screen(filters: list[Compiled]) -> tuple[Any, list[Compiled], list[Compiled]] | None:
    """Group left-over filters under one RE2 set (regex bodies or escaped literals).

    Returns (set, screened filters, filters that need a direct check), or None when
    nothing can be screened. Regex hits are fully matched (the pattern is dropped);
    literal hits are only candidates and are checked in full.
    """
    regex_set = re2.Set.SearchSet(re2.Options())  # matched via `._set` with bytes, below
    screened: list[Compiled] = []
    direct: list[Compiled] = []
    for f in filters:
        pattern = f[6]
        if pattern is not None and pattern[0] == KIND_REGEX:
            body = pattern[1] if pattern[2] & FLAG_CASE else "(?i)" + pattern[1]
            entry = _without_pattern(f)
        else:
            literal = longest_literal(f)
            if len(literal) < 3:
                direct.append(f)
                continue
            body = "(?i)" + re2.escape(literal)
            entry = f
        try:
            regex_set.Add(body)
        except Exception:  # RE2 refused it on its own: check it directly instead
            direct.append(f)
            continue
        screened.append(entry)
    if not screened:
        return None
    try:
        regex_set.Compile()
    except Exception:
        return None
    # The wrapper re-encodes the text on every call; the request's text is encoded
    # once (`_Context.data`) and handed to the underlying set directly.
    return regex_set._set, screened, direct


_COSTLY_KEEP = 1024  # distinct costly rules remembered (a hostile list has many)
_SCREEN_AT = 8  # token buckets at least this large are screened by an RE2 set
_SCREEN_LEFT_OVERS_AT = 6  # fewer left-overs for a type are cheaper to check directly
_HOST_CACHE_SIZE = 8192
_DEDUPE_TOKENS_AT = 32


def _first_screened(screened_bucket: tuple[Any, list[Compiled], Any], ctx: _Context) -> int | None:
    screen, screened, direct = screened_bucket
    ctx.left -= len(direct) * (STEP + ctx.scan) + ctx.scan  # `ctx.charge`, inlined
    if ctx.left < 0:
        raise OverBudget
    for f in direct:
        if _match(f, ctx):
            return int(f[0])
    data = ctx.data
    if data is None:
        data = ctx.data = ctx.text.encode("utf-8", "surrogatepass")
    hits = screen.Match(data)
    if hits:
        ctx.left -= len(hits) * (STEP + ctx.scan)
        if ctx.left < 0:
            raise OverBudget
        for i in sorted(hits):
            if _match(screened[i], ctx):
                return int(screened[i][0])
    return None


class _PlainBucket(list[Compiled]):
    """A crowded token bucket that RE2 could not screen: checked filter by filter."""

    __slots__ = ()


class _Category:
    """One category's index, prepared for lookups."""

    __slots__ = (
        "_by_type",
        "_host_cache",
        "direct",
        "exact",
        "fallback",
        "labels",
        "longest_label_run",
        "page",
        "screen",
        "screened",
        "suffix",
        "token",
    )

    def __init__(self, index: Index) -> None:
        self.suffix: dict[str, list[Compiled] | int] = index["suffix"]
        self.exact: dict[str, list[Compiled]] = index["exact"]
        self.labels: dict[str, list[Compiled]] = index["labels"]
        self.longest_label_run = max((k.count(".") + 1 for k in self.labels), default=0)
        # Token buckets shared by many filters (`gif`, `analytics`...) are screened by
        # their literals like the left-overs, instead of checking each filter.
        # A bucket is a list of filters, or (for big ones) a screened tuple.
        # Screens are compiled on first use: most buckets are never hit by a given set
        # of requests, and compiling thousands of RE2 sets up front costs seconds.
        self.token: dict[bytes, Any] = dict(index["token"])
        self._host_cache: dict[str, tuple[tuple[Compiled, ...], int]] = {}
        self.page: dict[str, list[Compiled]] = index["page"]
        fallback: list[Compiled] = index["fallback"]
        self.fallback = fallback
        self._by_type: dict[int, Any] = {}
        screened = _screen(fallback) if fallback else None
        if screened is None:
            self.screen: Any = None
            self.screened: list[Compiled] = []
            self.direct: list[Compiled] = fallback
        else:
            self.screen, self.screened, self.direct = screened

    def _screen_bucket(self, token: bytes, bucket: list[Compiled]) -> Any:
        """Replace a crowded token bucket by its screened form (once; races are harmless).

        A bucket RE2 cannot screen stays a list, marked as a tuple-free `_PlainBucket`
        so that it is not retried on every request.
        """
        screened = _screen(bucket)
        result: Any = _PlainBucket(bucket) if screened is None else screened
        self.token[token] = result
        return result

    def _suffix(self, key: str) -> list[Compiled]:
        bucket = self.suffix.get(key)
        return [] if bucket is None else bucket_filters(bucket)

    def _host_filters(self, host: str) -> tuple[tuple[Compiled, ...], int]:
        """All filters indexed under the host's parent domains, exact host or label runs,
        and how many of them have a pattern to scan the URL for (for the work budget).

        Memoised per host: a page's requests go to few hosts, again and again.
        """
        found = self._host_cache.get(host)
        if found is None:
            out: list[Compiled] = []
            suffix = self.suffix
            for s in _suffixes(host):
                bucket = suffix.get(s)
                if bucket is not None:
                    if isinstance(bucket, int):
                        out.append(plain_filter(bucket))
                    else:
                        out.extend(bucket)
            out.extend(self.exact.get(host, ()))
            if self.labels and host:
                for run in _label_runs(host, self.longest_label_run):
                    out.extend(self.labels.get(run, ()))
            found = (tuple(out), sum(1 for f in out if f[6] is not None))
            if len(self._host_cache) >= _HOST_CACHE_SIZE:
                self._host_cache.clear()
            self._host_cache[host] = found
        return found

    def first(self, ctx: _Context) -> int | None:
        """The id of the first filter that matches, or None.

        Each bucket is charged to the request's budget before it is walked: a step per
        filter plus a scan of the URL per filter with a pattern, so no list can make
        one request look at an unbounded number of filters.
        """
        match = _match
        type_bit = ctx.type
        filters, patterned = self._host_filters(ctx.host)
        scan = STEP + ctx.scan  # looking at a filter with a pattern: a step and a scan
        if filters:
            # `ctx.charge`, inlined on the hot path; most host rules have no pattern.
            ctx.left -= len(filters) * STEP + patterned * ctx.scan
            if ctx.left < 0:
                raise OverBudget
            for f in filters:
                if f[1] & type_bit and match(f, ctx):
                    return int(f[0])
        token = self.token
        if token:
            tokens = ctx.tokens
            if tokens is None:
                tokens = ctx.tokens = _url_tokens(ctx.lower)
            # Most URLs meet no bucket at all: one C-level test instead of a loop.
            if not token.keys().isdisjoint(tokens):
                for t in tokens:
                    bucket = token.get(t)
                    if bucket:
                        if type(bucket) is list and len(bucket) >= _SCREEN_AT:
                            bucket = self._screen_bucket(t, bucket)
                        if type(bucket) is not tuple:
                            ctx.left -= len(bucket) * scan
                            if ctx.left < 0:
                                raise OverBudget
                            for f in bucket:
                                if f[1] & type_bit and match(f, ctx):
                                    return int(f[0])
                        else:
                            found = _first_screened(bucket, ctx)
                            if found is not None:
                                return found
        page = self.page
        if page and not page.keys().isdisjoint(ctx.page_keys):
            for key in ctx.page_keys:
                bucket = page.get(key)
                if bucket:
                    ctx.charge(len(bucket) * scan)
                    for f in bucket:
                        if match(f, ctx):
                            return int(f[0])
        if self.fallback:
            left_over = self._by_type.get(type_bit)
            if left_over is None:
                left_over = self._left_over(type_bit)
            if type(left_over) is tuple:
                return _first_screened(left_over, ctx)
            if left_over:
                ctx.charge(len(left_over) * scan)
                for f in left_over:
                    if match(f, ctx):
                        return int(f[0])
        return None

    def _left_over(self, type_bit: int) -> Any:
        """The left-overs that can apply to one request type, screened by one RE2 set
        when there are enough of them to be worth its call, else a plain list (made once
        per type: most left-overs name their types, so most requests meet few or none)."""
        fitting = [f for f in self.fallback if f[1] & type_bit]
        found: Any = fitting
        if len(fitting) > _SCREEN_LEFT_OVERS_AT:
            found = _screen(fitting) or fitting
        if len(self._by_type) < 64:  # type bits come from callers: keep it bounded
            self._by_type[type_bit] = found
        return found

    def all(self, ctx: _Context) -> list[int]:
        """Ids of every matching filter, each once, in lookup order."""
        buckets: list[Any] = [self._suffix(s) for s in _suffixes(ctx.host)]
        buckets.append(self.exact.get(ctx.host, ()))
        if ctx.host:
            buckets.extend(
                self.labels.get(r, ()) for r in _label_runs(ctx.host, self.longest_label_run)
            )
        if self.token and ctx.tokens is None:
            ctx.tokens = _url_tokens(ctx.lower)
        for t in ctx.tokens if self.token and ctx.tokens else ():
            bucket = self.token.get(t)
            if bucket is None:
                continue
            if type(bucket) is tuple:
                screen, screened, direct = bucket
                buckets.append(direct)
                data = ctx.text.encode("utf-8", "surrogatepass")
                buckets.append([screened[i] for i in sorted(screen.Match(data) or ())])
            else:
                buckets.append(bucket)
        buckets.extend(self.page.get(k, ()) for k in ctx.page_keys)
        buckets.append(self.direct)
        if self.screen is not None:
            data = ctx.text.encode("utf-8", "surrogatepass")
            buckets.append([self.screened[i] for i in sorted(self.screen.Match(data) or ())])
        out: list[int] = []
        seen: set[int] = set()
        try:
            ctx.charge(ctx.scan)
            for bucket in buckets:
                patterned = sum(1 for f in bucket if f[6] is not None)
                ctx.charge(len(bucket) * STEP + patterned * ctx.scan)
                for f in bucket:
                    if f[0] not in seen and _match(f, ctx):
                        seen.add(f[0])
                        out.append(int(f[0]))
        except OverBudget as exc:
            ctx.over = exc  # what matched so far stands; the caller reports the rule
        return out

    def first_host_only(self, ctx: _Context) -> int | None:
        """Like `first`, but only rules that need nothing but the host (§A.7 item 6)."""
        buckets: list[Any] = [self._suffix(s) for s in _suffixes(ctx.host)]
        buckets.append(self.exact.get(ctx.host, ()))
        if self.labels and ctx.host:
            buckets.extend(
                self.labels.get(r, ()) for r in _label_runs(ctx.host, self.longest_label_run)
            )
        for bucket in buckets:
            for f in bucket:
                if _host_only(f) and _match(f, ctx):
                    return int(f[0])
        return None

    def first_path_exception(self, host: str) -> int | None:
        """An exception for every site that names exactly `host` with a path
        (`@@||imasdk.googleapis.com/js/sdkloader/`): §A.7 item 6, as added."""
        for bucket in (self._suffix(host), self.exact.get(host, ())):
            for f in bucket:
                _, _, party, include, exclude, denyallow, pattern = f
                if (
                    pattern is not None
                    and pattern[0] == KIND_TAIL
                    and party == 0
                    and include is None
                    and exclude is None
                    and denyallow is None
                ):
                    return int(f[0])
        return None


def _host_only(f: Compiled) -> bool:
    """A rule that needs nothing but the host: no pattern, no page or type context."""
    _, types, party, include, exclude, _, pattern = f
    return (
        pattern is None
        and party != 1
        and include is None
        and exclude is None
        and types & _DEFAULT == _DEFAULT
    )


# Decisions are immutable, so the two most common verdicts are shared.
_NO_MATCH = Decision(False, None, None, "no rule matched")
_NOT_NETWORK = Decision(False, None, None, "not a network URL (no host)")


class Matcher:
    """Holds the rule table and the per-category indexes; all methods are read-only."""

    def __init__(self, rules: RuleTable, indexes: dict[str, Index]) -> None:
        self.rules = rules
        self.indexes = indexes
        self._block = _Category(indexes["block"])
        self._important = _Category(indexes["important"])
        self._allow = _Category(indexes["allow"])
        self._docallow = _Category(indexes["docallow"])
        self._removeparam = _Category(indexes["removeparam"])
        self._keepparam = _Category(indexes["keepparam"])
        self._important_ids = frozenset(int(f[0]) for f in _all_filters(indexes["important"]))
        self._has_allow = any(indexes["allow"].values())
        self._has_docallow = any(indexes["docallow"].values())
        self._has_removeparam = any(indexes["removeparam"].values())
        self._doc_cache: dict[str, int | None] = {}
        #: Rules that ran a request out of its work budget, with how often (bounded).
        self.costly: dict[int, int] = {}

    def _over(self, exc: OverBudget) -> str:
        """Record the rule that used up a request's budget; the reason text for it."""
        rule_id = exc.rule
        if rule_id is None:
            return "the work budget ran out while looking at a large bucket of rules"
        if rule_id in self.costly or len(self.costly) < _COSTLY_KEEP:
            self.costly[rule_id] = self.costly.get(rule_id, 0) + 1
        rule = self.rule(rule_id)
        return (
            f"the work budget ran out on `{rule.source.text[:80]}` "
            f"({rule.source.list_id}:{rule.source.line}), a rule too costly for this URL"
        )

    def rule(self, rule_id: int) -> Rule:
        """The Rule behind an id (a loaded engine re-parses only rules that decide)."""
        return self.rules[rule_id]

    def decide(self, url: str, source_url: str | None, type_bit: int) -> Decision:
        page_host = _page_host(source_url) if source_url else ""
        ctx = _Context(url, page_host, type_bit, source_url is not None)
        if not ctx.host:
            # `data:`, `blob:`, `about:` never reach the network: nothing to protect from.
            return _NOT_NETWORK
        try:
            block = self._block.first(ctx)
        except OverBudget as exc:
            # Fail safe: decide with what matched so far (nothing), say why.
            return Decision(False, None, None, self._over(exc) + "; nothing blocked")
        if block is None:
            return _NO_MATCH
        if block in self._important_ids:
            return Decision(True, self.rule(block), None, "blocked by an $important rule")
        try:
            exception = self._allow.first(ctx) if self._has_allow else None
        except OverBudget as exc:
            reason = self._over(exc)
            return Decision(True, self.rule(block), None, f"matched a block rule; {reason}")
        if exception is None and source_url and self._has_docallow:
            exception = self._document_exception(source_url)
        if exception is None:
            party = "third-party" if ctx.is_third() else "first-party"
            return Decision(True, self.rule(block), None, f"{party} request matched a block rule")
        try:
            important = self._important.first(ctx) if self._important_ids else None
        except OverBudget as exc:
            self._over(exc)
            important = None
        if important is not None:
            return Decision(True, self.rule(important), None, "blocked by an $important rule")
        return Decision(
            False, self.rule(exception), self.rule(block), "an allow rule overrides the block rule"
        )

    def decide_host(self, host: str) -> Decision:
        """CONNECT tunnels: only rules that need nothing but the host (§A.7 item 6)."""
        ctx = _Context(f"https://{host}/", "", _OTHER, False)
        block = self._block.first_host_only(ctx)
        if block is None:
            return Decision(False, None, None, "no host rule matched")
        if block not in self._important_ids:
            exception = self._allow.first_host_only(ctx)
            if exception is None:
                # A tunnel cannot see which URL it carries: an every-site exception for a
                # path on this very host (a loader pages need) keeps the host reachable.
                exception = self._allow.first_path_exception(ctx.host)
            if exception is not None:
                return Decision(
                    False,
                    self.rule(exception),
                    self.rule(block),
                    "an allow rule overrides the block rule",
                )
        return Decision(True, self.rule(block), None, "tunnel to a listed host")

    def removeparam_rules(self, url: str, source_url: str | None, type_bit: int) -> list[Rule]:
        if not self._has_removeparam:
            return []
        page_host = _page_host(source_url) if source_url else ""
        ctx = _Context(url, page_host, type_bit, source_url is not None)
        rules = [self.rule(r) for r in self._removeparam.all(ctx)]
        if rules:
            kept = {self.rule(r).removeparam for r in self._keepparam.all(ctx)}
            if ctx.over is not None:
                self._over(ctx.over)
            if "" in kept:
                return []  # `@@...$removeparam`: nothing is stripped on these requests
            rules = [r for r in rules if r.removeparam not in kept]
        return rules

    def matching_rules(self, url: str, source_url: str | None, type_bit: int) -> list[Rule]:
        page_host = _page_host(source_url) if source_url else ""
        ctx = _Context(url, page_host, type_bit, source_url is not None)
        if not ctx.host:
            return []
        ids: list[int] = []
        for category in (self._block, self._allow, self._removeparam):
            ids.extend(r for r in category.all(ctx) if r not in ids)
        if ctx.over is not None:
            self._over(ctx.over)
        return [self.rule(r) for r in ids]

    def _document_exception(self, page_url: str) -> int | None:
        """A `$document` exception matching the page disables blocking on it."""
        cached = self._doc_cache.get(page_url, -1)
        if cached != -1:
            return cached
        ctx = _Context(page_url, _page_host(page_url), _DOCUMENT, True)
        try:
            found = self._docallow.first(ctx)
        except OverBudget as exc:
            self._over(exc)
            found = None
        if len(self._doc_cache) > 4096:
            self._doc_cache.clear()
        self._doc_cache[page_url] = found
        return found


def _all_filters(index: Index) -> list[Compiled]:
    out: list[Compiled] = list(index["fallback"])
    for slot in ("suffix", "exact", "labels", "token", "page"):
        for bucket in index[slot].values():
            out.extend(bucket_filters(bucket))
    return out
