"""The 841 real HAR files of the corpus, extracted to a temporary folder at test time.

The archive (`requests/real/crux-ar-2025-08.tar.xz`) is never unpacked into the repository.
A module of its own (not a fixture) so the HAR reader's and the auditor's tests share it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from corpus_paths import corpus_path

ARCHIVE = corpus_path() / "requests" / "real" / "crux-ar-2025-08.tar.xz"
LOG = corpus_path() / "requests" / "real-requests.jsonl.gz"
SUMMARY = corpus_path() / "requests" / "real-requests.summary.json"
#: Where the files sit inside the archive, and the repository `origin` prefix of the log.
FOLDER = "Crux_Sites_Scrapper/data/har_files/AR"
ORIGIN_PREFIX = "rashnakumar96/Crux_Sites_Scrapper:data/har_files/AR/"


def extract_real_hars(dest: Path, limit: int | None = None) -> list[Path]:
    """Extract the HAR files (the first `limit` of them in archive order) into `dest`."""
    out: list[Path] = []
    with tarfile.open(ARCHIVE, "r:xz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".har"):
                continue
            archive.extract(member, dest, filter="data")
            out.append(dest / member.name)
            if limit is not None and len(out) >= limit:
                break
    return out
