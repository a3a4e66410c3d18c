"""One category's index (block, allow, ...) prepared for lookups: where candidates come from.

Candidate filters come from, in order: the request host's parent domains (the bulk of
real lists: `||host^`, TPL domains, hosts entries), TPL label runs, URL tokens, the page's
domains (filters only known by their `$domain=`), then the few left over. Crowded token
buckets and the left-overs are screened by one RE2 set each (`filters.screen`); every
other filter met is paired with its `prefilter_literal`, so most are turned down by one
C-level `in` before a Python-level `match`.

Every bucket is charged to the request's work budget before it is walked. The index
itself is never changed (it is what the cache file holds); prepared forms live beside
it, made when the category is made (token buckets) or on first use (hosts, pages).
Races between threads only make the same form twice.
"""

from __future__ import annotations

from typing import Any

from trackguard.engine.buckets import (
    LeftOvers,
    paired,
    token_gate,
    with_needs,
)
from trackguard.engine.compiler import (
    KIND_TAIL,
    Compiled,
    Index,
    bucket_filters,
    plain_filter,
)
from trackguard.engine.filters import first_screened, match, screen
from trackguard.engine.hosts import (
    PAGE_SORT_MAX,
    HostEntry,
    HostPart,
    HostView,
    host_entry,
    host_prepared,
)
from trackguard.engine.pieces import STEP, OverBudget
from trackguard.engine.request import (
    DEDUPE_TOKENS_AT,
    Context,
    label_runs,
    suffixes,
    url_tokens,
)
from trackguard.model import DEFAULT_TYPES, RequestType

SCREEN_AT = 8  # token buckets at least this large are screened by an RE2 set
EAGER_SCREENS = 256  # crowded buckets screened when the category is made, not when met
SCREEN_LEFT_OVERS_AT = 6  # fewer left-overs for a type are cheaper to check directly
#: ... and up to this many are still checked directly on URLs up to `SCREEN_URLS_OVER`
#: characters: one RE2 set call costs ~0.4 µs more than nine C-level `in` on a short URL
#: (most requests meet a type's left-overs), and less on a long one.
DIRECT_LEFT_OVERS_MAX = 16
SCREEN_URLS_OVER = 400
HOST_CACHE_SIZE = 8192
GATE_MIN_LENGTH = 200  # a `token_gate` is used on URLs longer than this (shorter: split)
PAGE_CACHE_SIZE = 32768  # (host, page) pairs: a browsing day's worth
_DEFAULT = int(DEFAULT_TYPES)

_NO_FILTERS: HostEntry = (([], 0, [], (), ()), None)  # a host no filter names


def _merged(parts: list[HostPart]) -> HostEntry:
    """One host entry of several parts' filters, in the parts' order."""
    if len(parts) == 1:
        return host_entry(*parts[0])
    pairs = [pair for part in parts for pair in part[0]]
    by_page = len(pairs) <= PAGE_SORT_MAX and any(part[2] for part in parts)
    return host_entry(pairs, sum(part[1] for part in parts), by_page)


class Category:
    """One category's index, prepared for lookups."""

    __slots__ = (
        "_bucket_cache",
        "_by_type",
        "_combo_cache",
        "_host_cache",
        "_page_cache",
        "direct",
        "exact",
        "fallback",
        "gate",
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
        # A token bucket is a raw list until prepared, then either a screened tuple
        # (crowded: `gif`, `analytics`...) or `buckets.Needs` (crowded ones past
        # EAGER_SCREENS are prepared when first met).
        self.token: dict[bytes, Any] = dict(index["token"])
        self._host_cache: dict[str, HostEntry] = {}
        self._bucket_cache: dict[str, tuple[HostPart, HostEntry]] = {}
        self._combo_cache: dict[tuple[str, ...], HostEntry] = {}
        self._page_cache: dict[tuple[str, str], HostView] = {}
        self.page: dict[str, list[Compiled]] = index["page"]
        self.fallback: list[Compiled] = index["fallback"]
        self._by_type: dict[int, LeftOvers] = {}
        self.gate = token_gate(self.token)
        screened = screen(self.fallback) if self.fallback else None
        if screened is None:
            self.screen: Any = None
            self.screened: list[Compiled] = []
            self.direct: list[Compiled] = self.fallback
        else:
            self.screen, self.screened, self.direct = screened
        # Crowded buckets (~55 in EasyList + EasyPrivacy) compile an RE2 set each, ~0.1 ms:
        # made here, that is not the time of the first request meeting each of them (up
        # to EAGER_SCREENS of them: a hostile list could have thousands). The few
        # left-overs are sorted by request type here too. So are the small buckets (~3k,
        # ~10 ms): a third of them are met on a day's browsing, each first meeting cost
        # its request 8-17 µs, and a thousand such requests were a good part of the
        # slowest 1%.
        crowded = 0
        for key, bucket in index["token"].items():
            if len(bucket) < SCREEN_AT:
                self.token[key] = with_needs(key, bucket)
            elif crowded < EAGER_SCREENS:
                crowded += 1
                self._prepare(key, bucket)
        if self.fallback:
            for request_type in RequestType:
                self._left_over(int(request_type))

    def _prepare(self, token: bytes, bucket: list[Compiled]) -> Any:
        """A token bucket's prepared form, put in place of the raw list (once)."""
        screened = screen(bucket, token.decode()) if len(bucket) >= SCREEN_AT else None
        result: Any = with_needs(token, bucket) if screened is None else screened
        self.token[token] = result
        return result

    def _suffix(self, key: str) -> list[Compiled]:
        bucket = self.suffix.get(key)
        return [] if bucket is None else bucket_filters(bucket)

    def _host_filters(self, host: str) -> HostEntry:
        """All filters indexed under the host's parent domains, exact host or label runs
        (a `host_view`), and their `PageSort` when they are worth sorting out per page
        (`_host_filters_for`).

        Memoised per host: a page's requests go to few hosts, again and again. A new
        host is made of its parent domains' prepared buckets (`_suffix_bucket`), shared
        by every host under them (`*.google.com`), often as they are.
        """
        found = self._host_cache.get(host)
        if found is None:
            suffix = self.suffix
            keys = list(filter(suffix.__contains__, suffixes(host)))  # its parent domains
            more: list[Compiled] = list(self.exact.get(host, ()))
            if self.labels and host:
                for run in label_runs(host, self.longest_label_run):
                    more.extend(self.labels.get(run, ()))
            if more:
                parts = [self._suffix_bucket(k, suffix[k])[0] for k in keys]
                found = _merged([*parts, host_prepared(more)])
            elif not keys:
                found = _NO_FILTERS
            elif len(keys) == 1:
                found = self._suffix_bucket(keys[0], suffix[keys[0]])[1]
            else:
                # Hosts under the same parent domains share one entry (`a.www.google.com`
                # and `b.www.google.com`): a new host costs a lookup, not a new view.
                combo = tuple(keys)
                found = self._combo_cache.get(combo)
                if found is None:
                    found = _merged([self._suffix_bucket(k, suffix[k])[0] for k in keys])
                    if len(self._combo_cache) >= HOST_CACHE_SIZE:
                        self._combo_cache.clear()
                    self._combo_cache[combo] = found
            if len(self._host_cache) >= HOST_CACHE_SIZE:
                self._host_cache.clear()
            self._host_cache[host] = found
        return found

    def _suffix_bucket(self, key: str, bucket: list[Compiled] | int) -> tuple[HostPart, HostEntry]:
        """One parent domain's bucket as `_host_filters` gives hosts, and as a host's
        whole entry when it is all the host has (made once, shared by its subdomains)."""
        found = self._bucket_cache.get(key)
        if found is None:
            if type(bucket) is int:
                pairs = [("", -1, plain_filter(bucket))]  # `||host^`: nothing to prepare
                found = (pairs, 0, False), ((pairs, 0, pairs, (), ()), None)
            else:
                part = host_prepared(bucket_filters(bucket))
                found = (part, host_entry(*part))
            if len(self._bucket_cache) >= HOST_CACHE_SIZE:
                self._bucket_cache.clear()
            self._bucket_cache[key] = found
        return found

    def _host_filters_for(self, ctx: Context, entry: HostEntry | None) -> HostView:
        """The host's filters (a `host_view`), less those whose party or `$domain=`
        options turn this page down.

        Those options depend on the host and the page alone, so they are sorted out once
        per (host, page) (`hosts.PageSort`): a tracker's host often carries many
        exceptions for named sites (`@@||tracker.example/x.js$domain=a.example|b.example`)
        that every request to it would otherwise check again. Only hosts with such
        options and at most `PAGE_SORT_MAX` filters are sorted out (others cost nothing
        to check). `entry`: the host's memo entry, as `first` found it (None: not made).
        """
        view, sort = entry if entry is not None else self._host_filters(ctx.host)
        if sort is None:
            return view
        key = (ctx.host, ctx.page_host)
        found = self._page_cache.get(key)
        if found is None:
            ctx.charge(len(view[0]) * STEP)
            found = sort.view_for(ctx)
            if len(self._page_cache) >= PAGE_CACHE_SIZE:
                self._page_cache.clear()
            self._page_cache[key] = found
        return found

    def first(self, ctx: Context) -> int | None:
        """The id of the first filter that matches, or None.

        Each bucket is charged to the request's budget before it is walked: a step per
        filter plus a scan of the URL per filter with a pattern, so no list can make
        one request look at an unbounded number of filters.
        """
        type_bit = ctx.type
        lower = ctx.lower
        entry = self._host_cache.get(ctx.host)  # `_host_filters_for`, its common case inlined
        if entry is not None and entry[1] is None:
            view = entry[0]
        else:
            view = self._host_filters_for(ctx, entry)
        pairs, patterned, loose, heads, heads_after = view
        if pairs:
            host_end = ctx.host_end
            if loose is not pairs and not (
                (heads and lower.startswith(heads, host_end))
                or (heads_after and lower.startswith(heads_after, host_end + 1))
            ):
                pairs = loose  # no `||host/path` tail can match here
            # `ctx.charge`, inlined on the hot path; most host rules have no pattern.
            ctx.left -= len(pairs) * STEP + patterned * ctx.scan
            if ctx.left < 0:
                raise OverBudget
            for literal, where, f in pairs:
                if (
                    f[1] & type_bit
                    and (
                        literal in lower
                        if where < 0
                        else lower.startswith(literal, host_end + where)
                    )
                    and match(f, ctx)
                ):
                    return int(f[0])
        scan = STEP + ctx.scan  # looking at a filter with a pattern: a step and a scan
        token = self.token
        if token:
            tokens = ctx.split
            if tokens is None:
                gate = self.gate
                if (
                    gate is not None
                    and ctx.scan > GATE_MIN_LENGTH
                    and not gate.Match(lower.encode("utf-8", "surrogatepass"))
                ):
                    tokens = []  # none of this category's few tokens: no need to split
                else:
                    tokens = ctx.split_tokens()
            if len(tokens) > DEDUPE_TOKENS_AT:
                # A long URL (hundreds of tokens, many repeated) meets a few buckets:
                # find them in C rather than with a Python step per token.
                # Host and path tokens first: they decide most blocks, and a block found
                # there saves meeting the query's many tokens with the index at all.
                present, head = ctx.token_sets()
                first = head & token.keys()
                if first:
                    found = self._long(ctx, token, sorted(first), present)
                    if found is not None:
                        return found
                if head is not present:
                    hits = token.keys() & present
                    if first:
                        hits -= first
                    if hits:
                        found = self._long(ctx, token, sorted(hits), present)
                        if found is not None:
                            return found
            elif not token.keys().isdisjoint(tokens):  # most URLs meet no bucket at all
                for t in tokens:  # (measured: faster than picking the hits in C, and
                    if t in token and (bucket := token[t]):  # than `token.get` per token)
                        if type(bucket) is list:
                            bucket = self._prepare(t, bucket)
                        if type(bucket) is tuple:
                            found = first_screened(bucket, ctx)
                            if found is not None:
                                return found
                            continue
                        ctx.left -= len(bucket) * scan
                        if ctx.left < 0:
                            raise OverBudget
                        for literal, _, f in bucket:
                            if f[1] & type_bit and literal in lower and match(f, ctx):
                                return int(f[0])
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
            if left_over:
                if ctx.scan > left_over.screen_over:
                    return first_screened(left_over.screened, ctx)
                ctx.charge(len(left_over) * scan)
                for literal, f in left_over:
                    if literal in lower and match(f, ctx):
                        return int(f[0])
        return None

    def _long(
        self, ctx: Context, token: dict[bytes, Any], hits: list[bytes], present: set[bytes]
    ) -> int | None:
        """The token buckets a long URL meets (`hits`, in the order to visit them;
        `present`: all its tokens; the order only decides which of several matching
        rules is named). A filter is only searched for when the URL holds all its
        tokens."""
        type_bit = ctx.type
        lower = ctx.lower
        scan = STEP + ctx.scan
        for t in hits:
            bucket = token[t]
            if type(bucket) is list:
                bucket = self._prepare(t, bucket)
            if type(bucket) is tuple:
                found = first_screened(bucket, ctx)
                if found is not None:
                    return found
                continue
            union = bucket.union
            if union is not None and present.isdisjoint(union):
                continue  # no filter here can have all its tokens in the URL
            ctx.left -= len(bucket) * scan
            if ctx.left < 0:
                raise OverBudget
            for literal, need, f in bucket:
                if (
                    f[1] & type_bit
                    and (need is None or need <= present)
                    and literal in lower
                    and match(f, ctx)
                ):
                    return int(f[0])
        return None

    def _left_over(self, type_bit: int) -> LeftOvers:
        """The left-overs that can apply to one request type (made once per type: most
        left-overs name their types, so most requests meet few or none), checked one by
        one, or screened by one RE2 set when there are enough of them to be worth its
        call: always past `DIRECT_LEFT_OVERS_MAX`, on long URLs past
        `SCREEN_LEFT_OVERS_AT`."""
        fitting = [f for f in self.fallback if f[1] & type_bit]
        screened = screen(fitting) if len(fitting) > SCREEN_LEFT_OVERS_AT else None
        if screened is None:
            over = 1 << 62  # never screened
        elif len(fitting) > DIRECT_LEFT_OVERS_MAX:
            over = -1
        else:
            over = SCREEN_URLS_OVER
        found = LeftOvers(paired(fitting), screened, over)
        if len(self._by_type) < 64:  # type bits come from callers: keep it bounded
            self._by_type[type_bit] = found
        return found

    def all(self, ctx: Context) -> list[int]:
        """Ids of every matching filter, each once, in lookup order."""
        buckets: list[Any] = [self._suffix(s) for s in suffixes(ctx.host)]
        buckets.append(self.exact.get(ctx.host, ()))
        if ctx.host:
            buckets.extend(
                self.labels.get(r, ()) for r in label_runs(ctx.host, self.longest_label_run)
            )
        if self.token and ctx.tokens is None:
            ctx.tokens = url_tokens(ctx.lower)
        for t in ctx.tokens if self.token and ctx.tokens else ():
            bucket = self.token.get(t)
            if bucket is None:
                continue
            if type(bucket) is list:
                bucket = self._prepare(t, bucket)
            if type(bucket) is tuple:
                screen_set, screened, direct = bucket
                buckets.append(direct)
                data = ctx.text.encode("utf-8", "surrogatepass")
                buckets.append([screened[i] for i in sorted(screen_set.Match(data) or ())])
            else:
                buckets.append([f for _, _, f in bucket])
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
                    if f[0] not in seen and match(f, ctx):
                        seen.add(f[0])
                        out.append(int(f[0]))
        except OverBudget as exc:
            ctx.over = exc  # what matched so far stands; the caller reports the rule
        return out

    def misses_host(self, host: str) -> bool:
        """True when no filter of this category can match a request to `host`: it has
        nothing but parent-domain buckets (the `$document` exceptions of EasyList +
        EasyPrivacy) and none is under this host. One lookup per parent domain, where
        `first` would need a `Context` (a page's first request paid ~7 µs for it)."""
        if self.token or self.page or self.fallback or self.exact or self.labels:
            return False
        suffix = self.suffix
        return not any(s in suffix for s in suffixes(host))

    def first_host_only(self, ctx: Context) -> int | None:
        """Like `first`, but only rules that need nothing but the host (§A.7 item 6)."""
        buckets: list[Any] = [self._suffix(s) for s in suffixes(ctx.host)]
        buckets.append(self.exact.get(ctx.host, ()))
        if self.labels and ctx.host:
            buckets.extend(
                self.labels.get(r, ()) for r in label_runs(ctx.host, self.longest_label_run)
            )
        for bucket in buckets:
            for f in bucket:
                if host_only(f) and match(f, ctx):
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


def host_only(f: Compiled) -> bool:
    """A rule that needs nothing but the host: no pattern, no page or type context."""
    _, types, party, include, exclude, _, pattern = f
    return (
        pattern is None
        and party != 1
        and include is None
        and exclude is None
        and types & _DEFAULT == _DEFAULT
    )


def all_filters(index: Index) -> list[Compiled]:
    """Every compiled filter of one category's index (plain ids made into filters)."""
    out: list[Compiled] = list(index["fallback"])
    for slot in ("suffix", "exact", "labels", "token", "page"):
        for bucket in index[slot].values():
            out.extend(bucket_filters(bucket))
    return out
