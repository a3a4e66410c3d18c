"""Fixtures for the subscription tests: a misbehaving list server and a fresh state folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from list_server import ListServer

from trackguard.subscriptions.fetch import FetchConfig, HttpFetcher

#: Patient limits for ordinary downloads (the machine may be busy) ...
PATIENT = FetchConfig(timeout=10.0, deadline=30.0, retries=1, retry_delay=0.01)
#: ... and short ones for the tests of hanging and dripping servers.
QUICK = FetchConfig(timeout=1.0, deadline=2.0, retries=1, retry_delay=0.01)


@pytest.fixture(scope="session")
def list_server(corpus_dir: Path) -> Iterator[ListServer]:
    with ListServer(corpus_dir) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty state folder, as on first run."""
    return tmp_path / "home"


@pytest.fixture
def fetcher() -> HttpFetcher:
    return HttpFetcher(PATIENT, sleep=lambda _: None)


@pytest.fixture
def quick_fetcher() -> HttpFetcher:
    return HttpFetcher(QUICK, sleep=lambda _: None)


@pytest.fixture(scope="session")
def tracking_tpl(corpus_dir: Path) -> bytes:
    """A real TPL (Fanboy's Tracking List, 4,747 rules, `: Expires=3`)."""
    return (corpus_dir / "tpl" / "fanboy-tracking.tpl").read_bytes()
