"""The planner (`proxy/exchange.py`) and the promise it exists for: the fast path, the
stream path and the mitmproxy addon give the same request the same blocked answer and the
same decision-log row.

The proxies are real (loopback sockets, real origins, real SQLite logs); the addon runs
its real hooks on flow objects (mitmproxy's own when installed).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from proxy_helpers import (
    ABP_LIST,
    TPL_LIST,
    LoopThread,
    Origin,
    mitm_flow,
    mitmproxy_http,
    start_proxy,
)

from trackguard.model import RequestType
from trackguard.policy.decide import Layer, PolicyConfig, Verdict
from trackguard.proxy import intercept
from trackguard.proxy.exchange import HeadRequest, Planner, ProxyState, type_name
from trackguard.proxy.http1 import Framing, parse_absolute_target, parse_request_head
from trackguard.proxy.log import DecisionLog, LogEntry, read_log

#: A cross-site subresource without a known page: judged as third-party (§A.7 item 4).
FIELDS = [
    ("Accept", "*/*"),
    ("Origin", "http://site.test"),
    ("Sec-Fetch-Site", "cross-site"),
    ("Sec-Fetch-Mode", "no-cors"),
    ("Sec-Fetch-Dest", "script"),
]


def _row(entry: LogEntry) -> LogEntry:
    """A log row without its time."""
    return replace(entry, time=0.0)


def _split(data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, fields (without the framing ones the transports add) and body."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
    kept = [(k, v) for k, v in fields if k.lower() not in ("content-length", "connection")]
    return int(lines[0].split(" ")[1]), kept, body  # type: ignore[return-value]


def _exchange(port: int, data: bytes) -> bytes:
    """Send one request and read one response (Content-Length framed, or until close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf or len(buf.partition(b"\r\n\r\n")[2]) < _length(buf):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def _length(buf: bytes) -> int:
    for line in buf.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


class Paths:
    """The three ways in, each with its own decision log, one engine between them."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        lists = [tmp / "test.tpl", tmp / "params.txt"]
        lists[0].write_text(TPL_LIST)
        lists[1].write_text(ABP_LIST)
        home = tmp / "home"
        home.mkdir()
        monkeypatch.setenv(intercept.ENV_HOME, str(home))
        monkeypatch.setenv(intercept.ENV_LISTS, ":".join(str(p) for p in lists))
        monkeypatch.setenv(intercept.ENV_PASSTHROUGH, "tracker.test")
        monkeypatch.setenv(intercept.ENV_LOG, "1")
        self.http = mitmproxy_http(monkeypatch)
        from trackguard.proxy.mitm_addon import TrackguardAddon

        self.addon = TrackguardAddon()
        self.addon_log = home / "proxy-log.sqlite3"
        matcher = self.addon.planner.state.matcher
        self.loop = LoopThread()
        self.cdn = Origin("cdn")
        self.loop.run(self.cdn.start())
        self.logs = {name: tmp / f"{name}.sqlite3" for name in ("fast", "stream")}
        self.writers = {name: DecisionLog(path) for name, path in self.logs.items()}
        self.proxies = {
            name: start_proxy(
                self.loop, log=self.writers[name], matcher=matcher, fast_path=name == "fast"
            )
            for name in self.logs
        }

    def rows(self) -> dict[str, list[LogEntry]]:
        self.addon.planner.log.flush_now()  # type: ignore[union-attr]
        for writer in self.writers.values():
            writer.flush_now()
        paths = {**self.logs, "addon": self.addon_log}
        return {name: [_row(e) for e in read_log(path)] for name, path in paths.items()}

    def close(self) -> None:
        for proxy in self.proxies.values():
            self.loop.run(proxy.close())
        self.loop.run(self.cdn.close())
        self.loop.stop()
        self.addon.done()


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    p = Paths(tmp_path, monkeypatch)
    yield p
    p.close()


def _request(url: str) -> bytes:
    fields = "".join(f"{k}: {v}\r\n" for k, v in FIELDS)
    return f"GET {url} HTTP/1.1\r\nHost: h\r\n{fields}\r\n".encode()


def test_all_three_paths_answer_and_log_a_blocked_request_alike(paths: Paths) -> None:
    url = f"http://tracker.test:{paths.cdn.port}/t.js?uid=42"
    answers = {
        name: _split(_exchange(proxy.port, _request(url))) for name, proxy in paths.proxies.items()
    }
    flow = mitm_flow(paths.http, "GET", url, FIELDS)
    paths.addon.request(flow)
    response = flow.response
    answers["addon"] = (response.status_code, response.headers.items(), response.content)
    status, fields, body = answers["fast"]
    assert status == 200 and ("X-Trackguard-Blocked", "-d tracker.test (test.tpl:3)") in fields
    assert ("Cache-Control", "no-store") in fields and body == b""
    assert answers["stream"] == answers["fast"] == answers["addon"]

    rows = paths.rows()
    expected = LogEntry(
        0.0,
        "http",
        "block",
        "list-block",
        "script",
        "",
        "tracker.test",
        "-d tracker.test",
        "test.tpl",
        3,
        f"http://tracker.test:{paths.cdn.port}/t.js",  # no query
    )
    assert rows == {"fast": [expected], "stream": [expected], "addon": [expected]}


def test_strip_rows_name_the_removeparam_rule_on_all_three_paths(paths: Paths) -> None:
    url = f"http://cdn.test:{paths.cdn.port}/lib.js?utm_source=mail&v=1"
    for proxy in paths.proxies.values():
        assert b" 200 OK" in _exchange(proxy.port, _request(url))
    assert [s.target for s in paths.cdn.seen] == ["/lib.js?v=1", "/lib.js?v=1"]
    flow = mitm_flow(paths.http, "GET", url, FIELDS)
    paths.addon.request(flow)
    assert flow.response is None and flow.request.url.endswith("/lib.js?v=1")

    rows = paths.rows()
    expected = LogEntry(
        0.0,
        "http",
        "strip",
        "no-match",
        "script",
        "",
        "cdn.test",
        "$removeparam=utm_source",
        "params.txt",
        2,
    )
    assert rows == {"fast": [expected], "stream": [expected], "addon": [expected]}


def test_a_refused_tunnel_reads_the_same_from_the_proxy_and_the_addon(paths: Paths) -> None:
    answers = {
        name: _split(_exchange(proxy.port, b"CONNECT tracker.test:443 HTTP/1.1\r\n\r\n"))
        for name, proxy in paths.proxies.items()
    }
    flow = mitm_flow(paths.http, "CONNECT", "https://tracker.test:443/", [])
    paths.addon.http_connect(flow)
    response = flow.response
    answers["addon"] = (response.status_code, response.headers.items(), response.content)
    status, fields, body = answers["fast"]
    assert status == 403 and ("Cache-Control", "no-store") in fields
    assert body.endswith(b"To allow it: trackguard allow tracker.test\n")
    assert answers["stream"] == answers["fast"] == answers["addon"]
    rows = paths.rows()
    assert rows["fast"] == rows["stream"] == rows["addon"]
    (row,) = rows["addon"]
    assert (row.kind, row.action, row.layer, row.type) == (
        "tunnel",
        "block",
        "list-block",
        "tunnel",
    )


# -- the planner on its own ---------------------------------------------------------------


class Broken:
    """An engine that fails on every question."""

    def check(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    check_host = removeparam = check


def test_a_failing_policy_fails_open_and_is_logged_as_unattributed(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "log.sqlite3")
    planner = Planner(ProxyState(Broken(), PolicyConfig()), log)
    data = "GET http://tracker.test/t.js HTTP/1.1\r\nHost: tracker.test\r\n"
    head = parse_request_head((data + "".join(f"{k}: {v}\r\n" for k, v in FIELDS)).encode())
    target = parse_absolute_target(head.target)
    plan = planner.request(HeadRequest(head, target), ("http", "tracker.test", 80), Framing.NONE)
    assert plan.response is None and plan.request.startswith(b"GET /t.js HTTP/1.1\r\n")
    assert planner.tunnel("tracker.test").response is None
    log.flush_now()
    assert {(e.kind, e.layer) for e in read_log(log.path)} == {
        ("http", "unattributed"),
        ("tunnel", "unattributed"),
    }


def test_closing_and_http10_requests_are_answered_with_close(tmp_path: Path) -> None:
    from proxy_helpers import make_matcher

    planner = Planner(ProxyState(make_matcher(), PolicyConfig()))
    data = "GET http://tracker.test/t.js HTTP/1.1\r\nHost: tracker.test\r\n"
    head = parse_request_head((data + "".join(f"{k}: {v}\r\n" for k, v in FIELDS)).encode())
    parts = HeadRequest(head, parse_absolute_target(head.target))
    key = ("http", "tracker.test", 80)
    open_plan = planner.request(parts, key, Framing.NONE)
    closing_plan = planner.request(parts, key, Framing.NONE, closing=True)
    assert open_plan.response is not None and closing_plan.response is not None
    assert b"Connection: close" not in open_plan.response and not open_plan.close
    assert b"Connection: close\r\n" in closing_plan.response and closing_plan.close


def test_type_names_are_the_log_spelling() -> None:
    assert type_name(RequestType.SCRIPT) == "script"
    assert type_name(RequestType.XMLHTTPREQUEST) == "xmlhttprequest"


def test_engage_opens_a_page_context_only_for_2xx_html(tmp_path: Path) -> None:
    from proxy_helpers import make_matcher

    planner = Planner(ProxyState(make_matcher(), PolicyConfig()))
    page = Verdict(False, Layer.NAVIGATION, RequestType.DOCUMENT, "s.test", "s.test", engage=True)
    planner.engage(page, "http://bounce.test/", 302, "text/html")
    planner.engage(page, "http://data.test/", 200, "application/json")
    planner.engage(page, "http://site.test/", 200, "text/html; charset=utf-8")
    record = planner.state.record
    assert record.is_engaged("site.test")
    assert not record.is_engaged("bounce.test") and not record.is_engaged("data.test")


def test_a_new_engine_gets_a_new_memo() -> None:
    from proxy_helpers import FakeMatcher

    site = "http://site.test/"
    state = ProxyState(FakeMatcher("-d tracker.test\n"), PolicyConfig())
    assert state.memo.check("http://tracker.test/t.js", site).blocked
    replacement = FakeMatcher("-d other.test\n")
    state.matcher = replacement
    assert state.matcher is replacement and state.memo.inner is replacement
    assert not state.memo.check("http://tracker.test/t.js", site).blocked
