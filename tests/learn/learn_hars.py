"""Small HAR 1.2 files written the way Chrome exports them, for learner and CLI tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

TRACKER = "pixel.trackco.example"
TRACKER_DOMAIN = "trackco.example"
CDN = "static.libcdn.example"


def _headers(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _entry(
    page: str,
    when: datetime,
    url: str,
    *,
    rtype: str,
    status: int = 200,
    mime: str = "text/html",
    size: int = 20000,
    req: dict[str, str] | None = None,
    resp: dict[str, str] | None = None,
) -> dict[str, object]:
    return {
        "pageref": page,
        "startedDateTime": when.isoformat().replace("+00:00", "Z"),
        "time": 10,
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": _headers(req or {}),
            "cookies": [],
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": _headers({"content-type": mime, **(resp or {})}),
            "cookies": [],
            "content": {"size": size, "mimeType": mime},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": size,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 1, "receive": 1},
        "_resourceType": rtype,
    }


def write_visits(
    path: Path, sites: list[str], days_ago: list[int], *, uid: str = "f3a9c2d4e5b6a7980112"
) -> Path:
    """One HAR with a page per (site, day): each embeds the tracker pixel (id cookie + id in
    the query, 43-byte GIF) and a cookie-less CDN script."""
    now = datetime.now(UTC).replace(microsecond=0)
    pages, entries = [], []
    n = 0
    for ago in days_ago:
        for site in sites:
            n += 1
            when = now - timedelta(days=ago, minutes=n)
            page_id = f"page_{n}"
            page_url = f"https://www.{site}/"
            pages.append(
                {
                    "id": page_id,
                    "title": page_url,
                    "startedDateTime": when.isoformat().replace("+00:00", "Z"),
                    "pageTimings": {},
                }
            )
            entries.append(
                _entry(
                    page_id,
                    when,
                    page_url,
                    rtype="document",
                    req={"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"},
                )
            )
            ref = {"referer": page_url}
            entries.append(
                _entry(
                    page_id,
                    when + timedelta(seconds=1),
                    f"https://{CDN}/lib.js",
                    rtype="script",
                    mime="application/javascript",
                    size=40000,
                    req={**ref, "sec-fetch-dest": "script"},
                )
            )
            entries.append(
                _entry(
                    page_id,
                    when + timedelta(seconds=2),
                    f"https://{TRACKER}/p.gif?id={uid}&site={site}",
                    rtype="image",
                    mime="image/gif",
                    size=43,
                    req={**ref, "sec-fetch-dest": "image", "cookie": f"uid={uid}"},
                    resp={"set-cookie": f"uid={uid}; Max-Age=31536000; Secure; SameSite=None"},
                )
            )
    data = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": pages,
            "entries": entries,
        }
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
