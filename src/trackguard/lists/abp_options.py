"""The `$options` of Adblock Plus network filters: their names, and splitting them off.

What each option means for the parser (`abp._parse_network`): request types, options
that only concern cosmetic filtering, options whose whole effect is not blocking (counted
as not applied), no-op ones. No I/O, no regular expressions on list text.
"""

from __future__ import annotations

from trackguard.domain import to_ascii_host
from trackguard.model import RequestType

_TYPE_OPTION_FLAGS: dict[str, RequestType] = {
    "script": RequestType.SCRIPT,
    "image": RequestType.IMAGE,
    "stylesheet": RequestType.STYLESHEET,
    "css": RequestType.STYLESHEET,
    "object": RequestType.OBJECT,
    "object-subrequest": RequestType.OBJECT,
    "xmlhttprequest": RequestType.XMLHTTPREQUEST,
    "xhr": RequestType.XMLHTTPREQUEST,
    "subdocument": RequestType.SUBDOCUMENT,
    "frame": RequestType.SUBDOCUMENT,
    "ping": RequestType.PING,
    "beacon": RequestType.PING,
    "media": RequestType.MEDIA,
    "font": RequestType.FONT,
    "websocket": RequestType.WEBSOCKET,
    "other": RequestType.OTHER,
    "document": RequestType.DOCUMENT,
    "doc": RequestType.DOCUMENT,
    "popup": RequestType.POPUP,
}

# Type masks are handled as plain ints while parsing: IntFlag arithmetic costs a
# microsecond per operation, which adds up over EasyList's 100k filters.
TYPE_OPTIONS = {k: int(v) for k, v in _TYPE_OPTION_FLAGS.items()}

#: Options that change only cosmetic filtering or the page's CSP. On an exception they
#: do not affect network blocking, so such an exception is counted, not applied.
COSMETIC_EXCEPTION_OPTIONS = frozenset(
    {
        "elemhide",
        "ehide",
        "generichide",
        "ghide",
        "specifichide",
        "shide",
        "genericblock",
        "content",
        "jsinject",
        "extension",
        "urlblock",
        "stealth",
    }
)
#: Options whose whole effect is something other than blocking: the filter is counted
#: under this kind and not applied (issue: "parsed, counted and reported as not applied").
NOT_APPLIED_KINDS = {
    "csp": "csp",
    "inline-script": "csp",
    "inline-font": "csp",
    "rewrite": "rewrite",
    "redirect-rule": "redirect-rule",
    "replace": "replace",
    "header": "header",
    "permissions": "permissions",
    "urltransform": "urltransform",
    "uritransform": "urltransform",
    "method": "method",
    "to": "to",
    "ipaddress": "ipaddress",
    "sitekey": "sitekey",
    "webrtc": "webrtc",
    "popunder": "popunder",
    "cookie": "cookie",
    "hls": "hls",
    "jsonprune": "jsonprune",
    "app": "app",
    "network": "network",
    "strict1p": "strict-party",
    "strict3p": "strict-party",
    "strict-first-party": "strict-party",
    "strict-third-party": "strict-party",
}
NOOP_OPTIONS = frozenset({"_", "reason", "cname", "empty-option"})
REDIRECT_ALIASES = {"empty": "empty", "mp4": "noopmp4-1s"}


def split_options(line: str) -> tuple[str, str | None]:
    """Split `pattern$options`, leaving `$` inside a `/regex/` pattern alone.

    EasyPrivacy has regex filters such as `/^https?:\\/\\/.*\\/ads\\.js$/` whose `$` is
    an end-of-text anchor, not the options separator.
    """
    at = line.rfind("$")
    if at < 0:
        return line, None
    if line.startswith("/") and line.endswith("/") and len(line) > 2:
        pattern = line[:at]
        if not (pattern.endswith("/") and len(pattern) > 1):
            return line, None
    if line.find("$", 0, at) < 0:
        return line[:at], line[at + 1 :]  # the only `$` (the loop below would keep it)
    # A `$` inside an option value (`$removeparam=/^utm_.*$/`) is not the separator:
    # step left until what follows starts with an option name.
    while at > 0 and not _looks_like_option(line, at + 1):
        prev = line.rfind("$", 0, at)
        if prev < 0:
            break
        at = prev
    return line[:at], line[at + 1 :]


_OPTION_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789~_-"


def _looks_like_option(line: str, start: int) -> bool:
    """Whether an option name (`[a-z0-9~_-]+`, any case) starts at `start`.

    C-level `find`s and a `strip` (which empties the name when every character is a
    name character): a character loop here was a tenth of the general parse."""
    end = len(line)
    comma = line.find(",", start, end)
    if comma >= 0:
        end = comma
    equals = line.find("=", start, end)
    if equals >= 0:
        end = equals
    name = line[start:end].lower()
    return bool(name) and not name.strip(_OPTION_NAME_CHARS)


_NOT_IN_DOMAINS = frozenset("/*:?#@ ")  # a `$domain=` entry holding one is invalid


def parse_domains(value: str, sep: str) -> tuple[list[str], list[str], list[str]]:
    """`a.com|~b.a.com|google.*` -> (include, exclude, invalid entries)."""
    include: list[str] = []
    exclude: list[str] = []
    invalid: list[str] = []
    for item in value.split(sep):
        item = item.strip()
        negated = item.startswith("~")
        name = item[1:] if negated else item
        if not name:
            invalid.append(item)
            continue
        entity = name.endswith(".*")
        base = name[:-2] if entity else name
        if not base or not _NOT_IN_DOMAINS.isdisjoint(base) or ".." in base:
            invalid.append(item)
            continue
        host = to_ascii_host(base)
        if entity:
            host += ".*"
        (exclude if negated else include).append(host)
    return include, exclude, invalid
