"""What trackguard remembers about each subscription, and its JSON form.

Pure values and (de)serialisation, no I/O: `store.py` reads and writes the file. The
records are frozen; a change is a new record built with `dataclasses.replace`, so a
half-applied change can never be observed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trackguard.model import Diagnostic, Format, ParsedList, Severity, TrackguardError

#: Version of the `subscriptions.json` layout; a newer file is refused, never rewritten.
STATE_VERSION = 1
BUILTIN_ID = "builtin"
BUILTIN_URL = "builtin:default.tpl"
#: `ParsedList.skipped` kinds that are not rules at all, so not counted as "skipped rules".
NOT_RULES = frozenset({"comment", "blank", "header", "metadata", "property"})
#: How many example diagnostics `show` can print per list.
MAX_SAMPLES = 10


class StateError(TrackguardError):
    """The state file cannot be read as written (hand-edited, or from a newer trackguard)."""


@dataclass(frozen=True, slots=True)
class ListStats:
    """What the parser made of one version of a list, for `lists` and `lists show`."""

    rules: int = 0
    skipped: tuple[tuple[str, int], ...] = ()  # valid non-network lines by kind
    errors: int = 0  # lines that were invalid and skipped
    warnings: int = 0
    notices: int = 0
    codes: tuple[tuple[str, int], ...] = ()  # diagnostic code -> count, most frequent first
    samples: tuple[str, ...] = ()  # a few diagnostics as text, worst first

    @property
    def skipped_total(self) -> int:
        """Lines that were not applied: unsupported rule kinds plus invalid lines."""
        return sum(n for kind, n in self.skipped if kind not in NOT_RULES) + self.errors


def stats_of(parsed: ParsedList) -> ListStats:
    """Summarise a parse result; keeps a bounded sample so the state file stays small."""
    counts = {severity: 0 for severity in Severity}
    codes: dict[str, int] = {}
    for diagnostic in parsed.diagnostics:
        counts[diagnostic.severity] += 1
        codes[diagnostic.code] = codes.get(diagnostic.code, 0) + 1
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}
    worst: list[Diagnostic] = sorted(parsed.diagnostics, key=lambda d: (order[d.severity], d.line))
    return ListStats(
        rules=len(parsed.rules),
        skipped=tuple(sorted(parsed.skipped.items())),
        errors=counts[Severity.ERROR],
        warnings=counts[Severity.WARNING],
        notices=counts[Severity.NOTICE],
        codes=tuple(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))),
        samples=tuple(str(d) for d in worst[:MAX_SAMPLES]),
    )


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscribed list and the bookkeeping of its last good copy (TPL spec §A.9)."""

    id: str  # stable handle: list id in decisions, body file names, CLI argument
    name: str  # display name
    url: str  # as subscribed: https://..., file:///..., or builtin:default.tpl
    format: Format
    added: datetime
    enabled: bool = True
    title: str | None = None
    homepage: str | None = None
    #: Body file of the last good copy in `lists/`; None for the built-in list.
    file: str | None = None
    sha256: str = ""
    size: int = 0
    stats: ListStats = ListStats()
    #: Update interval in seconds, from the list's own Expires (§A.4), clamped.
    interval: int = 7 * 86400
    #: How the interval was found ("Expires=4", "! Expires: 12 hours", "default", ...).
    interval_source: str = "default"
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None  # where redirects ended, for display; `url` never changes
    last_success: datetime | None = None  # last time the publisher confirmed (200 or 304)
    last_changed: datetime | None = None  # last time the stored copy was replaced
    last_attempt: datetime | None = None
    failures: int = 0  # consecutive failed attempts since the last success
    last_error: str | None = None
    last_error_code: str | None = None
    #: Rule count of a downloaded version held back for losing too many rules.
    held_back_rules: int | None = None

    @property
    def builtin(self) -> bool:
        return self.id == BUILTIN_ID

    @property
    def insecure(self) -> bool:
        """Plain-HTTP subscriptions are allowed but flagged (§A.9)."""
        return self.url.lower().startswith("http://")

    def replace(self, **changes: Any) -> Subscription:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class State:
    """All subscriptions, in the order the user added them."""

    subscriptions: tuple[Subscription, ...] = ()

    def get(self, list_id: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.id == list_id), None)

    def find(self, name: str) -> Subscription | None:
        """Look a subscription up the way people refer to it: id, display name, or URL."""
        wanted = name.strip()
        folded = wanted.casefold()
        keys: tuple[Callable[[Subscription], bool], ...] = (
            lambda s: s.id == wanted,
            lambda s: s.id.casefold() == folded,
            lambda s: s.name.casefold() == folded,
            lambda s: s.url == wanted,
        )
        for match in keys:
            found = [s for s in self.subscriptions if match(s)]
            if found:
                return found[0]
        return None

    def put(self, subscription: Subscription) -> State:
        """Replace the subscription with the same id, or append it."""
        if self.get(subscription.id) is None:
            return State((*self.subscriptions, subscription))
        return State(
            tuple(subscription if s.id == subscription.id else s for s in self.subscriptions)
        )

    def without(self, list_id: str) -> State:
        return State(tuple(s for s in self.subscriptions if s.id != list_id))

    @property
    def enabled(self) -> tuple[Subscription, ...]:
        return tuple(s for s in self.subscriptions if s.enabled)


# --- JSON -------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pairs(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple((str(k), int(v)) for k, v in value.items() if isinstance(v, int))


def stats_to_dict(stats: ListStats) -> dict[str, Any]:
    return {
        "rules": stats.rules,
        "skipped": dict(stats.skipped),
        "skipped_total": stats.skipped_total,
        "errors": stats.errors,
        "warnings": stats.warnings,
        "notices": stats.notices,
        "codes": dict(stats.codes),
        "samples": list(stats.samples),
    }


def _stats_from_dict(data: Any) -> ListStats:
    if not isinstance(data, Mapping):
        return ListStats()
    samples = data.get("samples")
    return ListStats(
        rules=int(data.get("rules", 0)),
        skipped=_pairs(data.get("skipped")),
        errors=int(data.get("errors", 0)),
        warnings=int(data.get("warnings", 0)),
        notices=int(data.get("notices", 0)),
        codes=_pairs(data.get("codes")),
        samples=tuple(str(s) for s in samples) if isinstance(samples, list) else (),
    )


def subscription_to_dict(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "format": sub.format.value,
        "added": _time(sub.added),
        "enabled": sub.enabled,
        "title": sub.title,
        "homepage": sub.homepage,
        "file": sub.file,
        "sha256": sub.sha256,
        "size": sub.size,
        "stats": stats_to_dict(sub.stats),
        "interval": sub.interval,
        "interval_source": sub.interval_source,
        "etag": sub.etag,
        "last_modified": sub.last_modified,
        "final_url": sub.final_url,
        "last_success": _time(sub.last_success),
        "last_changed": _time(sub.last_changed),
        "last_attempt": _time(sub.last_attempt),
        "failures": sub.failures,
        "last_error": sub.last_error,
        "last_error_code": sub.last_error_code,
        "held_back_rules": sub.held_back_rules,
    }


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def subscription_from_dict(data: Mapping[str, Any]) -> Subscription:
    """Rebuild a record; raises StateError when a required field is missing or wrong."""
    try:
        return _subscription_from_dict(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise StateError(f"subscription record {dict(data)!r} is damaged: {exc}") from exc


def _subscription_from_dict(data: Mapping[str, Any]) -> Subscription:
    list_id, name, url = str(data["id"]), str(data["name"]), str(data["url"])
    fmt = Format(data["format"])
    held = data.get("held_back_rules")
    return Subscription(
        id=list_id,
        name=name,
        url=url,
        format=fmt,
        added=_parse_time(data.get("added")) or datetime.now(UTC),
        enabled=bool(data.get("enabled", True)),
        title=_opt_str(data.get("title")),
        homepage=_opt_str(data.get("homepage")),
        file=_opt_str(data.get("file")),
        sha256=str(data.get("sha256", "")),
        size=int(data.get("size", 0)),
        stats=_stats_from_dict(data.get("stats")),
        interval=int(data.get("interval", 7 * 86400)),
        interval_source=str(data.get("interval_source", "default")),
        etag=_opt_str(data.get("etag")),
        last_modified=_opt_str(data.get("last_modified")),
        final_url=_opt_str(data.get("final_url")),
        last_success=_parse_time(data.get("last_success")),
        last_changed=_parse_time(data.get("last_changed")),
        last_attempt=_parse_time(data.get("last_attempt")),
        failures=int(data.get("failures", 0)),
        last_error=_opt_str(data.get("last_error")),
        last_error_code=_opt_str(data.get("last_error_code")),
        held_back_rules=held if isinstance(held, int) else None,
    )


def state_to_dict(state: State) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "subscriptions": [subscription_to_dict(s) for s in state.subscriptions],
    }


def state_from_dict(data: Any) -> State:
    if not isinstance(data, Mapping) or not isinstance(data.get("subscriptions"), list):
        raise StateError("not a trackguard subscriptions file")
    version = data.get("version")
    if not isinstance(version, int) or version > STATE_VERSION:
        raise StateError(
            f"written by a newer trackguard (layout version {version}, this one reads "
            f"{STATE_VERSION}); upgrade trackguard"
        )
    records: Iterable[Any] = data["subscriptions"]
    subs = [subscription_from_dict(r) for r in records if isinstance(r, Mapping)]
    return State(tuple(subs))
