"""privacy-signals §C.3 (which headers) and §C.4 (header-handling vectors), exactly."""

from __future__ import annotations

import pytest

from trackguard.policy.signals import SignalPlan, apply_signals, plan_signals

# §C.3: (protection, dnt, ie9_dnt, gpc) -> (adds DNT: 1, adds Sec-GPC: 1)
C3_TABLE = [
    ((False, False, False, False), (False, False)),
    ((False, False, True, False), (False, False)),
    ((True, False, False, False), (False, False)),
    ((True, False, True, False), (True, False)),
    ((True, True, False, False), (True, False)),
    ((False, True, False, False), (True, False)),
    ((False, True, True, False), (True, False)),
    ((False, False, False, True), (False, True)),
    ((True, False, True, True), (True, True)),
    ((False, True, False, True), (True, True)),
    ((True, False, False, True), (False, True)),
]


@pytest.mark.parametrize(("switches", "expected"), C3_TABLE)
def test_c3_table(switches: tuple[bool, bool, bool, bool], expected: tuple[bool, bool]) -> None:
    protection, dnt, ie9, gpc = switches
    plan = plan_signals(protection=protection, dnt=dnt, ie9_dnt=ie9, gpc=gpc)
    assert (plan.dnt, plan.gpc) == expected


H = list[tuple[str, str]]
# §C.4, row by row: incoming fields, plan, forwarded fields.
C4_VECTORS: list[tuple[str, H, SignalPlan, H]] = [
    (
        "no DNT, no Sec-GPC; DNT on, GPC on",
        [],
        SignalPlan(dnt=True, gpc=True),
        [("Sec-GPC", "1"), ("DNT", "1")],
    ),
    ("DNT: 0; DNT on", [("DNT", "0")], SignalPlan(dnt=True), [("DNT", "0")]),
    ("Sec-GPC: 1; GPC off", [("Sec-GPC", "1")], SignalPlan(), [("Sec-GPC", "1")]),
    ("Sec-GPC: 0; GPC on", [("Sec-GPC", "0")], SignalPlan(gpc=True), [("Sec-GPC", "1")]),
    ("Sec-GPC: 0; GPC off", [("Sec-GPC", "0")], SignalPlan(), [("Sec-GPC", "0")]),
    (
        "Sec-GPC: 1 twice; GPC on",
        [("Sec-GPC", "1"), ("Sec-GPC", "1")],
        SignalPlan(gpc=True),
        [("Sec-GPC", "1"), ("Sec-GPC", "1")],
    ),
    (
        "Sec-GPC: 1 and 0; GPC on",
        [("Sec-GPC", "1"), ("Sec-GPC", "0")],
        SignalPlan(gpc=True),
        [("Sec-GPC", "1")],
    ),
    (
        "no DNT; IE9-compatible, protection on",
        [],
        plan_signals(protection=True, dnt=False, ie9_dnt=True, gpc=False),
        [("DNT", "1")],
    ),
    (
        "no DNT; IE9-compatible, protection off",
        [],
        plan_signals(protection=False, dnt=False, ie9_dnt=True, gpc=False),
        [],
    ),
]


@pytest.mark.parametrize(
    ("incoming", "plan", "forwarded"), [v[1:] for v in C4_VECTORS], ids=[v[0] for v in C4_VECTORS]
)
def test_c4_vectors(incoming: H, plan: SignalPlan, forwarded: H) -> None:
    base = [("Host", "a.test"), ("Accept", "*/*")]
    out = apply_signals([*base, *incoming], plan)
    assert out[:2] == base
    assert out[2:] == forwarded


def test_other_fields_keep_their_order_and_case_insensitive_names() -> None:
    fields = [("sec-gpc", "0"), ("X-A", "1"), ("dnt", "1"), ("X-B", "2")]
    out = apply_signals(fields, SignalPlan(dnt=True, gpc=True))
    assert out == [("X-A", "1"), ("dnt", "1"), ("X-B", "2"), ("Sec-GPC", "1")]


def test_value_with_whitespace_counts_as_one() -> None:
    assert apply_signals([("Sec-GPC", " 1 ")], SignalPlan(gpc=True)) == [("Sec-GPC", " 1 ")]


def test_gpc_values_other_than_exact_one_are_replaced() -> None:
    for value in ("true", "1, 1", "01", ""):
        assert apply_signals([("Sec-GPC", value)], SignalPlan(gpc=True)) == [("Sec-GPC", "1")]


def test_nothing_changes_when_no_signal_is_on() -> None:
    fields = [("DNT", "0"), ("Sec-GPC", "banana")]
    assert apply_signals(fields, SignalPlan()) == fields


@pytest.mark.parametrize("name", ["sec-gpc", "SEC-GPC", "Sec-Gpc"])
def test_a_client_gpc_field_in_any_case_is_kept_and_not_doubled(name: str) -> None:
    """HTTP field names are case-insensitive (RFC 9110 §5.1): a client's `sec-gpc: 1` is
    the signal already sent, so exactly one field leaves, the client's own (§C.2.3)."""
    fields = [("Host", "a.test"), (name, "1")]
    assert apply_signals(fields, SignalPlan(gpc=True)) == fields
    assert apply_signals(fields, SignalPlan(dnt=True, gpc=True)) == [*fields, ("DNT", "1")]


@pytest.mark.parametrize("name", ["dnt", "Dnt"])
def test_a_client_dnt_field_in_any_case_is_never_overridden(name: str) -> None:
    fields = [(name, "0")]
    assert apply_signals(fields, SignalPlan(dnt=True)) == fields
