"""Request types of HAR entries: which Adblock Plus type each recorded request had.

Order and mapping as documented for the corpus request log (README of corpus/requests):
`Sec-Fetch-Dest` first, then Chrome's `_resourceType`, then inference from the request
and response (body, MIME type, file extension, `Accept`). The auditor and the learner use
it so that an audit of HAR files and of the request log made from them agree. Pure: no
I/O, no decisions about blocking.
"""

from __future__ import annotations

from trackguard.har.reader import HarEntry
from trackguard.model import RequestType

__all__ = ["entry_type"]

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
    "report": RequestType.OTHER,
    "manifest": RequestType.OTHER,
    "speculationrules": RequestType.OTHER,
    "webidentity": RequestType.OTHER,
}

_RESOURCE_TYPES: dict[str, RequestType] = {
    "document": RequestType.DOCUMENT,
    "stylesheet": RequestType.STYLESHEET,
    "image": RequestType.IMAGE,
    "media": RequestType.MEDIA,
    "font": RequestType.FONT,
    "script": RequestType.SCRIPT,
    "xhr": RequestType.XMLHTTPREQUEST,
    "fetch": RequestType.XMLHTTPREQUEST,
    "eventsource": RequestType.XMLHTTPREQUEST,
    "websocket": RequestType.WEBSOCKET,
    "ping": RequestType.PING,
    "beacon": RequestType.PING,
    "cspviolationreport": RequestType.OTHER,
    "manifest": RequestType.OTHER,
    "texttrack": RequestType.MEDIA,
    "prefetch": RequestType.OTHER,
    "other": RequestType.OTHER,
}

_EXTENSIONS: dict[str, RequestType] = {
    **dict.fromkeys(("js", "mjs"), RequestType.SCRIPT),
    "css": RequestType.STYLESHEET,
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp"), RequestType.IMAGE
    ),
    **dict.fromkeys(("woff", "woff2", "ttf", "otf", "eot"), RequestType.FONT),
    **dict.fromkeys(
        ("mp4", "webm", "mp3", "m4a", "ogg", "m3u8", "ts", "wav", "vtt", "srt"), RequestType.MEDIA
    ),
}


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _mime_type(mime: str) -> RequestType | None:
    mime = mime.split(";", 1)[0].strip().lower()
    if not mime:
        return None
    if "javascript" in mime or mime == "text/ecmascript":
        return RequestType.SCRIPT
    if mime == "text/css":
        return RequestType.STYLESHEET
    if mime.startswith("image/"):
        return RequestType.IMAGE
    if mime.startswith("font/") or "font" in mime:
        return RequestType.FONT
    if mime.startswith(("audio/", "video/")):
        return RequestType.MEDIA
    if mime == "text/html":
        return None  # a document served where something else was asked for: no clue
    if "json" in mime or "xml" in mime or mime.startswith("text/"):
        return RequestType.XMLHTTPREQUEST
    return None


def entry_type(entry: HarEntry) -> RequestType:
    """The Adblock Plus request type of an entry.

    Follows the corpus request log's documented order so that an audit of the HAR files
    and of the log agree: `Sec-Fetch-Dest` (with beacons and prefetches told apart), then
    Chrome's `_resourceType`, then request and response clues, then `other`.
    """
    if entry.navigation:
        return RequestType.DOCUMENT
    dest = entry.request_header("sec-fetch-dest")
    if dest is not None:
        dest = dest.lower()
        if dest == "empty":
            if entry.method == "POST" and (entry.request_header("sec-fetch-mode") or "") == (
                "no-cors"
            ):
                return RequestType.PING
            if entry.request_header("sec-purpose") is not None:
                return RequestType.OTHER
            if entry.request_header("upgrade") == "websocket":
                return RequestType.WEBSOCKET
            return RequestType.XMLHTTPREQUEST
        return _DEST_TYPES.get(dest, RequestType.OTHER)
    if entry.resource_type is not None:
        known = _RESOURCE_TYPES.get(entry.resource_type.lower())
        if known is not None:
            return known
    content_type = entry.request_header("content-type")
    if entry.has_post_data or content_type is not None or entry.method in _BODY_METHODS:
        if (content_type or "").lower().startswith("text/ping"):
            return RequestType.PING
        return RequestType.XMLHTTPREQUEST
    if entry.request_header("upgrade-insecure-requests") is not None:
        return RequestType.SUBDOCUMENT
    # a redirect's MIME type describes the redirect page, not what was asked for
    by_mime = None if 300 <= entry.status < 400 else _mime_type(entry.mime_type)
    if by_mime is not None:
        return by_mime
    path = entry.url.split("?", 1)[0].split("#", 1)[0]
    last = path.rsplit("/", 1)[-1]
    if "." in last:
        by_ext = _EXTENSIONS.get(last.rsplit(".", 1)[-1].lower())
        if by_ext is not None:
            return by_ext
    accept = (entry.request_header("accept") or "").lower()
    if accept.startswith("image/"):
        return RequestType.IMAGE
    if accept.startswith("text/css"):
        return RequestType.STYLESHEET
    if "json" in accept or "xml" in accept:
        return RequestType.XMLHTTPREQUEST
    if entry.request_header("range") is not None:
        return RequestType.MEDIA
    if entry.request_header("origin") is not None:
        return RequestType.XMLHTTPREQUEST
    return RequestType.OTHER
