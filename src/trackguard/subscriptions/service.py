"""Subscription operations: add, update, enable, disable, remove, inspect.

This is where fetching (`fetch.py`), the pure decisions (`update.py`) and the state
folder (`store.py`) meet. The CLI and the proxy call these functions; nothing here
prints. The invariant every function keeps: the last good copy of a list is replaced
only by a version that downloaded completely, decoded, parsed and passed the rule-loss
check, and only in one atomic step (TPL spec §A.9).
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from trackguard.lists import parse_list
from trackguard.model import Format, ListRejected, ParsedList, TrackguardError
from trackguard.settings import Settings, load_settings, state_dir
from trackguard.subscriptions.catalogue import CATALOGUE, find_entry
from trackguard.subscriptions.fetch import (
    FetchConfig,
    Fetched,
    Fetcher,
    FetchError,
    HttpFetcher,
    ProgressCallback,
    fetch_file,
    path_of_file_url,
)
from trackguard.subscriptions.state import (
    BUILTIN_ID,
    BUILTIN_URL,
    State,
    Subscription,
    stats_of,
    stats_to_dict,
)
from trackguard.subscriptions.store import Store, load_builtin_bytes, sha256_hex
from trackguard.subscriptions.update import (
    ListError,
    Outcome,
    UpdateResult,
    decode_list,
    due_at,
    hold_back_reason,
    interval_of,
    is_due,
    status_of,
)

logger = logging.getLogger(__name__)

BUILTIN_NAME = "trackguard built-in trackers"
MAX_NAME_LENGTH = 100
MAX_ID_LENGTH = 40


class NotSubscribed(TrackguardError):
    """The name given on the command line matches no subscription."""


class AddRefused(TrackguardError):
    """A list was not added; nothing in the state folder changed."""


class Reporter(Protocol):
    """Progress hooks for a caller with a UI; the service never prints itself."""

    def downloading(self, sub: Subscription) -> ProgressCallback | None: ...

    def finished(self, result: UpdateResult) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def open_store(home: Path | None = None) -> Store:
    return Store(home or state_dir())


# --- first run and the built-in list ----------------------------------------------------


def _parse(text: str, list_id: str, fmt: Format | None) -> ParsedList:
    """parse_list, with a parser crash reported like a rejected list.

    A parser bug must cost one list's update, not the whole update run (which may be
    the proxy's background thread).
    """
    try:
        parsed = parse_list(text, list_id, fmt)
    except ListRejected as exc:
        raise ListError("list.rejected", str(exc)) from None
    except Exception as exc:
        logger.exception("parser failed on list %s", list_id)
        raise ListError("list.parser-error", f"the parser failed: {exc!r}") from None
    if not parsed.rules:
        raise ListError("list.rejected", f"{list_id}: the list has no valid rule")
    return parsed


def _builtin_record(now: datetime, *, enabled: bool = True) -> Subscription:
    body = load_builtin_bytes()
    parsed = _parse(decode_list(body), BUILTIN_ID, Format.TPL)
    return Subscription(
        id=BUILTIN_ID,
        name=BUILTIN_NAME,
        url=BUILTIN_URL,
        format=Format.TPL,
        added=now,
        enabled=enabled,
        title=parsed.metadata.get("title"),
        homepage=parsed.metadata.get("homepage"),
        sha256=sha256_hex(body),
        size=len(body),
        stats=stats_of(parsed),
        interval_source="ships with trackguard",
        last_success=now,
        last_changed=now,
    )


def ensure_state(store: Store, now: datetime | None = None) -> State:
    """Load the records, creating them on first run with the built-in list enabled.

    Also picks up a new built-in list after a trackguard upgrade (its record follows the
    package file; the user's enabled/disabled choice is kept).
    """
    if store.exists():
        state = store.load_state()
        builtin = state.get(BUILTIN_ID)
        if builtin is not None and builtin.sha256 == sha256_hex(load_builtin_bytes()):
            return state
    with store.write_lock():
        state = store.load_state()
        builtin = state.get(BUILTIN_ID)
        current = sha256_hex(load_builtin_bytes())
        if builtin is not None and builtin.sha256 == current:
            return state
        record = _builtin_record(now or _utcnow(), enabled=builtin.enabled if builtin else True)
        if builtin is not None:
            record = record.replace(added=builtin.added)
        state = state.put(record)
        if builtin is None and len(state.subscriptions) > 1:
            # Keep the built-in list first, where a first run put it.
            state = State((record, *(s for s in state.subscriptions if s.id != BUILTIN_ID)))
        store.save_state(state)
        return state


def load_subscriptions(home: Path | None = None) -> State:
    """The current records (initialising the state folder on first run)."""
    return ensure_state(open_store(home))


def find_subscription(state: State, name: str) -> Subscription:
    found = state.find(name)
    if found is None:
        known = ", ".join(s.id for s in state.subscriptions) or "none"
        raise NotSubscribed(f"no list named {name!r} (subscribed: {known}); see `trackguard lists`")
    return found


# --- adding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """What `lists add` was given, made explicit."""

    url: str
    local: Path | None = None
    name: str | None = None  # from the catalogue or an abp:subscribe link
    list_id: str | None = None  # catalogue key
    format: Format | None = None


def resolve_source(text: str) -> ResolvedSource:
    """Turn a URL, `abp:subscribe` link, file path or catalogue name into a source."""
    raw = text.strip()
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise AddRefused(f"{raw!r} is not a valid web address (no host name)")
        return ResolvedSource(url=raw)
    if scheme == "abp" and parts.path.lower() == "subscribe":
        query = parse_qs(parts.query)
        location = (query.get("location") or [""])[0]
        if not location:
            raise AddRefused(f"{raw!r} has no location= parameter")
        inner = resolve_source(location)
        titles = query.get("title")
        title = titles[0] if titles else None
        return ResolvedSource(url=inner.url, local=inner.local, name=title)
    if scheme == "file":
        path = path_of_file_url(raw)
        return ResolvedSource(url=path.resolve().as_uri(), local=path.resolve())
    if len(scheme) > 1:  # a one-letter "scheme" would be a Windows drive
        raise AddRefused(f"{raw!r}: only http://, https:// and file: addresses can be subscribed")
    looks_like_path = os.sep in raw or "/" in raw or raw.startswith((".", "~"))
    entry = None if looks_like_path else find_entry(raw)
    if entry is not None:
        return ResolvedSource(
            url=entry.url, name=entry.name, list_id=entry.key, format=entry.format
        )
    path = Path(raw).expanduser()
    if path.exists():
        if not path.is_file():
            raise AddRefused(f"{raw!r} is a folder, not a list file")
        return ResolvedSource(url=path.resolve().as_uri(), local=path.resolve())
    if looks_like_path:
        raise AddRefused(f"no such file: {raw}")
    names = ", ".join(e.key for e in CATALOGUE)
    raise AddRefused(
        f"{raw!r} is not a web address, an existing file, or a catalogue name ({names})"
    )


def slugify(text: str) -> str:
    """A short, shell-friendly id: lower case letters, digits and dashes."""
    out: list[str] = []
    for char in unicodedata.normalize("NFKD", text.lower()):  # "É" -> "E" + accent
        if char in "'’" or unicodedata.combining(char):  # "Fanboy's" -> "fanboys"
            continue
        if char.isascii() and char.isalnum():
            out.append(char)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")[:MAX_ID_LENGTH].strip("-") or "list"


def _check_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean:
        raise AddRefused("the list name is empty")
    if len(clean) > MAX_NAME_LENGTH:
        raise AddRefused(f"the list name is longer than {MAX_NAME_LENGTH} characters")
    if any(not c.isprintable() for c in clean):
        raise AddRefused("the list name contains control characters")
    return clean


def _fallback_name(source: ResolvedSource) -> str:
    if source.local is not None:
        return source.local.stem or source.local.name
    return urlsplit(source.url).hostname or source.url


def _choose_identity(
    state: State, source: ResolvedSource, given: str | None, title: str | None
) -> tuple[str, str]:
    """(id, display name), unique in `state`. An explicit name must be free; others adapt."""
    if given is not None:
        name = _check_name(given)
        list_id = slugify(name)
        clash = state.find(name) or state.get(list_id)
        if clash is not None or list_id == BUILTIN_ID:
            owner = clash.id if clash else BUILTIN_ID
            raise AddRefused(f"the name {name!r} is already used by list {owner!r}")
        return list_id, name
    name = _check_name(source.name or title or _fallback_name(source))
    base = source.list_id or slugify(name)
    list_id, n = base, 1
    taken_names = {s.name.casefold() for s in state.subscriptions}
    display = name
    while state.get(list_id) is not None or list_id == BUILTIN_ID:
        n += 1
        list_id = f"{base[: MAX_ID_LENGTH - 4]}-{n}"
    if display.casefold() in taken_names:
        display = f"{name} ({n if n > 1 else 2})"
    return list_id, display


def _fetch(
    sub_url: str,
    fetcher: Fetcher,
    config: FetchConfig,
    *,
    etag: str | None,
    last_modified: str | None,
    progress: ProgressCallback | None,
) -> Fetched:
    if sub_url == BUILTIN_URL:
        body = load_builtin_bytes()
        stamp = sha256_hex(body)
        return Fetched(None if etag == stamp else body, etag=stamp)
    if sub_url.startswith("file:"):
        return fetch_file(path_of_file_url(sub_url), etag=etag, max_bytes=config.max_bytes)
    return fetcher.fetch(sub_url, etag=etag, last_modified=last_modified, progress=progress)


def _fetcher_and_config(fetcher: Fetcher | None, settings: Settings) -> tuple[Fetcher, FetchConfig]:
    config = FetchConfig.from_settings(settings)
    return (fetcher or HttpFetcher(config)), config


def add_list(
    source_text: str,
    *,
    name: str | None = None,
    format: Format | None = None,
    enabled: bool = True,
    home: Path | None = None,
    fetcher: Fetcher | None = None,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Fetch, validate and store a new list (TPL spec §A.9). Raises AddRefused.

    A list with no valid rule, a download error, or a name clash refuses the whole
    operation; the state folder is then exactly as before.
    """
    store = open_store(home)
    settings = settings or load_settings(store.home)
    the_fetcher, config = _fetcher_and_config(fetcher, settings)
    state = ensure_state(store, now)
    source = resolve_source(source_text)
    existing = next((s for s in state.subscriptions if s.url == source.url), None)
    if existing is not None:
        raise AddRefused(f"{source.url} is already subscribed as {existing.id!r}")
    try:
        fetched = _fetch(
            source.url, the_fetcher, config, etag=None, last_modified=None, progress=progress
        )
        if fetched.body is None:
            raise ListError("fetch.not-modified", "the server answered 304 to a first request")
        text = decode_list(fetched.body)
        provisional = slugify(name) if name else source.list_id or slugify(_fallback_name(source))
        parsed = _parse(text, provisional, format or source.format)
    except (FetchError, ListError) as exc:
        raise AddRefused(f"{source.url} was not added: {exc}. Nothing was changed.") from None
    body = text.encode("utf-8")
    when = now or _utcnow()
    interval, interval_source = interval_of(parsed.format, parsed.metadata)
    with store.write_lock():
        state = store.load_state()
        existing = next((s for s in state.subscriptions if s.url == source.url), None)
        if existing is not None:
            raise AddRefused(f"{source.url} is already subscribed as {existing.id!r}")
        list_id, display = _choose_identity(state, source, name, parsed.metadata.get("title"))
        file_name = store.write_body(list_id, body)
        sub = Subscription(
            id=list_id,
            name=display,
            url=source.url,
            format=parsed.format,
            added=when,
            enabled=enabled,
            title=parsed.metadata.get("title"),
            homepage=parsed.metadata.get("homepage"),
            file=file_name,
            sha256=sha256_hex(body),
            size=len(body),
            stats=stats_of(parsed),
            interval=int(interval.total_seconds()),
            interval_source=interval_source,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            final_url=fetched.final_url,
            last_success=when,
            last_changed=when,
            last_attempt=when,
        )
        state = state.put(sub)
        store.save_state(state)
        store.sweep(state)
    return sub


# --- updating -------------------------------------------------------------------------


def _modify(
    store: Store,
    list_id: str,
    change: Callable[[Subscription], Subscription],
    body: bytes | None = None,
) -> Subscription | None:
    """Apply `change` to the fresh record under the write lock; None if it was removed.

    With a `body`, the new copy is written first and the record switched to it in the
    same locked step; the old copy is swept afterwards.
    """
    with store.write_lock():
        state = store.load_state()
        sub = state.get(list_id)
        if sub is None:
            return None
        new = change(sub)
        if body is not None:
            new = new.replace(file=store.write_body(list_id, body))
        state = state.put(new)
        store.save_state(state)
        store.sweep(state)
        return new


def _update_one(
    store: Store,
    sub: Subscription,
    fetcher: Fetcher,
    config: FetchConfig,
    *,
    force: bool,
    now: datetime,
    reporter: Reporter | None,
) -> UpdateResult:
    before = sub.stats.rules

    def result(outcome: Outcome, message: str, after: int, code: str | None = None) -> UpdateResult:
        return UpdateResult(sub.id, sub.name, outcome, message, before, after, code)

    def failed(code: str, message: str, *, held: int | None = None) -> UpdateResult:
        def change(s: Subscription) -> Subscription:
            return s.replace(
                last_attempt=now,
                failures=s.failures + 1,
                last_error=message,
                last_error_code=code,
                held_back_rules=held,
            )

        _modify(store, sub.id, change)
        outcome = Outcome.HELD_BACK if held is not None else Outcome.FAILED
        return result(outcome, message, before, code)

    progress = reporter.downloading(sub) if reporter is not None else None
    # A missing or damaged copy (disk trouble, hand edits) must be downloaded in full:
    # a 304 or an "unchanged" answer would confirm a copy we no longer have.
    unconditional = force or not store.has_intact_copy(sub)
    try:
        fetched = _fetch(
            sub.url,
            fetcher,
            config,
            etag=None if unconditional else sub.etag,
            last_modified=None if unconditional else sub.last_modified,
            progress=progress,
        )
        text = None if fetched.body is None else decode_list(fetched.body)
    except (FetchError, ListError) as exc:
        return failed(exc.code, str(exc))

    def confirmed(s: Subscription) -> Subscription:
        """The publisher confirmed the copy we have (§A.9: a 304 counts as success)."""
        return s.replace(
            last_success=now,
            last_attempt=now,
            failures=0,
            last_error=None,
            last_error_code=None,
            held_back_rules=None,
            etag=fetched.etag or s.etag,
            last_modified=fetched.last_modified or s.last_modified,
            final_url=fetched.final_url or s.final_url,
        )

    body = text.encode("utf-8") if text is not None else None
    same = body is not None and sha256_hex(body) == sub.sha256
    if body is None or (same and not unconditional):
        _modify(store, sub.id, confirmed)
        why = "not modified" if body is None else "unchanged"
        return result(Outcome.NOT_MODIFIED, why, before)
    assert text is not None
    try:
        parsed = _parse(text, sub.id, sub.format)
    except ListError as exc:
        return failed(exc.code, str(exc))
    reason = None if force else hold_back_reason(sub.id, before, len(parsed.rules))
    if reason is not None:
        return failed("list.held-back", reason, held=len(parsed.rules))
    interval, interval_source = interval_of(parsed.format, parsed.metadata)

    def replaced(s: Subscription) -> Subscription:
        return confirmed(s).replace(
            title=parsed.metadata.get("title", s.title),
            homepage=parsed.metadata.get("homepage", s.homepage),
            sha256=sha256_hex(body),
            size=len(body),
            stats=stats_of(parsed),
            interval=int(interval.total_seconds()),
            interval_source=interval_source,
            last_changed=now,
        )

    new = _modify(store, sub.id, replaced, body)
    if new is None:
        return result(Outcome.FAILED, "removed during the update", before, "list.removed")
    after = len(parsed.rules)
    if same:  # `--force`: downloaded and parsed again, but the text is the same
        return result(
            Outcome.UPDATED, f"downloaded again, content unchanged: {after:,} rules", after
        )
    if before == after:
        return result(Outcome.UPDATED, f"updated: new content, still {after:,} rules", after)
    return result(Outcome.UPDATED, f"updated: {before:,} → {after:,} rules", after)


def update_lists(
    names: Sequence[str] = (),
    *,
    force: bool = False,
    only_due: bool = False,
    wait: bool = True,
    home: Path | None = None,
    fetcher: Fetcher | None = None,
    settings: Settings | None = None,
    reporter: Reporter | None = None,
    now: datetime | None = None,
) -> list[UpdateResult]:
    """Update the named lists, or every enabled one. Manual refresh is always allowed.

    `force` skips the conditional request and the rule-loss hold-back. `only_due`
    restricts to lists whose schedule says so. Runs hold `update.lock`; with
    `wait=False` a run that finds another one in progress returns [] at once.
    """
    store = open_store(home)
    settings = settings or load_settings(store.home)
    the_fetcher, config = _fetcher_and_config(fetcher, settings)
    state = ensure_state(store, now)
    if names:
        wanted = [find_subscription(state, n).id for n in names]
    else:
        wanted = [s.id for s in state.enabled if not s.builtin]
    results: list[UpdateResult] = []
    with store.update_lock(wait=wait) as acquired:
        if not acquired:
            return results
        for list_id in dict.fromkeys(wanted):
            sub = store.load_state().get(list_id)
            when = now or _utcnow()
            if sub is None or (only_due and not is_due(sub, when)):
                continue
            outcome = _update_one(
                store, sub, the_fetcher, config, force=force, now=when, reporter=reporter
            )
            if reporter is not None:
                reporter.finished(outcome)
            results.append(outcome)
    return results


def update_due(
    home: Path | None = None,
    *,
    fetcher: Fetcher | None = None,
    now: datetime | None = None,
) -> list[UpdateResult]:
    """Update every enabled list whose time has come; for the proxy's background thread.

    Safe to call from a thread while a CLI command runs: state changes are serialised by
    file locks, and when another update run holds the update lock this returns [] at
    once instead of downloading the same lists twice.
    """
    return update_lists(only_due=True, wait=False, home=home, fetcher=fetcher, now=now)


# --- enable, disable, remove ------------------------------------------------------------


def set_enabled(name: str, enabled: bool, *, home: Path | None = None) -> Subscription:
    store = open_store(home)
    list_id = find_subscription(ensure_state(store), name).id
    new = _modify(store, list_id, lambda s: s.replace(enabled=enabled))
    if new is None:
        raise NotSubscribed(f"list {name!r} was removed meanwhile")
    return new


def remove_list(name: str, *, home: Path | None = None) -> Subscription:
    """Forget a subscription and delete its stored copy. The built-in list stays."""
    store = open_store(home)
    sub = find_subscription(ensure_state(store), name)
    if sub.builtin:
        raise TrackguardError(
            "the built-in list cannot be removed; turn it off with "
            f"`trackguard lists disable {BUILTIN_ID}`"
        )
    with store.write_lock():
        state = store.load_state().without(sub.id)
        store.save_state(state)
        store.sweep(state)
    return sub


# --- views ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def describe(sub: Subscription, now: datetime | None = None) -> dict[str, Any]:
    """Everything about one subscription as JSON-ready values (`lists --json`, `show`)."""
    when = now or _utcnow()
    return {
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "format": sub.format.value,
        "enabled": sub.enabled,
        "builtin": sub.builtin,
        "status": status_of(sub, when).value,
        "last_error": sub.last_error,
        "last_error_code": sub.last_error_code,
        "failures": sub.failures,
        "rules": sub.stats.rules,
        "skipped": sub.stats.skipped_total,
        "last_update": _iso(sub.last_success),
        "last_changed": _iso(sub.last_changed),
        "last_attempt": _iso(sub.last_attempt),
        "next_update": _iso(due_at(sub)),
        "interval_seconds": sub.interval,
        "interval_source": sub.interval_source,
        "title": sub.title,
        "homepage": sub.homepage,
        "insecure": sub.insecure,
        "final_url": sub.final_url,
        "etag": sub.etag,
        "last_modified": sub.last_modified,
        "size": sub.size,
        "sha256": sub.sha256,
        "held_back_rules": sub.held_back_rules,
        "added": _iso(sub.added),
        "diagnostics": stats_to_dict(sub.stats),
    }
