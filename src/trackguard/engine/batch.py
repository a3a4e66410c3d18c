"""Batch decisions for the auditor: many questions, each URL split once per origin.

`Engine.check_batch` gives exactly `Engine.check`'s decision for every question (a test
compares them on the whole real request log), for less work per question on crawl-sized
batches:

* the URL split (`domain.split_url_fast`) is done once per origin key `K =
  url[:url.find("/", 8)]` (`origin_parts`), which the caller memoises (the auditor keeps
  it beside its own facts about the origin). When `K`'s authority is already canonical
  (lower case, ASCII, no port, user or IPv6 literal: `split_url_fast`'s fast path), every
  URL `K/...` without `#` is its own URL text with the host `K` names. The parts carry
  `K/` and are checked against each URL (`startswith`), so parts from another origin or
  none at all (`None`) only cost speed: such URLs go through `Matcher.decide` unchanged;
* a question asked twice in one batch is decided once (a decision is a function of the
  URL, page URL and type, reasons included);
* the page's host and `$domain=` keys are looked up once per page URL of a batch;
* request types come as `RequestType` bits (no name parsing).

`_decide` is `Matcher.decide` on a `Context` built from those parts (`_Parts`): keep the
two in step (the equality test fails when they are not). The work budget, the costly-rule
record and the `$document` exception cache are the matcher's own (a repeated question is
charged once). Nothing here changes the index or the matcher.
"""

from __future__ import annotations

from collections.abc import Sequence

from trackguard.domain import split_url_fast
from trackguard.engine.matcher import Matcher
from trackguard.engine.pieces import BUDGET, OverBudget
from trackguard.engine.request import Context, page_host, page_keys
from trackguard.model import Decision

#: `(K + "/", host start, host)` for an origin key `K` whose URLs split trivially, or None.
OriginParts = tuple[str, int, str] | None
#: (url, page URL or None, RequestType bit, `origin_parts` of the URL's origin key)
Question = tuple[str, str | None, int, OriginParts]

_NO_MATCH = Decision(False, None, None, "no rule matched")
_NO_PAGE: tuple[str, tuple[str, ...]] = ("", ())


class _Parts(Context):
    """A `Context` from parts already known (what `Context.__init__` works out)."""

    __slots__ = ()

    def __init__(
        self,
        url: str,
        host_start: int,
        host: str,
        page: str,
        keys: tuple[str, ...],
        type_bit: int,
        has_page: bool,
    ) -> None:
        self.text = url
        self.lower = url.lower()
        self.host = host
        self.host_start = host_start
        self.host_end = host_start + len(host)
        self.type = type_bit
        self.page_keys = keys
        self.page_host = page
        self.third = True if not has_page or not page else None
        self.tokens = self.split = self.data = self.over = None
        self.reduced_lower = self.reduced_case = ""
        self.left = BUDGET
        self.scan = len(url)


def origin_key(url: str) -> str:
    """The key URLs are grouped under: everything before the first `/` from index 8."""
    cut = url.find("/", 8)
    return url[:cut] if cut >= 0 else url


def origin_parts(key: str) -> OriginParts:
    """What every URL `key + "/..."` without `#` shares, or None (split each one)."""
    probe = key + "/"
    scheme, host, text = split_url_fast(probe)
    # `split_url_fast` returns its argument itself only from its fast path (the slow path
    # builds a new string); there the host is the authority as written, up to the `/`.
    start = len(scheme) + 3
    if text is not probe or not host or start + len(host) != len(key) or "#" in key:
        return None
    return probe, start, host


def check_batch(matcher: Matcher, questions: Sequence[Question]) -> list[Decision]:
    """Decide every question (see the module doc)."""
    decide = matcher.decide
    seen: dict[Question, Decision] = {}
    pages: dict[str, tuple[str, tuple[str, ...]]] = {}
    out: list[Decision] = []
    add = out.append
    for question in questions:
        decision = seen.get(question)
        if decision is None:
            url, source, type_bit, parts = question
            if parts is None or "#" in url or not url.startswith(parts[0]):
                decision = decide(url, source, type_bit)
            else:
                if source:
                    page = pages.get(source)
                    if page is None:
                        host = page_host(source)
                        page = pages[source] = (host, page_keys(host))
                else:
                    page = _NO_PAGE
                has_page = source is not None
                ctx = _Parts(url, parts[1], parts[2], page[0], page[1], type_bit, has_page)
                decision = _decide(matcher, ctx, source)
            seen[question] = decision
        add(decision)
    return out


def _decide(m: Matcher, ctx: Context, source_url: str | None) -> Decision:
    """`Matcher.decide` after its `Context` is made (the host is known to be non-empty)."""
    try:
        block = m._block.first(ctx)
    except OverBudget as exc:
        return Decision(False, None, None, m._over(exc) + "; nothing blocked")
    if block is None:
        return _NO_MATCH
    if block in m._important_ids:
        return Decision(True, m.rule(block), None, "blocked by an $important rule")
    try:
        exception = m._allow.first(ctx) if m._has_allow else None
    except OverBudget as exc:
        reason = m._over(exc)
        return Decision(True, m.rule(block), None, f"matched a block rule; {reason}")
    if exception is None and source_url and m._has_docallow:
        exception = m._document_exception(source_url)
    if exception is None:
        party = "third-party" if ctx.is_third() else "first-party"
        return Decision(True, m.rule(block), None, f"{party} request matched a block rule")
    try:
        important = m._important.first(ctx) if m._important_ids else None
    except OverBudget as exc:
        m._over(exc)
        important = None
    if important is not None:
        return Decision(True, m.rule(important), None, "blocked by an $important rule")
    return Decision(
        False, m.rule(exception), m.rule(block), "an allow rule overrides the block rule"
    )
