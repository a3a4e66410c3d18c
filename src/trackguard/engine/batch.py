"""Batch decisions for the auditor: `Engine.check`'s answers, each distinct question once.

Crawl logs repeat questions: the same URL asked from the same page with the same type
(one in thirteen rows of a 20,000-row batch of the real request log). A decision is a
function of those three, reasons included, so a batch decides each distinct question
once and hands the same (immutable) `Decision` to every repeat. Types come as
`RequestType` bits, so no name is parsed per question. Decisions go through
`Matcher.decide` itself: the batch changes how often it is asked, never what it answers
(a test compares every row of the real log with `check`). A repeat is charged to the
work budget and to the costly-rule record once. The memo lives for one call: memory is
bounded by the batch.

(An earlier version also built each request's `Context` from its origin's pre-split
parts; once `domain.split_url_fast` remembered plain hosts, that saved nothing measurable
and only duplicated the matcher's steps.)
"""

from __future__ import annotations

from collections.abc import Sequence

from trackguard.engine.matcher import Matcher
from trackguard.model import Decision

Question = tuple[str, str | None, int]  # (url, page URL or None, RequestType bit)


def check_batch(matcher: Matcher, questions: Sequence[Question]) -> list[Decision]:
    """Decide every question; repeats within the batch are decided once."""
    decide = matcher.decide
    seen: dict[Question, Decision] = {}
    out: list[Decision] = []
    add = out.append
    for question in questions:
        decision = seen.get(question)
        if decision is None:
            decision = seen[question] = decide(*question)
        add(decision)
    return out
