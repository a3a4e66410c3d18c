"""The learner inside the proxy's planner (learning.md §B7, L-5, L-10).

Real planner, real engine, real SQLite store in a tmp home. L-5: in `suggest` mode a fixed
request set gets byte-identical decisions and upstream heads before and after learning S1
(and the same set in `auto` does change: the check can fail).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from learn_traces import make_context, replay, s1

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))
from proxy_helpers import make_matcher

from trackguard.learn import store
from trackguard.learn.core import LearnState, TrackerRow
from trackguard.learn.model import Kind, LearnConfig, Mode, Remedy
from trackguard.learn.service import LearnSettings, ProxyLearning, save_learn_settings, today
from trackguard.policy.decide import Layer, PolicyConfig, explain
from trackguard.proxy.exchange import HeadRequest, Planner, ProxyState
from trackguard.proxy.http1 import (
    Framing,
    parse_absolute_target,
    parse_request_head,
    parse_response_head,
)
from trackguard.settings import load_settings

LISTS = (
    (
        "mine.tpl",
        "msFilterList\n-d blocked-by-list.example\n+d allowed.example\n+d tracked.example /ok/\n",
    ),
)


def _planner(home: Path) -> tuple[Planner, ProxyLearning]:
    settings = load_settings(home)
    matcher = make_matcher(LISTS)
    learning = ProxyLearning(home, settings, matcher)
    state = ProxyState(matcher, learning.with_learned(PolicyConfig.from_settings(settings)))
    return Planner(state, None, learning.hook), learning


def _request(planner: Planner, url: str, fields: dict[str, str]) -> Any:
    text = f"GET {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    head = parse_request_head((text + "\r\n").encode())
    target = parse_absolute_target(head.target)
    host = target.authority.split(":")[0]
    return planner.request(HeadRequest(head, target), ("http", host, 80), Framing.NONE), head


def _fixed_set(planner: Planner, hosts: list[str]) -> list[tuple[bool, str, bytes]]:
    out = []
    nav, _ = _request(planner, "http://www.news.example/", {"Accept": "text/html", "Host": "x"})
    planner.engage(nav.verdict, nav.url, 200, "text/html")
    ref = {"Referer": "http://www.news.example/", "Cookie": "uid=8f7a6b5c4d3e2f1a0b9c"}
    for host in hosts:
        plan, _ = _request(planner, f"http://{host}/p.gif?id=1", {"Accept": "image/*", **ref})
        out.append((plan.verdict.blocked, plan.verdict.layer.value, plan.response or plan.request))
    return out


def _learn_s1(home: Path) -> list[str]:
    """Learn S1 (days 0-29), then move its days to end yesterday, as if learned lately."""
    trace = s1()
    ctx = make_context(
        trace,
        LearnConfig(mode=Mode.AUTO),
        key=store.load_key(home),
        is_listed=trace.seed.__contains__,
    )
    state = LearnState()
    replay(trace.exchanges, ctx, state)
    state.roll(30, ctx)
    shift = today() - 31
    for row in state.trackers.values():
        row.first_day += shift
        row.last_day += shift
        row.decided_day = None if row.decided_day is None else row.decided_day + shift
    for rows in state.evidence.values():
        for value in rows.values():
            value[1] += shift
    state.novelty.clear()
    state.recomputed_day = 30 + shift
    store.save_state(home, state)
    return sorted(t for t, r in state.trackers.items() if r.decision is Remedy.BLOCK)


def test_l5_suggest_mode_is_state_independent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    save_learn_settings(home, LearnSettings(mode=Mode.SUGGEST))
    blocked = _learn_s1(tmp_path / "scratch")
    hosts = [f"t.{d}" for d in blocked[:15]] + ["cdn.other.example", "allowed.example"]
    before = _fixed_set(_planner(home)[0], hosts)
    for name in ("learning.sqlite3", "learning.key"):
        (home / name).write_bytes((tmp_path / "scratch" / name).read_bytes())
    after_planner, learning = _planner(home)
    assert len(learning.service.state.trackers) > 30  # the learned state is loaded
    assert _fixed_set(after_planner, hosts) == before
    # control: the same state in auto mode changes the answers
    save_learn_settings(home, LearnSettings(mode=Mode.AUTO))
    auto = _fixed_set(_planner(home)[0], hosts)
    assert auto != before
    assert sum(blocked for blocked, _, _ in auto) >= 10


@pytest.fixture
def auto_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    save_learn_settings(home, LearnSettings(mode=Mode.AUTO))
    store.load_key(home)
    state = LearnState()
    day = 10**6
    for name, decision in (
        ("tracked.example", Remedy.BLOCK),
        ("allowed.example", Remedy.BLOCK),
        ("assets.example", Remedy.STRIP),
    ):
        state.trackers[name] = TrackerRow(
            int(Kind.COOKIE | Kind.BEACON), 4, day - 3, day, 0.0, 5, decision, day - 1
        )
    state.recomputed_day = day
    store.save_state(home, state)
    return home


def test_auto_blocks_with_an_explanation_and_list_allow_wins(auto_home: Path) -> None:
    planner, learning = _planner(auto_home)
    learning.clock = learning.service.clock = lambda: (10**6) * 86400.0 + 5
    nav, _ = _request(planner, "http://www.news.example/", {"Accept": "text/html"})
    planner.engage(nav.verdict, nav.url, 200, "text/html")
    ref = {"Referer": "http://www.news.example/a/b?q=1", "Cookie": "uid=1"}
    plan, _ = _request(planner, "http://px.tracked.example/c.gif", {"Accept": "image/*", **ref})
    assert plan.verdict.blocked and plan.verdict.layer is Layer.LEARNED_BLOCK
    assert explain(plan.verdict) == "-d tracked.example (personalized)"
    assert plan.verdict.decision is not None and "4 sites" in plan.verdict.decision.reason
    assert plan.response is not None and b"personalized" in plan.response
    allowed, _ = _request(planner, "http://allowed.example/x.js", {"Accept": "*/*", **ref})
    assert not allowed.verdict.blocked  # the list allows the domain: never enforced
    ok, _ = _request(planner, "http://px.tracked.example/ok/a.js", {"Accept": "*/*", **ref})
    assert not ok.verdict.blocked and ok.verdict.layer is Layer.LIST_ALLOW
    assert ok.verdict.rule == "+d tracked.example /ok/"
    strip, head = _request(planner, "http://cdn.assets.example/app.js", {"Accept": "*/*", **ref})
    assert strip.verdict.layer is Layer.LEARNED_STRIP and not strip.verdict.blocked
    assert b"Cookie:" not in strip.request
    assert b"Referer: http://www.news.example/\r\n" in strip.request
    response = parse_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nContent-Length: 0\r\n"
        b"Set-Cookie: id=abcdef0123456789\r\n\r\n"
    )
    relay = planner.response_head(response, head, strip)
    assert b"Set-Cookie" not in relay.head
    # suggest mode: the same state changes nothing
    save_learn_settings(auto_home, LearnSettings(mode=Mode.SUGGEST))
    planner2, _ = _planner(auto_home)
    nav, _ = _request(planner2, "http://www.news.example/", {"Accept": "text/html"})
    planner2.engage(nav.verdict, nav.url, 200, "text/html")
    plan, _ = _request(planner2, "http://px.tracked.example/c.gif", {"Accept": "image/*", **ref})
    assert not plan.verdict.blocked


def test_planner_feeds_the_learner_and_flushes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    planner, learning = _planner(home)
    for site in ("a.example", "b.example", "c.example"):
        nav, head = _request(planner, f"http://www.{site}/", {"Accept": "text/html"})
        planner.response_head(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"
            ),
            head,
            nav,
        )
        fields = {"Accept": "image/*", "Referer": f"http://www.{site}/"}
        plan, head = _request(planner, "http://px.newtracker.example/p.gif?id=1", fields)
        assert plan.inspect  # the fast relay is skipped: the learner reads the response
        planner.response_head(
            parse_response_head(
                b"HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\n"
                b"Content-Length: 43\r\nSet-Cookie: uid=9a8b7c6d5e4f3a2b1c0d\r\n\r\n"
            ),
            head,
            plan,
        )
    learning.close()
    state = store.load_state(home)
    assert state.summary("newtracker.example").sites == 3


def test_connect_tunnels_feed_nothing(tmp_path: Path) -> None:
    planner, learning = _planner(tmp_path / "home")
    calls: list[str] = []
    original = learning.hook.observe

    def spy(*args: Any, **kwargs: Any) -> None:
        calls.append(args[4])
        original(*args, **kwargs)

    learning.hook.observe = spy  # type: ignore[method-assign]
    for host in ("px.tracker-a.example", "px.tracker-b.example", "px.tracker-c.example"):
        assert planner.tunnel(host).answer is None
    assert calls == [] and learning.service.state.trackers == {}
    nav, head = _request(planner, "http://www.a.example/", {"Accept": "text/html"})
    planner.response_head(
        parse_response_head(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"
        ),
        head,
        nav,
    )
    assert calls == ["http://www.a.example/"]  # the spy works: plain HTTP is fed
