"""Tests for list format detection from content."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_paths import corpus_path
from trackguard.lists import detect
from trackguard.lists.abp import parse_abp
from trackguard.lists.detect import detect_format
from trackguard.lists.hosts import parse_hosts
from trackguard.lists.tpl import parse_tpl
from trackguard.model import Format, ListRejected

TPL, ABP, HOSTS = Format.TPL, Format.ABP, Format.HOSTS

CASES = [
    # TPL: the first non-blank line decides
    ("msFilterList\n-d ads.example\n", TPL),
    ("\ufeffmsFilterList\r\n-d ads.example\r\n", TPL),
    ("msFilterList   \n", TPL),
    ("\n\n  msFilterList\n- /x\n", TPL),  # parse_tpl then rejects: header not on line 1
    ("msfilterlist\n-d ads.example\n", TPL),  # parse_tpl then rejects: bad case
    ("# comment\nmsFilterList\n", ABP),  # the header must come first
    # ABP
    ("[Adblock Plus 2.0]\n! Title: X\n||ads.example^\n", ABP),
    ("[Adblock Plus 1.1]\n0.0.0.0 ads.example\n", ABP),  # the header wins
    ("[uBlock Origin]\nexample.com##.ad\n", ABP),
    ("! Title: X\n||ads.example^$third-party\n@@||ok.example^\n", ABP),
    ("/banner/*/img^\n", ABP),
    ("-ad-banner-\n.com/ads/\n&ad_type=\n", ABP),
    ("example.com##.ad\n##.banner\n", ABP),
    ("/^https?:\\/\\/ads\\./$script\n", ABP),
    ("", ABP),
    ("\n\n   \n", ABP),
    ("! only comments\n! more\n", ABP),
    ("# only comments\n", ABP),
    # HOSTS
    ("0.0.0.0 ads.example\n", HOSTS),
    ("# header\n127.0.0.1 localhost\n::1 localhost\n0.0.0.0 ads.example # x\n", HOSTS),
    ("ads.example\ntracker.example\n", HOSTS),
    ("! Title: domains\nads.example\ntracker.example\n", HOSTS),
    ("0 ads.example\n", HOSTS),
    ("203.0.113.7\n", HOSTS),
    ("ads.example\r\ntracker.example\r\n", HOSTS),
    ("ads.example\rtracker.example\r", HOSTS),
    ("\ufeff0.0.0.0 ads.example\n", HOSTS),
    # mixed: one stray line in many hosts lines stays HOSTS, ABP syntax beyond 10% does not
    ("".join(f"0.0.0.0 h{i}.example\n" for i in range(20)) + "||x.example^\n", HOSTS),
    ("".join(f"0.0.0.0 h{i}.example\n" for i in range(5)) + "||x.example^\n", ABP),
    ("ads.example\n||tracker.example^\n", ABP),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_detect(text: str, expected: Format) -> None:
    assert detect_format(text) is expected


def test_bad_tpl_header_reaches_the_tpl_parser() -> None:
    """Detection is case-insensitive so that the error says what is wrong (§A.3)."""
    text = "msfilterlist\n-d ads.example\n"
    assert detect_format(text) is TPL
    with pytest.raises(ListRejected, match="case-sensitive"):
        parse_tpl(text, "t")


def test_the_tpl_header_is_the_tpl_parsers() -> None:
    from trackguard.lists import tpl

    assert detect.HEADER == tpl.HEADER


def test_sample_is_bounded() -> None:
    """Only the start of the text is read: a hosts preamble decides for a huge tail."""
    head = "".join(f"0.0.0.0 h{i}.example\n" for i in range(detect.SAMPLE_LINES))
    assert detect_format(head + "||abp.example^\n" * 100_000) is HOSTS
    # Past SAMPLE_CHARS nothing counts, even if the sample had no vote at all.
    comments = "#" * detect.SAMPLE_CHARS + "\n"
    assert detect_format(comments + "0.0.0.0 ads.example\n") is ABP


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab\r\n\ufeff\u2028\x0b", max_size=60),
    chunk=st.integers(min_value=1, max_value=8),
)
def test_sample_is_split_as_the_parsers_split(text: str, chunk: int) -> None:
    """The sample is split a chunk at a time, with the same lines as one `split_lines`."""
    from trackguard.lists.text import split_lines

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detect, "_CHUNK_CHARS", chunk)
        assert list(detect._sample_lines(text, 0)) == split_lines(text[: detect.SAMPLE_CHARS])


CORPUS = corpus_path()


@pytest.mark.parametrize("path", sorted((CORPUS / "tpl").glob("*.tpl")), ids=lambda p: p.name)
def test_corpus_tpl_files(path: Path) -> None:
    assert detect_format(path.read_text(encoding="utf-8")) is TPL


@pytest.mark.parametrize(
    "path",
    sorted((CORPUS / "lists").glob("*.txt")) + sorted((CORPUS / "tpl" / "abp-source").glob("*")),
    ids=lambda p: p.name,
)
def test_corpus_abp_lists(path: Path) -> None:
    assert detect_format(path.read_text(encoding="utf-8")) is ABP


def test_peter_lowe_list() -> None:
    """`peter-lowe-serverlist.txt` is the ABP rendering of the list (`[Adblock Plus 1.1]`,
    `||host^$third-party`), not a hosts file: it is detected as ABP and loads through the
    ABP parser (the hosts parser rejects its lines)."""
    text = (CORPUS / "lists" / "peter-lowe-serverlist.txt").read_text(encoding="utf-8")
    assert text.startswith("[Adblock Plus 1.1]")
    assert detect_format(text) is ABP
    with pytest.raises(ListRejected):
        parse_hosts(text, "peter-lowe")
    parsed = parse_abp(text, "peter-lowe")
    assert parsed.format is ABP
    # `!Entries: 3555`, but this copy comments 41 of them out (`! [dup] from ublock-origin`).
    assert len(parsed.rules) == 3514


def test_peter_lowe_as_hosts_file() -> None:
    """The same list in its hosts rendering (built from the ABP file) is HOSTS."""
    text = (CORPUS / "lists" / "peter-lowe-serverlist.txt").read_text(encoding="utf-8")
    hosts = [line[2:].split("^")[0] for line in text.splitlines() if line.startswith("||")]
    rendered = "# Peter Lowe's list, hosts format\n" + "".join(f"127.0.0.1 {h}\n" for h in hosts)
    assert detect_format(rendered) is HOSTS
    parsed = parse_hosts(rendered, "peter-lowe-hosts")
    assert len(parsed.rules) == len(hosts) == 3514
    assert parsed.rules[0].host == "1-1ads.com" and parsed.rules[0].source.line == 2


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    assert detect_format(text) in (TPL, ABP, HOSTS)


# --- decode_list_bytes: the one gate every entry point uses ---------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<!DOCTYPE html>\n<html></html>", "list.html"),
        (b"\n  <html lang=en><body>", "list.html"),
        (b"<!-- portal -->\n<p>log in</p>", "list.html"),
        (b"! comment\n" + b"x" * 100 + b"\n<html>", "list.html"),
        ("msFilterList\n-d a.example\n".encode("utf-16"), "list.utf16"),
        ("msFilterList\n-d a.example\n".encode("utf-16-le"), "list.utf16"),
        ("msFilterList\n-d a.example\n".encode("utf-16-be"), "list.utf16"),
        (b"||a.example^\n\xff\n", "list.not-utf8"),
        (b"||a.example^\n\x00\x01\x02", "list.binary"),
    ],
)
def test_decode_list_bytes_refuses_what_is_no_list(body: bytes, code: str) -> None:
    with pytest.raises(detect.NotAList) as caught:
        detect.decode_list_bytes(body)
    assert caught.value.code == code
    assert isinstance(caught.value, ListRejected)


def test_decode_list_bytes_accepts_lists() -> None:
    assert detect.decode_list_bytes(b"\xef\xbb\xbfmsFilterList\n") == "msFilterList\n"
    assert detect.decode_list_bytes("! Café\n||a.example^\n".encode()) == "! Café\n||a.example^\n"
    assert detect.decode_list_bytes(b"") == ""
    # `<` inside a rule later in a list is no web page
    assert detect.decode_list_bytes(b"||a.example^\n/<script/\n").startswith("||a")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_decode_list_bytes_never_raises_anything_else(body: bytes) -> None:
    with contextlib.suppress(detect.NotAList):
        detect.decode_list_bytes(body)
