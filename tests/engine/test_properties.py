"""Property tests for the engine: hostile input never crashes it, and its answers do not
depend on incidental things (a cache round trip, the order of rules in a list).

List text and requests are untrusted (conventions: "treat list text and requests as
hostile"), so the strategies mix fully arbitrary text with grammar-built lines in all three
syntaxes, which reach much deeper into the parsers and the matcher than random noise.
The example budget is kept small so the suite stays fast; raise it locally with
`--hypothesis-profile` if you are hunting a bug.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.model import Decision, ListRejected
from work_budget import peak_bytes, python_steps

MODEST = settings(
    max_examples=60,
    deadline=None,  # the machine is shared and noisy; timing is the benchmark's job
    suppress_health_check=[HealthCheck.too_slow],
)

FORMATS = (None, "abp", "tpl", "hosts")
TYPES = (
    "script",
    "image",
    "stylesheet",
    "object",
    "xmlhttprequest",
    "subdocument",
    "ping",
    "media",
    "font",
    "websocket",
    "other",
    "document",
    "popup",
)

# A shared vocabulary, so generated rules and generated requests actually meet.
HOSTS = (
    "example.com",
    "ads.example.com",
    "tracker.net",
    "cdn.tracker.net",
    "a.b.co.uk",
    "co.uk",
    "bücher.de",
    "xn--bcher-kva.de",
    "127.0.0.1",
    "[::1]",
    "localhost",
)
PATHS = ("/", "/ads/banner.js", "/track?id=1&utm_source=x", "/img/ad.png", "/pixel.gif", "/a/b")
SUBSTRINGS = ("/ads/", "banner", "track?id=", "*/pixel.gif", "ad.png", "http://tracker.net/", "/")
OPTIONS = (
    "third-party",
    "~third-party",
    "3p",
    "1p",
    "script",
    "~script",
    "image",
    "xmlhttprequest",
    "subdocument",
    "document",
    "popup",
    "important",
    "match-case",
    "domain=example.com",
    "domain=~ads.example.com|example.com",
    "domain=example.*",
    "denyallow=cdn.tracker.net",
    "badfilter",
    "redirect=noopjs",
    "removeparam=utm_source",
    "csp=script-src 'none'",
    "unknown-option",
    "domain=",
)

hosts = st.sampled_from(HOSTS) | st.builds(
    lambda sub, host: f"{sub}.{host}", st.sampled_from(("www", "x", "ads")), st.sampled_from(HOSTS)
)
paths = st.sampled_from(PATHS)

abp_pattern = st.one_of(
    st.builds(lambda h, tail: f"||{h}{tail}", hosts, st.sampled_from(("", "^", "/ads/", "^*.js"))),
    st.builds(lambda h: f"|http://{h}/", hosts),
    st.sampled_from(SUBSTRINGS),
    st.sampled_from(("/ad[0-9]+/", r"/banner\d+/", "/(a+)+$/", "/[/", "*", "", "|", "||")),
)
abp_rule = st.builds(
    lambda exception, pattern, options: (
        ("@@" if exception else "") + pattern + ("$" + ",".join(options) if options else "")
    ),
    st.booleans(),
    abp_pattern,
    st.lists(st.sampled_from(OPTIONS), max_size=3),
)
abp_line = abp_rule | st.sampled_from(
    ("! comment", "[Adblock Plus 2.0]", "example.com##.ad", "##+js(noop)", "#@#.x", "")
)
tpl_line = st.one_of(
    st.builds(lambda sign, h: f"{sign}d {h}", st.sampled_from("+-"), hosts),
    st.builds(lambda sign, h, p: f"{sign}d {h} {p}", st.sampled_from("+-"), hosts, paths),
    st.builds(lambda sign, s: f"{sign} {s}", st.sampled_from("+-"), st.sampled_from(SUBSTRINGS)),
    st.sampled_from(("# comment", "#----", ": Expires=5", "-d /annonse/*", "-d a b c", "- ")),
)
hosts_line = st.one_of(
    st.builds(lambda ip, h: f"{ip} {h}", st.sampled_from(("0.0.0.0", "127.0.0.1", "::1")), hosts),
    hosts,
    st.sampled_from(("# comment", "0.0.0.0", "127.0.0.1 localhost # local", "")),
)

abp_text = st.lists(abp_line, max_size=12).map(lambda ls: "\n".join(["[Adblock Plus 2.0]", *ls]))
tpl_text = st.lists(tpl_line, max_size=12).map(lambda ls: "\n".join(["msFilterList", *ls]))
hosts_text = st.lists(hosts_line, max_size=12).map("\n".join)
line_breaks = st.sampled_from(("\n", "\r\n", "\r"))
any_list_text = st.one_of(
    st.text(max_size=400),
    abp_text,
    tpl_text,
    hosts_text,
    st.builds(
        lambda lines, sep: sep.join(lines),
        st.lists(abp_line | tpl_line | hosts_line | st.text(max_size=40), max_size=15),
        line_breaks,
    ),
)

url_schemes = st.sampled_from(
    ("http://", "https://", "ws://", "wss://", "ftp://", "", "//", "HTTP://")
)
structured_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    url_schemes,
    hosts | st.text(max_size=30),
    st.sampled_from(("", ":8080", ":", ":99999", ":abc")),
    paths | st.text(max_size=60),
)
any_url = st.one_of(structured_urls, st.text(max_size=200))
page_url = (
    st.none() | st.sampled_from(("https://example.com/", "http://tracker.net/x", "")) | any_url
)
any_type = st.sampled_from(TYPES) | st.text(max_size=12)

# Requests for comparing two engines: built only from the shared vocabulary.
requests = st.lists(
    st.tuples(
        st.builds(
            lambda s, h, p: f"{s}{h}{p}", st.sampled_from(("http://", "https://")), hosts, paths
        ),
        st.none() | st.builds(lambda h: f"https://{h}/", hosts),
        st.sampled_from(TYPES),
    ),
    min_size=1,
    max_size=15,
)


def _verdicts(
    engine: Engine, reqs: list[tuple[str, str | None, str]]
) -> list[tuple[bool, str | None]]:
    return [(d.blocked, d.rule) for d in (engine.check(*r) for r in reqs)]


@cache
def _varied_engine() -> Engine:
    """One engine holding every rule shape the grammars can produce, in all three syntaxes."""
    abp = "\n".join(
        ["[Adblock Plus 2.0]"]
        + [f"||{h}^${o}" for h in HOSTS for o in OPTIONS]
        + [f"@@{s}$domain=example.com" for s in SUBSTRINGS]
        + ["/ad[0-9]+/", "/banner\\d+/$script", "*$third-party,image"]
    )
    tpl = "\n".join(
        ["msFilterList"]
        + [f"-d {h}" for h in HOSTS[:5]]
        + [f"+d {h} /ads/" for h in HOSTS[5:]]
        + [f"- {s}" for s in SUBSTRINGS[:-1]]
    )
    hosts_list = "\n".join(f"0.0.0.0 {h}" for h in HOSTS if not h.startswith("["))
    return Engine.from_parsed(
        [parse_list(abp, "abp"), parse_list(tpl, "tpl"), parse_list(hosts_list, "hosts")]
    )


@MODEST
@given(text=any_list_text, fmt=st.sampled_from(FORMATS))
def test_parse_list_only_ever_rejects(text: str, fmt: str | None) -> None:
    try:
        parsed = parse_list(text, "fuzz", fmt)
    except ListRejected:
        return
    assert all(rule.source.list_id == "fuzz" for rule in parsed.rules)


@MODEST
@given(text=any_list_text, fmt=st.sampled_from(FORMATS))
@example(text="msFilterList\n-d " + "a." * 20_000 + "com", fmt=None)
@example(text="[Adblock Plus 2.0]\n" + "*" * 100_000, fmt=None)
@example(text="\x00\ufeff\ud7ff\n||\u202e.com^$domain=" + "|" * 5_000, fmt="abp")
def test_engine_builds_or_rejects(text: str, fmt: str | None) -> None:
    try:
        engine = Engine.from_text(text, fmt, list_id="fuzz")
    except ListRejected:
        return
    assert isinstance(engine.check("https://example.com/ads/banner.js", None, "script"), Decision)


@MODEST
@given(url=any_url, source_url=page_url, type_name=any_type)
@example(
    url="https://[::1]:8080/ads/banner.js", source_url="https://[2001:db8::1]/", type_name="script"
)
@example(url="https://example.com/" + "a/" * 50_000, source_url=None, type_name="image")
@example(
    url="https://" + "x." * 100 + "com/", source_url="https://" + "y" * 70_000, type_name="other"
)
@example(url="https://bücher.de/ads/", source_url="https://例え.テスト/", type_name="subdocument")
@example(url="tracker.net/pixel.gif", source_url="tracker.net", type_name="ping")
@example(url="http://[::1", source_url="http://:80", type_name="")
@example(url="javascript:alert(1)", source_url="about:blank", type_name="document")
def test_check_never_crashes(url: str, source_url: str | None, type_name: str) -> None:
    engine = _varied_engine()
    decision = engine.check(url, source_url, type_name)
    assert isinstance(decision.blocked, bool)
    assert decision.blocked == (decision.matched is not None and not decision.matched.is_exception)
    assert isinstance(decision.to_json(), dict)
    engine.matching_rules(url, source_url, type_name)
    cleaned, _ = engine.removeparam(url, source_url, type_name)
    assert isinstance(cleaned, str)


def _labels(n: int, tail: str) -> str:
    return "https://" + "x." * n + tail


#: Hostile request shapes, each built at a size `n`: the work of judging one must grow at
#: most linearly with `n` (an engine that does work superlinear in the host's label count
#: took several seconds and hundreds of MiB on the first shape). Work is counted in Python
#: steps and peak memory, never timed (`tests/work_budget.py`).
HOSTILE_REQUESTS: dict[str, Callable[[int], tuple[str, str | None]]] = {
    # n labels, n <= 120: still a possible DNS name (<= 253 characters)
    "many labels": lambda n: (_labels(n, "tracker.net/"), "https://example.com/"),
    "page with many labels": lambda n: ("https://example.com/ads/", _labels(n, "example.com/")),
    "more labels than DNS allows": lambda n: (_labels(10 * n, "t.net/"), _labels(10 * n, "a.com/")),
    "long path": lambda n: ("https://example.com/" + "ads/" * (200 * n), None),
    "many parameters": lambda n: (
        "https://example.com/?" + "&utm_source=x" * (64 * n),
        "https://example.com/",
    ),
}


def _judge(engine: Engine, url: str, source_url: str | None) -> None:
    engine.check(url, source_url, "script")
    engine.removeparam(url, source_url, "script")
    engine.check_host(url.split("/")[2])


@pytest.mark.parametrize("build", HOSTILE_REQUESTS.values(), ids=HOSTILE_REQUESTS.keys())
def test_hostile_requests_are_cheap(build: Callable[[int], tuple[str, str | None]]) -> None:
    engine = _varied_engine()
    _judge(engine, "https://warm.example/a.js?utm_source=1", "https://example.com/")
    steps = {}
    for n in (60, 120):
        url, source_url = build(n)
        steps[n] = python_steps(lambda: _judge(engine, url, source_url))  # noqa: B023
        assert peak_bytes(lambda: _judge(engine, url + "z", source_url)) < 50 * len(url) + 2**20  # noqa: B023
    # Twice the input, at most about twice the work (plus a constant for cold caches).
    assert steps[120] <= 2.5 * steps[60] + 2000, steps


@MODEST
@given(host=hosts | st.text(max_size=80))
@example(host="[::1]")
@example(host="x" * 100_000)
def test_check_host_never_crashes(host: str) -> None:
    assert isinstance(_varied_engine().check_host(host).blocked, bool)


@MODEST
@given(text=abp_text | tpl_text | hosts_text, reqs=requests)
def test_save_then_load_decides_identically(
    text: str, reqs: list[tuple[str, str | None, str]]
) -> None:
    try:
        engine = Engine.from_text(text, list_id="fuzz")
    except ListRejected:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "engine.cache"
        engine.save(path)
        loaded = Engine.load(path)
    assert loaded.cache_key == engine.cache_key
    assert _verdicts(loaded, reqs) == _verdicts(engine, reqs)


@MODEST
@given(
    list_lines=st.tuples(st.just("msFilterList"), st.lists(tpl_line, min_size=1, max_size=12))
    | st.tuples(st.just("[Adblock Plus 2.0]"), st.lists(abp_line, min_size=1, max_size=12)),
    reqs=requests,
    data=st.data(),
)
def test_rule_order_never_changes_a_decision(
    list_lines: tuple[str, list[str]], reqs: list[tuple[str, str | None, str]], data: st.DataObject
) -> None:
    """TPL spec: the order of rules never matters; the same holds for ABP filters."""
    header, lines = list_lines
    shuffled = data.draw(st.permutations(lines))
    try:
        original = Engine.from_text("\n".join([header, *lines]), list_id="fuzz")
    except ListRejected:
        return
    reordered = Engine.from_text("\n".join([header, *shuffled]), list_id="fuzz")
    assert [b for b, _ in _verdicts(reordered, reqs)] == [b for b, _ in _verdicts(original, reqs)]
