"""The `$options` vocabulary and splitting (`lists.abp_options`), on their own.

The parser's use of them is tested in `test_abp.py`; here: where a filter's options
start, whatever `$` its pattern or option values hold, and how `domain=` lists split.
"""

from __future__ import annotations

import pytest

from trackguard.lists.abp_options import (
    COSMETIC_EXCEPTION_OPTIONS,
    NOT_APPLIED_KINDS,
    TYPE_OPTIONS,
    parse_domains,
    split_options,
)
from trackguard.model import RequestType


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("||ads.example^", ("||ads.example^", None)),
        ("||ads.example^$script", ("||ads.example^", "script")),
        ("||a.example^$", ("||a.example^", "")),
        ("$script", ("", "script")),
        # the only `$` is the separator even when no option name follows it
        ("/path$?x", ("/path", "?x")),
        # a regex filter's `$` is its end anchor, not a separator
        ("/^https?:\\/\\/ads\\.js$/", ("/^https?:\\/\\/ads\\.js$/", None)),
        ("/ads\\.js$/$script", ("/ads\\.js$/", "script")),
        # a `$` inside an option value: the separator is the one before an option name
        ("||x.example^$removeparam=/^utm_.*$/", ("||x.example^", "removeparam=/^utm_.*$/")),
        ("||x.example^$removeparam=/a$/,script", ("||x.example^", "removeparam=/a$/,script")),
        ("/a$b/c$Third-Party", ("/a$b/c", "Third-Party")),
        ("/a$b/c$?", ("/a", "b/c$?")),
    ],
)
def test_split_options(line: str, expected: tuple[str, str | None]) -> None:
    assert split_options(line) == expected


def test_parse_domains() -> None:
    include, exclude, invalid = parse_domains("a.example|~b.a.example|google.*| |x/y|a..b", "|")
    assert include == ["a.example", "google.*"]
    assert exclude == ["b.a.example"]
    assert invalid == ["", "x/y", "a..b"]
    assert parse_domains("bücher.example", "|")[0] == ["xn--bcher-kva.example"]


def test_vocabulary() -> None:
    assert TYPE_OPTIONS["xhr"] == int(RequestType.XMLHTTPREQUEST)
    assert TYPE_OPTIONS["css"] == int(RequestType.STYLESHEET)
    assert "generichide" in COSMETIC_EXCEPTION_OPTIONS
    assert NOT_APPLIED_KINDS["strict3p"] == "strict-party"
