"""Fixtures for the DNS tests: a real dnsmasq upstream on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dns_helpers import Dnsmasq


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    server = Dnsmasq(tmp_path_factory.mktemp("dnsmasq"))
    server.start()
    yield server
    server.stop()
