"""Fixtures for the exporter tests: the corpus lists, parsed once, and real requests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from trackguard.model import ParsedList


@pytest.fixture(scope="session")
def el_ep_lists(corpus_dir: Path) -> list[ParsedList]:
    from trackguard.lists import parse_list

    out = []
    for name in ("easylist.txt", "easyprivacy.txt"):
        out.append(parse_list((corpus_dir / "lists" / name).read_text("utf-8"), name))
    return out


def load_real_requests(corpus_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Distinct subresource requests with a page, spread evenly over the whole log."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == "document" or not r.get("source_url"):
                continue
            if not r["url"].startswith(("http://", "https://")):
                continue
            key = (r["url"], r["source_url"], r["type"])
            if key in seen:
                continue
            seen.add(key)
            rows.append(r)
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


@pytest.fixture(scope="session")
def real_requests(corpus_dir: Path) -> list[dict[str, Any]]:
    return load_real_requests(corpus_dir, 8000)
