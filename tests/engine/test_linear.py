"""Hostile lists and URLs: matching stays linear, and the work budget is a fail-safe.

No timing here (speed is the benchmark's job, `benchmarks/engine.py --hostile`). What is
checked is the work the matcher does, which does not depend on the machine: the cases
from issue 10 that used to take seconds must be decided well inside the per-request
work budget, with the right answer; a list built to defeat the index must run into the
budget, be decided with what matched so far, say so, and be named by `lint`.
"""

from __future__ import annotations

import pytest

from trackguard.engine import Engine

HOST_127 = ".".join(["a"] * 127)  # 253 characters: the longest host there is
PATH_8K = "a" * 8000

HOSTILE = [
    # issue 10: `||a*` then `a^` 1,500 times, a 127-label host and an 8 KB path
    ("||a*" + "a^" * 1500, f"http://{HOST_127}/{PATH_8K}", False),
    ("||a*" + "a^" * 1500, f"http://{HOST_127}/" + "a/" * 4000, True),
    # issue 10: `*a^...` 2,000 times, on 8 KB and 100 KB URLs
    ("*" + "a^" * 2000, "http://x.example/" + "a/" * 4000, True),
    ("*" + "a^" * 2000, "http://x.example/" + "a/" * 50000, True),
    ("*" + "a^" * 2000 + "b", "http://x.example/" + "a/" * 50000, False),
    # separators spelled out next to `^`: candidates leap-frog the literal segments
    ("/^" * 1500 + "b", "http://x.example/" + "/" * 8000, False),
    ("/^" * 1500 + "/", "http://x.example/" + ("/" * 2999 + "b") * 3, False),
    ("/^" * 40 + "x", "http://x.example/" + "/:" * 4000 + "x", True),
    ("/^" * 40 + "y", "http://x.example/" + "/:" * 4000 + "x", False),
    ("a/^", "http://x.example/" + ":" * 8000, False),
    # `||` at every label, with and without an end anchor
    ("||" + "a." * 60 + "b^", f"http://{HOST_127}/", False),
    ("||" + "a^" * 100 + "|", f"http://{HOST_127}/", False),
    ("||a.a^*" + "a^" * 500, f"http://{HOST_127}/" + "a/" * 4000, True),
]


@pytest.mark.parametrize(("line", "url", "blocked"), HOSTILE)
def test_hostile_pair_is_decided_inside_the_budget(line: str, url: str, blocked: bool) -> None:
    engine = Engine.from_text(line + "\n", "abp")
    decision = engine.check(url)
    assert "budget" not in decision.reason
    assert decision.blocked is blocked
    assert all(d.code != "engine.over-budget" for d in engine.lint())


def test_index_defeating_list_runs_into_the_budget_and_is_reported() -> None:
    # Thousands of distinct filters that no host, token or 3-character literal can
    # index: all of them would be looked at for every request.
    lines = [f"*{a}{b}^{c}*" for a in "abcdefgh" for b in "ijklmnop" for c in "qrstuvwx"]
    lines += [f"{line}$image" for line in lines] + [f"{line}$script" for line in lines]
    lines.append("||blocked.example^")
    engine = Engine.from_text("\n".join(lines) + "\n", "abp")
    url = "http://x.example/" + "zz/" * 2700
    decision = engine.check(url)
    assert not decision.blocked
    assert "work budget" in decision.reason
    # what the index finds first still decides: a host rule is looked at before them
    assert engine.check("http://blocked.example/" + "zz/" * 2700).blocked
    codes = {d.code for d in engine.lint()}
    assert "engine.unindexed-filter" in codes


def test_budget_in_the_exception_phase_keeps_the_block() -> None:
    lines = ["||ads.example^"]
    lines += [f"@@*{a}{b}^{c}*" for a in "abcdefgh" for b in "ijklmnop" for c in "qrstuvwx"]
    lines += [f"{line}$image" for line in lines[1:]] + [f"{line}$script" for line in lines[1:]]
    engine = Engine.from_text("\n".join(lines) + "\n", "abp")
    decision = engine.check("http://ads.example/" + "zz/" * 2700)
    assert decision.blocked
    assert decision.rule == "||ads.example^"
    assert "work budget" in decision.reason
