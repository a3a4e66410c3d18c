"""The running proxy: the server plus what keeps it current while it runs.

Wires together `server.ProxyServer`, the decision log, the engine and the settings, and
runs the background jobs:

- settings are re-read when `settings.json` changes, so `trackguard site off ...` or
  `trackguard allow ...` take effect on the next request, without a restart;
- lists are checked on their schedule (`updater`, normally `subscriptions.update_due`) in
  a worker thread, and a new engine is built in a thread too; the server's reference is
  then swapped in one assignment (issue 4: "the swap is atomic"), so a request sees either
  the old or the new engine, never a mix;
- SIGINT/SIGTERM start a graceful shutdown.

Building engines and fetching lists is injected (`engine_factory`, `updater`) by the CLI:
this module does not know where lists come from.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trackguard.learn.service import ProxyLearning
from trackguard.policy.decide import ListMatcher, PolicyConfig
from trackguard.proxy.connection import LocalApp
from trackguard.proxy.log import DecisionLog, EchoOnly, LogEntry, log_path
from trackguard.proxy.server import ProxyServer, ProxyState, ServerLimits
from trackguard.proxy.workers import RecordSync
from trackguard.settings import SETTINGS_FILE, Settings, SettingsError, load_settings

logger = logging.getLogger("trackguard.proxy")

#: Builds the engine for the given settings (blocking; runs in a worker thread).
EngineFactory = Callable[[Settings], ListMatcher]
#: Fingerprint of what the factory would build from (blocking, cheap; runs in a thread).
EngineKey = Callable[[Settings], str]
#: Checks due lists; returns one result per list checked (blocking; runs in a thread).
Updater = Callable[[], Sequence[object]]


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    """Command-line choices for one run; None means "use the saved setting"."""

    host: str | None = None
    port: int | None = None
    allow_from: tuple[str, ...] | None = None
    dnt: bool | None = None
    gpc: bool | None = None
    log: bool = True
    pac_fallback_direct: bool = False
    #: `--resolver`: resolve upstream hosts through this DNS server, uncloaking CNAMEs.
    resolver: tuple[str, int] | None = None
    #: The dashboard to serve at the proxy's own address (`trackguard.web.WebApp`).
    local_app: LocalApp | None = None
    #: Seconds between checks for due list updates.
    update_interval: float = 15 * 60.0
    #: Seconds between checks of the settings file.
    settings_poll: float = 2.0
    #: Seconds between checks of the enabled lists' fingerprint (`engine_key`).
    lists_poll: float = 2.0
    limits: ServerLimits = field(default_factory=ServerLimits)
    #: Shown every decision as it is made (`trackguard proxy -v`), log or no log.
    echo: Callable[[LogEntry], None] | None = None


def effective_settings(saved: Settings, options: ProxyOptions) -> Settings:
    """Saved settings with this run's overrides (`--dnt/--no-dnt`, `--gpc/--no-gpc`)."""
    changes: dict[str, object] = {}
    if options.dnt is not None:
        changes["dnt"] = options.dnt
    if options.gpc is not None:
        changes["gpc"] = options.gpc
    return saved.replace(**changes) if changes else saved


def _changed(results: Sequence[object]) -> bool:
    """Whether an update round changed any list.

    Understands `subscriptions.UpdateResult` (`outcome` UPDATED) and anything with a
    `changed` flag; a result of unknown shape counts as a change (a needless rebuild is
    cheap, the engine cache makes it a load; a missed one would keep stale lists).
    """
    for result in results:
        changed = getattr(result, "changed", None)
        if changed is None:
            outcome = getattr(result, "outcome", None)
            changed = outcome is None or getattr(outcome, "name", "") == "UPDATED"
        if changed:
            return True
    return False


def _freeze_heap(*, unfreeze: bool = True) -> None:
    """Keep the engine out of the garbage collector's full passes.

    The engine is a large, long-lived heap; every full collection would walk it again,
    and a busy proxy allocates enough per request to trigger them often. Objects alive
    now are moved to the permanent generation (`gc.freeze`); a later engine swap freezes
    the new one too: everything is unfrozen first, so a replaced engine is freed (by
    reference counting, or by this collection if it holds cycles), never kept frozen.
    """
    if unfreeze:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


class ProxyService:
    def __init__(
        self,
        options: ProxyOptions,
        *,
        home: Path,
        engine_factory: EngineFactory,
        updater: Updater | None = None,
        engine_key: EngineKey | None = None,
        matcher: ListMatcher | None = None,
        sock: socket.socket | None = None,
        peers: Sequence[socket.socket] = (),
        learn: bool = True,
    ) -> None:
        """`engine_key`: cheap fingerprint of what `engine_factory` would build from
        (`subscriptions.engine_key`), polled to apply list changes made from the CLI.
        `matcher`: an engine built already (workers share the parent's). `sock`: a
        listening socket to serve instead of opening one; `peers`: sibling workers'
        sockets for sharing attribution (`workers.RecordSync`). `learn`: whether this
        process records observations for the learner (default yes; every `--workers`
        process records its share and the learner's store merges what they save)."""
        self.options = options
        self.home = home
        self.engine_factory = engine_factory
        self.updater = updater
        self.engine_key = engine_key
        self._prebuilt = matcher
        self._sock = sock
        self._peers = tuple(peers)
        self._learn = learn
        self.sync: RecordSync | None = None
        self._key: str | None = None
        self.settings = effective_settings(load_settings(home), options)
        self.server: ProxyServer | None = None
        self.log: DecisionLog | None = None
        self.learning: ProxyLearning | None = None
        self._settings_mtime = self._mtime()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    def _mtime(self) -> float:
        try:
            return (self.home / SETTINGS_FILE).stat().st_mtime
        except OSError:
            return 0.0

    async def start(self) -> ProxyServer:
        settings = self.settings
        if self.engine_key is not None:
            self._key = await asyncio.to_thread(self.engine_key, settings)
        matcher = self._prebuilt
        self._prebuilt = None
        if matcher is None:
            matcher = await asyncio.to_thread(self.engine_factory, settings)
            _freeze_heap()
        else:
            # Built and frozen by the parent before forking (`workers.run_workers`):
            # unfreezing would walk it and unshare its copy-on-write pages.
            _freeze_heap(unfreeze=False)
        # The learner (learning.md §B2/§B7): every process records and enforces.
        self.learning = ProxyLearning(self.home, settings, matcher, record=self._learn)
        state = ProxyState(
            matcher, self.learning.with_learned(PolicyConfig.from_settings(settings))
        )
        if self._peers:
            self.sync = RecordSync(state.record, self._peers)
            self.sync.start()
        if self.options.log:
            self.log = DecisionLog(log_path(self.home), retention_days=settings.log_retention_days)
            self.log.echo = self.options.echo
            self.log.start()
        elif self.options.echo is not None:
            self.log = EchoOnly(self.options.echo)
        opts = self.options
        self.server = ProxyServer(
            state,
            host=opts.host if opts.host is not None else settings.proxy_host,
            port=opts.port if opts.port is not None else settings.proxy_port,
            allow_from=opts.allow_from if opts.allow_from is not None else settings.allow_from,
            limits=opts.limits,
            log=self.log,
            pac_fallback_direct=opts.pac_fallback_direct,
            resolver=opts.resolver,
            local_app=opts.local_app,
            sock=self._sock,
        )
        self.server.planner.learner = self.learning.hook
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._watch_settings()))
        if self.engine_key is not None:
            self._tasks.append(asyncio.create_task(self._watch_lists()))
        if self.updater is not None:
            self._tasks.append(asyncio.create_task(self._update_lists()))
        return self.server

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stopped.set)

    async def wait(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        self._stopped.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.server is not None:
            await self.server.close()
        if self.sync is not None:
            self.sync.close()
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
        if self.learning is not None:
            await asyncio.to_thread(self.learning.close)

    # -- background jobs ----------------------------------------------------------------

    async def reload_settings(self) -> None:
        """Re-read settings.json and apply it; rebuild the engine only if it must change."""
        assert self.server is not None
        new = effective_settings(load_settings(self.home), self.options)
        old, self.settings = self.settings, new
        state = self.server.state
        if new.strict_ie != old.strict_ie:
            await self._rebuild(new)
        config = PolicyConfig.from_settings(new)
        if self.learning is not None:
            await asyncio.to_thread(self.learning.reload, new)
            config = self.learning.with_learned(config)
        state.config = config
        if self.log is not None:
            self.log.retention_days = new.log_retention_days
        logger.info("settings reloaded")

    async def refresh_lists(self) -> bool:
        """Run one update round; swap in a new engine when a list changed."""
        assert self.server is not None
        if self.updater is None:
            return False
        results = await asyncio.to_thread(self.updater)
        if not _changed(results):
            return False
        await self._rebuild(self.settings)
        logger.info("lists updated; new engine in use")
        return True

    async def refresh_engine(self) -> bool:
        """Rebuild and swap the engine if the enabled lists changed since it was built.

        `trackguard lists enable/disable/add/remove` (run from another process) change
        what `engine_key` returns; this notices within `lists_poll` seconds.
        """
        if self.engine_key is None:
            return False
        key = await asyncio.to_thread(self.engine_key, self.settings)
        if key == self._key:
            return False
        await self._rebuild(self.settings, key)
        logger.info("enabled lists changed; new engine in use")
        return True

    async def _rebuild(self, settings: Settings, key: str | None = None) -> None:
        """Build the next engine aside (in a thread), then swap it in with one assignment."""
        assert self.server is not None
        if key is None and self.engine_key is not None:
            key = await asyncio.to_thread(self.engine_key, settings)
        matcher = await asyncio.to_thread(self.engine_factory, settings)
        self.server.state.matcher = matcher  # one reference assignment: atomic for requests
        if self.learning is not None:
            self.learning.matcher = matcher
        self._key = key
        _freeze_heap()

    async def _watch_settings(self) -> None:
        while True:
            await asyncio.sleep(self.options.settings_poll)
            mtime = self._mtime()
            if mtime != self._settings_mtime:
                self._settings_mtime = mtime
                try:
                    await self.reload_settings()
                except SettingsError as exc:
                    # A typo in a hand-edited file must not drop the user's choices.
                    logger.warning("%s; keeping the last good settings", exc)
                except Exception:
                    logger.exception("could not apply new settings; keeping the old ones")

    async def _watch_lists(self) -> None:
        while True:
            await asyncio.sleep(self.options.lists_poll)
            try:
                await self.refresh_engine()
            except Exception:
                logger.exception("could not apply the changed lists; keeping the current ones")

    async def _update_lists(self) -> None:
        while True:
            try:
                await self.refresh_lists()
            except Exception:
                logger.exception("list update failed; keeping the current lists")
            await asyncio.sleep(self.options.update_interval)
