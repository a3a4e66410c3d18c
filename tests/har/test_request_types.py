"""Request types of HAR entries, clue by clue in the corpus log's documented order."""

from __future__ import annotations

from typing import Any

import pytest

from trackguard.har import HarEntry, entry_type
from trackguard.model import RequestType


def _entry(url: str = "https://t.test/x", **fields: Any) -> HarEntry:
    values: dict[str, Any] = {
        "index": 0,
        "pageref": "page_1",
        "page_url": "https://a.example/",
        "started": None,
        "method": "GET",
        "url": url,
        "request_headers": (),
        "request_cookies": (),
        "status": 200,
        "response_headers": (),
        "response_cookies": (),
        "body_size": 10,
        "mime_type": "",
        "resource_type": None,
        "initiator": None,
    }
    values.update(fields)
    return HarEntry(**values)


R = RequestType
CASES: list[tuple[str, HarEntry, RequestType]] = [
    ("navigation wins", _entry(navigation=True, resource_type="image"), R.DOCUMENT),
    ("dest script", _entry(request_headers=(("Sec-Fetch-Dest", "script"),)), R.SCRIPT),
    ("dest iframe", _entry(request_headers=(("sec-fetch-dest", "IFRAME"),)), R.SUBDOCUMENT),
    ("dest unknown", _entry(request_headers=(("sec-fetch-dest", "weird"),)), R.OTHER),
    (
        "beacon: empty + POST + no-cors",
        _entry(
            method="POST",
            request_headers=(("sec-fetch-dest", "empty"), ("sec-fetch-mode", "no-cors")),
        ),
        R.PING,
    ),
    (
        "prefetch: empty + sec-purpose",
        _entry(request_headers=(("sec-fetch-dest", "empty"), ("sec-purpose", "prefetch"))),
        R.OTHER,
    ),
    (
        "websocket",
        _entry(request_headers=(("sec-fetch-dest", "empty"), ("upgrade", "websocket"))),
        R.WEBSOCKET,
    ),
    ("fetch", _entry(request_headers=(("sec-fetch-dest", "empty"),)), R.XMLHTTPREQUEST),
    (
        "dest before resource type",
        _entry(request_headers=(("sec-fetch-dest", "font"),), resource_type="image"),
        R.FONT,
    ),
    ("chrome resource type", _entry(resource_type="Beacon"), R.PING),
    (
        "unknown resource type falls through",
        _entry(resource_type="zzz", mime_type="text/css"),
        R.STYLESHEET,
    ),
    ("post body", _entry(has_post_data=True), R.XMLHTTPREQUEST),
    (
        "text/ping body",
        _entry(method="POST", request_headers=(("Content-Type", "text/ping"),)),
        R.PING,
    ),
    (
        "upgrade-insecure-requests",
        _entry(request_headers=(("upgrade-insecure-requests", "1"),)),
        R.SUBDOCUMENT,
    ),
    ("mime script", _entry(mime_type="application/javascript; charset=utf-8"), R.SCRIPT),
    ("mime image", _entry(mime_type="image/png"), R.IMAGE),
    ("mime json", _entry(mime_type="application/json"), R.XMLHTTPREQUEST),
    ("redirect ignores mime", _entry(status=302, mime_type="text/css"), R.OTHER),
    (
        "html says nothing; extension does",
        _entry("https://t.test/a.woff2?v=1", mime_type="text/html"),
        R.FONT,
    ),
    ("extension", _entry("https://t.test/p/x.JS#h"), R.SCRIPT),
    ("accept image", _entry(request_headers=(("Accept", "image/avif,*/*"),)), R.IMAGE),
    ("accept css", _entry(request_headers=(("accept", "text/css,*/*"),)), R.STYLESHEET),
    ("accept json", _entry(request_headers=(("accept", "application/json"),)), R.XMLHTTPREQUEST),
    ("range", _entry(request_headers=(("range", "bytes=0-"),)), R.MEDIA),
    ("origin", _entry(request_headers=(("origin", "https://a.example"),)), R.XMLHTTPREQUEST),
    ("nothing known", _entry(), R.OTHER),
]


@pytest.mark.parametrize(("name", "entry", "expected"), CASES, ids=[c[0] for c in CASES])
def test_entry_type(name: str, entry: HarEntry, expected: RequestType) -> None:
    assert entry_type(entry) is expected
