"""Fixtures for the proxy tests: origins and a running proxy, all on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from proxy_helpers import LoopThread, Origin, hosts_map, make_matcher

from trackguard.proxy.http1 import Limits
from trackguard.proxy.log import DecisionLog
from trackguard.proxy.policy import PolicyConfig
from trackguard.proxy.server import ProxyServer, ProxyState, ServerLimits
from trackguard.proxy.signals import SignalPlan

TEST_HOSTS = (
    "site.test",
    "www.site.test",
    "tracker.test",
    "cdn.tracker.test",
    "cdn.test",
    "partner.test",
    "ads.test",
    "other.test",
)


@dataclass
class Net:
    """A running proxy plus three origins: the site, a tracker and a neutral CDN."""

    loop: LoopThread
    proxy: ProxyServer
    site: Origin
    tracker: Origin
    cdn: Origin
    log: DecisionLog | None

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def url(self, host: str, path: str = "/") -> str:
        origin = (
            self.tracker
            if "tracker" in host or "ads" in host
            else (self.site if "site" in host else self.cdn)
        )
        return f"http://{host}:{origin.port}{path}"

    def configure(self, **changes: Any) -> None:
        state = self.proxy.state
        config = PolicyConfig(**{**_config_dict(state.config), **changes})
        self.loop.call(setattr, state, "config", config)

    def reset(self) -> None:
        for origin in (self.site, self.tracker, self.cdn):
            origin.seen.clear()
        self.configure(
            protection=True,
            exempt_sites=frozenset(),
            user_allow=frozenset(),
            user_block=frozenset(),
            signals=SignalPlan(),
        )


def _config_dict(config: PolicyConfig) -> dict[str, Any]:
    return {
        "protection": config.protection,
        "exempt_sites": config.exempt_sites,
        "user_allow": config.user_allow,
        "user_block": config.user_block,
        "signals": config.signals,
    }


def start_proxy(
    loop: LoopThread,
    *,
    limits: ServerLimits | None = None,
    log: DecisionLog | None = None,
    matcher: Any = None,
) -> ProxyServer:
    state = ProxyState(matcher or make_matcher(), PolicyConfig())
    proxy = ProxyServer(
        state,
        host="127.0.0.1",
        port=0,
        limits=limits,
        log=log,
        connect_to=hosts_map(TEST_HOSTS),
    )
    loop.run(proxy.start())
    return proxy


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    loop = LoopThread()
    site, tracker, cdn = Origin("site"), Origin("tracker"), Origin("cdn")
    for origin in (site, tracker, cdn):
        loop.run(origin.start())
    log = DecisionLog(tmp_path_factory.mktemp("log") / "log.sqlite3", flush_seconds=0.1)
    log.start()
    proxy = start_proxy(loop, log=log)
    yield Net(loop, proxy, site, tracker, cdn, log)
    loop.run(proxy.close())
    for origin in (site, tracker, cdn):
        loop.run(origin.close())
    log.close()
    loop.stop()


@pytest.fixture
def fresh(net: Net) -> Net:
    """The shared proxy with recordings cleared and default policy."""
    net.reset()
    return net


HOSTILE_LIMITS = ServerLimits(
    http=Limits(max_line=1024, max_head=4096, max_headers=32),
    max_connections=40,
    head_timeout=1.0,
    idle_timeout=2.0,
    connect_timeout=2.0,
    response_timeout=1.5,
    tunnel_idle_timeout=3.0,
    shutdown_grace=1.0,
)


@pytest.fixture(scope="module")
def strict_net() -> Iterator[Net]:
    """A proxy with small limits and short timeouts, for hostile-client tests."""
    loop = LoopThread()
    site, tracker, cdn = Origin("site"), Origin("tracker"), Origin("cdn")
    for origin in (site, tracker, cdn):
        loop.run(origin.start())
    proxy = start_proxy(loop, limits=HOSTILE_LIMITS)
    yield Net(loop, proxy, site, tracker, cdn, None)
    loop.run(proxy.close())
    for origin in (site, tracker, cdn):
        loop.run(origin.close())
    loop.stop()
