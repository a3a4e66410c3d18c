"""IE-compatible presence mode (tracking-protection-lists.md §B.2): items, threshold, modes."""

from __future__ import annotations

from pathlib import Path

from trackguard.learn import store
from trackguard.learn.core import LearnContext, Learner, LearnState, enforced, match_learned
from trackguard.learn.keys import site_tagger
from trackguard.learn.listing import UserChoices, listing
from trackguard.learn.model import LearnConfig, Mode, Observation, Remedy
from trackguard.model import RequestType


def _ctx(mode: Mode, presence: bool = True) -> LearnContext:
    config = LearnConfig(mode=mode, presence=presence, presence_threshold=10)
    return LearnContext(config=config, site_tag=site_tagger(b"p" * 32))


def _visit(learner: Learner, state: LearnState, ctx: LearnContext, sites: int) -> None:
    for i in range(sites):
        obs = Observation(
            day=5,
            site_host=f"www.site{i}.example",
            request_host="cdn.widgets.example",
            request_type=RequestType.SCRIPT,
            path=f"/w.js?cb={i}",
        )
        item = learner.presence(obs)
        assert item is not None and item.item == "cdn.widgets.example/w.js"  # query removed
        state.add_presence(item, ctx)


def test_items_reach_the_threshold_and_are_path_rules_in_auto(tmp_path: Path) -> None:
    ctx = _ctx(Mode.AUTO)
    learner, state = Learner(ctx), LearnState()
    _visit(learner, state, ctx, 9)
    assert not enforced(state, ctx, 5)
    _visit(learner, state, ctx, 10)
    rules = enforced(state, ctx, 5)
    assert rules.paths == {("cdn.widgets.example", "/w.js")}
    assert match_learned(rules, "cdn.widgets.example", "/w.js?x=1") == (
        Remedy.PATH,
        "cdn.widgets.example/w.js",
    )
    assert match_learned(rules, "cdn.widgets.example", "/other.js") is None
    items = [i for i in listing(state, ctx, UserChoices(), 5) if i["kinds"] == ["presence"]]
    assert items[0]["domain"] == "cdn.widgets.example/w.js" and items[0]["sites"] == 10
    assert items[0]["action"] == "path" and items[0]["provider"] == "widgets.example"
    # suggest ("Choose content to block or allow"): listed, nothing enforced
    assert not enforced(state, _ctx(Mode.SUGGEST), 5)
    # stored: the item in clear (the documented exception), the sites only as tags
    store.save_state(tmp_path, state)
    data = (tmp_path / store.LEARN_DB).read_bytes()
    assert b"cdn.widgets.example/w.js" in data and b"site1.example" not in data


def test_presence_off_records_no_items() -> None:
    ctx = _ctx(Mode.AUTO, presence=False)
    obs = Observation(
        day=1, site_host="a.example", request_host="b.example", request_type=RequestType.SCRIPT
    )
    assert Learner(ctx).presence(obs) is None
