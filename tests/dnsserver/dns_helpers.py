"""Real DNS peers for the DNS tests: Debian's dnsmasq as the upstream, dig as the client.

The test zone (all under `.test`, served by dnsmasq on 127.0.0.1):

    news.test                   A     127.0.0.2          a first-party site
    metrics.news.test           CNAME news-test.trackercdn.test   (a cloaked tracker)
    news-test.trackercdn.test   A     127.0.0.5
    alias.news.test             CNAME cdn.news.test      (a harmless alias)
    cdn.news.test               A     127.0.0.3
    tracker.test                A 127.0.0.6, AAAA ::6    listed by name
    big.test                    60 A records             answers past 512 bytes: TC, then TCP
    anything else under .test   NXDOMAIN

dnsmasq logs every query it receives, so a test can prove a blocked name never left.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

LIST_TEXT = "msFilterList\n-d tracker.test\n-d trackercdn.test\n"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class Dnsmasq:
    def __init__(self, folder: Path) -> None:
        if shutil.which("dnsmasq") is None:
            pytest.fail("dnsmasq is missing: .ci/run installs Debian's dnsmasq-base")
        self.folder = folder
        self.port = free_port()
        self.log = folder / "queries.log"
        hosts = folder / "big.hosts"
        hosts.write_text("".join(f"10.0.0.{i} big.test\n" for i in range(1, 61)))
        self.args = [
            "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--listen-address=127.0.0.1", "--bind-interfaces", f"--port={self.port}",
            "--pid-file=", "--local=/test/", "--user=root", "--group=root", "--local-ttl=60",
            "--host-record=news.test,127.0.0.2",
            "--cname=metrics.news.test,news-test.trackercdn.test",
            "--host-record=news-test.trackercdn.test,127.0.0.5",
            "--cname=alias.news.test,cdn.news.test",
            "--host-record=cdn.news.test,127.0.0.3",
            "--host-record=tracker.test,127.0.0.6,::6",
            f"--addn-hosts={hosts}", "--log-queries", f"--log-facility={self.log}",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if dig(self.address, "news.test", "+short").strip() == "127.0.0.2":
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail("dnsmasq did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def queries(self, name: str) -> int:
        """How many queries for `name` reached dnsmasq."""
        if not self.log.exists():
            return 0
        return sum(f" {name} from " in line for line in self.log.read_text().splitlines())


def dig(server: str, *args: str, timeout: float = 3) -> str:
    host, _, port = server.rpartition(":")
    out = subprocess.run(
        ["dig", f"@{host}", "-p", port, "+tries=1", f"+time={int(timeout)}", *args],
        capture_output=True,
        text=True,
        timeout=timeout * 4 + 5,
        env={**os.environ, "HOME": "/nonexistent"},  # no ~/.digrc
    )
    return out.stdout


class ServerThread:
    """A `DnsServer` running on its own event loop in a thread, for dig to query."""

    def __init__(self, server: object) -> None:
        import asyncio
        import threading

        from trackguard.dnsserver.server import DnsServer

        assert isinstance(server, DnsServer)
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        address = self.run(server.start())
        assert isinstance(address, tuple)
        self.address = f"{address[0]}:{address[1]}"

    def run(self, coro: object) -> object:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)  # type: ignore[arg-type]

    def close(self) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
