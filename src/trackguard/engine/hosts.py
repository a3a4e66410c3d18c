"""A host's filters as requests walk them: tails grouped by head, and sorted per page.

Most of a list is met through the request's host (`||host^`, `||host/path`, TPL domains).
`host_view` is how `Category.first` walks one host's filters; `PageSort` sorts them out
once per (host, page) by their party and `$domain=` options, which depend on the host
and the page alone. Pure: no index, no caches of its own beyond one sort's views, no I/O.
"""

from __future__ import annotations

from operator import itemgetter

from trackguard.engine.compiler import Compiled
from trackguard.engine.filters import host_prefilter, match
from trackguard.engine.request import Context

HostFilters = list[tuple[str, int, Compiled]]  # (text, where, filter): `host_prefilter`
#: What a request walks of its host's filters: (all of them, how many have a pattern,
#: those not anchored at the host's end, the anchored ones' heads at host end + 0 and + 1).
HostView = tuple[HostFilters, int, HostFilters, tuple[str, ...], tuple[str, ...]]
#: Filters met through a host, as `host_prepared` gives them: (text, where, filter)
#: triples, how many have a pattern, whether they are sorted per page.
HostPart = tuple[HostFilters, int, bool]
#: A host's filters as `Category` keeps them: the view, and its `PageSort` if sorted.
HostEntry = tuple[HostView, "PageSort | None"]
TAIL_GROUP_AT = 6  # a host with this many `||host/path` tails tests their heads at once
#: A host's filters are sorted out once per (host, page) when there are at most this
#: many: beyond it a page's list would be too large to keep thousands of.
PAGE_SORT_MAX = 64
#: A `$domain=` list longer than this is checked entry by entry per page (`PageSort`):
#: indexing it would cost every new host under it its whole length.
INDEXED_DOMAINS_MAX = 32
#: A compiled filter's `types` that admits every request type.
ANY_TYPE = -1
VIEWS_KEPT = 256  # distinct sorted views kept per host (a page turns down a set)


def host_prepared(filters: list[Compiled]) -> HostPart:
    """Filters met through a host: (text, where, filter) for each (`host_prefilter`),
    how many have a pattern, and whether any has options that depend on the page."""
    return (
        [(*host_prefilter(f), f) for f in filters],
        len(filters) - list(map(_PATTERN, filters)).count(None),
        len(filters) <= PAGE_SORT_MAX and any(map(_NO_PAGE_OPTIONS.__ne__, map(_PAGE, filters))),
    )


def host_view(pairs: HostFilters, patterned: int) -> HostView:
    """A host's filters as `first` walks them. With many `||host/path` tails (22 under
    google.com), one C-level `startswith` over a tuple of their heads tells whether any
    can match at the host's end; when none can, only the others are walked."""
    heads: tuple[list[str], list[str]] = ([], [])
    loose: HostFilters = []
    for pair in pairs:
        where = pair[1]
        if 0 <= where <= 1 and len(pair[0]) > 1:
            heads[where].append(pair[0])
        else:
            # A head of one character (`||cloudfront.net/*.min.css`: `/`) is at the
            # host's end of nearly every URL: grouped, it would send every request to
            # the host through all of the host's tails.
            loose.append(pair)
    if len(heads[0]) + len(heads[1]) < TAIL_GROUP_AT:
        return pairs, patterned, pairs, (), ()
    return pairs, patterned, loose, tuple(heads[0]), tuple(heads[1])


def host_entry(pairs: HostFilters, patterned: int, by_page: bool) -> HostEntry:
    """A host's view of its filters, and their `PageSort` when they are sorted per page."""
    view = host_view(pairs, patterned)
    return view, PageSort(pairs, view) if by_page else None


#: A compiled filter's party and `$domain=` options, and their value when it has none.
_PAGE, _NO_PAGE_OPTIONS = itemgetter(2, 3, 4), (0, None, None)
_PATTERN = itemgetter(6)


class PageSort:
    """Which of a host's filters a page's options turn down, found by looking the page's
    few keys up rather than checking each filter's options.

    The first request from a page to a tracker host used to check every filter's
    options (`filters.match`): a tracker host carries up to dozens of site-specific
    exceptions, and that check was most of the slowest 1% of real requests. Here the
    `$domain=` entries are indexed by key once per host; a page costs a lookup per page
    key (most specific first, as `match` reads them), a check per party option, and the
    view for the set it turns down, shared by every page that turns down the same set.
    """

    __slots__ = (
        "_all",
        "_checked",
        "_down_first",
        "_down_third",
        "_keys",
        "_needs_key",
        "_unnamed_first",
        "_unnamed_third",
        "_views",
        "pairs",
    )

    def __init__(self, pairs: HostFilters, view: HostView) -> None:
        self.pairs = pairs
        self._all = view
        party_of: list[tuple[int, bool]] = []  # (position, wants third-party)
        self._keys: dict[str, list[tuple[int, bool]]] = {}  # key -> (position, admits)
        self._checked: list[tuple[int, Compiled]] = []  # (position, its `$domain=` alone)
        needs_key: list[int] = []
        for i, (_, _, f) in enumerate(pairs):
            party, include, exclude = f[2], f[3], f[4]
            if party:
                party_of.append((i, party == 2))
            if include is None and exclude is None:
                continue
            if len(include or ()) + len(exclude or ()) > INDEXED_DOMAINS_MAX:
                self._checked.append((i, (f[0], ANY_TYPE, 0, include, exclude, None, None)))
                continue
            if include is not None:
                needs_key.append(i)
            # A key in both lists turns the page down (`match` checks `~` first), so
            # exclusions go in first and the first entry met for a position decides.
            for key in exclude or ():
                self._keys.setdefault(key, []).append((i, False))
            for key in include or ():
                self._keys.setdefault(key, []).append((i, True))
        self._needs_key = frozenset(needs_key)
        # What the party options turn down, for either party: one set union per page.
        self._down_first = frozenset(i for i, wants_third in party_of if wants_third)
        self._down_third = frozenset(i for i, wants_third in party_of if not wants_third)
        # ... and with the include lists, for a page none of the entries names.
        self._unnamed_first = self._needs_key | self._down_first
        self._unnamed_third = self._needs_key | self._down_third
        self._views: dict[frozenset[int], HostView] = {}

    def view_for(self, ctx: Context) -> HostView:
        """The host's filters less those the request's page turns down."""
        keys = self._keys
        if not self._checked and keys.keys().isdisjoint(ctx.page_keys):
            # The page is named by none of the host's `$domain=` entries (most pages):
            # what it turns down is known per party, no set is built.
            if self._down_first or self._down_third:
                third = ctx.third if ctx.third is not None else ctx.is_third()
                return self._view(self._unnamed_third if third else self._unnamed_first)
            return self._view(self._needs_key)
        down = set(self._needs_key)  # an include list turns a page down unless a key admits
        if keys:
            decided: set[int] = set()
            for key in ctx.page_keys:
                for i, admits in keys.get(key, ()):
                    if i not in decided:
                        decided.add(i)
                        if admits:
                            down.discard(i)
                        else:
                            down.add(i)
        if self._down_first or self._down_third:
            third = ctx.third if ctx.third is not None else ctx.is_third()
            down |= self._down_third if third else self._down_first
        for i, options in self._checked:
            if not match(options, ctx):
                down.add(i)
        return self._view(frozenset(down))

    def _view(self, turned_down: frozenset[int]) -> HostView:
        """The view without the filters at `turned_down`, made once per set."""
        if not turned_down:
            return self._all
        found = self._views.get(turned_down)
        if found is None:
            kept = [pair for i, pair in enumerate(self.pairs) if i not in turned_down]
            found = host_view(kept, sum(1 for pair in kept if pair[2][6] is not None))
            if len(self._views) >= VIEWS_KEPT:
                self._views.clear()
            self._views[turned_down] = found
        return found
