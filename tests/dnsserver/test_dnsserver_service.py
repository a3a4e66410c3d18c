"""The DNS service applies changed settings and lists while it runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from trackguard.dnsserver.server import DnsOptions
from trackguard.dnsserver.service import DnsService
from trackguard.engine import Engine
from trackguard.settings import Settings


def test_refresh_applies_settings_and_list_changes(tmp_path: Path) -> None:
    lists = {"text": "msFilterList\n-d tracker.test\n"}
    builds: list[str] = []

    def factory(settings: Settings) -> Engine:
        builds.append(lists["text"])
        return Engine.from_text(lists["text"])

    service = DnsService(
        DnsOptions(listen=("127.0.0.1", 0), upstreams=(("127.0.0.1", 9),)),
        home=tmp_path,
        engine_factory=factory,
        engine_key=lambda settings: lists["text"],
        log=None,
        poll=3600,
    )

    async def scenario() -> None:
        await service.start()
        assert service.server is not None
        state = service.server.state
        assert state.matcher.check_host("tracker.test").blocked
        (tmp_path / "settings.json").write_text(json.dumps({"user_allow": ["tracker.test"]}))
        await service.refresh()
        assert state.config.user_allow == frozenset({"tracker.test"})
        lists["text"] = "msFilterList\n-d other.test\n"
        await service.refresh()
        assert state.matcher.check_host("other.test").blocked
        assert not state.matcher.check_host("tracker.test").blocked
        await service.refresh()  # nothing changed: no rebuild
        await service.stop()

    asyncio.run(scenario())
    assert len(builds) == 2
