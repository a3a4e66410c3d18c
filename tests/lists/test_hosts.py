"""Tests for the hosts-file / plain domain-list parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard.lists import hosts as hosts_module
from trackguard.lists.hosts import classify_address, parse_hosts
from trackguard.lists.tpl import MAX_LIST_BYTES
from trackguard.model import (
    DEFAULT_TYPES,
    Action,
    Format,
    HostMode,
    ListRejected,
    ParsedList,
    Party,
    Severity,
    SourceRef,
)

SUFFIX, EXACT = HostMode.SUFFIX, HostMode.EXACT


def entries(parsed: ParsedList) -> list[tuple[str, HostMode, int]]:
    return [(r.host, r.host_mode, r.source.line) for r in parsed.rules]


def codes(parsed: ParsedList) -> list[tuple[int, str]]:
    return [(d.line, d.code) for d in parsed.diagnostics]


KEEP = "0.0.0.0 keep.example\n"  # a valid entry so the list is not rejected


LINES = [
    # hosts-file lines
    ("0.0.0.0 ads.example", [("ads.example", SUFFIX)]),
    ("127.0.0.1 a.example b.example", [("a.example", SUFFIX), ("b.example", SUFFIX)]),
    ("::1 ads.example", [("ads.example", SUFFIX)]),
    (":: ads.example", [("ads.example", SUFFIX)]),
    ("0 ads.example", [("ads.example", SUFFIX)]),
    ("127.0.0.2 ads.example", [("ads.example", SUFFIX)]),
    ("0.1.2.3 ads.example", [("ads.example", SUFFIX)]),
    ("0.0.0.0\tads.example\t\tb.example", [("ads.example", SUFFIX), ("b.example", SUFFIX)]),
    ("0.0.0.0 ads.example # trailing comment", [("ads.example", SUFFIX)]),
    ("0.0.0.0 ads.example#no space", [("ads.example", SUFFIX)]),
    ("  0.0.0.0   Ads.Example.  ", [("ads.example", SUFFIX)]),
    ("0.0.0.0 bücher.example", [("xn--bcher-kva.example", SUFFIX)]),
    ("0.0.0.0 tracker_1.example", [("tracker_1.example", SUFFIX)]),
    ("0.0.0.0 203.0.113.7", [("203.0.113.7", EXACT)]),
    # plain domain lists
    ("ads.example", [("ads.example", SUFFIX)]),
    ("ads.example  # why", [("ads.example", SUFFIX)]),
    ("203.0.113.7", [("203.0.113.7", EXACT)]),
    ("2001:DB8::1", [("[2001:db8::1]", EXACT)]),
    ("wpad", [("wpad", SUFFIX)]),  # unlisted single label: loads quietly
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_entries(line: str, expected: list[tuple[str, HostMode]]) -> None:
    parsed = parse_hosts(line + "\n", "h")
    assert [(host, mode) for host, mode, _ in entries(parsed)] == expected
    assert parsed.diagnostics == ()


def test_rule_contract_fields() -> None:
    parsed = parse_hosts("# c\n  0.0.0.0 a.example b.example  # x\n", "my-hosts")
    assert len(parsed.rules) == 2
    for rule in parsed.rules:
        assert rule.action is Action.BLOCK
        assert rule.syntax is Format.HOSTS
        assert rule.party is Party.ANY
        assert rule.types == DEFAULT_TYPES
        assert rule.pattern == ""
        assert rule.source == SourceRef("my-hosts", 2, "0.0.0.0 a.example b.example  # x")
    assert parsed.format is Format.HOSTS


PROBLEMS = [
    # local names: notices, other names on the line still load
    ("127.0.0.1 localhost", "hosts.local-entry", Severity.NOTICE, []),
    ("::1 localhost ip6-localhost ip6-loopback", "hosts.local-entry", Severity.NOTICE, []),
    ("127.0.0.1 localhost.localdomain", "hosts.local-entry", Severity.NOTICE, []),
    ("255.255.255.255 broadcasthost", "hosts.local-entry", Severity.NOTICE, []),
    ("ff02::1 ip6-allnodes", "hosts.local-entry", Severity.NOTICE, []),
    ("0.0.0.0 0.0.0.0", "hosts.local-entry", Severity.NOTICE, []),
    ("127.0.0.1 local", "hosts.local-entry", Severity.NOTICE, []),
    ("0.0.0.0", "hosts.local-entry", Severity.NOTICE, []),
    ("127.0.0.1 LocalHost ads.example", "hosts.local-entry", Severity.NOTICE, ["ads.example"]),
    # redirects are not blocks
    ("192.0.2.1 ads.example", "hosts.redirect-entry", Severity.NOTICE, []),
    ("fe80::1%lo0 ads.example", "hosts.redirect-entry", Severity.NOTICE, []),
    ("2001:db8::1 ads.example", "hosts.redirect-entry", Severity.NOTICE, []),
    # invalid host tokens skip the whole line
    ("0.0.0.0 ads.example/path", "hosts.bad-host", Severity.ERROR, []),
    ("0.0.0.0 ok.example *.ads.example", "hosts.bad-host", Severity.ERROR, []),
    ("0.0.0.0 .ads.example", "hosts.bad-host", Severity.ERROR, []),
    ("0.0.0.0 a..example", "hosts.bad-host", Severity.ERROR, []),
    ("||ads.example^", "hosts.bad-host", Severity.ERROR, []),
    ("ads.example:8080", "hosts.bad-host", Severity.ERROR, []),
    ("0.0.0.0 ads\u00a0example", "hosts.bad-host", Severity.ERROR, []),
    ("0.0.0.0 " + "a" * 64 + ".example", "hosts.bad-host", Severity.ERROR, []),
    # lines that are neither hosts lines nor one domain
    ("ads.example other.example", "hosts.bad-line", Severity.ERROR, []),
    ("127.0.0.l ads.example", "hosts.bad-line", Severity.ERROR, []),
    # whole public suffixes load, with a warning
    ("0.0.0.0 com", "hosts.public-suffix", Severity.WARNING, ["com"]),
    ("github.io", "hosts.public-suffix", Severity.WARNING, ["github.io"]),
]


@pytest.mark.parametrize(("line", "code", "severity", "loaded"), PROBLEMS)
def test_problem_lines(line: str, code: str, severity: Severity, loaded: list[str]) -> None:
    parsed = parse_hosts(KEEP + line + "\n", "h")
    assert [(d.line, d.code, d.severity) for d in parsed.diagnostics] == [(2, code, severity)]
    assert [r.host for r in parsed.rules] == ["keep.example", *loaded]


MESSAGES = [
    ("0.0.0.0 ads.example/path", "paths need an Adblock Plus or TPL list"),
    ("0.0.0.0 *.ads.example", "already covers its subdomains"),
    ("||ads.example^", "load the list as Adblock Plus"),
    ("0.0.0.0 .ads.example", "without it"),
    ("192.0.2.1 ads.example", "redirects rather than blocks"),
    ("127.0.0.1 localhost", "`localhost`"),
]


@pytest.mark.parametrize(("line", "hint"), MESSAGES)
def test_messages_are_actionable(line: str, hint: str) -> None:
    parsed = parse_hosts(KEEP + line + "\n", "h")
    assert hint in parsed.diagnostics[0].message


def test_stock_hosts_file_header() -> None:
    """The usual preamble of a hosts block list: local names skipped, metadata read."""
    text = (
        "# Title: Example hosts list\n"
        "# Homepage: https://hosts.example/\n"
        "! Version: 2024.1\n"
        "#\n"
        "127.0.0.1 localhost\n"
        "127.0.0.1 localhost.localdomain\n"
        "255.255.255.255 broadcasthost\n"
        "::1 localhost\n"
        "fe80::1%lo0 localhost\n"
        "0.0.0.0 0.0.0.0\n"
        "\n"
        "0.0.0.0 ads.example\n"
        "# Expires: 4 days\n"
        "0.0.0.0 tracker.example\n"
    )
    parsed = parse_hosts(text, "h")
    assert entries(parsed) == [("ads.example", SUFFIX, 12), ("tracker.example", SUFFIX, 14)]
    assert [line for line, code in codes(parsed) if code == "hosts.local-entry"] == [
        5,
        6,
        7,
        8,
        9,
        10,
    ]
    assert parsed.metadata == {
        "title": "Example hosts list",
        "homepage": "https://hosts.example/",
        "version": "2024.1",
    }
    assert parsed.skipped == {"comment": 5, "blank": 1, "local": 6}


def test_line_endings_and_bom() -> None:
    for text in (
        "\ufeffa.example\r\nb.example\r\n",
        "a.example\rb.example",
        "a.example\nb.example",
    ):
        assert [(h, n) for h, _, n in entries(parse_hosts(text, "h"))] == [
            ("a.example", 1),
            ("b.example", 2),
        ]


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# only comments\n", "127.0.0.1 localhost\n::1 localhost\n", "a/b\n"],
)
def test_no_entry_rejected(text: str) -> None:
    with pytest.raises(ListRejected, match=r"hosts\.no-valid-rule"):
        parse_hosts(text, "h")


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    long_line = "0.0.0.0 " + "a" * 5000 + ".example"
    parsed = parse_hosts(KEEP + long_line + "\n# " + "c" * 5000 + "\n", "h")
    assert [(d.line, d.code, d.severity) for d in parsed.diagnostics] == [
        (2, "hosts.line-too-long", Severity.ERROR),
        (3, "hosts.line-too-long", Severity.NOTICE),
    ]
    with pytest.raises(ListRejected, match=r"hosts\.too-large"):
        parse_hosts(KEEP + "#" * MAX_LIST_BYTES, "h")
    monkeypatch.setattr(hosts_module, "MAX_RULES", 2)
    assert len(parse_hosts("0.0.0.0 a.example b.example\n", "h").rules) == 2
    with pytest.raises(ListRejected, match=r"hosts\.too-many-rules"):
        parse_hosts("0.0.0.0 a.example b.example\nc.example\n", "h")


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0.0.0.0", True),
        ("0", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::", True),
        ("[::1]", True),
        ("192.0.2.1", False),
        ("2001:db8::1", False),
        ("ads.example", None),
        ("127.0.0.l", None),
        ("1.2.3", None),
    ],
)
def test_classify_address(token: str, expected: bool | None) -> None:
    assert classify_address(token) is expected


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.sampled_from(
                ["0.0.0.0 ", "127.0.0.1 ", "::1 ", "0 ", "a.example", "localhost", " ", "\t",
                 "#", "!", "\n", "\r", ".", "..", "*", "/", "é", "\u3002", "[", "]", "%", ":"]
            ) | st.text(max_size=6),
            max_size=30,
        ).map("".join),
    )
)  # fmt: skip
def test_arbitrary_text_only_raises_list_rejected(text: str) -> None:
    try:
        parsed = parse_hosts(text, "fuzz")
    except ListRejected:
        return
    assert parsed.rules
    for rule in parsed.rules:
        assert rule.host and rule.host == rule.host.lower() and rule.host.isascii()
        assert rule.host_mode in (SUFFIX, EXACT)
