"""The decisions of list updating, as pure functions: when, whether, and what status.

No I/O and no clock here: callers pass `now`. Everything follows the TPL spec §A.9
(schedule, back-off, staleness, atomic replacement) and §A.4 (Expires), extended to
Adblock Plus `! Expires:` headers, so one set of rules governs every list format.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trackguard.lists.detect import NotAList, decode_list_bytes
from trackguard.model import Format, TrackguardError
from trackguard.subscriptions.state import Subscription

DEFAULT_INTERVAL = timedelta(days=7)  # §A.4: no Expires property
MAX_INTERVAL = timedelta(days=30)  # §A.4: larger values are clamped
#: ABP lists may say "12 hours"; below one hour would hammer the publisher for nothing.
MIN_INTERVAL = timedelta(hours=1)
JITTER = 0.10  # §A.9: ±10 %, so clients do not all arrive at once
RETRY_FIRST = timedelta(hours=1)  # §A.9: back-off 1 h, doubling ...
RETRY_MAX = timedelta(hours=24)  # ... up to 24 h
STALE_FACTOR = 2  # §A.9: stale once older than twice the interval
#: A new version that keeps fewer than this share of the old rules is held back: a
#: publisher's broken build must not silently switch protection off.
MIN_KEPT_SHARE = 0.5


class ListError(TrackguardError):
    """A fetched version cannot replace the last good copy; `code` is stable for tests/JSON."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Status(enum.Enum):
    OK = "ok"
    STALE = "stale"  # the copy in use is older than twice the list's interval
    FAILING = "failing"  # the last attempt failed; the last good copy is still in use


class Outcome(enum.Enum):
    UPDATED = "updated"  # a new version replaced the stored copy
    NOT_MODIFIED = "not-modified"  # 304, same file, or identical content
    FAILED = "failed"  # kept the last good copy
    HELD_BACK = "held-back"  # downloaded fine but lost too many rules; kept the old copy


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What one update attempt did to one list."""

    id: str
    name: str
    outcome: Outcome
    message: str
    rules_before: int
    rules_after: int  # rules in use after the attempt (unchanged unless UPDATED)
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.UPDATED, Outcome.NOT_MODIFIED)

    @property
    def changed(self) -> bool:
        """The list now in use differs: engines built from the lists are out of date."""
        return self.outcome is Outcome.UPDATED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "outcome": self.outcome.value,
            "message": self.message,
            "rules_before": self.rules_before,
            "rules_after": self.rules_after,
            "error_code": self.error_code,
            "changed": self.changed,
        }


# --- Expires ----------------------------------------------------------------------------

_UNITS = {
    "h": timedelta(hours=1),
    "hour": timedelta(hours=1),
    "hours": timedelta(hours=1),
    "d": timedelta(days=1),
    "day": timedelta(days=1),
    "days": timedelta(days=1),
    "w": timedelta(weeks=1),
    "week": timedelta(weeks=1),
    "weeks": timedelta(weeks=1),
}


def parse_expires(text: str) -> timedelta | None:
    """Read an ABP `Expires` value: "4 days", "12 hours", "1 day (update frequency)", "2d".

    A bare number means days, as in Adblock Plus. Returns None when the text is not a
    number with a known unit; callers then fall back to the default interval.
    """
    body = text.split("(")[0].strip().lower()
    digits = ""
    for char in body:
        if not char.isdigit() and not (char == "-" and not digits):
            break
        digits += char
    if not digits or digits == "-":
        return None
    unit = body[len(digits) :].strip().rstrip(".")
    if unit and unit not in _UNITS:
        return None
    step: timedelta = _UNITS.get(unit, timedelta(days=1))
    return int(digits) * step


def clamp_interval(interval: timedelta) -> timedelta:
    """§A.4: at most 30 days; zero or negative means one day; ABP hours at least one hour."""
    if interval <= timedelta(0):
        return timedelta(days=1)
    return max(MIN_INTERVAL, min(MAX_INTERVAL, interval))


def interval_of(fmt: Format, metadata: dict[str, str]) -> tuple[timedelta, str]:
    """The update interval a list asks for, and a short note saying where it came from."""
    if fmt is Format.TPL and "expires_days" in metadata:
        days = metadata["expires_days"].strip()
        if days.lstrip("-").isdigit():
            return clamp_interval(timedelta(days=int(days))), f"Expires={days}"
    raw = metadata.get("expires")
    if raw is not None:
        parsed = parse_expires(raw)
        if parsed is not None:
            return clamp_interval(parsed), f"Expires: {raw}"
        return DEFAULT_INTERVAL, f"default (unreadable Expires: {raw!r})"
    return DEFAULT_INTERVAL, "default"


# --- Schedule ---------------------------------------------------------------------------


def jitter(key: str) -> float:
    """A fraction in [-JITTER, +JITTER], fixed for a given key.

    Derived from a hash rather than a random generator so the schedule is reproducible
    (and testable) while different lists and different checks still spread out.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    unit = int.from_bytes(digest[:8], "big") / float(1 << 64)  # [0, 1)
    return (unit * 2 - 1) * JITTER


def retry_delay(failures: int) -> timedelta:
    """§A.9 back-off after `failures` consecutive failures: 1 h, 2 h, 4 h ... 24 h."""
    if failures <= 0:
        return timedelta(0)
    doubled: timedelta = RETRY_FIRST * (1 << min(failures - 1, 16))
    return min(RETRY_MAX, doubled)


def due_at(sub: Subscription) -> datetime | None:
    """When the next automatic check is due; None for lists that are never fetched.

    The built-in list ships with trackguard and disabled lists are not refreshed.
    After failures the back-off decides; otherwise `Expires` after the last success
    (a 304 counts as success) with jitter (§A.9).
    """
    if sub.builtin or not sub.enabled:
        return None
    if sub.failures > 0 and sub.last_attempt is not None:
        return sub.last_attempt + retry_delay(sub.failures)
    if sub.last_success is None:
        return sub.added
    seconds = sub.interval * (1 + jitter(f"{sub.url}|{sub.last_success.isoformat()}"))
    return sub.last_success + timedelta(seconds=seconds)


def is_due(sub: Subscription, now: datetime) -> bool:
    due = due_at(sub)
    return due is not None and due <= now


def status_of(sub: Subscription, now: datetime) -> Status:
    """ok / stale / failing (§A.9). Staleness wins: it is the more urgent thing to see."""
    if sub.builtin:
        return Status.OK
    limit = timedelta(seconds=sub.interval * STALE_FACTOR)
    if sub.last_success is None or now - sub.last_success > limit:
        return Status.STALE
    if sub.failures > 0:
        return Status.FAILING
    return Status.OK


# --- Validation of a fetched version ----------------------------------------------------


def decode_list(body: bytes) -> str:
    """Turn downloaded bytes into list text, or raise ListError.

    Invalid UTF-8 makes the version invalid (§A.9), and so does an HTML page: captive
    portals and error pages answer 200 with HTML, and Adblock Plus syntax would read
    many HTML lines as (nonsense) URL filters. The check is `lists.detect`'s, shared
    with every other way a list gets in.
    """
    try:
        text = decode_list_bytes(body)
    except NotAList as exc:
        raise ListError(exc.code, str(exc)) from None
    if not text.strip():
        raise ListError("list.empty", "the server sent an empty list")
    return text


def hold_back_reason(list_id: str, old_rules: int, new_rules: int) -> str | None:
    """Why a new version should not replace the old one automatically, or None.

    A version that loses more than half of the previous rules is far more likely a
    broken build or a truncated mirror than a real clean-up.
    """
    if old_rules > 0 and new_rules < old_rules * MIN_KEPT_SHARE:
        lost = 100 * (old_rules - new_rules) // old_rules
        return (
            f"the new version has {new_rules} rules, the current one {old_rules} "
            f"({lost}% fewer); kept the current one. Accept it with "
            f"`trackguard lists update {list_id} --force`"
        )
    return None
