"""The built-in default list (`trackguard/data/default.tpl`): valid, documented, careful."""

from __future__ import annotations

import pytest

from trackguard.engine import Engine
from trackguard.lists import parse_list
from trackguard.model import Action, Format
from trackguard.subscriptions.store import load_builtin_bytes

TEXT = load_builtin_bytes().decode("utf-8")
PAGE = "https://news.example/"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_text(TEXT, Format.TPL, list_id="builtin")


def test_parses_cleanly_with_a_title() -> None:
    parsed = parse_list(TEXT, "builtin", Format.TPL)
    assert parsed.diagnostics == ()
    assert len(parsed.rules) >= 250
    assert all(rule.action is Action.BLOCK for rule in parsed.rules)
    assert parsed.metadata["title"] == "trackguard built-in tracker list"


def test_every_entry_has_its_own_comment() -> None:
    lines = TEXT.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith(("-", "+"))]
    for i in rules:
        above = lines[i - 1]
        assert above.startswith("# ") and len(above) > 12, f"line {i + 1}: {lines[i]!r}"
    assert len({lines[i] for i in rules}) == len(rules), "duplicate entries"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://www.google-analytics.com/collect", "image"),
        ("https://region1.analytics.google.com/g/collect?v=2", "ping"),
        ("https://www.googletagmanager.com/gtag/js?id=G-X", "script"),
        ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "script"),
        ("https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", "script"),
        ("https://connect.facebook.net/en_US/fbevents.js", "script"),
        ("https://www.facebook.com/tr?id=1&ev=PageView", "image"),
        ("https://static.hotjar.com/c/hotjar-1.js", "script"),
        ("https://api-js.mixpanel.com/track/", "xmlhttprequest"),
        ("https://cdn.segment.com/analytics.js/v1/k/analytics.min.js", "script"),
        ("https://api2.amplitude.com/2/httpapi", "xmlhttprequest"),
        ("https://sb.scorecardresearch.com/b?c1=2", "image"),
        ("https://pixel.quantserve.com/pixel", "image"),
        ("https://static.criteo.net/js/ld/publishertag.js", "script"),
        ("https://cdn.taboola.com/libtrc/site/loader.js", "script"),
        ("https://widgets.outbrain.com/outbrain.js", "script"),
        ("https://analytics.tiktok.com/i18n/pixel/events.js", "script"),
        ("https://mc.yandex.ru/metrika/tag.js", "script"),
        ("https://bat.bing.com/bat.js", "script"),
        ("https://snap.licdn.com/li.lms-analytics/insight.min.js", "script"),
        ("https://static.ads-twitter.com/uwt.js", "script"),
        ("https://assets.adobedtm.com/launch-x.min.js", "script"),
        ("https://bam.nr-data.net/1/abc", "xmlhttprequest"),
        ("https://js-agent.newrelic.com/nr-spa.min.js", "script"),
    ],
)
def test_blocks_well_known_trackers(engine: Engine, url: str, kind: str) -> None:
    decision = engine.check(url, PAGE, kind)
    assert decision.blocked, url


@pytest.mark.parametrize(
    "url",
    [
        "https://fonts.googleapis.com/css2?family=Roboto",
        "https://ajax.googleapis.com/ajax/libs/jquery/3.7.1/jquery.min.js",
        "https://www.gstatic.com/recaptcha/releases/x/recaptcha__en.js",
        "https://www.google.com/recaptcha/api.js",
        "https://maps.googleapis.com/maps/api/js",
        "https://www.youtube.com/embed/abc",
        "https://accounts.google.com/gsi/client",
        "https://www.facebook.com/plugins/post.php?href=x",
        "https://cdn.jsdelivr.net/npm/bootstrap@5/dist/js/bootstrap.min.js",
        "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.21/lodash.min.js",
        "https://js.stripe.com/v3/",
        "https://www.paypal.com/sdk/js?client-id=x",
        "https://platform.twitter.com/widgets.js",
        "https://player.vimeo.com/video/1",
    ],
)
def test_leaves_content_and_services_alone(engine: Engine, url: str) -> None:
    assert not engine.check(url, PAGE, "script").blocked, url


def test_first_party_use_is_never_blocked(engine: Engine) -> None:
    for url, page in [
        ("https://www.google-analytics.com/analytics.js", "https://www.google-analytics.com/"),
        ("https://www.hotjar.com/pricing/logo.png", "https://www.hotjar.com/pricing"),
        ("https://cdn.taboola.com/x.js", "https://www.taboola.com/"),
    ]:
        assert not engine.check(url, page, "script").blocked, url
