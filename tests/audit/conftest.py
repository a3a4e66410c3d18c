"""Fixtures for the auditor's tests: a small engine, entity data and hand-made HARs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from har_samples import ENTITIES, LIST_TEXT
from trackguard.engine import Engine


@pytest.fixture(scope="session")
def small_engine() -> Engine:
    return Engine.from_text(LIST_TEXT, list_id="audit-test.txt")


@pytest.fixture
def list_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit-test.txt"
    path.write_text(LIST_TEXT)
    return path


@pytest.fixture
def entities_file(tmp_path: Path) -> Path:
    path = tmp_path / "entities.json"
    path.write_text(json.dumps(ENTITIES))
    return path
