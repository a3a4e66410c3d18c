"""Differential test: trackguard and adblock-rust decide the real request log alike.

The comparison and the report live in `benchmarks/differential.py` (run it to refresh the
committed `reports/differential.md`); this test runs it and asserts the agreement. The
freshly rendered report goes to `reports/tmp/` (git-ignored) so a failing run can be read.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MIN_AGREEMENT = 0.995
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
    agreement = result.real.agreement
    assert result.real.requests == 63_072  # 64,295 minus 1,223 documents
    assert agreement >= MIN_AGREEMENT, (
        f"agreement {agreement:.3%} < {MIN_AGREEMENT:.1%}; see reports/tmp/differential.md"
    )


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
