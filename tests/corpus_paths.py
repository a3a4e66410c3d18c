"""Where the shared, read-only test corpus lives (used by fixtures and parametrisation).

A module of its own with a unique name, importable from every test folder because the
top-level `tests/conftest.py` puts `tests/` on the import path.
"""

from __future__ import annotations

import os
from pathlib import Path

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
