"""The DNT-policy exemption (learning.md §B7.4) against real loopback HTTPS servers.

Three hosts of one learned tracker: `good.` serves a policy whose SHA-1 is in the (test)
hash set, `bad.` serves another text, `px.` has none (404). A learned block leaves the
exact host that posts the policy alone once it was checked, keeps the others blocked, and
`learn show` says why. The check itself carries no cookie and no Referer, runs only for
learned decisions in `auto` mode, at most once per second, and again only after 1-7 days.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
from proxy_helpers import self_signed_cert

from trackguard.learn import store
from trackguard.learn.core import LearnState, TrackerRow
from trackguard.learn.dnt import POLICY_HASHES, DntChecker, fetch_policy, is_known_policy
from trackguard.learn.model import Kind, Mode, Remedy, Source
from trackguard.learn.service import (
    LearnedPolicy,
    LearnerService,
    LearnSettings,
    save_learn_settings,
    today,
)

POLICY = b"Do Not Track Compliance Policy (test text)\n\nVersion 1.0\n"
OTHER = b"We respect your privacy. Mostly.\n"
TEST_HASHES = frozenset({hashlib.sha1(POLICY).hexdigest()})


class _Server(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        host = self.headers.get("Host", "").split(":")[0]
        _Server.seen.append((host, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = {"good.trackco.test": POLICY, "bad.trackco.test": OTHER}.get(host)
        if self.path != "/.well-known/dnt-policy.txt" or body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https(tmp_path: Path) -> Iterator[functools.partial[bytes | None]]:
    """A TLS server for *.trackco.test on 127.0.0.1; yields the fetch function for it."""
    cert, key = self_signed_cert(tmp_path, "trackco.test", "DNS:*.trackco.test")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Server.seen.clear()
    client = ssl.create_default_context(cafile=str(cert))
    yield functools.partial(
        fetch_policy, address="127.0.0.1", port=server.server_address[1], verify=client
    )
    server.shutdown()
    server.server_close()


def _wait_idle(checker: DntChecker) -> None:
    deadline = time.monotonic() + 60
    while not checker.idle():
        assert time.monotonic() < deadline, "DNT checks did not finish within 60 s"
        time.sleep(0.05)


def _decided(home: Path, day: int) -> None:
    """trackco.test learned and decided `block` (evidence over 3 days, 4 sites)."""
    state = LearnState(recomputed_day=day)
    state.trackers["trackco.test"] = TrackerRow(
        kinds=int(Kind.COOKIE | Kind.PIXEL),
        site_count=4,
        first_day=day - 2,
        last_day=day,
        decision=Remedy.BLOCK,
        decided_day=day - 1,
        source=Source.LEARNED,
    )
    store.save_state(home, state)


def test_fetch_sends_no_cookie_or_referer_and_compares_hashes(
    https: functools.partial[bytes | None],
) -> None:
    assert https("good.trackco.test") == POLICY
    assert https("bad.trackco.test") == OTHER
    assert https("px.trackco.test") is None  # 404
    assert is_known_policy(POLICY, TEST_HASHES) and not is_known_policy(OTHER, TEST_HASHES)
    assert not is_known_policy(POLICY)  # the shipped set holds only the EFF texts' hashes
    assert len(POLICY_HASHES) == 7 and all(len(h) == 40 for h in POLICY_HASHES)
    for host, path, headers in _Server.seen:
        assert path == "/.well-known/dnt-policy.txt" and host.endswith(".trackco.test")
        assert "cookie" not in headers and "referer" not in headers


def test_learned_block_exempts_the_exact_host_posting_the_policy(
    https: functools.partial[bytes | None], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    now = time.time()
    day = today(now)
    _decided(home, day)
    save_learn_settings(home, LearnSettings(mode=Mode.AUTO))
    checker = DntChecker(https, TEST_HASHES, interval=0.0)
    service = LearnerService(home, LearnSettings(mode=Mode.AUTO), clock=lambda: now, dnt=checker)
    layer = LearnedPolicy(service)
    try:
        hosts = ("good.trackco.test", "bad.trackco.test", "px.trackco.test")
        # Unchecked hosts are blocked while the check runs (as Privacy Badger does).
        assert all((m := layer.match(h, "/p.gif")) is not None and m.block for h in hosts)
        _wait_idle(checker)
        assert layer.match("good.trackco.test", "/p.gif") is None  # exempt
        for host in hosts[1:]:
            found = layer.match(host, "/p.gif")
            assert found is not None and found.block
            assert found.decision.rule == "-d trackco.test"
            assert found.decision.list == "personalized"
        # Checked once each: further requests the same day ask nothing.
        for host in hosts:
            layer.match(host, "/x")
        _wait_idle(checker)
        assert sorted(h for h, _, _ in _Server.seen) == sorted(hosts)
        # An exact host: a sibling name of the compliant one is not exempt.
        found = layer.match("www.good.trackco.test", "/")
        assert found is not None and found.block
        service.flush()
    finally:
        checker.close()

    stored = store.load_state(home)
    assert stored.dnt["good.trackco.test"][0] is True
    assert stored.dnt["bad.trackco.test"][0] is False
    assert all(day + 1 <= next_day <= day + 7 for _, next_day in stored.dnt.values())

    env = {**os.environ, "TRACKGUARD_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "trackguard", "learn", "show", "trackco.test", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    shown = json.loads(done.stdout)
    assert shown["dnt_policy"]["good.trackco.test"] is True
    assert shown["dnt_policy"]["bad.trackco.test"] is False
    assert shown["layer"] == "learned"
    assert "except good.trackco.test" in shown["layer_reason"]
    assert "Do Not Track policy" in shown["layer_reason"]
    text = subprocess.run(
        [sys.executable, "-m", "trackguard", "learn", "show", "trackco.test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "good.trackco.test posts it (exempt)" in text


def test_recheck_only_when_due(https: functools.partial[bytes | None], tmp_path: Path) -> None:
    """A stored result holds until its re-check day; then the host is fetched again."""
    home = tmp_path / "home"
    now = [time.time()]
    day = today(now[0])
    _decided(home, day)
    checker = DntChecker(https, TEST_HASHES, interval=0.0)
    service = LearnerService(home, LearnSettings(mode=Mode.AUTO), clock=lambda: now[0], dnt=checker)
    layer = LearnedPolicy(service)
    try:
        layer.match("good.trackco.test", "/")
        _wait_idle(checker)
        assert layer.match("good.trackco.test", "/") is None
        next_day = service.state.dnt["good.trackco.test"][1]
        now[0] += (next_day - day) * 86400.0  # the re-check day
        service.state.trackers["trackco.test"].last_day = next_day  # still seen
        assert layer.match("good.trackco.test", "/") is None  # still exempt meanwhile
        _wait_idle(checker)
        assert [h for h, _, _ in _Server.seen] == ["good.trackco.test"] * 2
    finally:
        checker.close()


def test_no_check_outside_auto_or_for_accepted_suggestions(
    https: functools.partial[bytes | None], tmp_path: Path
) -> None:
    """§B7.4: only learned decisions, only in `auto`. An accepted suggestion is the user's
    rule: it is enforced in every mode and never exempted or checked."""
    home = tmp_path / "home"
    now = time.time()
    _decided(home, today(now))
    checker = DntChecker(https, TEST_HASHES, interval=0.0)
    try:
        suggest = LearnerService(home, LearnSettings(), clock=lambda: now, dnt=checker)
        assert LearnedPolicy(suggest).match("good.trackco.test", "/") is None
        store.save_verdict(home, "trackco.test", "accepted", "block", today(now))
        for mode in (Mode.SUGGEST, Mode.AUTO):
            service = LearnerService(home, LearnSettings(mode=mode), clock=lambda: now, dnt=checker)
            service.state.record_dnt("good.trackco.test", True, today(now) + 3)
            found = LearnedPolicy(service).match("good.trackco.test", "/")
            assert found is not None and found.block  # not exempt: the user's choice
        # A wrongly queued check is either still waiting or already on the server.
        assert checker.idle() and checker.checked == 0 and _Server.seen == []
    finally:
        checker.close()


def test_one_check_per_interval() -> None:
    """The rate limit, on a fake clock: fetches start at least `interval` apart."""
    clock = [100.0]
    starts: list[float] = []

    def fetch(fqdn: str) -> bytes | None:
        starts.append(clock[0])
        return None

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    checker = DntChecker(fetch, interval=1.0, monotonic=lambda: clock[0], sleep=sleep)
    try:
        for n in range(4):
            assert checker.request(f"h{n}.trackco.test")
        assert not checker.request("h3.trackco.test") or checker.idle()  # queued once
        _wait_idle(checker)
    finally:
        checker.close()
    assert len(starts) == 4
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(starts))
    assert sorted(checker.results()) == [(f"h{n}.trackco.test", False) for n in range(4)]


def test_checks_are_purged_with_their_tracker_and_wiped(tmp_path: Path) -> None:
    day = today()
    _decided(tmp_path, day)
    state = store.load_state(tmp_path)
    state.record_dnt("good.trackco.test", True, day + 3)
    state.record_dnt("other.gone.test", False, day + 3)
    store.save_state(tmp_path, state)
    state = store.load_state(tmp_path)
    state.purge(day + 1, LearnSettings().config())
    assert set(state.dnt) == {"good.trackco.test"}  # no decided tracker for the other
    store.save_state(tmp_path, state)
    store.wipe(tmp_path)
    assert store.load_state(tmp_path).dnt == {}
    raw = (tmp_path / store.LEARN_DB).read_bytes()
    assert b"good.trackco.test" not in raw
