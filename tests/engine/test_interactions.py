"""Conformance where rules meet: negatives, exceptions, `$important`, `$badfilter`, `$domain=`.

The corpus vectors are ~18,800 single-filter "match" cases and a few hundred no-match or
block/allow pairs. These cases (`interaction_cases.json`, built by
`build_interaction_cases.py` from `interaction_hand_cases.py` and the real request log)
are the other side: requests a rule must NOT apply to, and verdicts that depend on several
rules at once. Each case pins trackguard's verdict, the deciding rule and the block an
exception lifted; each ABP case also pins adblock-rust's verdict (the `adblock` package
of the test extra), which must equal ours unless the case says why it differs.
Mutations: tests/MUTATIONS.md.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import adblock
import pytest

from trackguard.engine import Engine
from trackguard.model import ListSource

CASES = json.loads(Path(__file__).with_name("interaction_cases.json").read_text("utf-8"))
HAND: list[dict[str, Any]] = CASES["hand"]
REAL: list[dict[str, Any]] = CASES["real_log"]
LISTS = ("easylist.txt", "easyprivacy.txt")


@cache
def _engine(lists: str) -> Engine:
    parsed = json.loads(lists)
    return Engine.from_sources(
        [ListSource(name, "\n".join(lines) + "\n") for name, lines in parsed.items()]
    )


def _peer(texts: list[str]) -> adblock.Engine:
    filter_set = adblock.FilterSet(debug=True)
    for text in texts:
        filter_set.add_filter_list(text)
    return adblock.Engine(filter_set=filter_set, optimize=False)


def _peer_blocks(engine: adblock.Engine, url: str, source_url: str | None, type: str) -> bool:
    """As `benchmarks/differential.py`: a page-less request is third-party to adblock-rust."""
    if source_url:
        return bool(engine.check_network_urls(url, source_url, type).matched)
    host = url.split("/")[2].split(":")[0]
    return bool(engine.check_network_urls_with_hostnames(url, host, "", type, True).matched)


def _verdict(engine: Engine, case: dict[str, Any]) -> dict[str, Any]:
    d = engine.check(case["url"], case["source_url"], case["type"])
    return {
        "blocked": d.blocked,
        "rule": d.rule,
        "overridden": d.overridden.source.text if d.overridden else None,
    }


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("blocked", "rule", "overridden")}


def test_the_cases_cover_what_they_claim() -> None:
    negatives = [c for c in HAND + REAL if not c["blocked"]]
    lifted = [c for c in HAND + REAL if c["overridden"]]
    assert len(negatives) >= 60 and len(lifted) >= 30
    for word in ("important", "badfilter", "domain=", "@@", "third-party"):
        assert any(word in line for c in HAND for lines in c["lists"].values() for line in lines)
    assert len({c["id"] for c in HAND + REAL}) == len(HAND) + len(REAL)


@pytest.mark.parametrize("case", HAND, ids=[c["id"] for c in HAND])
def test_hand_case(case: dict[str, Any]) -> None:
    engine = _engine(json.dumps(case["lists"], sort_keys=True))
    assert _verdict(engine, case) == _expected(case), case["source"]
    if case["adblock"] is None:
        return  # TPL lists: not adblock-rust's syntax
    texts = ["\n".join(lines) + "\n" for lines in case["lists"].values()]
    peer = _peer_blocks(_peer(texts), case["url"], case["source_url"], case["type"])
    assert peer == case["adblock"]["blocked"]  # the recorded peer verdict is today's
    if case["adblock_differs"]:
        assert peer != case["blocked"], f"adblock-rust now agrees: {case['adblock_differs']}"
    else:
        assert peer == case["blocked"]


@pytest.fixture(scope="module")
def peer_lists(corpus_dir: Path) -> adblock.Engine:
    return _peer([(corpus_dir / "lists" / name).read_text("utf-8") for name in LISTS])


@pytest.mark.slow
def test_real_log_cases(easylist_easyprivacy: Engine, peer_lists: adblock.Engine) -> None:
    """Real requests decided by EasyList + EasyPrivacy in both engines (one test: the
    engines are built once and each case costs microseconds)."""
    wrong = []
    for case in REAL:
        got = _verdict(easylist_easyprivacy, case)
        peer = _peer_blocks(peer_lists, case["url"], case["source_url"], case["type"])
        if got != _expected(case) or not peer == case["adblock"]["blocked"] == case["blocked"]:
            wrong.append(f"{case['id']} ({case['source']}): trackguard {got}, peer {peer}")
        if case.get("pageless_rule"):
            # The page is what spares it: without one, that block rule applies.
            pageless = easylist_easyprivacy.check(case["url"], None, case["type"])
            if (pageless.blocked, pageless.rule) != (True, case["pageless_rule"]):
                wrong.append(f"{case['id']}: without the page {pageless.rule} (expected block)")
    assert not wrong, "\n".join(wrong)
