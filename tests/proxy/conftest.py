"""Fixtures for the proxy tests: origins and a running proxy, all on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proxy_helpers import HOSTILE_LIMITS, LoopThread, Net, Origin, start_proxy

from trackguard.proxy.log import DecisionLog


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
