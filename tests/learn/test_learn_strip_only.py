"""The strip-only list and the entity supplement (learning.md §B5, §B8.3, §B8.5, L-12 aim).

L-12's aim: no video host may be learned as a block, whatever its evidence, or embedded
videos break. The hosts below are the video hosts seen in the 841 real HARs (plus the
common ones); the list is kept here, apart from `keys.STRIP_ONLY`, so that dropping an
entry from the shipped table fails a test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from corpus_paths import corpus_path
from trackguard.learn import keys
from trackguard.learn.core import (
    LearnContext,
    LearnedRules,
    Learner,
    LearnState,
    Summary,
    decide,
    enforced,
    match_learned,
)
from trackguard.learn.feed import Exchange, Feed
from trackguard.learn.keys import site_tagger
from trackguard.learn.model import Evidence, Kind, LearnConfig, Mode, Remedy, Source
from trackguard.model import RequestType

VIDEO_HOSTS = (
    "youtube.com",
    "youtube-nocookie.com",
    "ytimg.com",
    "googlevideo.com",
    "vimeo.com",
    "vimeocdn.com",
    "jwplayer.com",
    "jwpcdn.com",
    "jwplatform.com",
    "jwpsrv.com",
    "brightcove.net",
    "dailymotion.com",
    "dmcdn.net",
    "kaltura.com",
    "wistia.com",
    "vidyard.com",
)
ALL_EVIDENCE = Kind.COOKIE | Kind.URL_ID | Kind.BEACON | Kind.PIXEL


def _ctx(**kw: object) -> LearnContext:
    config = LearnConfig(**kw)  # type: ignore[arg-type]
    return LearnContext(config=config, site_tag=site_tagger(b"v" * 32))


@pytest.mark.parametrize("host", VIDEO_HOSTS)
def test_a_video_host_is_never_a_block(host: str) -> None:
    ctx = _ctx()
    for before in (Remedy.NONE, Remedy.STRIP):  # STRIP: the escalation path of §B6
        summary = Summary(host, ALL_EVIDENCE, 60, 60, 0, 1, 0.0, before, 0, Source.LEARNED)
        decision = decide(summary, ctx)
        assert decision.action is Remedy.STRIP, (host, before, decision)
        assert "strip-only" in decision.reason and "video" in decision.reason
    assert keys.strip_only_reason(f"www.{host}") is not None  # parent-domain matching


def test_video_host_in_auto_mode_is_stripped_not_blocked() -> None:
    """Beacons and pixels on many sites over two days: a tracker would be blocked."""
    ctx = _ctx(mode=Mode.AUTO)
    state = LearnState()
    for tracker in ("youtube.com", "tracker.example"):
        for day in (1, 2):
            for site in range(4):
                state.add(Evidence(tracker, site, Kind.BEACON | Kind.PIXEL, day, False), ctx)
    state.roll(3, ctx)
    rules = enforced(state, ctx, 3)
    assert rules.block == {"tracker.example"}  # the control: same evidence, blocked
    assert rules.strip == {"youtube.com"}
    assert match_learned(rules, "www.youtube.com", "/embed/abc") == (Remedy.STRIP, "youtube.com")


def test_a_strip_only_host_below_a_learned_block_is_only_stripped() -> None:
    """PB's parent-domain matching: `i0.wp.com` images survive a block of `wp.com`, and an
    old block of a host listed later (a stored `youtube.com` block) is applied as strip."""
    rules = LearnedRules(block=frozenset({"wp.com", "youtube.com"}))
    assert match_learned(rules, "stats.wp.com", "/g.gif") == (Remedy.BLOCK, "wp.com")
    assert match_learned(rules, "i0.wp.com", "/x.jpg") == (Remedy.STRIP, "wp.com")
    assert match_learned(rules, "www.youtube.com", "/embed/x") == (Remedy.STRIP, "youtube.com")


def test_strip_only_entries_are_not_fingerprinters() -> None:
    """§B8.3: entries must not include fingerprinting domains (Disconnect's categories)."""
    services = json.loads((corpus_path() / "other" / "disconnect-services.json").read_text())
    fingerprinting: set[str] = set()
    for category in ("FingerprintingInvasive", "FingerprintingGeneral", "Cryptomining"):
        for entry in services["categories"].get(category, []):
            for sites in entry.values():
                for urls in sites.values():
                    if isinstance(urls, list):
                        fingerprinting.update(u for u in urls if isinstance(u, str))
    for host, reason in keys.STRIP_ONLY.items():
        assert reason.strip(), host
        assert not any(s in fingerprinting for s in keys.host_suffixes(host)), host


def test_entity_supplement_joins_wikipedia_and_wikimedia() -> None:
    data = json.loads((corpus_path() / "other" / "disconnect-entities.json").read_text())
    plain = keys.entity_map_from_disconnect(data)
    assert not plain.related("wikipedia.org", "wikimedia.org")  # the gap the supplement fills
    entities = keys.entity_map_from_disconnect(data, supplement=keys.ENTITY_SUPPLEMENT)
    assert entities.related("wikipedia.org", "wikimedia.org")
    assert entities.related("mercadopago.com.ar", "mercadolibre.com.ar")  # Disconnect's owner
    assert entities.related("vtex.com", "vtex.com.br")
    assert not entities.related("wikipedia.org", "google.com")
    assert entities.related("google.com", "youtube.com")  # Disconnect's pairs untouched
    for domains, reason in keys.ENTITY_SUPPLEMENT.values():
        assert reason.strip() and domains
    # Upload.wikimedia.org on a Wikipedia page is first party: no evidence at all.
    ctx = LearnContext(config=LearnConfig(), site_tag=site_tagger(b"v" * 32), entities=entities)
    exchange = Exchange(
        time=86400.0,
        method="GET",
        url="https://upload.wikimedia.org/a.png",
        request_headers=(("cookie", "WMF-Uniq=f3a9c2d4e5b6a7980112f3a9"),),
        status=200,
        response_headers=(("content-type", "image/png"),),
        resource_type=RequestType.IMAGE,
    )
    obs = Feed().observation(exchange, "en.wikipedia.org")
    assert obs is not None
    assert Learner(ctx).keys(obs) is None
    assert Learner(LearnContext(config=LearnConfig(), site_tag=ctx.site_tag)).keys(obs)


def test_entity_supplement_never_splits_a_disconnect_owner() -> None:
    data = {"entities": {"Big": {"properties": ["b.example", "c.example"]}}}
    supplement = {"Group": (("a.example", "b.example"), "test"), "Own": (("z.example",), "t")}
    entities = keys.entity_map_from_disconnect(data, supplement=supplement)
    assert entities.owner("a.example") == "entity:Big"  # joins the known owner
    assert entities.related("a.example", "c.example")
    assert entities.owner("z.example") == "entity:Own"


def test_the_proxy_layer_strips_and_explains_a_strip_only_host(tmp_path: Path) -> None:
    """A stored learned block of `wp.com` (auto mode, real store): `stats.wp.com` is
    blocked, `i0.wp.com` only stripped, and the explanation says why."""
    from trackguard.learn import store
    from trackguard.learn.core import TrackerRow
    from trackguard.learn.service import (
        LearnedPolicy,
        LearnerService,
        LearnSettings,
        save_learn_settings,
        today,
    )

    home = tmp_path / "home"
    save_learn_settings(home, LearnSettings(mode=Mode.AUTO))
    now = time.time()
    day = today(now)
    state = LearnState(recomputed_day=day)
    state.trackers["wp.com"] = TrackerRow(
        kinds=int(Kind.COOKIE | Kind.PIXEL),
        site_count=4,
        first_day=day - 2,
        last_day=day,
        decision=Remedy.BLOCK,
        decided_day=day - 1,
        source=Source.LEARNED,
    )
    store.save_state(home, state)
    service = LearnerService(home, LearnSettings(mode=Mode.AUTO), clock=lambda: now)
    layer = LearnedPolicy(service)
    stats = layer.match("stats.wp.com", "/g.gif")
    assert stats is not None and stats.block and stats.decision.rule == "-d wp.com"
    image = layer.match("i0.wp.com", "/x.jpg")
    assert image is not None and not image.block and not image.exempt
    assert "never blocked: strip-only host (images: Jetpack image CDN" in image.decision.reason
