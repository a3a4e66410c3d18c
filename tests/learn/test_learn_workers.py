"""Every proxy process records for the learner, and none loses another's counts.

`trackguard proxy --workers N` runs N processes; each sees the connections the kernel
gives it. They (and `learn from-har`, `learn import`) all write the learner's store, so a
save is read-modify-write in one SQLite write transaction (`store.update_state`): each
writer replays its own new evidence onto what the others saved.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from trackguard.learn import store
from trackguard.learn.feed import DAY, Exchange
from trackguard.learn.model import Mode
from trackguard.learn.service import LearnerService, LearnSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dnsserver"))
from dns_helpers import Dnsmasq, free_port

TRACKER = "px.trackco.test"
UID = "4f9c2a7e81d35b60c2e94a1f"


def _exchanges(site: str, now: float) -> list[Exchange]:
    """A navigation to `site` and its tracker pixel setting an identifier cookie."""
    page = f"https://{site}/"
    return [
        Exchange(
            time=now,
            method="GET",
            url=page,
            request_headers=(("sec-fetch-dest", "document"), ("sec-fetch-mode", "navigate")),
            status=200,
            response_headers=(("content-type", "text/html"),),
            size=5000,
        ),
        Exchange(
            time=now + 1,
            method="GET",
            url=f"https://{TRACKER}/p.gif",
            request_headers=(("referer", page), ("sec-fetch-dest", "image")),
            status=200,
            response_headers=(("content-type", "image/gif"), ("set-cookie", f"tid={UID}")),
            size=43,
        ),
    ]


def _writer(home: str, first: int, count: int, rounds: int) -> None:
    """One process like a proxy worker: counts its own sites, saves after each round."""
    settings = LearnSettings(mode=Mode.SUGGEST)
    service = LearnerService(Path(home), settings)
    now = time.time()
    per_round = count // rounds
    for r in range(rounds):
        for n in range(first + r * per_round, first + (r + 1) * per_round):
            for ex in _exchanges(f"site{n}.test", now):
                service.exchange(ex, f"site{n}.test" if "trackco" in ex.url else "")
        service.flush()


def test_two_services_on_one_store_keep_both_counts(tmp_path: Path) -> None:
    """Two workers' services: neither save overwrites the other's evidence, and each
    takes the other's counts back at its flush."""
    now = time.time()
    a = LearnerService(tmp_path, LearnSettings(), clock=lambda: now)
    b = LearnerService(tmp_path, LearnSettings(), clock=lambda: now)
    for service, sites in ((a, ["one.test", "two.test"]), (b, ["three.test", "four.test"])):
        for site in sites:
            for ex in _exchanges(site, now):
                service.exchange(ex, site if "trackco" in ex.url else "")
    assert a.state.summary("trackco.test").sites == 2
    a.flush()
    b.flush()
    stored = store.load_state(tmp_path)
    assert stored.summary("trackco.test").sites == 4
    assert b.state.summary("trackco.test").sites == 4  # b took a's counts back
    a.flush()  # nothing new: the store is left as it is
    assert store.load_state(tmp_path).summary("trackco.test").sites == 4


def test_novelty_cap_holds_across_writers(tmp_path: Path) -> None:
    """The per-site daily budget of novel domains (§B9.3) is applied to the merged state:
    two workers cannot each spend a site's budget."""
    now = 20000 * DAY + 3600.0
    services = [LearnerService(tmp_path, LearnSettings(), clock=lambda: now) for _ in range(2)]
    for i, service in enumerate(services):
        for j in range(2):  # each worker sees two novel trackers on the same site
            ex = _exchanges("site.test", now)[1]
            url = ex.url.replace("px.trackco.test", f"px.novel{i}{j}.test")
            service.exchange(dataclasses.replace(ex, url=url), "site.test")
    for service in services:
        service.flush()
    stored = store.load_state(tmp_path)
    assert len(stored.trackers) == 2 and stored.noisy == 2


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    """Four processes saving at once (each four times): every site of every one counts."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i * 8, 8, 4)) for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert store.load_state(tmp_path).summary("trackco.test").sites == 32


# -- end to end: `trackguard proxy --workers 2` ----------------------------------------------


class _Origin(BaseHTTPRequestHandler):
    """Pages for every site, and the tracker's identifier-cookie pixel."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        host = self.headers.get("Host", "").split(":")[0]
        _Origin.hits.append(host)
        if host == TRACKER:
            body, ctype = b"GIF89a", "image/gif"
        else:
            body, ctype = f"<title>{host}</title>".encode(), "text/html"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if host == TRACKER:
            self.send_header("Set-Cookie", f"tid={UID}; Max-Age=31536000; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


SITES = [f"site{n}.test" for n in range(24)]


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[Dnsmasq]:
    (tmp_path / "dns").mkdir()
    server = Dnsmasq(tmp_path / "dns")
    server.args += [f"--host-record={name},127.0.0.1" for name in (*SITES, TRACKER)]
    server.start()
    yield server
    server.stop()


def _get(proxy: int, url: str, headers: dict[str, str]) -> bytes:
    """One request on a fresh connection (so the kernel picks a worker for each)."""
    host = url.split("/")[2]
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {url} HTTP/1.1\r\nHost: {host}\r\n{lines}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy), timeout=60) as sock:
        sock.sendall(request.encode())
        out = b""
        while data := sock.recv(65536):
            out += data
    return out


def test_every_worker_records_what_it_serves(tmp_path: Path, origin: int, dns: Dnsmasq) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["TRACKGUARD_HOME"] = str(home)
    errors = (tmp_path / "proxy.stderr").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trackguard",
            "proxy",
            "--workers",
            "2",
            "--port",
            str(port),
            "--resolver",
            dns.address,
            "--no-dashboard",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "proxy.stderr").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the proxy did not start within 120 s"
                time.sleep(0.2)
        _Origin.hits.clear()
        for site in SITES:
            page = f"http://{site}:{origin}/"
            answer = _get(
                port,
                page,
                {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Accept": "text/html"},
            )
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            pixel = _get(
                port,
                f"http://{TRACKER}:{origin}/p.gif",
                {"Referer": page, "Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"},
            )
            assert pixel.startswith(b"HTTP/1.1 200"), pixel[:200]
    finally:
        proc.send_signal(signal.SIGTERM)  # the workers save what they counted
        try:
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
            errors.close()
    assert _Origin.hits.count(TRACKER) == len(SITES)
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", "learn", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    items = json.loads(done.stdout)
    item = next(i for i in items if i["domain"] == "trackco.test")
    # The kernel spread the 48 fresh connections over both workers; with only one worker
    # recording, about half the sites would be missing.
    assert item["sites"] == len(SITES), item
