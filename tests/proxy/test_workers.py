"""Worker processes: shared port, replicated first-party attribution, supervision."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable

import httpx
from proxy_helpers import TEST_HOSTS, LoopThread, Origin, hosts_map, make_matcher

from trackguard.policy.attribution import NavigationRecord, PageContext
from trackguard.policy.decide import PolicyConfig
from trackguard.proxy.server import ProxyServer, ProxyState
from trackguard.proxy.workers import (
    MAX_EVENT,
    RecordSync,
    decode_event,
    default_workers,
    encode_event,
    listen_sockets,
    run_workers,
)

BROWSER_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)


async def _until(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        await asyncio.sleep(0.005)
    return check()


def test_events_round_trip_and_bad_ones_are_refused() -> None:
    event = ("frame", "http://cdn.test:81", "site.test", "http://site.test")
    assert decode_event(encode_event(event)) == event
    assert decode_event(b"\xff\xfe") is None
    assert decode_event(b"x" * (MAX_EVENT + 1)) is None
    record = NavigationRecord()
    for bad in [("page",), ("page", "", "http://a.test"), ("nonsense", "a", "b"), ("frame", "a")]:
        record.apply(bad)
    assert len(record) == 0
    assert 1 <= default_workers() <= 4


def test_record_sync_replicates_pages_frames_and_sliding_expiry() -> None:
    now = [1000.0]
    a, b = NavigationRecord(clock=lambda: now[0]), NavigationRecord(clock=lambda: now[0])

    async def scenario() -> None:
        left, right = _pair()
        sync_a, sync_b = RecordSync(a, [left]), RecordSync(b, [right])
        sync_a.start()
        sync_b.start()
        try:
            a.engage("http://www.site.test/page.html")
            assert await _until(lambda: b.context_for("http://site.test") is not None)
            context = b.context_for("http://www.site.test")
            assert context == PageContext("site.test", "http://www.site.test")
            # A frame seen by the other worker maps back to the page, here too.
            b.note_frame("http://cdn.test/frame.html", context)
            assert await _until(lambda: a.context_for("http://cdn.test") is not None)
            assert a.context_for("http://cdn.test") == context
            # Use within a minute is not broadcast (one datagram per site and minute)...
            sent = sync_a.sent
            now[0] += 30
            assert a.context_for("http://www.site.test") is not None
            assert sync_a.sent == sent
            # ...but later use is, so the sibling keeps the context alive as well.
            now[0] += 25 * 60
            assert a.context_for("http://www.site.test") is not None
            assert sync_a.sent == sent + 1
            await asyncio.sleep(0.05)
            now[0] += 10 * 60  # 35 min after b's own engage, 10 after the touch
            assert b.context_for("http://www.site.test") is not None
            assert sync_b.dropped == sync_a.dropped == 0
        finally:
            sync_a.close()
            sync_b.close()
        assert a.publish is None

    asyncio.run(scenario())


def _proxy(loop: LoopThread, record: NavigationRecord) -> ProxyServer:
    proxy = ProxyServer(
        ProxyState(make_matcher(), PolicyConfig(), record),
        host="127.0.0.1",
        port=0,
        connect_to=hosts_map(TEST_HOSTS),
    )
    loop.run(proxy.start())
    return proxy


def test_attribution_survives_requests_landing_on_another_worker() -> None:
    """The page is loaded through one worker, its tracker request arrives at the other."""
    loop = LoopThread()
    site, tracker = Origin("site"), Origin("tracker")
    for origin in (site, tracker):
        loop.run(origin.start())
    shared_a, shared_b = NavigationRecord(), NavigationRecord()
    alone_a, alone_b = NavigationRecord(), NavigationRecord()
    left, right = _pair()
    syncs = [RecordSync(shared_a, [left]), RecordSync(shared_b, [right])]
    for sync in syncs:
        loop.call(sync.start)
    proxies = [_proxy(loop, r) for r in (shared_a, shared_b, alone_a, alone_b)]
    page = f"http://site.test:{site.port}/page.html"
    # A URL-pattern rule: unattributed requests are judged on the host alone (§A.7 item 4,
    # revised), so only a worker that knows the page applies it.
    script = f"http://ads.test:{tracker.port}/banner/t.js"
    try:
        results = []
        for first, second in (proxies[:2], proxies[2:]):
            with httpx.Client(proxy=f"http://127.0.0.1:{first.port}", trust_env=False) as c:
                assert c.get(page, headers={"Accept": BROWSER_HTML}).status_code == 200
            time.sleep(0.05)
            with httpx.Client(proxy=f"http://127.0.0.1:{second.port}", trust_env=False) as c:
                results.append(c.get(script, headers={"Referer": page}))
        shared, alone = results
        assert shared.headers["x-trackguard-blocked"].startswith("-d ads.test /banner/")
        # Without sharing, the second worker never saw the page: host rules only.
        assert "x-trackguard-blocked" not in alone.headers
        assert len(tracker.seen) == 1
    finally:
        for proxy in proxies:
            loop.run(proxy.close())
        for sync in syncs:
            loop.call(sync.close)
        for origin in (site, tracker):
            loop.run(origin.close())
        loop.stop()


def test_listen_sockets_share_one_port() -> None:
    sockets = listen_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1 and ports.pop() != 0
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_run_workers_serves_on_every_socket_and_stops_on_sigterm() -> None:
    """Real forked workers: each answers on the shared port; SIGTERM stops them all."""
    sockets = listen_sockets("127.0.0.1", 0, 2)
    port = sockets[0].getsockname()[1]

    def worker(index: int, sock: socket.socket, peers: list[socket.socket]) -> int:
        async def serve() -> None:
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

            async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await reader.readline()
                writer.write(f"{os.getpid()} {len(peers)}\n".encode())
                await writer.drain()
                writer.close()

            server = await asyncio.start_server(answer, sock=sock)
            await stop.wait()
            server.close()

        asyncio.run(serve())
        return 0

    pid = os.fork()
    if pid == 0:  # the supervisor, as `trackguard proxy --workers 2` runs it
        os._exit(run_workers(sockets, worker))
    for s in sockets:
        s.close()
    seen: set[str] = set()
    try:
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"hi\n")
                seen.add(conn.recv(100).decode())
            if len(seen) == 2:
                break
        assert len(seen) == 2  # both workers accept on the one port
        assert all(line.endswith(" 1\n") for line in seen)  # each has one sibling socket
    finally:
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for line in seen:
        worker_pid = int(line.split()[0])
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {worker_pid} still running")
