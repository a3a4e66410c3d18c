"""The learner's value types: kind names round-trip, config ranges (§B6: T in 3-30)."""

from __future__ import annotations

import pytest

from trackguard.learn.model import Kind, LearnConfig, kinds_from_names


def test_kind_names_round_trip() -> None:
    kinds = Kind.COOKIE | Kind.BEACON | Kind.PIXEL
    assert kinds.names == ["cookie", "beacon", "pixel"]
    assert kinds_from_names(kinds.names) == kinds
    assert kinds_from_names(["nonsense"]) == Kind(0)


@pytest.mark.parametrize("value", [2, 31, 0, -1])
def test_thresholds_outside_3_to_30_are_rejected(value: int) -> None:
    with pytest.raises(ValueError):
        LearnConfig(threshold=value)
    with pytest.raises(ValueError):
        LearnConfig(presence_threshold=value)


def test_defaults() -> None:
    cfg = LearnConfig()
    assert (cfg.threshold, cfg.presence_threshold, cfg.novelty_cap, cfg.min_days) == (3, 10, 2, 2)
    assert cfg.mode.value == "suggest"
