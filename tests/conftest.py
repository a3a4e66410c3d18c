"""Fixtures shared by the whole suite.

Keep this small and general: fixtures for one module belong in that module's folder.
The shared test corpus is read in place, never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trackguard.engine import Engine

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The read-only shared folder: `$TRACKGUARD_SHARED`, else `<repo root>/../shared`.

    In CI the clone sits in another folder with a copy of `shared/` beside it, so the path
    is resolved relative to the repository, not to the current directory.
    """
    override = os.environ.get("TRACKGUARD_SHARED")
    return Path(override) if override else REPO_ROOT.parent / "shared"


def corpus_path() -> Path:
    """`<shared>/corpus`, for module-level code (parametrisation) that cannot use fixtures."""
    return shared_dir() / "corpus"


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
