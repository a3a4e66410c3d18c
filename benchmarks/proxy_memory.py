"""Proxy memory under hostile upstreams: floods to a client that does not read (issue 9).

A proxy in a child process (fast path or general path) relays to a hostile loopback
upstream that floods, as fast as the proxy takes it, one of:

- trailers: `0\\r\\n` and then endless 1 KB trailer lines (before the fix: 50 MiB -> 2.1 GiB);
- headers: a status line and endless header lines, never ending the head;
- body-length / body-chunked: an endless length-delimited or chunked body;

to N clients that send one request and never read. The proxy's resident memory (RSS, from
/proc) is sampled during each flood; the check passes when the peak stays under
`--limit-mib` (100) above the idle figure taken after a warm-up request. Exit code 1
otherwise. Everything listens on 127.0.0.1; every process started here is stopped.

    python benchmarks/proxy_memory.py                 # 8 s per flood, 10 clients, both paths
    python benchmarks/proxy_memory.py --seconds 3 --clients 4 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

FLOODS = ("trailers", "headers", "body-length", "body-chunked")
LINE = b"X-Pad: " + b"a" * 1017 + b"\r\n"  # 1 KiB


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the hostile upstream (a thread with its own loop) -------------------------------------


async def _flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        kind = head.split(b" ", 2)[1].decode().strip("/")
        if kind == "warm":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            return
        if kind == "trailers":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
            piece = LINE * 64
        elif kind == "headers":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            piece = LINE * 64
        elif kind == "body-length":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n")
            piece = b"x" * 65536
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        while True:
            writer.write(piece)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        pass
    finally:
        writer.transport.abort()


def start_upstream() -> int:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(_flood, "127.0.0.1", 0))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return int(server.sockets[0].getsockname()[1])


# -- the proxy under test (child process) -----------------------------------------------------


def serve(port: int, fast: bool) -> None:
    """Child: a ProxyServer with an empty list, as `trackguard proxy` builds it."""
    from trackguard.engine import Engine
    from trackguard.policy.decide import PolicyConfig
    from trackguard.proxy.server import ProxyServer, ProxyState

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        engine = Engine.from_text("msFilterList\n-d tracker.example\n", format="tpl")
        proxy = ProxyServer(
            ProxyState(engine, PolicyConfig()), host="127.0.0.1", port=port, fast_path=fast
        )
        await proxy.start()
        await proxy.serve_forever()

    asyncio.run(main())


def run_path(fast: bool, seconds: float, clients: int, upstream: int) -> dict[str, object]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--fast" if fast else "--general"]
    )
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)

        def request(path: str) -> bytes:
            return (f"GET http://127.0.0.1:{upstream}/{path} HTTP/1.1\r\nHost: x\r\n\r\n").encode()

        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request("warm"))
            s.recv(4096)
        time.sleep(0.5)
        idle = rss_mib(child.pid)
        result: dict[str, object] = {"path": "fast" if fast else "general", "idle_mib": idle}
        for flood in FLOODS:
            socks = []
            for _ in range(clients):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
                s.sendall(request(flood))
                socks.append(s)
            peak = idle
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                peak = max(peak, rss_mib(child.pid))
                time.sleep(0.1)
            for s in socks:
                s.close()
            time.sleep(0.5)
            result[flood] = {"peak_mib": round(peak, 1), "above_idle_mib": round(peak - idle, 1)}
        result["after_mib"] = round(rss_mib(child.pid), 1)
        return result
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="flood duration each")
    parser.add_argument("--clients", type=int, default=10, help="non-reading clients")
    parser.add_argument("--limit-mib", type=float, default=100.0)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fast", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--general", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, fast=not args.general)
        return 0
    upstream = start_upstream()
    results = [run_path(fast, args.seconds, args.clients, upstream) for fast in (True, False)]
    worst = 0.0
    print(f"{'path':8} {'flood':13} {'idle MiB':>9} {'peak MiB':>9} {'above idle':>11}")
    for result in results:
        for flood in FLOODS:
            entry = result[flood]
            assert isinstance(entry, dict)
            worst = max(worst, entry["above_idle_mib"])
            print(
                f"{result['path']:8} {flood:13} {result['idle_mib']:9.1f} "
                f"{entry['peak_mib']:9.1f} {entry['above_idle_mib']:11.1f}"
            )
    ok = worst < args.limit_mib
    print(f"worst growth {worst:.1f} MiB (limit {args.limit_mib:.0f}): {'ok' if ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
