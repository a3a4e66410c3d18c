"""List subscriptions: install lists from a web address or file and keep them fresh.

IE9 installed a Tracking Protection List from a web address and kept it current by
itself; this package does the same for TPL, Adblock Plus and hosts lists (TPL spec §A.9),
and never gives up a working list because a publisher or the network failed.

Public entry points:
- `engine_for(home, extra_files, settings=)`: the engine for the enabled lists (cached).
- `update_due(home, fetcher=, now=)`: refresh the lists that are due; thread-safe.
- `add_list`, `update_lists`, `set_enabled`, `remove_list`, `load_subscriptions`,
  `describe`: what the `trackguard lists` commands call.

Module map: `catalogue` (well-known lists), `state` (records), `update` (pure
decisions), `fetch` (the only network code), `store` (the state folder), `service`
(operations), `cache` (engine building and swapping).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackguard.subscriptions.catalogue import CATALOGUE, CatalogueEntry, find_entry
from trackguard.subscriptions.fetch import (
    FetchConfig,
    Fetched,
    Fetcher,
    FetchError,
    HttpFetcher,
)
from trackguard.subscriptions.service import (
    NotSubscribed,
    Reporter,
    add_list,
    describe,
    load_subscriptions,
    remove_list,
    set_enabled,
    update_due,
    update_lists,
)
from trackguard.subscriptions.sources import AddRefused
from trackguard.subscriptions.state import State, Subscription
from trackguard.subscriptions.update import Outcome, Status, UpdateResult

if TYPE_CHECKING:
    from trackguard.subscriptions.cache import EngineHolder, engine_for, engine_key

_ENGINE_NAMES = frozenset({"EngineHolder", "engine_for", "engine_key"})


def __getattr__(name: str) -> object:
    """Import the engine only when asked for: `lists` commands do not need it loaded."""
    if name in _ENGINE_NAMES:
        from trackguard.subscriptions import cache

        return getattr(cache, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CATALOGUE",
    "AddRefused",
    "CatalogueEntry",
    "EngineHolder",
    "FetchConfig",
    "FetchError",
    "Fetched",
    "Fetcher",
    "HttpFetcher",
    "NotSubscribed",
    "Outcome",
    "Reporter",
    "State",
    "Status",
    "Subscription",
    "UpdateResult",
    "add_list",
    "describe",
    "engine_for",
    "engine_key",
    "find_entry",
    "load_subscriptions",
    "remove_list",
    "set_enabled",
    "update_due",
    "update_lists",
]
