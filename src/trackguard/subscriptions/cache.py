"""The engine for the enabled lists: built once, cached on disk, swapped in whole.

`engine_for` reads the last good copies of the enabled lists and hands them to
`Engine.load_or_build`, which loads the compiled cache when the lists are the same as
last time (no parsing) and rebuilds it otherwise. A running matcher is never touched:
a new Engine object is built aside and the caller swaps its reference (`EngineHolder`
does that for long-running processes such as the proxy).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from trackguard import __version__
from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.lists.detect import NotAList, decode_list_bytes
from trackguard.model import Format, ListRejected, ListSource, TrackguardError
from trackguard.settings import Settings, load_settings, state_dir
from trackguard.subscriptions.service import ensure_state
from trackguard.subscriptions.state import BUILTIN_ID, State, Subscription
from trackguard.subscriptions.store import Store, load_builtin_bytes, sha256_hex

logger = logging.getLogger(__name__)


def _builtin_source() -> ListSource:
    return ListSource(BUILTIN_ID, load_builtin_bytes().decode("utf-8"), Format.TPL)


def _read_sources(store: Store, state: State) -> list[ListSource]:
    """The enabled lists' last good copies. Call with the read lock held.

    A copy that is missing or does not match its recorded hash (damaged disk, hand
    edits) is left out with a warning: the other lists must keep protecting.
    """
    sources: list[ListSource] = []
    for sub in state.enabled:
        if sub.builtin:
            sources.append(_builtin_source())
            continue
        if sub.file is None:
            continue
        try:
            body = store.read_body(sub.file)
        except OSError as exc:
            logger.warning("list %s left out: cannot read its copy (%s)", sub.id, exc)
            continue
        if sha256_hex(body) != sub.sha256:
            logger.warning("list %s left out: its stored copy is damaged", sub.id)
            continue
        sources.append(ListSource(sub.id, body.decode("utf-8", "replace"), sub.format))
    return sources


def enabled_sources(home: Path | None = None) -> list[ListSource]:
    """The enabled lists' texts (built-in included), e.g. to find where a rule comes from."""
    store = Store(home or state_dir())
    state = _state_for_reading(store)
    if state is None:
        return [_builtin_source()]
    with store.read_lock():
        return _read_sources(store, state)


def _extra_sources(extra_files: Sequence[Path]) -> list[ListSource]:
    """Extra list files (list id = file name, format detected), as `Engine.from_files`."""
    out: list[ListSource] = []
    for path in extra_files:
        try:
            text = decode_list_bytes(path.read_bytes())
        except (OSError, NotAList) as exc:
            raise TrackguardError(f"cannot use list file {path}: {exc}") from None
        out.append(ListSource(path.name, text))
    return out


def _usable(sources: list[ListSource]) -> list[ListSource]:
    """Drop lists the parser now rejects as a whole (e.g. after a stricter upgrade)."""
    keep: list[ListSource] = []
    for source in sources:
        try:
            parse_list(source.text, source.list_id, source.format)
        except ListRejected as exc:
            logger.warning("list %s left out: %s", source.list_id, exc)
            continue
        keep.append(source)
    return keep


def _state_for_reading(store: Store) -> State | None:
    """The records, initialising them on first run; None if the folder is unusable."""
    try:
        return ensure_state(store)
    except (OSError, TrackguardError) as exc:
        logger.warning(
            "state folder %s unusable (%s); using the built-in list only", store.home, exc
        )
        return None


def engine_for(
    home: Path | None = None,
    extra_files: Sequence[Path] = (),
    *,
    settings: Settings | None = None,
) -> Engine:
    """The engine for the enabled lists (built-in included) plus `extra_files`.

    Loaded from the cache when the enabled lists are unchanged, rebuilt otherwise. If
    the state folder cannot be used at all, protection still works with the built-in
    list, without a cache.
    """
    store = Store(home or state_dir())
    settings = settings or load_settings(store.home)
    extra = _extra_sources(extra_files)
    state = _state_for_reading(store)
    strict, disabled = settings.strict_ie, settings.disabled_rules
    if state is None:
        return Engine.from_sources(
            [_builtin_source(), *extra], strict_ie=strict, disabled_rules=disabled
        )
    with store.read_lock():
        sources = [*_read_sources(store, state), *extra]
    cache = store.engine_cache_for([str(p.resolve()) for p in extra_files])
    try:
        return Engine.load_or_build(cache, sources, strict_ie=strict, disabled_rules=disabled)
    except ListRejected:
        return Engine.load_or_build(
            cache, _usable(sources), strict_ie=strict, disabled_rules=disabled
        )
    except OSError as exc:  # cache folder not writable: build in memory
        logger.warning("engine cache unusable (%s); building without it", exc)
        return Engine.from_sources(_usable(sources), strict_ie=strict, disabled_rules=disabled)


def engine_key(
    home: Path | None = None,
    extra_files: Sequence[Path] = (),
    *,
    settings: Settings | None = None,
) -> str:
    """A cheap fingerprint of what `engine_for` would build from (no list is read).

    Equal keys mean the engine in hand is still current, so a long-running process can
    poll this and call `engine_for` only when it changes.
    """
    store = Store(home or state_dir())
    settings = settings or load_settings(store.home)
    state = _state_for_reading(store)
    enabled: list[Subscription] = list(state.enabled) if state is not None else []
    extra: list[tuple[str, str]] = []
    for path in extra_files:
        try:
            extra.append((str(path), sha256_hex(path.read_bytes())))
        except OSError:
            extra.append((str(path), "unreadable"))
    payload = {
        "version": __version__,
        "strict_ie": settings.strict_ie,
        "disabled_rules": sorted(settings.disabled_rules),
        "lists": [(s.id, s.format.value, s.sha256) for s in enabled],
        "builtin_only": state is None,
        "extra": extra,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class EngineHolder:
    """The current engine of a long-running process, replaced whole when lists change.

    Readers take `holder.engine` (one attribute read, atomic in Python) and keep using
    that object; `refresh()` builds the next engine aside and only then swaps it in, so
    a rebuild never interrupts matching.
    """

    def __init__(
        self,
        home: Path | None = None,
        extra_files: Sequence[Path] = (),
        *,
        settings: Settings | None = None,
    ) -> None:
        self._home = home
        self._extra = tuple(extra_files)
        self._settings = settings
        self._refresh_lock = threading.Lock()
        self._key = engine_key(home, self._extra, settings=settings)
        self._engine = engine_for(home, self._extra, settings=settings)

    @property
    def engine(self) -> Engine:
        return self._engine

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild if the enabled lists changed (or `force`); True if a new engine is in."""
        with self._refresh_lock:
            key = engine_key(self._home, self._extra, settings=self._settings)
            if key == self._key and not force:
                return False
            engine = engine_for(self._home, self._extra, settings=self._settings)
            self._engine, self._key = engine, key
            return True
