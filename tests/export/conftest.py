"""Fixtures for the exporter tests: the corpus lists, parsed once, and real requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compare import load_real_requests

from trackguard.model import ParsedList


@pytest.fixture(scope="session")
def el_ep_lists(corpus_dir: Path) -> list[ParsedList]:
    from trackguard.lists import parse_list

    out = []
    for name in ("easylist.txt", "easyprivacy.txt"):
        out.append(parse_list((corpus_dir / "lists" / name).read_text("utf-8"), name))
    return out


@pytest.fixture(scope="session")
def real_requests(corpus_dir: Path) -> list[dict[str, Any]]:
    return load_real_requests(corpus_dir, 8000)
