"""Differential test: trackguard and adblock-rust decide the real request log alike.

The comparison and the report live in `benchmarks/differential.py` (run it to refresh the
committed `reports/differential.md`); this test runs it and asserts the agreement. The
freshly rendered report goes to `reports/tmp/` (git-ignored) so a failing run can be read.

No disagreement is tolerated on the real log unless `differential_allowed.json` lists that
request with a reason (an entry goes stale, and fails, once the engines agree on it), and
trackguard's blocked count is pinned: a rate threshold would let an engine that ignores
every `@@` exception, `$third-party` or type option pass. Mutations: tests/MUTATIONS.md.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Requests of the real log on which the engines may disagree: url, source_url, type,
#: trackguard's verdict and the reason (empty: they agree on every request today).
ALLOWED_PATH = Path(__file__).with_name("differential_allowed.json")
#: trackguard's blocked count on the real log (weighted by repeats), equal to the peer's.
TRACKGUARD_BLOCKED = 15_806
#: adblock-rust's count in the corpus summary (`real-requests.summary.json`): if ours
#: differs, the peer is not set up as the corpus describes and the comparison is moot.
ADBLOCK_BLOCKED_IN_SUMMARY = 15_806


def _load_script() -> ModuleType:
    path = REPO_ROOT / "benchmarks" / "differential.py"
    spec = importlib.util.spec_from_file_location("trackguard_bench_differential", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


differential = _load_script()


@pytest.fixture(scope="module")
def result(corpus_dir: Path, easylist_easyprivacy: Any) -> Any:
    outcome = differential.run_differential(corpus_dir, trackguard=easylist_easyprivacy)
    report = REPO_ROOT / "reports" / "tmp" / "differential.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(differential.render_report(outcome), encoding="utf-8")
    return outcome


@pytest.mark.slow
def test_peer_is_set_up_as_in_the_corpus_summary(result: Any) -> None:
    assert result.real.adblock_blocked == ADBLOCK_BLOCKED_IN_SUMMARY


@pytest.mark.slow
def test_agrees_with_adblock_rust_on_real_requests(result: Any) -> None:
    """Every disagreement must be listed, with a reason; every listed one must still occur."""
    assert result.real.requests == 63_072  # 64,295 minus 1,223 documents
    allowed = {
        (e["url"], e["source_url"], e["type"]): e for e in json.loads(ALLOWED_PATH.read_text())
    }
    assert all(e["reason"].strip() for e in allowed.values())
    found = {
        (d.request.url, d.request.source_url, d.request.type): d for d in result.real.disagreements
    }
    unexpected = [
        f"{d.request.type} {d.request.url} from {d.request.source_url}: trackguard "
        f"{'blocks' if d.trackguard.blocked else 'allows'} ({d.trackguard.rule}), adblock-rust "
        f"{'blocks' if d.adblock_blocked else 'allows'} "
        f"({d.adblock_filter or d.adblock_exception}); {d.category}"
        for key, d in found.items()
        if key not in allowed or allowed[key]["trackguard_blocked"] != d.trackguard.blocked
    ]
    assert not unexpected, (
        f"{len(unexpected)} disagreements not in {ALLOWED_PATH.name} "
        "(see reports/tmp/differential.md):\n" + "\n".join(unexpected[:20])
    )
    stale = [key for key in allowed if key not in found]
    assert not stale, f"listed in {ALLOWED_PATH.name} but the engines now agree: {stale}"
    assert result.real.agreed == result.real.requests - sum(d.count for d in found.values())


@pytest.mark.slow
def test_trackguard_blocked_count_is_pinned(result: Any) -> None:
    assert result.real.trackguard_blocked == TRACKGUARD_BLOCKED


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ("/banner[0-9]+/", "regex filter"),
        ("||a.com^$badfilter", "$badfilter"),
        ("||a.com^$redirect=noopjs,script", "$redirect / $rewrite"),
        ("||a.com^$domain=wayfair.*|b.com", "$domain entity wildcard (name.*)"),
        ("@@||a.com^$domain=b.com", "$domain"),
        ("||a.com^$third-party", "$third-party"),
        ("||a.com^$script,~image", "type options"),
        ("||a.com/x$y^", "plain pattern"),
        ("||a.com^", "plain pattern"),
    ],
)
def test_feature_names_the_rarest_option(text: str, feature: str) -> None:
    assert differential.feature_of(text) == feature
