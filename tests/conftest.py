"""Fixtures shared by the whole suite.

Keep this small and general: fixtures for one module belong in that module's folder.
The shared test corpus is read in place, never copied into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trackguard.engine import Engine

# The path helpers live in `corpus_paths.py` (a unique module name): importing them
# from "conftest" would pick whichever of the suite's conftest modules loaded first.
from corpus_paths import REPO_ROOT, corpus_path, shared_dir

__all__ = ["REPO_ROOT", "corpus_path", "shared_dir"]


@pytest.fixture(autouse=True, scope="session")
def _private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the suite away from the user's real state folder (lists, log, settings).

    Tests that need their own folder still set `TRACKGUARD_HOME` themselves.
    """
    saved = os.environ.get("TRACKGUARD_HOME")
    os.environ["TRACKGUARD_HOME"] = str(tmp_path_factory.mktemp("trackguard-home"))
    yield
    if saved is None:
        os.environ.pop("TRACKGUARD_HOME", None)
    else:
        os.environ["TRACKGUARD_HOME"] = saved


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared test corpus (lists, TPL files, requests, vectors; see its README)."""
    path = corpus_path()
    if not (path / "README.md").is_file():
        pytest.fail(f"shared corpus not found at {path}; set TRACKGUARD_SHARED")
    return path


@pytest.fixture(scope="session")
def easylist_easyprivacy(corpus_dir: Path) -> Engine:
    """EasyList + EasyPrivacy from the corpus, built once per session (several seconds)."""
    from trackguard.engine import Engine  # lazily: a broken engine must not break collection

    lists = corpus_dir / "lists"
    return Engine.from_files([lists / "easylist.txt", lists / "easyprivacy.txt"])
