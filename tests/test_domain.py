"""Host names, registrable domains and URL text (`trackguard.domain`).

`split_url` builds the URL text every rule matches against (TPL spec §A.5.2); `site_of`
decides first- vs third-party (§A.7 decision 1, full Public Suffix List including its
private section). The PSL project's own test cases come from the shared corpus.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackguard import domain
from trackguard.domain import (
    UrlParts,
    host_suffixes,
    is_ip_literal,
    is_public_suffix,
    is_subdomain_or_same,
    public_suffix,
    registrable_domain,
    same_site,
    site_of,
    split_url,
    to_ascii_host,
)

# --- split_url ------------------------------------------------------------------------------

SPLIT = [
    # URL, (scheme, host, URL text)
    ("https://example.com/a?b=1", ("https", "example.com", "https://example.com/a?b=1")),
    ("https://example.com", ("https", "example.com", "https://example.com/")),
    # userinfo and fragment are never part of the URL text
    ("https://user:pw@example.com/a", ("https", "example.com", "https://example.com/a")),
    ("https://a@b@example.com/", ("https", "example.com", "https://example.com/")),
    ("https://example.com/a#frag", ("https", "example.com", "https://example.com/a")),
    ("https://example.com/a#b?c", ("https", "example.com", "https://example.com/a")),
    ("https://example.com#f", ("https", "example.com", "https://example.com/")),
    # default ports dropped, others kept
    ("https://example.com:443/x", ("https", "example.com", "https://example.com/x")),
    ("http://example.com:80", ("http", "example.com", "http://example.com/")),
    ("http://example.com:443/", ("http", "example.com", "http://example.com:443/")),
    ("https://example.com:8443/x", ("https", "example.com", "https://example.com:8443/x")),
    ("wss://x.test:443/s", ("wss", "x.test", "wss://x.test/s")),
    ("ws://x.test:80/s", ("ws", "x.test", "ws://x.test/s")),
    ("ftp://x.test:21/f", ("ftp", "x.test", "ftp://x.test/f")),
    ("https://x.test:/", ("https", "x.test", "https://x.test/")),
    # scheme and host lower-cased, path and query exactly as sent
    ("HTTPS://EXAMPLE.COM/A?B=%2F", ("https", "example.com", "https://example.com/A?B=%2F")),
    ("https://example.com/a%20b", ("https", "example.com", "https://example.com/a%20b")),
    ("https://example.com./x", ("https", "example.com", "https://example.com/x")),
    # IPv6 literals keep their brackets; port split after them
    ("https://[2001:DB8::1]:8443/x", ("https", "[2001:db8::1]", "https://[2001:db8::1]:8443/x")),
    ("https://[::1]/", ("https", "[::1]", "https://[::1]/")),
    ("http://203.0.113.7:8080/ad.js", ("http", "203.0.113.7", "http://203.0.113.7:8080/ad.js")),
    # IDN hosts in A-label form; the path is not touched
    (
        "https://Bücher.example/ü?ü#x",
        ("https", "xn--bcher-kva.example", "https://xn--bcher-kva.example/ü?ü"),
    ),
    ("https://☃.net/", ("https", "xn--n3h.net", "https://xn--n3h.net/")),
    # no scheme, non-network URLs and garbage: no host, text as is
    ("example.com/path", ("", "", "example.com/path")),
    ("//example.com/x", ("", "", "//example.com/x")),
    ("data:text/plain,hi", ("data", "", "data:text/plain,hi")),
    ("about:blank", ("about", "", "about:blank")),
    ("blob:https://x.test/1", ("blob", "", "blob:https://x.test/1")),
    ("", ("", "", "")),
    ("garbage", ("", "", "garbage")),
    ("http://", ("http", "", "http:///")),
    ("http://:80/", ("http", "", "http:///")),
    # a host over 253 characters is not a DNS name: no host to judge
    ("https://" + "a" * 250 + ".com/x", ("https", "", "https:///x")),
    (
        "https://" + "a" * 249 + ".com/x",
        ("https", "a" * 249 + ".com", "https://" + "a" * 249 + ".com/x"),
    ),
]


@pytest.mark.parametrize(("url", "parts"), SPLIT)
def test_split_url(url: str, parts: tuple[str, str, str]) -> None:
    assert split_url(url) == UrlParts(*parts)


def test_split_url_adds_the_root_path_before_a_query() -> None:
    assert split_url("https://example.com?q=1").text == "https://example.com/?q=1"


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1",
        "https://[",
        "https://]:/",
        "https://\ud800.test/",
        "https://x.test/\udcff",
        "https://" + "a" * 10_000,
        "https://@@@/",
        "https://x.test:99999999999/",
        "\x00://\x00",
        ":::",
        "https://%zz/",
        "https://x.test\\evil/",
    ],
)
def test_split_url_never_raises(url: str) -> None:
    parts = split_url(url)
    assert isinstance(parts.text, str) and isinstance(parts.host, str)
    assert "#" not in parts.text


# --- to_ascii_host --------------------------------------------------------------------------

ASCII = [
    ("Bücher.Example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("EXAMPLE.com.", "example.com"),
    ("  x.test ", "x.test"),
    ("ex_ample.com", "ex_ample.com"),  # IDNA 2008 refuses `_`; still usable as a key
    ("☃.net", "xn--n3h.net"),
    ("faß.de", "xn--fa-hia.de"),  # IDNA 2008 (non-transitional): ß is kept
    ("💩.la", "xn--ls8h.la"),
    ("[2001:0DB8:0:0::1]", "[2001:db8::1]"),  # IPv6: canonical compressed form
    ("[::FFFF:203.0.113.7]", "[::ffff:cb00:7107]"),
    ("", ""),
]


@pytest.mark.parametrize(("host", "ascii"), ASCII)
def test_to_ascii_host(host: str, ascii: str) -> None:
    assert to_ascii_host(host) == ascii


@pytest.mark.parametrize(
    "host", ["a\u200db.com", "\ud800.test", "a" * 300 + ".ü", "..ü..", "ü" * 100]
)
def test_to_ascii_host_never_raises(host: str) -> None:
    result = to_ascii_host(host)
    assert isinstance(result, str)
    assert result == result.lower()


# --- registrable domains and sites: the PSL project's test cases ----------------------------


def _psl_cases(corpus: Path) -> list[tuple[str, str | None, str]]:
    """The PSL project's cases; the one `null` input has no `str` counterpart, so it is
    left out (our functions take `str`)."""
    path = corpus / "other" / "public_suffix_list.tests.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert len(rows) == 78
    return [(r["input"], r["registrable_domain"], r["section"]) for r in rows if r["input"]]


# One test per function over all cases (not one per case): the corpus path comes from the
# `corpus_dir` fixture, which module-level parametrisation cannot use. Every mismatch is
# listed in the failure message.


def test_registrable_domain_psl_cases(corpus_dir: Path) -> None:
    """Our contract is the A-label form; the PSL tests write IDN results as U-labels."""
    cases = _psl_cases(corpus_dir)
    assert len(cases) == 77
    wrong = [
        (host, section, registrable_domain(host), expected)
        for host, expected, section in cases
        if registrable_domain(host) != (to_ascii_host(expected) if expected else None)
    ]
    assert wrong == []


def test_site_of_psl_cases(corpus_dir: Path) -> None:
    """A host's site is its registrable domain; with none, the host is its own site."""
    wrong = []
    for host, expected, section in _psl_cases(corpus_dir):
        ascii_host = to_ascii_host(host)
        want = to_ascii_host(expected) if expected is not None else ascii_host
        if site_of(ascii_host) != want:
            wrong.append((host, section, site_of(ascii_host), want))
    assert wrong == []


PRIVATE = [
    # the private section of the PSL is in use: each of these is a separate site
    ("alice.github.io", "alice.github.io"),
    ("www.alice.github.io", "alice.github.io"),
    ("github.io", None),
    ("x.blogspot.com", "x.blogspot.com"),
    ("bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com"),
    ("www.example.co.uk", "example.co.uk"),
    ("203.0.113.7", None),
    ("[::1]", None),
    ("", None),
]


@pytest.mark.parametrize(("host", "expected"), PRIVATE)
def test_registrable_domain_private_section_and_ips(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


SITES = [
    ("203.0.113.7", "203.0.113.7"),  # IP literals are their own site
    ("[2001:db8::1]", "[2001:db8::1]"),
    ("localhost", "localhost"),  # single label
    ("co.uk", "co.uk"),  # a public suffix is its own site
    ("a.b.github.io", "b.github.io"),
    ("", ""),
]


@pytest.mark.parametrize(("host", "site"), SITES)
def test_site_of_special_hosts(host: str, site: str) -> None:
    assert site_of(host) == site


LABELS = ["a", "www", "com", "co", "uk", "github", "io", "1", "2", "7", "ck", "www.ck", "localhost"]
HOSTS = st.one_of(
    st.lists(st.sampled_from(LABELS), min_size=1, max_size=4).map(".".join),
    st.sampled_from([h for h, _ in SITES]),
)


@settings(max_examples=500, deadline=None)
@given(HOSTS, HOSTS)
def test_same_site_is_site_of_equality(host: str, other: str) -> None:
    """Its shortcut (different last two labels: different sites) never disagrees with
    the PSL: public suffixes, wildcard and exception rules (`*.ck`, `!www.ck`), private
    suffixes, IP literals, single labels."""
    assert same_site(host, other) is (site_of(host) == site_of(other))


def test_same_site_on_the_real_request_log(corpus_dir: Path) -> None:
    pairs = set()
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt") as log:
        for line in log:
            row = json.loads(line)
            if row.get("source_url"):
                pairs.add((split_url(row["url"]).host, split_url(row["source_url"]).host))
    assert len(pairs) > 5000
    wrong = [p for p in pairs if same_site(*p) is not (site_of(p[0]) == site_of(p[1]))]
    assert wrong == []


# --- small helpers --------------------------------------------------------------------------

IP = [
    ("203.0.113.7", True),
    ("[::1]", True),
    ("::1", True),
    ("2001:db8::1", True),
    ("1.2.3", False),
    ("example.com", False),
    ("1e100.net", False),
    ("0x7f.0.0.1", False),
    ("[example.com]", False),
    ("", False),
]


@pytest.mark.parametrize(("host", "is_ip"), IP)
def test_is_ip_literal(host: str, is_ip: bool) -> None:
    assert is_ip_literal(host) is is_ip


def test_public_suffix() -> None:
    assert public_suffix("www.example.co.uk") == "co.uk"
    assert public_suffix("alice.github.io") == "github.io"


def test_host_suffixes() -> None:
    assert host_suffixes("a.b.c") == ["a.b.c", "b.c", "c"]
    assert host_suffixes("localhost") == ["localhost"]


@pytest.mark.parametrize(
    ("host", "domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("a.example.com", "example.com", True),
        ("notexample.com", "example.com", False),
        ("example.com", "a.example.com", False),
    ],
)
def test_is_subdomain_or_same(host: str, domain: str, expected: bool) -> None:
    assert is_subdomain_or_same(host, domain) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("com", True),
        ("co.uk", True),
        ("CO.UK", True),
        ("github.io", True),  # private section
        ("公司.cn", True),
        ("example.com", False),
        ("metrics", False),  # unlisted single label: the implicit `*` rule does not count
        ("203.0.113.7", False),
        ("", False),
    ],
)
def test_is_public_suffix(name: str, expected: bool) -> None:
    assert is_public_suffix(name) is expected


def test_url_memos_keep_no_long_urls() -> None:
    """A client chooses its URLs and Referers: a URL-keyed memo keeps short ones only."""
    calls: list[str] = []

    @domain.memo_short_urls(4)
    def measured(url: str) -> int:
        calls.append(url)
        return len(url)

    assert measured("https://a.test/") == measured("https://a.test/") == 15
    assert calls == ["https://a.test/"]  # the second answer came from the memo
    long_url = "https://a.test/" + "x" * domain.MEMO_URL_MAX
    assert measured(long_url) == measured(long_url) == len(long_url)
    assert calls.count(long_url) == 2  # answered each time, never kept
    assert measured.cache_info().currsize == 1  # type: ignore[attr-defined]
    for i in range(10):
        measured(f"https://a.test/{i}")
    assert measured.cache_info().currsize == 4  # type: ignore[attr-defined]
