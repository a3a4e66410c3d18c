"""Evidence detectors (learning.md §B4) and the entropy estimator: pure functions.

Rule 1: every detector reads one `Observation` and returns kind bits; none keeps state.
Rule 2: hostile input is bounded here: the estimator reads at most 256 characters of a
value, and cookie pairs, query parameters and page cookie values are capped in number,
so a 1 MB cookie or 10k parameters cost a fixed amount of work (L-11).
Nothing here stores, logs or returns a cookie or query value.
"""

from __future__ import annotations

import math
from functools import lru_cache

from trackguard.learn.model import (
    NO_KIND,
    ExtraKind,
    Kind,
    LearnConfig,
    Observation,
)
from trackguard.model import RequestType

#: The estimator reads at most this many characters of one value (PB's limit).
MAX_VALUE = 256
#: At most this many cookie pairs, query parameters and page cookie values are examined.
MAX_PAIRS = 64
#: Largest "tiny" answer: a 1x1 GIF is 43 bytes, but HAR exporters report transfer sizes,
#: headers included, so a beacon's answer is counted up to 512 bytes.
TINY = 512
#: Shortest shared substring that can carry an identifier (PB's pixel-sharing rule).
MIN_SHARED = 8

# Known low-entropy cookie values and their assumed bit cost (Privacy Badger's table).
_FLAG_VALUES = ("", "nodata", "no_data", "yes", "no", "true", "false", "on", "off", "dnt")
_OPT_OUT = ("opt-out", "optout", "opt_out", "out")
_LANGUAGES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu "
    "cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi "
    "ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks "
    "ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl "
    "nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl "
    "sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve "
    "vi vo wa wo xh yi yo za zh zu"
).split()
LOW_ENTROPY: dict[str, float] = {
    **dict.fromkeys(_FLAG_VALUES, 3.0),
    **dict.fromkeys(_OPT_OUT, 3.0),
    **{str(d): 4.0 for d in range(10)},
    **dict.fromkeys(_LANGUAGES, 8.0),
}

# Character classes, smallest first: a value costs log2(size of the first class that
# holds all of its characters) bits per character. `._-` are separators (not counted).
_CLASSES: tuple[tuple[frozenset[str], int], ...] = tuple(
    (frozenset(chars), size)
    for chars, size in (
        ("01", 2),
        ("0123456789", 10),
        ("0123456789abcdef", 16),
        ("0123456789ABCDEF", 16),
        ("abcdefghijklmnopqrstuvwxyz", 26),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26),
        ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 52),
        ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 62),
        ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/=", 65),
        ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ%~!*'()", 69),
    )
)
_SEPARATORS = frozenset("._-")


def estimate_bits(value: str) -> float:
    """Upper estimate of the identifying bits in `value`: length × log2(class size).

    Values longer than 256 characters are given one bit per character without being
    read (PB's rule, and the L-11 bound on work per value).
    """
    if len(value) > MAX_VALUE:
        return float(len(value))
    chars = set(value) - _SEPARATORS
    if not chars:
        return 0.0
    length = sum(1 for c in value if c not in _SEPARATORS)
    for charset, size in _CLASSES:
        if chars <= charset:
            return length * math.log2(size)
    return length * math.log2(95 if all(" " <= c <= "~" for c in chars) else 256)


def cookie_value_bits(value: str) -> float:
    known = LOW_ENTROPY.get(value.lower()) if len(value) <= 16 else None
    return known if known is not None else estimate_bits(value)


def cookie_bits(obs: Observation, config: LearnConfig) -> float:
    """Summed bits of the request's and response's countable cookies (§B4 `cookie`)."""
    ignored = config.ignore_cookie_names
    # One cost per cookie name: the same cookie sent and set again is one identifier.
    bits: dict[str, float] = {}
    for name, value in obs.sent_cookies[:MAX_PAIRS]:
        if name.lower() not in ignored:
            bits[name] = max(bits.get(name, 0.0), cookie_value_bits(value))
    for cookie in obs.set_cookies[:MAX_PAIRS]:
        if cookie.partitioned or cookie.deletes or cookie.name.lower() in ignored:
            continue
        bits[cookie.name] = max(bits.get(cookie.name, 0.0), cookie_value_bits(cookie.value))
    return sum(bits.values())


def _strip_known(value: str, obs: Observation) -> str:
    """Remove the page URL and user-agent fragments (§B4 `url_id`) from a query value."""
    if obs.page_url and len(obs.page_url) >= MIN_SHARED:
        value = value.replace(obs.page_url[:MAX_VALUE], "")
    if obs.user_agent:
        for token in obs.user_agent[:MAX_VALUE].replace("/", " ").replace(";", " ").split():
            if len(token) >= MIN_SHARED:
                value = value.replace(token, "")
    return value


@lru_cache(maxsize=256)
def _grams(others: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """The 8-grams of a page's cookie values; cached, as a page's requests share them."""
    pool = [o[:MAX_VALUE] for o in others[:MAX_PAIRS] if len(o) >= MIN_SHARED]
    grams = {o[i : i + MIN_SHARED] for o in pool for i in range(len(o) - MIN_SHARED + 1)}
    return pool, grams


def longest_shared(
    value: str, others: tuple[str, ...], prepared: tuple[list[str], set[str]] | None = None
) -> str:
    """The longest substring (>= 8 characters) of `value` found in one of `others`.

    Bounded: both sides are cut to 256 characters and at most 64 others are read; the
    search walks 8-character grams of `value` against a set (built once per observation,
    `prepared`), then extends each hit.
    """
    value = value[:MAX_VALUE]
    pool, grams = prepared if prepared is not None else _grams(others)
    if len(value) < MIN_SHARED or not pool:
        return ""
    best = ""
    i = 0
    while i <= len(value) - MIN_SHARED:
        if value[i : i + MIN_SHARED] in grams:
            end = i + MIN_SHARED
            while end < len(value) and any(value[i : end + 1] in o for o in pool):
                end += 1
            if end - i > len(best):
                best = value[i:end]
            i = end
        else:
            i += 1
    return best


def url_id_bits(obs: Observation) -> float:
    """Bits of the largest first-party cookie fragment carried in the query (§B4 `url_id`)."""
    if not obs.query or not obs.page_cookie_values:
        return 0.0
    prepared: tuple[list[str], set[str]] | None = None
    best = 0.0
    for _name, value in obs.query[:MAX_PAIRS]:
        if len(value) < MIN_SHARED:
            continue
        if prepared is None:
            prepared = _grams(obs.page_cookie_values)
        shared = longest_shared(_strip_known(value[:MAX_VALUE], obs), (), prepared)
        if shared:
            best = max(best, estimate_bits(shared))
    return best


#: What a page's script sends data with (`fetch`/XHR, `sendBeacon`, `<a ping>`, other).
_SENT = RequestType.XMLHTTPREQUEST | RequestType.PING | RequestType.OTHER


def _empty_answer(obs: Observation) -> bool:
    """Answered with nothing worth fetching: 204, or a body of at most `TINY` bytes."""
    shape = obs.response
    return shape is not None and (
        shape.status == 204 or (shape.status < 400 and 0 <= shape.size <= TINY)
    )


def is_beacon(obs: Observation) -> bool:
    """Beacons and hyperlink-auditing pings (the adapter maps `Ping-*` headers to PING),
    and beacon-shaped posts: a POST to a third party answered with a 204 or a tiny body,
    or, when it is not a script's fetch, never answered (HARs record beacons cut off by
    the page's unload with status 0; a video player's aborted fetches look the same and do
    not count). Analytics and error-report collectors (sentry.io, newsroom.bi,
    cloudflareinsights.com...) send this way without cookies (L-12)."""
    if obs.request_type is RequestType.PING:
        return True
    if obs.method != "POST" or not obs.request_type & _SENT:
        return False
    if obs.response is None:
        return obs.request_type is not RequestType.XMLHTTPREQUEST
    return _empty_answer(obs)


def is_pixel(obs: Observation, config: LearnConfig) -> bool:
    """A tracking pixel: a request carrying an id-sized value answered with nothing.

    The query must hold a value estimating at least `pixel_bits` (a client id, not a
    cache-buster digit). The answer: a 204 or a tiny image/text body to an image, script
    fetch or ping; or, for images, pings and other non-script types, no answer at all (a
    HAR's status 0: cut off by the page's unload, as many pixels are). A script's fetch
    without an answer does not count: video players abort range requests that way.
    """
    if not obs.query:
        return False
    shape = obs.response
    if shape is None:
        sendable = RequestType.IMAGE | RequestType.PING | RequestType.OTHER
        if not obs.request_type & sendable:
            return False
    else:
        tiny = shape.status == 204 or (
            shape.content_class in ("image", "other", "text") and 0 <= shape.size <= TINY
        )
        if not tiny or not obs.request_type & (RequestType.IMAGE | _SENT):
            return False
    return any(estimate_bits(v) >= config.pixel_bits for _, v in obs.query[:MAX_PAIRS])


def detect(obs: Observation, config: LearnConfig) -> Kind:
    """All evidence kinds one observation shows (§B4)."""
    kinds = NO_KIND
    if cookie_bits(obs, config) > config.cookie_bits:
        kinds |= Kind.COOKIE
    if url_id_bits(obs) > config.url_id_bits:
        kinds |= Kind.URL_ID
    if is_beacon(obs):
        kinds |= Kind.BEACON
    if is_pixel(obs, config):
        kinds |= Kind.PIXEL
    for signal in obs.extra:
        if signal.kind is ExtraKind.STORAGE_ID and signal.bits > config.storage_bits:
            kinds |= Kind.STORAGE
        elif signal.kind is ExtraKind.CANVAS_FP:
            kinds |= Kind.FINGERPRINT
    return kinds


def fingerprint_path(obs: Observation) -> str:
    """The script path of a canvas-fingerprint signal ("" when there is none)."""
    for signal in obs.extra:
        if signal.kind is ExtraKind.CANVAS_FP and signal.script_path:
            return signal.script_path[:MAX_VALUE]
    return ""
