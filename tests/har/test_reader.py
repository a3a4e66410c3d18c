"""The streaming HAR reader: exporter shapes, hostile input, and the real corpus files."""

from __future__ import annotations

import contextlib
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from real_hars import ORIGIN_PREFIX, extract_real_hars
from trackguard.har import (
    HarEntry,
    HarError,
    HarLimits,
    HarPage,
    HarStats,
    entry_type,
    read_har,
    read_har_pages,
)
from trackguard.model import RequestType


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _headers(**headers: str) -> list[dict[str, str]]:
    return [{"name": k.replace("_", "-"), "value": v} for k, v in headers.items()]


def _entry(url: str, pageref: str | None = "page_1", **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "startedDateTime": "2026-01-02T03:04:05.678Z",
        "time": 12.5,
        "request": {
            "method": extra.pop("method", "GET"),
            "url": url,
            "httpVersion": "HTTP/1.1",
            "cookies": extra.pop("request_cookies", []),
            "headers": extra.pop("request_headers", []),
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": extra.pop("status", 200),
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "cookies": extra.pop("response_cookies", []),
            "headers": extra.pop("response_headers", []),
            "content": {
                "size": 10,
                "mimeType": extra.pop("mime", "text/html"),
                "text": "x" * 200_000,
            },
            "redirectURL": extra.pop("redirect", ""),
            "headersSize": -1,
            "bodySize": extra.pop("body_size", 10),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 1, "receive": 1},
    }
    if pageref is not None:
        entry["pageref"] = pageref
    entry.update(extra)
    return entry


def _har(pages: list[dict[str, Any]], entries: list[dict[str, Any]], creator: str) -> Any:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": creator, "version": "1"},
            "pages": pages,
            "entries": entries,
        }
    }


def _items(path: Path, **kwargs: Any) -> tuple[list[HarPage], list[HarEntry]]:
    pages: list[HarPage] = []
    entries: list[HarEntry] = []
    for item in read_har(path, **kwargs):
        (pages if isinstance(item, HarPage) else entries).append(item)  # type: ignore[arg-type]
    return pages, entries


def test_chrome_export(tmp_path: Path) -> None:
    """Chrome: page URL in the title, `_resourceType`, `_initiator`, `_transferSize`."""
    page = {
        "startedDateTime": "2026-01-02T03:04:05.000Z",
        "id": "page_1",
        "title": "https://news.example/",
        "pageTimings": {},
    }
    doc = _entry("https://news.example/", _resourceType="document")
    pixel = _entry(
        "https://tracker.test/p.gif",
        _resourceType="image",
        _initiator={"type": "script", "url": "https://news.example/app.js", "stack": {}},
        request_cookies=[{"name": "uid", "value": "42"}],
        response_cookies=[{"name": "uid", "value": "43", "domain": ".tracker.test"}],
        response_headers=_headers(Set_Cookie="uid=43; Domain=.tracker.test"),
    )
    pixel["response"]["_transferSize"] = 321
    path = _write(tmp_path, "chrome.har", _har([page], [doc, pixel], "WebInspector"))
    pages, entries = _items(path)
    title = str(page["title"])
    assert pages == [HarPage("page_1", "https://news.example/", title, pages[0].started)]
    assert pages[0].started is not None and pages[0].started.year == 2026
    assert [e.page_url for e in entries] == ["https://news.example/"] * 2
    assert entries[0].navigation and not entries[1].navigation
    assert entries[1].resource_type == "image"
    assert entries[1].initiator == "script https://news.example/app.js"
    assert entries[1].body_size == 321  # transfer size wins over body size
    assert entries[1].request_cookies[0].name == "uid"
    assert entries[1].response_cookies[0].domain == ".tracker.test"
    assert entries[1].response_header("set-cookie") == "uid=43; Domain=.tracker.test"
    assert entry_type(entries[1]) is RequestType.IMAGE
    assert entry_type(entries[0]) is RequestType.DOCUMENT


def test_firefox_export(tmp_path: Path) -> None:
    """Firefox: no `_resourceType`; types come from Sec-Fetch-Dest and response clues."""
    page = {"startedDateTime": "2026-01-02T03:04:05.000+01:00", "id": "page_3", "title": ""}
    entries_in = [
        _entry(
            "https://shop.example/",
            pageref="page_3",
            request_headers=_headers(Sec_Fetch_Dest="document", DNT="1"),
        ),
        _entry(
            "https://cdn.test/a.js",
            pageref="page_3",
            request_headers=_headers(Sec_Fetch_Dest="script"),
        ),
        _entry(
            "https://beacon.test/c",
            pageref="page_3",
            method="POST",
            request_headers=_headers(Sec_Fetch_Dest="empty", Sec_Fetch_Mode="no-cors"),
        ),
        _entry("https://cdn.test/font.woff2", pageref="page_3", mime=""),
    ]
    path = _write(tmp_path, "firefox.har", _har([page], entries_in, "Firefox"))
    pages, entries = _items(path)
    assert pages[0].url is None  # the title is not a URL: the entries say where the page is
    assert [e.page_url for e in entries] == ["https://shop.example/"] * 4
    assert entries[0].request_header("dnt") == "1"
    assert [entry_type(e) for e in entries] == [
        RequestType.DOCUMENT,
        RequestType.SCRIPT,
        RequestType.PING,
        RequestType.FONT,
    ]


def test_playwright_export_follows_redirects_and_commits(tmp_path: Path) -> None:
    """Playwright: the title is the document title; the page URL follows its navigations."""
    page = {"startedDateTime": "2026-01-02T03:04:05Z", "id": "page@1", "title": "Welcome!"}
    entries_in = [
        _entry(
            "http://site.example/",
            pageref="page@1",
            status=301,
            response_headers=_headers(Location="https://www.site.example/"),
        ),
        _entry("https://www.site.example/", pageref="page@1"),  # redirect target, no header
        _entry("https://www.site.example/app.js", pageref="page@1", mime="text/javascript"),
        # a navigation that never got an answer does not move the page
        _entry(
            "https://login.example/",
            pageref="page@1",
            status=0,
            request_headers=_headers(**{"sec-fetch-dest": "document"}),
        ),
        _entry("https://ads.test/x", pageref=None, mime="image/png"),  # no pageref: last page
    ]
    path = _write(tmp_path, "pw.har", _har([page], entries_in, "Playwright"))
    _, entries = _items(path)
    assert [e.page_url for e in entries] == [
        "http://site.example/",
        "https://www.site.example/",
        "https://www.site.example/",
        "https://login.example/",
        "https://www.site.example/",
    ]
    assert [e.navigation for e in entries] == [True, True, False, True, False]
    assert [entry_type(e) for e in entries[2:]] == [
        RequestType.SCRIPT,
        RequestType.DOCUMENT,
        RequestType.IMAGE,
    ]


def test_entries_before_pages_still_resolve(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "log": {
                "entries": [_entry("https://a.example/x.png", _resourceType="image")],
                "pages": [{"id": "page_1", "title": "https://a.example/"}],
            }
        }
    )
    path = _write(tmp_path, "order.har", text)
    pages, entries = _items(path)
    assert [p.id for p in pages] == ["page_1"]
    assert entries[0].page_url == "https://a.example/"


def test_bodies_are_not_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.har", _har([], [_entry("https://a.example/")], "x"))
    (entry,) = _items(path)[1]
    assert "x" * 100 not in repr(entry)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"log": {"entries": [', "not valid JSON"),
        ("\x00\x01garbage", "not valid JSON"),
        ("[1, 2, 3]", "not a HAR file"),
        ('{"other": {}}', "not a HAR file"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_files_raise_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "bad.har", text)
    with pytest.raises(HarError, match=message) as info:
        list(read_har(path))
    assert "bad.har" in str(info.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(HarError, match=r"nope\.har"):
        list(read_har(tmp_path / "nope.har"))


def test_caps_skip_hostile_entries_and_keep_the_rest(tmp_path: Path) -> None:
    many_headers = _entry("https://a.example/1", request_headers=_headers(X="1") * 600)
    long_url = _entry("https://a.example/" + "a" * 70_000)
    entries_in: list[Any] = [
        many_headers,
        long_url,
        "not an entry",
        [1, [2, {"a": 3}]],
        {"request": "nope"},
        {"response": {}},
        _entry("https://a.example/ok"),
    ]
    path = _write(tmp_path, "hostile.har", _har([], entries_in, "x"))
    stats = HarStats()
    _, entries = _items(path, stats=stats)
    assert [e.url for e in entries] == ["https://a.example/ok"]
    assert entries[0].index == 6  # indexes count skipped entries too
    assert stats.skipped_entries == 6
    assert stats.skipped_reasons is not None
    assert stats.skipped_reasons["string-too-long"] == 1
    assert stats.skipped_reasons["not-an-object"] == 2


def test_file_and_entry_count_caps(tmp_path: Path) -> None:
    path = _write(tmp_path, "big.har", _har([], [_entry("https://a.example/")] * 3, "x"))
    with pytest.raises(HarError, match="byte limit"):
        list(read_har(path, limits=HarLimits(max_file_bytes=100)))
    with pytest.raises(HarError, match="more than 2 entries"):
        list(read_har(path, limits=HarLimits(max_entries=2)))


def test_deep_nesting_is_skipped_not_recursed(tmp_path: Path) -> None:
    deep = json.dumps(_entry("https://a.example/deep"))[:-1] + ', "_x": ' + '[{"a": ' * 5000
    deep += "1" + "}]" * 5000 + "}"
    text = '{"log": {"entries": [' + deep + ", " + json.dumps(_entry("https://a.example/")) + "]}}"
    path = _write(tmp_path, "deep.har", text)
    stats = HarStats()
    _, entries = _items(path, stats=stats)
    assert [e.url for e in entries] == ["https://a.example/"]
    assert stats.skipped_reasons == {"too-deep": 1}


def test_read_har_pages(tmp_path: Path) -> None:
    pages_in = [{"id": f"p{i}", "title": f"https://s{i}.example/"} for i in range(3)]
    path = _write(tmp_path, "p.har", _har([*pages_in, "junk"], [], "x"))  # type: ignore[list-item]
    assert [p.url for p in read_har_pages(path)] == [f"https://s{i}.example/" for i in range(3)]


_FIXTURE = HealthCheck.function_scoped_fixture
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(
        st.one_of(
            _json,
            st.fixed_dictionaries({"request": _json, "response": _json, "pageref": _json}),
            st.fixed_dictionaries(
                {"request": st.fixed_dictionaries({"url": _json, "headers": _json})}
            ),
        ),
        max_size=5,
    ),
    pages=_json,
)
def test_fuzz_never_crashes(tmp_path: Path, entries: list[Any], pages: Any) -> None:
    path = _write(tmp_path, "fuzz.har", {"log": {"pages": pages, "entries": entries}})
    for item in read_har(path):
        assert isinstance(item, HarPage | HarEntry)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200))
def test_fuzz_bytes_raise_only_har_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bytes.har"
    path.write_bytes(b'{"log": {"entries": [' + data)
    with contextlib.suppress(HarError):
        list(read_har(path))


def test_real_files_agree_with_the_request_log(tmp_path: Path, corpus_dir: Path) -> None:
    """The first 40 real HARs: every entry's page URL and type as the corpus log has them.

    (All 841 files agree too, entry for entry; the auditor's corpus test reads them all.)
    """
    files = extract_real_hars(tmp_path, limit=40)
    wanted = {f.name for f in files}
    expected: dict[tuple[str, int], tuple[str, str]] = {}
    with gzip.open(corpus_dir / "requests" / "real-requests.jsonl.gz", "rt") as log:
        for line in log:
            row = json.loads(line)
            name, index = row["origin"].removeprefix(ORIGIN_PREFIX).split("#entry=")
            if name in wanted:
                expected[(name, int(index))] = (row["source_url"], row["type"])
    got: dict[tuple[str, int], tuple[str, str]] = {}
    for path in files:
        for item in read_har(path):
            if isinstance(item, HarEntry) and item.url.startswith(("http:", "https:")):
                assert item.page_url is not None
                kind = entry_type(item).name  # IntFlag: None only for combined flags
                assert kind is not None
                got[(path.name, item.index)] = (item.page_url, kind.lower())
    assert len(expected) > 1000
    assert got.keys() == expected.keys()
    differ = [(k, got[k], expected[k]) for k in expected if got[k] != expected[k]]
    assert differ == []
