"""Hostile clients: each gets a clean error and the proxy keeps serving everyone else.

Runs against a proxy with small limits (4 KiB heads, 1 s head timeout, 40 connections).
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import httpx
import pytest
from proxy_helpers import HOSTILE_LIMITS, LoopThread, Net, Origin, start_proxy


def raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def still_serving(net: Net) -> None:
    """A well-behaved client is still served (that it is served *while* hostile clients
    hold connections is `test_held_connections_do_not_hold_up_others`; no clock here)."""
    with httpx.Client(proxy=net.proxy_url, timeout=30, trust_env=False) as c:
        r = c.get(net.url("cdn.test", "/ok"))
    assert r.status_code == 200 and r.text.startswith("cdn ok")


def test_oversized_headers_get_431(strict_net: Net) -> None:
    big = b"X-Big: " + b"a" * 5000 + b"\r\n"
    out = raw(strict_net.proxy.port, b"GET http://cdn.test/ HTTP/1.1\r\n" + big + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431")
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(40))
    out = raw(strict_net.proxy.port, b"GET http://cdn.test/ HTTP/1.1\r\n" + many + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431")
    long_line = b"GET http://cdn.test/" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n"
    assert raw(strict_net.proxy.port, long_line).startswith(b"HTTP/1.1 414")
    still_serving(strict_net)


def test_garbage_request_lines_get_400(strict_net: Net) -> None:
    port = strict_net.proxy.port
    for garbage in (
        b"\x00\x01\x02\x03garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"G@T http://cdn.test/ HTTP/1.1\r\n\r\n",
        b"GET http://cdn.test/ HTTP/1.1\r\nbad header\r\n\r\n",
        b"GET http://cdn.test/ HTTP/1.1\r\n folded: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS ClientHello
        b"POST http://cdn.test/ HTTP/1.1\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"POST http://cdn.test/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"GET ftp://cdn.test/ HTTP/1.1\r\n\r\n",
    ):
        out = raw(port, garbage)
        assert out[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 501"), (garbage, out[:60])
    assert raw(port, b"GET http://cdn.test/ HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505")
    still_serving(strict_net)


def test_slowloris_is_cut_off_while_others_are_served(strict_net: Net) -> None:
    port = strict_net.proxy.port
    results: list[bytes] = []

    def slow() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                for ch in b"GET http://cdn.test/ HTTP/1.1\r\nHost: cdn.test\r\n":
                    s.sendall(bytes([ch]))
                    time.sleep(0.05)
            except OSError:
                pass
            try:
                results.append(s.recv(4096))
            except OSError:
                results.append(b"")

    threads = [threading.Thread(target=slow) for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    still_serving(strict_net)
    for t in threads:
        t.join(10)
    assert len(results) == 10
    assert all(r.startswith(b"HTTP/1.1 408") for r in results), results[:2]


def test_held_connections_do_not_hold_up_others() -> None:
    """Clients that send half a head and wait hold their connections open; another client
    is served in the meantime. Checked by state, not by time: the proxy's head timeout is
    far longer than the test, so the held connections are provably still open (no byte
    received, not closed) after the other client got its answer."""
    loop = LoopThread()
    cdn = Origin("cdn")
    loop.run(cdn.start())
    limits = dataclasses.replace(HOSTILE_LIMITS, head_timeout=300.0, idle_timeout=300.0)
    proxy = start_proxy(loop, limits=limits)
    net = Net(loop, proxy, cdn, cdn, cdn, None)
    held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=30) for _ in range(10)]
    try:
        for s in held:
            s.sendall(f"GET {net.url('cdn.test', '/held')} HTTP/1.1\r\nHost: cdn".encode())
        still_serving(net)
        for s in held:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)  # open, and nothing was answered yet
        assert proxy.connections >= len(held)
        for s in held:
            s.setblocking(True)
            s.sendall(b".test\r\n\r\n")  # the heads complete: each one is served
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
        loop.run(proxy.close())
        loop.run(cdn.close())
        loop.stop()


def test_client_disconnecting_mid_body_does_not_hurt_others(strict_net: Net) -> None:
    port = strict_net.proxy.port
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                f"POST {strict_net.url('cdn.test', '/upload')} HTTP/1.1\r\n"
                "Content-Length: 1000000\r\n\r\n".encode()
                + b"x" * 10_000
            )
            time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            f"POST {strict_net.url('cdn.test', '/upload')} HTTP/1.1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n".encode()
        )
    still_serving(strict_net)
    time.sleep(0.2)
    assert strict_net.proxy.connections <= 1


def test_connection_limit_answers_503_and_recovers(strict_net: Net) -> None:
    port = strict_net.proxy.port
    idle = []
    try:
        for _ in range(40):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(0.2)
        out = raw(port, b"GET http://cdn.test/ HTTP/1.1\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 503")
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    still_serving(strict_net)


def test_idle_keep_alive_connections_are_closed(strict_net: Net) -> None:
    with socket.create_connection(("127.0.0.1", strict_net.proxy.port), timeout=6) as s:
        s.sendall(f"GET {strict_net.url('cdn.test', '/x')} HTTP/1.1\r\n\r\n".encode())
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert s.recv(4096) == b""  # closed by the proxy after the idle timeout
        assert 1.0 < time.monotonic() - started < 4.0


def test_silent_tunnel_is_closed_after_idle_timeout(strict_net: Net) -> None:
    port = strict_net.proxy.port
    with socket.create_connection(("127.0.0.1", port), timeout=8) as s:
        s.sendall(f"CONNECT cdn.test:{strict_net.cdn.port} HTTP/1.1\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert s.recv(4096) == b""
        assert time.monotonic() - started < 6
