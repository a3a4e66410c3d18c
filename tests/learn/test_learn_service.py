"""The learner service: settings under `extra["learn"]`, counting, pause, flush (§B10, §B11)."""

from __future__ import annotations

from pathlib import Path

from learn_traces import s1

from trackguard.learn import store
from trackguard.learn.model import Mode
from trackguard.learn.service import (
    LearnerService,
    LearnSettings,
    learn_settings,
    save_learn_settings,
)
from trackguard.settings import Settings, load_settings


def test_settings_parse_and_fall_back() -> None:
    assert learn_settings(Settings()) == LearnSettings()
    bad = Settings(extra={"learn": {"mode": "bogus", "threshold": 99, "presence": "yes"}})
    assert learn_settings(bad) == LearnSettings()
    good = Settings(extra={"learn": {"mode": "auto", "threshold": 5, "presence": True}})
    parsed = learn_settings(good)
    assert (parsed.mode, parsed.threshold, parsed.presence) == (Mode.AUTO, 5, True)


def test_save_keeps_other_settings(tmp_path: Path) -> None:
    save_learn_settings(tmp_path, LearnSettings(mode=Mode.OFF))
    assert learn_settings(load_settings(tmp_path)).mode is Mode.OFF
    assert load_settings(tmp_path).proxy_port == Settings().proxy_port


def _feed(service: LearnerService) -> int:
    trace = s1(seed=5, days=3, visits_per_day=40)
    counted = 0
    for ex in trace.exchanges:
        # a stand-in for the adapter's attribution: the referer's host is the page
        ref = ex.header("referer")
        site = ref.split("/")[2] if ref.startswith("https://www.site") else ""
        counted += service.exchange(ex, site)
    return counted


def test_service_counts_pauses_and_flushes(tmp_path: Path) -> None:
    clock = [0.0]
    service = LearnerService(tmp_path, LearnSettings(), clock=lambda: clock[0])
    assert _feed(service) > 0
    assert service.dirty
    service.flush()
    assert store.load_state(tmp_path).trackers.keys() == service.state.trackers.keys()
    paused = LearnerService(tmp_path, LearnSettings(paused_until=10.0), clock=lambda: clock[0])
    assert _feed(paused) == 0
    off = LearnerService(tmp_path, LearnSettings(mode=Mode.OFF), clock=lambda: clock[0])
    assert _feed(off) == 0 and not off.rules()
