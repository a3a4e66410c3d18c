"""Request classification (`policy/classify.py`): type, navigation, initiator."""

from __future__ import annotations

import pytest

from trackguard.domain import split_url
from trackguard.model import RequestType
from trackguard.policy.classify import initiator_origin, is_top_level_navigation, request_type

HTML = "text/html,application/xhtml+xml,*/*;q=0.8"


TYPES = [
    ({"sec-fetch-dest": "script"}, "http://a.test/x", RequestType.SCRIPT),
    ({"sec-fetch-dest": "empty"}, "http://a.test/x", RequestType.XMLHTTPREQUEST),
    ({"sec-fetch-dest": "iframe"}, "http://a.test/x", RequestType.SUBDOCUMENT),
    ({"sec-fetch-dest": "image"}, "http://a.test/x", RequestType.IMAGE),
    ({"sec-fetch-dest": "font"}, "http://a.test/x", RequestType.FONT),
    ({"upgrade": "websocket"}, "http://a.test/ws", RequestType.WEBSOCKET),
    ({"ping-from": "http://a.test/"}, "http://b.test/p", RequestType.PING),
    ({"accept": "image/avif,image/webp,*/*"}, "http://a.test/p", RequestType.IMAGE),
    ({"accept": "text/css,*/*;q=0.1"}, "http://a.test/s", RequestType.STYLESHEET),
    ({"accept": "*/*"}, "http://a.test/lib.min.js?v=2", RequestType.SCRIPT),
    ({}, "http://a.test/font.woff2", RequestType.FONT),
    ({"x-requested-with": "XMLHttpRequest"}, "http://a.test/api", RequestType.XMLHTTPREQUEST),
    ({}, "http://a.test/dir.js/file", RequestType.OTHER),
]


@pytest.mark.parametrize(("headers", "url", "expected"), TYPES)
def test_request_type(headers: dict[str, str], url: str, expected: RequestType) -> None:
    assert request_type(headers, split_url(url)) is expected


def test_is_top_level_navigation() -> None:
    assert is_top_level_navigation({"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"})
    assert not is_top_level_navigation({"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe"})
    assert not is_top_level_navigation({"sec-fetch-mode": "no-cors", "accept": HTML})
    assert is_top_level_navigation({"accept": HTML})
    assert not is_top_level_navigation({"accept": "*/*"})


def test_initiator_is_origin_unless_opaque_else_the_referer_origin() -> None:
    assert initiator_origin({"origin": "https://a.test", "referer": "https://b.test/p"}) == (
        "https://a.test"
    )
    assert initiator_origin({"origin": "null", "referer": "https://b.test/p?q"}) == (
        "https://b.test"
    )
    assert initiator_origin({}) == ""


def test_send_beacon_is_typed_ping() -> None:
    """Issue 9: sendBeacon (POST, no-cors, empty dest, text/plain) is `ping`."""
    beacon = {
        "sec-fetch-mode": "no-cors",
        "sec-fetch-dest": "empty",
        "sec-fetch-site": "cross-site",
        "content-type": "text/plain;charset=UTF-8",
    }
    parts = split_url("http://tracker.test/collect")
    assert request_type(beacon, parts, "POST") is RequestType.PING
    # fetch() in cors mode, a GET, or a JSON body stays xmlhttprequest
    assert request_type({**beacon, "sec-fetch-mode": "cors"}, parts, "POST") is (
        RequestType.XMLHTTPREQUEST
    )
    assert request_type(beacon, parts, "GET") is RequestType.XMLHTTPREQUEST
    json_body = {**beacon, "content-type": "application/json"}
    assert request_type(json_body, parts, "POST") is RequestType.XMLHTTPREQUEST
    assert request_type({"ping-to": "http://a.test/"}, parts, "POST") is RequestType.PING


def test_a_post_for_html_is_not_a_possible_navigation() -> None:
    """Revised §A.7 item 4: only a GET without fetch metadata may be a navigation."""
    assert is_top_level_navigation({"accept": HTML}, "GET")
    assert not is_top_level_navigation({"accept": HTML}, "POST")
