"""The mitmproxy addon's glue, with stand-in flow objects (no mitmproxy needed).

The full path through mitmproxy is covered by `test_intercept.py::test_intercept_end_to_end`
when mitmproxy is installed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from trackguard.model import RequestType
from trackguard.policy.decide import Layer, Verdict
from trackguard.proxy import intercept


@pytest.fixture
def addon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    listed = tmp_path / "mine.tpl"
    listed.write_text("msFilterList\n-d tracker.test\n")
    monkeypatch.setenv(intercept.ENV_HOME, str(tmp_path))
    monkeypatch.setenv(intercept.ENV_LISTS, str(listed))
    monkeypatch.setenv(intercept.ENV_PASSTHROUGH, "bank.test")
    monkeypatch.setenv(intercept.ENV_LOG, "0")
    monkeypatch.setenv(intercept.ENV_GPC, "1")
    from trackguard.proxy.mitm_addon import TrackguardAddon

    return TrackguardAddon()


def test_addon_reads_its_environment(addon: object) -> None:
    assert addon.planner.state.config.signals.gpc  # type: ignore[attr-defined]
    assert addon._is_passthrough("www.bank.test")  # type: ignore[attr-defined]
    assert not addon._is_passthrough("bank.test.evil")  # type: ignore[attr-defined]
    decision = addon.planner.state.matcher.check_host("tracker.test")  # type: ignore[attr-defined]
    assert decision.blocked and decision.list == "mine.tpl"


def test_response_engages_top_level_html_pages(addon: object) -> None:
    verdict = Verdict(
        False, Layer.NAVIGATION, RequestType.DOCUMENT, "site.test", "site.test", engage=True
    )
    flow = SimpleNamespace(
        metadata={"trackguard_verdict": verdict},
        request=SimpleNamespace(pretty_url="https://www.site.test/"),
        response=SimpleNamespace(status_code=200, headers={"content-type": "text/html"}),
    )
    addon.response(flow)  # type: ignore[attr-defined]
    assert addon.planner.state.record.is_engaged("site.test")  # type: ignore[attr-defined]
    flow.response.status_code = 302
    flow.request.pretty_url = "https://bounce.test/"
    addon.response(flow)  # type: ignore[attr-defined]
    assert not addon.planner.state.record.is_engaged("bounce.test")  # type: ignore[attr-defined]
