"""Partial tallies as workers send them (`packed.py`), and the memo across entity maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from har_samples import ENTITIES, news_har
from trackguard.audit.entities import parse_entities
from trackguard.audit.packed import dumps, loads, merge_packed
from trackguard.audit.readers import read_rows
from trackguard.audit.report import build_report
from trackguard.audit.tally import AuditRow, Memo, Tally, tally_rows
from trackguard.engine import Engine
from trackguard.model import RequestType


def _partials(tmp_path: Path, engine: Engine) -> list[Tally]:
    rows = list(read_rows([news_har(tmp_path / f"n{i}.har") for i in range(3)]))
    rows.append(AuditRow("log", "data:,x", None, RequestType.IMAGE))  # a skipped row
    entities = parse_entities([ENTITIES])
    return [tally_rows(rows[i : i + 5], engine, entities) for i in range(0, len(rows), 5)]


def test_packed_partials_merge_into_the_same_report(tmp_path: Path, small_engine: Engine) -> None:
    expected = Tally()
    for part in _partials(tmp_path, small_engine):
        expected.merge(part)
    blobs = [dumps(part) for part in _partials(tmp_path, small_engine)]
    merged = Tally()
    for blob in reversed(blobs):  # any order of arrival
        merge_packed(merged, loads(blob))
    assert build_report(merged) == build_report(expected)
    assert merged.domains["ads.test"].rules == expected.domains["ads.test"].rules
    assert merged.skipped == expected.skipped == {"not-a-web-url": 1}
    assert merged.totals == expected.totals


@pytest.mark.parametrize("blob", [b"", b"\x91\x01", b"\xc1", b"\x93\x01\x02\x03"])
def test_a_malformed_partial_is_an_error_not_a_figure(blob: bytes) -> None:
    with pytest.raises(ValueError):
        merge_packed(Tally(), loads(blob))


def test_one_memo_across_entity_maps_keeps_each_maps_relations(
    tmp_path: Path, small_engine: Engine
) -> None:
    """Relations (third party, company) are memoised per entity map: a memo shared by
    audits with and without entities (a worker's) must not carry them over."""
    rows = list(read_rows([news_har(tmp_path / "news.har")]))
    entities = parse_entities([ENTITIES])
    fresh = [build_report(tally_rows(rows, small_engine, e)) for e in (entities, None, entities)]
    memo = Memo()
    shared = [
        build_report(tally_rows(rows, small_engine, e, memo)) for e in (entities, None, entities)
    ]
    assert shared == fresh
    assert fresh[0] != fresh[1]  # the entity map changes the figures here
