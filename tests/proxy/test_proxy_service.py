"""The running service: settings reload, list updates with an atomic engine swap, stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from proxy_helpers import FakeMatcher

from trackguard.policy.decide import Layer
from trackguard.proxy.server import ProxyServer
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


def test_list_changes_made_while_running_swap_the_engine(tmp_path: Path) -> None:
    """`trackguard lists enable/disable/add/remove` change the engine key: rebuilt, swapped."""
    enabled = ["-d tracker.test\n"]
    built: list[FakeMatcher] = []
    keys = 0

    def factory(settings: Settings) -> FakeMatcher:
        built.append(FakeMatcher(enabled[0]))
        return built[-1]

    def key(settings: Settings) -> str:
        nonlocal keys
        keys += 1
        return enabled[0]

    async def scenario() -> None:
        service = ProxyService(
            ProxyOptions(host="127.0.0.1", port=0, log=False, lists_poll=0.02),
            home=tmp_path,
            engine_factory=factory,
            engine_key=key,
        )
        server = await service.start()
        first = server.state.matcher
        assert server.state.memo.check_host("tracker.test").blocked
        await asyncio.sleep(0.1)
        assert server.state.matcher is first and len(built) == 1  # unchanged key: no rebuild
        assert keys >= 3  # but it was polled
        enabled[0] = "-d other.test\n"  # e.g. `trackguard lists disable` + `add`
        for _ in range(200):
            if server.state.matcher is not first:
                break
            await asyncio.sleep(0.01)
        assert server.state.matcher is built[-1] and len(built) == 2
        assert not server.state.memo.check_host("tracker.test").blocked  # memo replaced too
        assert server.state.memo.check_host("other.test").blocked
        assert not await service.refresh_engine()  # nothing more to do
        await service.stop()

    asyncio.run(scenario())


def test_cli_list_commands_reach_a_running_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end with the real subscriptions store and engine: add, disable, enable."""
    from click.testing import CliRunner

    from trackguard.cli import main
    from trackguard.cli.proxy import _engine_factory, _engine_key

    home = tmp_path / "home"
    monkeypatch.setenv("TRACKGUARD_HOME", str(home))
    listed = tmp_path / "mine.tpl"
    listed.write_text("msFilterList\n-d tracker-live.example\n")
    key = _engine_key((), home)
    assert key is not None

    def lists(*args: str) -> None:
        result = CliRunner().invoke(main, ["lists", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output

    async def blocked_soon(server: ProxyServer, expected: bool) -> bool:
        for _ in range(300):
            if server.state.memo.check_host("tracker-live.example").blocked == expected:
                return True
            await asyncio.sleep(0.02)
        return False

    async def scenario() -> None:
        service = ProxyService(
            ProxyOptions(host="127.0.0.1", port=0, log=False, lists_poll=0.05),
            home=home,
            engine_factory=_engine_factory((), home),
            engine_key=key,
        )
        server = await service.start()
        assert not server.state.memo.check_host("tracker-live.example").blocked
        await asyncio.to_thread(lists, "add", str(listed), "--name", "mine")
        assert await blocked_soon(server, True)
        await asyncio.to_thread(lists, "disable", "mine")
        assert await blocked_soon(server, False)
        await asyncio.to_thread(lists, "enable", "mine")
        assert await blocked_soon(server, True)
        await asyncio.to_thread(lists, "remove", "mine")
        assert await blocked_soon(server, False)
        await service.stop()

    asyncio.run(scenario())


def test_list_updates_and_rule_switches_reach_a_running_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`trackguard lists update` (new list content) and `trackguard rule off/on` change
    what the engine is built from; a running proxy must pick both up (`engine_key` holds
    the lists' digests and the disabled rules)."""
    from click.testing import CliRunner

    from trackguard.cli import main
    from trackguard.cli.proxy import _engine_factory, _engine_key

    home = tmp_path / "home"
    monkeypatch.setenv("TRACKGUARD_HOME", str(home))
    listed = tmp_path / "mine.tpl"
    listed.write_text("msFilterList\n-d tracker-live.example\n")

    def tg(*args: str) -> None:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output

    tg("lists", "add", str(listed), "--name", "mine")
    key = _engine_key((), home)
    assert key is not None

    async def blocked_soon(server: ProxyServer, host: str, expected: bool) -> bool:
        for _ in range(500):
            if server.state.memo.check_host(host).blocked == expected:
                return True
            await asyncio.sleep(0.02)
        return False

    async def scenario() -> None:
        service = ProxyService(
            ProxyOptions(host="127.0.0.1", port=0, log=False, lists_poll=0.05, settings_poll=0.05),
            home=home,
            engine_factory=_engine_factory((), home),
            engine_key=key,
        )
        server = await service.start()
        assert server.state.memo.check_host("tracker-live.example").blocked
        assert not server.state.memo.check_host("updated-live.example").blocked
        # The list's content changes at its source; `lists update` fetches the new copy.
        listed.write_text("msFilterList\n-d tracker-live.example\n-d updated-live.example\n")
        os.utime(listed, (1, 1))
        await asyncio.to_thread(tg, "lists", "update", "mine")
        assert await blocked_soon(server, "updated-live.example", True)
        # One rule switched off (from any list), then on again.
        await asyncio.to_thread(tg, "rule", "off", "-d tracker-live.example")
        assert await blocked_soon(server, "tracker-live.example", False)
        assert server.state.memo.check_host("updated-live.example").blocked
        await asyncio.to_thread(tg, "rule", "on", "-d tracker-live.example")
        assert await blocked_soon(server, "tracker-live.example", True)
        await service.stop()

    asyncio.run(scenario())


def test_every_worker_records_for_the_learner_unless_told_not_to(tmp_path: Path) -> None:
    """`--workers N`: every worker records its share (the store merges them); `learn=False`
    (a listener whose traffic must not be learned from) only enforces."""
    import socket

    def factory(settings: Settings) -> FakeMatcher:
        return FakeMatcher("msFilterList\n-d tracker.test\n")

    async def record_flag(**learn: Any) -> bool:
        a, b = socket.socketpair()
        try:
            service = ProxyService(
                ProxyOptions(host="127.0.0.1", port=0, log=False),
                home=tmp_path,
                engine_factory=factory,
                peers=[a],
                **learn,
            )
            await service.start()
            assert service.learning is not None
            flag = service.learning.hook.record
            await service.stop()
            return flag
        finally:
            a.close()
            b.close()

    assert asyncio.run(record_flag(learn=True)) is True
    assert asyncio.run(record_flag(learn=False)) is False
    assert asyncio.run(record_flag()) is True  # peers and no say: record too
