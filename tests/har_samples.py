"""Hand-made HAR files and a small list for the auditor's tests (audit/ and cli/).

A module with a unique name on the suite's import path (see `corpus_paths.py`), so both
test folders can build the same pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LIST_TEXT = """[Adblock Plus 2.0]
! Title: audit test list
||tracker.test^$third-party
||ads.test^
@@||ads.test/allowed/*
/pixel.gif
"""

ENTITIES = {
    "entities": {
        "News Corp": {"properties": ["news.example", "newscdn.example"], "resources": []},
        "Ads Inc": {"properties": ["ads.test"], "resources": ["adsinc-cdn.test"]},
    }
}


def har_entry(
    url: str,
    dest: str,
    *,
    pageref: str = "page_1",
    method: str = "GET",
    status: int = 200,
    cookies: bool = False,
    set_cookie: bool = False,
    signals: bool = False,
    size: int = 100,
) -> dict[str, Any]:
    headers = [{"name": "Sec-Fetch-Dest", "value": dest}]
    if cookies:
        headers.append({"name": "Cookie", "value": "id=1"})
    if signals:
        headers += [{"name": "DNT", "value": "1"}, {"name": "Sec-GPC", "value": "1"}]
    response_headers = []
    if set_cookie:
        response_headers.append({"name": "Set-Cookie", "value": "id=2; Path=/"})
    return {
        "pageref": pageref,
        "startedDateTime": "2026-01-01T00:00:00Z",
        "request": {"method": method, "url": url, "headers": headers, "cookies": []},
        "response": {
            "status": status,
            "headers": response_headers,
            "cookies": [],
            "content": {"size": size, "mimeType": "text/plain"},
            "bodySize": size,
        },
    }


def write_har(path: Path, title: str, entries: list[dict[str, Any]]) -> Path:
    data = {
        "log": {
            "version": "1.2",
            "creator": {"name": "test", "version": "1"},
            "pages": [{"id": "page_1", "title": title, "startedDateTime": "2026-01-01T00:00:00Z"}],
            "entries": entries,
        }
    }
    path.write_text(json.dumps(data))
    return path


def news_har(path: Path) -> Path:
    """A page on news.example with first-party, related, third-party and tracker requests."""
    return write_har(
        path,
        "https://news.example/",
        [
            har_entry("https://news.example/", "document", signals=True),
            har_entry("https://news.example/app.js", "script", signals=True),
            har_entry("https://static.newscdn.example/a.css", "style", signals=True),
            har_entry("https://tracker.test/t.js", "script", cookies=True, signals=True),
            har_entry("https://ads.test/banner", "image", set_cookie=True, size=5000),
            har_entry("https://ads.test/allowed/ok.png", "image"),
            har_entry("http://cdn.other.test/pixel.gif", "image", size=43),
            har_entry("https://fonts.other.test/f.woff2", "font"),
        ],
    )


#: URLs and pages of the auditor's tests: blocked, allowed by an exception, first and third
#: party, plain http, against `LIST_TEXT`.
SAMPLE_URLS = [
    "https://ads.test/a",
    "https://ads.test/allowed/b",
    "https://tracker.test/t.js",
    "https://news.example/x.js",
    "http://cdn.other.test/pixel.gif",
    "https://static.newscdn.example/s.css",
]
SAMPLE_PAGES = ["https://news.example/", "https://www.other.test/", "https://ads.test/"]
