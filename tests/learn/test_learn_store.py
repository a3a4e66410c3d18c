"""The learner's SQLite store (§B10): round trip, at-rest minimisation (L-7), wipe (L-9).

L-7 and L-9 read the raw bytes of the database, its WAL and shm files, free pages included,
while the state is saved day by day as a running proxy would.
"""

from __future__ import annotations

import stat
from itertools import groupby
from pathlib import Path

import pytest
from learn_traces import Trace, make_context, replay, s1

from trackguard.learn import store
from trackguard.learn.core import LearnState
from trackguard.learn.model import LearnConfig, Mode


def raw(home: Path) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-shm"):
        path = Path(str(home / store.LEARN_DB) + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Trace, LearnState]:
    home = tmp_path_factory.mktemp("home")
    trace = s1()
    ctx = make_context(
        trace,
        LearnConfig(mode=Mode.AUTO),
        key=store.load_key(home),
        is_listed=trace.seed.__contains__,
    )
    state = LearnState()
    for _day, chunk in groupby(trace.exchanges, key=lambda ex: ex.day):
        replay(list(chunk), ctx, state)
        store.save_state(home, state)
    return home, trace, state


def test_round_trip(saved: tuple[Path, Trace, LearnState]) -> None:
    home, _, state = saved
    loaded = store.load_state(home)
    assert loaded.trackers == state.trackers
    assert loaded.evidence == state.evidence
    assert loaded.novelty == state.novelty
    assert loaded.recomputed_day == state.recomputed_day


def test_l7_no_site_url_path_or_cookie_value_at_rest(saved: tuple[Path, Trace, LearnState]) -> None:
    home, trace, state = saved
    data = raw(home)
    assert any(t.encode() in data for t in state.trackers)  # control: the state is there
    leaks = [s for s in trace.site_names if s.encode() in data]
    assert leaks == []
    assert [v for v in trace.cookie_values if v.encode() in data] == []
    assert [p for p in trace.paths if p.encode() in data] == []
    for needle in (b"https://", b"http://", b"/lib/tag.js", b"/collect", b"uid=", b"_fpid"):
        assert needle not in data, needle


def test_files_are_private(saved: tuple[Path, Trace, LearnState]) -> None:
    home, _, _ = saved
    for name in (store.LEARN_DB, store.KEY_FILE):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert store.load_key(home) == store.load_key(home)


def test_l9_wipe_leaves_no_tracker_name_and_rotates_the_key(tmp_path: Path) -> None:
    trace = s1(seed=2, days=4, visits_per_day=40)
    key = store.load_key(tmp_path)
    ctx = make_context(trace, key=key, is_listed=trace.seed.__contains__)
    state = LearnState()
    replay(trace.exchanges, ctx, state)
    store.save_state(tmp_path, state)
    store.save_verdict(tmp_path, "kept-choice.example", "rejected", "block", 3)
    names = [t.encode() for t in state.trackers]
    assert names and any(n in raw(tmp_path) for n in names)
    store.wipe(tmp_path)
    data = raw(tmp_path)
    assert [n for n in names if n in data] == []
    assert store.load_key(tmp_path) != key
    assert store.load_state(tmp_path).trackers == {}
    # the user's choices live in the policy store and survive
    assert store.load_verdicts(tmp_path) == {"kept-choice.example": ("rejected", "block")}
    store.wipe(tmp_path, include_verdicts=True)
    assert store.load_verdicts(tmp_path) == {}


def test_key_created_once_when_processes_race(tmp_path: Path) -> None:
    """Proxy workers start together on a fresh folder: one key for all of them.

    (Seen as a worker failing to start: two writers shared one temporary file name.)
    """
    import multiprocessing
    import stat

    from trackguard.learn.store import KEY_FILE, load_key

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(6) as pool:
        keys = pool.map(load_key, [tmp_path] * 24)
    assert len(set(keys)) == 1
    assert (tmp_path / KEY_FILE).read_bytes() == keys[0]
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert not list(tmp_path.glob(f".{KEY_FILE}*"))  # no temporary file left behind
