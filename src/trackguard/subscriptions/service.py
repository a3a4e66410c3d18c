"""Subscription operations: add, update, enable, disable, remove, inspect.

This is where fetching (`fetch.py`), the pure decisions (`update.py`) and the state
folder (`store.py`) meet. The CLI and the proxy call these functions; nothing here
prints. The invariant every function keeps: the last good copy of a list is replaced
only by a version that downloaded completely, decoded, parsed and passed the rule-loss
check, and only in one atomic step (TPL spec §A.9).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from trackguard.lists import parse_list
from trackguard.model import Format, ListRejected, ParsedList, TrackguardError
from trackguard.settings import Settings, load_settings, state_dir
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
from trackguard.subscriptions.sources import (
    AddRefused,
    choose_identity,
    fallback_name,
    resolve_source,
    slugify,
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


class NotSubscribed(TrackguardError):
    """The name given on the command line matches no subscription."""


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
        provisional = slugify(name) if name else source.list_id or slugify(fallback_name(source))
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
        list_id, display = choose_identity(state, source, name, parsed.metadata.get("title"))
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
