"""A cache file that passes its checksum is still checked in shape before it is trusted.

Each case re-encodes a real engine's payload with a valid checksum but a broken shape:
`Engine.load` must raise `CacheError` (never `KeyError`, never an engine that allows
everything), and `load_or_build` must rebuild from the lists and rewrite the file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trackguard.engine import CacheError, Engine
from trackguard.engine.store import decode, encode
from trackguard.model import ListSource

LIST = "||ads.example^\n/banner/*$image\n@@||ads.example/ok^\n||track.example^$third-party\n"
SOURCES = [ListSource("l.txt", LIST)]


def _payload(tmp_path: Path) -> tuple[Path, list[Any]]:
    path = tmp_path / "engine.cache"
    Engine.load_or_build(path, SOURCES)
    return path, list(decode(path.read_bytes()))


def _empty_indexes(p: list[Any]) -> None:
    for index in p[3].values():
        for slot in index.values():
            slot.clear()


def _drop_index(p: list[Any]) -> None:
    del p[3]["block"]


def _drop_slot(p: list[Any]) -> None:
    del p[3]["allow"]["suffix"]


def _bucket_not_list(p: list[Any]) -> None:
    p[3]["block"]["suffix"]["ads.example"] = "x"


def _short_filter(p: list[Any]) -> None:
    bucket = p[3]["block"]["suffix"]["track.example"]
    bucket[0] = bucket[0][:3]


def _id_out_of_range(p: list[Any]) -> None:
    bucket = p[3]["block"]["suffix"]["track.example"]
    bucket[0] = (999, *bucket[0][1:])


def _plain_id_out_of_range(p: list[Any]) -> None:
    assert type(p[3]["block"]["suffix"]["ads.example"]) is int  # `||ads.example^`: bare id
    p[3]["block"]["suffix"]["ads.example"] = 999


def _plain_id_in_a_token_bucket(p: list[Any]) -> None:
    p[3]["block"]["token"][b"banner"] = p[3]["block"]["suffix"].pop("ads.example")


def _lists_overcount(p: list[Any]) -> None:
    p[5]["l.txt"]["rules"] = 450_000


def _rule_table_truncated(p: list[Any]) -> None:
    ids, meta, texts = p[2]
    p[2] = (ids, meta[:-16], texts)


def _diagnostics_garbage(p: list[Any]) -> None:
    p[4] = [("l.txt", "one", "error", "x", "y")]


def _payload_short(p: list[Any]) -> None:
    del p[5]


BREAKAGES: list[Callable[[list[Any]], None]] = [
    _empty_indexes,
    _drop_index,
    _drop_slot,
    _bucket_not_list,
    _short_filter,
    _id_out_of_range,
    _plain_id_out_of_range,
    _plain_id_in_a_token_bucket,
    _lists_overcount,
    _rule_table_truncated,
    _diagnostics_garbage,
    _payload_short,
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__.strip("_"))
def test_broken_shape_is_a_cache_error_and_rebuilds(
    tmp_path: Path, breakage: Callable[[list[Any]], None]
) -> None:
    path, payload = _payload(tmp_path)
    broken = copy.deepcopy(payload)
    breakage(broken)
    path.write_bytes(encode(tuple(broken)))
    with pytest.raises(CacheError, match="shape"):
        Engine.load(path)
    engine = Engine.load_or_build(path, SOURCES)
    assert engine.check("https://ads.example/x.js").blocked
    assert not engine.check("https://ads.example/ok/1").blocked
    # the file was rewritten with a sound engine
    assert Engine.load(path).check("https://ads.example/x.js").blocked


def test_intact_cache_still_loads(tmp_path: Path) -> None:
    path, payload = _payload(tmp_path)
    path.write_bytes(encode(tuple(payload)))
    engine = Engine.load(path)
    assert engine.check("https://ads.example/x.js").blocked
    assert engine.check("https://cdn.example/banner/1.png", type="image").blocked
    assert len(engine) == 4
