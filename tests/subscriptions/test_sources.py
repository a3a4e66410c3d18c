"""What `lists add` accepts as a source, and the ids it makes (subscriptions/sources.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trackguard.subscriptions.sources import (
    AddRefused,
    choose_identity,
    resolve_source,
    slugify,
)
from trackguard.subscriptions.state import State


@pytest.mark.parametrize(
    ("text", "url_part", "list_id"),
    [
        ("easyprivacy", "easylist.to/easylist/easyprivacy.txt", "easyprivacy"),
        ("https://lists.example/a.txt", "lists.example/a.txt", None),
        (
            "abp:subscribe?location=https%3A%2F%2Flists.example%2Fb.txt&title=B%20list",
            "lists.example/b.txt",
            None,
        ),
    ],
)
def test_resolve_source(text: str, url_part: str, list_id: str | None) -> None:
    source = resolve_source(text)
    assert url_part in source.url and source.list_id == list_id


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("no-such-catalogue-name", "not a web address"),
        ("./missing.tpl", "no such file"),
        ("ftp://lists.example/a.txt", "only http"),
        ("https://", "no host"),
    ],
)
def test_resolve_source_errors(text: str, words: str) -> None:
    with pytest.raises(AddRefused, match=words):
        resolve_source(text)


def test_slugify() -> None:
    assert slugify("Fanboy's Enhanced Tracking List") == "fanboys-enhanced-tracking-list"
    assert slugify("  ÉasyList — Germany!! ") == "easylist-germany"
    assert slugify("***") == "list"
    assert len(slugify("x" * 200)) == 40


def test_a_local_file_and_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "mine.tpl"
    path.write_text("msFilterList\n")
    source = resolve_source(str(path))
    assert source.local == path.resolve() and source.url == path.resolve().as_uri()
    with pytest.raises(AddRefused, match="is a folder"):
        resolve_source(str(tmp_path))


@pytest.mark.parametrize(
    ("given", "words"),
    [("   ", "empty"), ("x" * 101, "longer than 100"), ("bad\x07name", "control characters")],
)
def test_explicit_names_are_checked(given: str, words: str) -> None:
    source = resolve_source("https://lists.example/a.txt")
    with pytest.raises(AddRefused, match=words):
        choose_identity(State(subscriptions=()), source, given, None)


def test_identity_falls_back_to_title_then_host() -> None:
    source = resolve_source("https://lists.example/a.txt")
    assert choose_identity(State(subscriptions=()), source, None, "My  List") == (
        "my-list",
        "My List",
    )
    assert choose_identity(State(subscriptions=()), source, None, None) == (
        "lists-example",
        "lists.example",
    )
