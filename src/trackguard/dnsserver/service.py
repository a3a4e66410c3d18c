"""The running DNS server: the server plus what keeps its policy current.

The same rules as the proxy service, for the same reasons: `settings.json` is re-read when
it changes (`trackguard allow`, `site off`, `protection`) and the enabled lists'
fingerprint is polled (`trackguard lists enable/disable/update`, `rule off`); a new engine
is built in a thread and swapped in with one assignment. Building engines is injected by
the CLI: this module does not know where lists come from, nor where the log lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from trackguard.dnsserver.server import Address, DecisionSink, DnsOptions, DnsServer
from trackguard.policy.decide import ListMatcher, PolicyConfig
from trackguard.settings import SETTINGS_FILE, Settings, SettingsError, load_settings

logger = logging.getLogger("trackguard.dns")


class DecisionStore(DecisionSink, Protocol):
    """The decision log as the service runs it (`proxy.log.DecisionLog`, injected by the
    CLI so this package stays below the proxy)."""

    retention_days: int

    def start(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class DnsState:
    """The references the server reads per query; swapped whole, never mutated inside."""

    matcher: ListMatcher
    config: PolicyConfig


class DnsService:
    def __init__(
        self,
        options: DnsOptions,
        *,
        home: Path,
        engine_factory: Callable[[Settings], ListMatcher],
        engine_key: Callable[[Settings], str] | None = None,
        log: Callable[[Settings], DecisionStore] | None = None,
        poll: float = 2.0,
    ) -> None:
        self.options = options
        self.home = home
        self.engine_factory = engine_factory
        self.engine_key = engine_key
        self.poll = poll
        self.settings = load_settings(home)
        self.server: DnsServer | None = None
        self.log: DecisionStore | None = None
        self._log_factory = log
        self._key: str | None = None
        self._mtime = self._settings_mtime()
        self._task: asyncio.Task[None] | None = None

    def _settings_mtime(self) -> float:
        try:
            return (self.home / SETTINGS_FILE).stat().st_mtime
        except OSError:
            return 0.0

    async def start(self) -> Address:
        settings = self.settings
        if self.engine_key is not None:
            self._key = await asyncio.to_thread(self.engine_key, settings)
        matcher = await asyncio.to_thread(self.engine_factory, settings)
        state = DnsState(matcher, PolicyConfig.from_settings(settings))
        if self._log_factory is not None:
            self.log = self._log_factory(settings)
            self.log.start()
        self.server = DnsServer(state, self.options, log=self.log)
        address = await self.server.start()
        self._task = asyncio.create_task(self._watch())
        return address

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.server is not None:
            await self.server.close()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    async def refresh(self) -> None:
        """Apply changed settings or lists (one round of the watcher)."""
        assert self.server is not None
        state = self.server.state
        mtime = self._settings_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                new = load_settings(self.home)
            except SettingsError as exc:  # a typo must not drop the user's choices
                logger.warning("%s; keeping the last good settings", exc)
                new = self.settings
            rebuild = new.strict_ie != self.settings.strict_ie
            self.settings = new
            state.config = PolicyConfig.from_settings(new)
            if self.log is not None:
                self.log.retention_days = new.log_retention_days
            if rebuild:
                state.matcher = await asyncio.to_thread(self.engine_factory, new)
        if self.engine_key is not None:
            key = await asyncio.to_thread(self.engine_key, self.settings)
            if key != self._key:
                state.matcher = await asyncio.to_thread(self.engine_factory, self.settings)
                self._key = key
                logger.info("enabled lists changed; new engine in use")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.refresh()
            except Exception:
                logger.exception("could not apply changed settings or lists; keeping the old ones")
