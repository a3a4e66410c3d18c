"""The running service: settings reload, list updates with an atomic engine swap, stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from proxy_helpers import FakeMatcher

from trackguard.proxy.policy import Layer
from trackguard.proxy.service import ProxyOptions, ProxyService, effective_settings
from trackguard.settings import Settings, load_settings, save_settings


class Result:
    def __init__(self, changed: bool) -> None:
        self.changed = changed


def test_effective_settings_overrides() -> None:
    saved = Settings(dnt=True, gpc=False)
    assert effective_settings(saved, ProxyOptions()) == saved
    eff = effective_settings(saved, ProxyOptions(dnt=False, gpc=True))
    assert (eff.dnt, eff.gpc) == (False, True)


def test_service_reloads_settings_and_swaps_engines(tmp_path: Path) -> None:
    built: list[FakeMatcher] = []
    rounds: list[list[Result]] = [[], [Result(False)], [Result(True)]]

    def factory(settings: Settings) -> FakeMatcher:
        built.append(FakeMatcher("-d tracker.test\n" if len(built) == 0 else "-d other.test\n"))
        return built[-1]

    def updater() -> list[Result]:
        return rounds.pop(0) if rounds else []

    async def scenario() -> None:
        service = ProxyService(
            ProxyOptions(
                host="127.0.0.1", port=0, gpc=True, settings_poll=0.05, update_interval=3600
            ),
            home=tmp_path,
            engine_factory=factory,
            updater=updater,
        )
        server = await service.start()
        assert server.state.config.signals.gpc  # --gpc overrides the saved setting
        for _ in range(100):  # the background job runs one round at start-up
            if len(rounds) == 2:
                break
            await asyncio.sleep(0.01)
        first = server.state.matcher
        assert not await service.refresh_lists()  # nothing changed: same engine
        assert await service.refresh_lists()  # a list changed: new engine swapped in
        assert server.state.matcher is built[-1] and server.state.matcher is not first
        # A settings change made by the CLI applies without restart.
        save_settings(load_settings(tmp_path).replace(exempt_sites=("site.test",)), tmp_path)
        os.utime(tmp_path / "settings.json", (1, 1))
        for _ in range(100):
            if "site.test" in server.state.config.exempt_sites:
                break
            await asyncio.sleep(0.02)
        assert "site.test" in server.state.config.exempt_sites
        assert server.state.config.signals.gpc
        await service.stop()
        assert service.log is not None and (tmp_path / "proxy-log.sqlite3").exists()

    asyncio.run(scenario())
    assert len(built) == 2
    assert Layer.SITE_OFF.value == "site-off"


def test_update_results_from_subscriptions_are_understood() -> None:
    from trackguard.proxy.service import _changed

    class Outcome:
        def __init__(self, name: str) -> None:
            self.name = name

    class Update:
        def __init__(self, name: str) -> None:
            self.outcome = Outcome(name)

    assert not _changed([])
    assert not _changed([Update("NOT_MODIFIED"), Update("FAILED")])
    assert _changed([Update("NOT_MODIFIED"), Update("UPDATED")])
    assert _changed([object()])
