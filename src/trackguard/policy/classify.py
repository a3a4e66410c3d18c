"""What kind of request this is, from its headers and URL: type, navigation, initiator.

Pure functions of a lower-case header map and a split URL; shared by `decide` and by what
classifies recorded requests without a proxy (the learner, the auditor). No I/O, no
policy: nothing here knows about lists, overrides or page contexts.
"""

from __future__ import annotations

from collections.abc import Mapping

from trackguard.domain import UrlParts
from trackguard.model import RequestType
from trackguard.policy.attribution import origin_of

_DEST_TYPES: dict[str, RequestType] = {
    "document": RequestType.DOCUMENT,
    "iframe": RequestType.SUBDOCUMENT,
    "frame": RequestType.SUBDOCUMENT,
    "fencedframe": RequestType.SUBDOCUMENT,
    "script": RequestType.SCRIPT,
    "worker": RequestType.SCRIPT,
    "sharedworker": RequestType.SCRIPT,
    "serviceworker": RequestType.SCRIPT,
    "audioworklet": RequestType.SCRIPT,
    "paintworklet": RequestType.SCRIPT,
    "style": RequestType.STYLESHEET,
    "xslt": RequestType.STYLESHEET,
    "image": RequestType.IMAGE,
    "font": RequestType.FONT,
    "audio": RequestType.MEDIA,
    "video": RequestType.MEDIA,
    "track": RequestType.MEDIA,
    "object": RequestType.OBJECT,
    "embed": RequestType.OBJECT,
    "report": RequestType.PING,
    "manifest": RequestType.OTHER,
    "webidentity": RequestType.XMLHTTPREQUEST,
    "json": RequestType.XMLHTTPREQUEST,
}

_EXTENSION_TYPES: dict[str, RequestType] = {
    **dict.fromkeys(("js", "mjs"), RequestType.SCRIPT),
    "css": RequestType.STYLESHEET,
    **dict.fromkeys(
        ("png", "gif", "jpg", "jpeg", "webp", "svg", "ico", "avif", "bmp"), RequestType.IMAGE
    ),
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot"), RequestType.FONT),
    **dict.fromkeys(("mp4", "webm", "mp3", "m4a", "ogg", "m3u8", "wav"), RequestType.MEDIA),
    **dict.fromkeys(("swf", "jar"), RequestType.OBJECT),
}


def accepts_html(headers: Mapping[str, str]) -> bool:
    return _html_accept(headers.get("accept", ""))


def _html_accept(accept: str) -> bool:
    return "text/html" in accept or "application/xhtml+xml" in accept


def request_type(h: Mapping[str, str], parts: UrlParts, method: str = "GET") -> RequestType:
    """The ABP request type, from `Sec-Fetch-Dest` when the client sends it, else inferred.

    `h` maps lower-case header names to values. Browsers send `Sec-Fetch-*` only to
    potentially trustworthy origins, so on plain HTTP the type comes from `Accept`, a few
    request headers and the path's extension: the same cues older blockers used.
    `Sec-Fetch-Dest: empty` is fetch/XHR, or a beacon/ping: `navigator.sendBeacon` sends a
    `POST` in mode `no-cors` with a `text/plain` body (`<a ping>` sends `Ping-To`), typed
    `ping` so `$ping` rules apply (issue 9: 1,316 real beacons were typed xmlhttprequest
    and 36 trackers leaked through `$ping` rules).
    """
    dest = h.get("sec-fetch-dest")
    upgrade = h.get("upgrade")
    if upgrade is not None and upgrade.lower() == "websocket":
        return RequestType.WEBSOCKET
    if "ping-from" in h or "ping-to" in h or h.get("content-type", "").startswith("text/ping"):
        return RequestType.PING
    if dest:
        dest = dest.lower()
        if dest == "empty":
            if (
                method == "POST"
                and h.get("sec-fetch-mode", "").lower() == "no-cors"
                and h.get("content-type", "").lower().startswith("text/plain")
            ):
                return RequestType.PING  # navigator.sendBeacon
            return RequestType.XMLHTTPREQUEST
        return _DEST_TYPES.get(dest, RequestType.OTHER)
    requested_with = h.get("x-requested-with")
    if requested_with is not None and requested_with.lower() == "xmlhttprequest":
        return RequestType.XMLHTTPREQUEST
    accept = h.get("accept", "")
    if _html_accept(accept):
        return RequestType.SUBDOCUMENT
    if accept.startswith("image/"):
        return RequestType.IMAGE
    if accept.startswith("text/css"):
        return RequestType.STYLESHEET
    found = _EXTENSION_TYPES.get(_extension(parts.text))
    if found is not None:
        return found
    if accept.startswith("application/json"):
        return RequestType.XMLHTTPREQUEST
    return RequestType.OTHER


def _extension(url: str) -> str:
    """The lower-case extension of a URL's last path segment ("" when it has none)."""
    path = url[url.find("/", url.find("://") + 3) :]
    query = path.find("?")
    if query >= 0:
        path = path[:query]
    dot = path.rfind(".")
    if dot > path.rfind("/"):
        return path[dot + 1 :].lower()
    return ""


def initiator_origin(headers: Mapping[str, str]) -> str:
    """The requesting document's origin: `Origin` (unless opaque), else `Referer`'s."""
    origin = headers.get("origin", "")
    if origin and origin != "null":
        return origin_of(origin)
    referer = headers.get("referer", "")
    return origin_of(referer) if referer else ""


def is_top_level_navigation(headers: Mapping[str, str], method: str = "GET") -> bool:
    """True for requests that may be top-level navigations, which are never blocked.

    With `Sec-Fetch-*` (HTTPS, interception) this is exact: mode `navigate` and dest
    `document` (or no dest). Without them (browsers on plain HTTP, old clients), an
    HTML-accepting GET could be a link the user followed or a frame; **Decision:** it
    counts as a possible navigation and is never blocked, so following a link never
    breaks. Such a document is then treated as a frame of the referring page for
    attributing its own subresources (see `decide`). Only a `GET` (revised §A.7 item 4):
    a program posting to a listed host is judged, not waved through.
    """
    mode = headers.get("sec-fetch-mode", "").lower()
    if mode:
        return mode == "navigate" and headers.get("sec-fetch-dest", "document") == "document"
    return method == "GET" and accepts_html(headers)
