"""Names judged as tunnels are, and CNAME chains uncloaked (with the real engine)."""

from __future__ import annotations

from trackguard.dnsserver.decide import decide_name, uncloak
from trackguard.engine import Engine
from trackguard.policy.decide import Layer, PolicyConfig

ENGINE = Engine.from_text(
    "msFilterList\n-d tracker.test\n-d trackercdn.test\n+d ok.trackercdn.test\n", list_id="t.tpl"
)


def test_listed_name_blocked_with_its_rule() -> None:
    v = decide_name("pixel.tracker.test", config=PolicyConfig(), matcher=ENGINE)
    assert v.blocked and v.verdict.rule == "-d tracker.test" and v.verdict.line == 2
    assert v.explain() == "pixel.tracker.test: blocked by -d tracker.test (t.tpl:2)"


def test_cloaked_chain_blocked_and_explained() -> None:
    first = decide_name("metrics.news.test", config=PolicyConfig(), matcher=ENGINE)
    assert not first.blocked
    v = uncloak(
        first, ["edge.cdn.test", "x.trackercdn.test"], config=PolicyConfig(), matcher=ENGINE
    )
    assert v.blocked and v.cloaked
    assert v.chain == ("metrics.news.test", "edge.cdn.test", "x.trackercdn.test")
    assert v.explain() == (
        "cloaked: metrics.news.test -> edge.cdn.test -> x.trackercdn.test"
        " -> -d trackercdn.test (t.tpl:3)"
    )


def test_uncloak_respects_exemptions() -> None:
    chain = ["x.trackercdn.test"]
    for config in (
        PolicyConfig(user_allow=frozenset({"metrics.news.test"})),
        PolicyConfig(protection=False),
        PolicyConfig(exempt_sites=frozenset({"news.test"})),
    ):
        first = decide_name("metrics.news.test", config=config, matcher=ENGINE)
        assert not uncloak(first, chain, config=config, matcher=ENGINE).blocked
    # A user allow of the tracker itself lets the alias resolve.
    config = PolicyConfig(user_allow=frozenset({"trackercdn.test"}))
    first = decide_name("metrics.news.test", config=config, matcher=ENGINE)
    assert not uncloak(first, chain, config=config, matcher=ENGINE).blocked
    # A list exception for the alias target holds too.
    first = decide_name("metrics.news.test", config=PolicyConfig(), matcher=ENGINE)
    v = uncloak(first, ["ok.trackercdn.test"], config=PolicyConfig(), matcher=ENGINE)
    assert not v.blocked


def test_user_block_beats_everything() -> None:
    config = PolicyConfig(user_block=frozenset({"news.test"}))
    v = decide_name("www.news.test", config=config, matcher=ENGINE)
    assert v.blocked and v.verdict.layer is Layer.USER_BLOCK
    assert v.explain() == "www.news.test: blocked by your block list"
