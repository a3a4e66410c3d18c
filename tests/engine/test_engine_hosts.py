"""A host's filters sorted per page (engine/hosts.py `PageSort`).

The sort must keep exactly the filters whose party and `$domain=` options admit the
page, as `filters.match` reads those options one filter at a time, in the host's order.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.engine.compiler import Compiled
from trackguard.engine.filters import match
from trackguard.engine.hosts import (
    ANY_TYPE,
    INDEXED_DOMAINS_MAX,
    TAIL_GROUP_AT,
    VIEWS_KEPT,
    HostFilters,
    PageSort,
    host_view,
)
from trackguard.engine.request import Context, page_keys

PAGES = [
    "news.example",
    "www.news.example",
    "a.www.news.example",
    "tracker.example",  # the request's own site: first-party
    "cdn.tracker.example",
    "www.shop.co.uk",
    "shop.co.uk",
    "other.test",
    "localhost",
]
#: Every key a page above can match, and a few no page has.
KEYS = sorted({key for page in PAGES for key in page_keys(page)} | {"nowhere.example", "x.*"})
PADDING = [f"pad{i}.example" for i in range(INDEXED_DOMAINS_MAX + 1)]


def _pairs(filters: list[tuple[int, frozenset[str] | None, frozenset[str] | None]]) -> HostFilters:
    """A host's filters: some `||host/path` tails (grouped heads), some not."""
    out: HostFilters = []
    for i, (party, include, exclude) in enumerate(filters):
        pattern = None if i % 3 else ("tail", (f"p{i}/",), 0, 0)
        f: Compiled = (i, 1, party, include, exclude, None, pattern)
        out.append((f"p{i}/", 1 if i % 3 == 0 else -1, f))
    return out


domains = st.one_of(
    st.none(),
    st.frozensets(st.sampled_from(KEYS), min_size=1, max_size=4),
    # Long lists: checked entry by entry, not indexed.
    st.frozensets(st.sampled_from(KEYS), max_size=3).map(lambda s: s | frozenset(PADDING)),
)
filters = st.lists(st.tuples(st.sampled_from([0, 0, 1, 2]), domains, domains), max_size=12)


@settings(max_examples=400, deadline=None)
@given(filters, st.lists(st.sampled_from(PAGES), min_size=1, max_size=6))
def test_a_page_keeps_exactly_the_filters_its_options_admit(
    specs: list[tuple[int, frozenset[str] | None, frozenset[str] | None]], pages: list[str]
) -> None:
    """Against `match` on each filter's options alone (party and `$domain=`, any type),
    including a key in both lists (`~` wins) and lists too long to index. The same
    sort answers page after page (its views are shared between pages)."""
    pairs = _pairs(specs)
    whole = host_view(pairs, sum(1 for p in pairs if p[2][6] is not None))
    sort = PageSort(pairs, whole)
    for page in pages:
        ctx = Context("https://tracker.example/p0/x", page, 1, True)
        expected = [
            pair for pair in pairs if match((pair[2][0], ANY_TYPE, *pair[2][2:5], None, None), ctx)
        ]
        view = sort.view_for(ctx)
        assert view == host_view(expected, sum(1 for p in expected if p[2][6] is not None))
        if len(expected) == len(pairs):
            assert view is whole  # nothing turned down: the host's own view


def test_pages_turning_down_the_same_filters_share_one_view_and_views_are_bounded() -> None:
    pairs = _pairs([(0, frozenset({"news.example"}), None), (0, None, None)])
    sort = PageSort(pairs, host_view(pairs, 1))
    one = sort.view_for(Context("https://tracker.example/x", "other.test", 1, True))
    two = sort.view_for(Context("https://tracker.example/x", "shop.co.uk", 1, True))
    assert one is two and [p[2][0] for p in one[0]] == [1]
    n = 9  # filter i admits the pages whose number has bit i set: 512 distinct sets
    many = _pairs(
        [(0, frozenset(f"p{b}.test" for b in range(2**n) if b >> i & 1), None) for i in range(n)]
    )
    sort = PageSort(many, host_view(many, 3))
    for b in range(VIEWS_KEPT + 50):
        view = sort.view_for(Context("https://tracker.example/x", f"p{b}.test", 1, True))
        assert [p[2][0] for p in view[0]] == [i for i in range(n) if b >> i & 1]
    assert len(sort._views) <= VIEWS_KEPT


def test_one_character_heads_are_walked_not_grouped() -> None:
    """`||cdn.example/*.js` has the head `/`, at the host's end of nearly every URL: in
    the grouped heads it would send every request through all the host's tails."""
    pairs = _pairs([(0, None, None)] * (3 * TAIL_GROUP_AT))  # every third one is a tail
    slash: Compiled = (99, 1, 0, None, None, None, ("tail", ("/",), 0, 0))
    view = host_view([*pairs, ("/", 0, slash)], 1)
    assert "/" not in view[3] + view[4] and ("/", 0, slash) in view[2]
    assert len(view[3] + view[4]) == TAIL_GROUP_AT
