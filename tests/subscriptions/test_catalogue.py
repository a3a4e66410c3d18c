"""The catalogue of well-known lists."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from trackguard.subscriptions.catalogue import CATALOGUE, find_entry


def test_catalogue_has_the_lists_the_issue_names() -> None:
    keys = {e.key for e in CATALOGUE}
    assert keys == {"easyprivacy", "easylist", "fanboy-enhanced", "peter-lowe", "adguard-tracking"}


def test_every_address_is_https_and_unique() -> None:
    urls = [e.url for e in CATALOGUE]
    assert len(set(urls)) == len(urls)
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("easyprivacy", "easyprivacy"),
        ("EasyPrivacy", "easyprivacy"),
        (" easylist ", "easylist"),
        ("peter_lowe", "peter-lowe"),
        ("pgl", "peter-lowe"),
        ("AdGuard", "adguard-tracking"),
        ("fanboy", "fanboy-enhanced"),
    ],
)
def test_find_entry(name: str, key: str) -> None:
    entry = find_entry(name)
    assert entry is not None and entry.key == key


def test_unknown_name() -> None:
    assert find_entry("no-such-list") is None
