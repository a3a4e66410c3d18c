"""The running proxy with the real engine: decisions that need the page.

A request is judged against the page that made it (TPL spec §A.7): a listed site's own
resources load on its own pages (`-d` and `$third-party` rules are third-party only), and
`$domain=` rules apply only on the pages they name. A proxy that lost the page on its way
to the engine would block a listed site's own scripts and ignore `$domain=`; these tests
send such requests through a real proxy to real loopback origins. Mutations:
tests/MUTATIONS.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from proxy_helpers import LoopThread, Net, Origin, make_matcher, start_proxy

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
LISTS = (
    ("test.tpl", "msFilterList\n-d tracker.test\n"),
    (
        "test.txt",
        "[Adblock Plus 2.0]\n/ads.js$domain=site.test\n||ads.test^$third-party\n",
    ),
)


@pytest.fixture(scope="module")
def real_net() -> Iterator[Net]:
    loop = LoopThread()
    site, tracker, cdn = Origin("site"), Origin("tracker"), Origin("cdn")
    for origin in (site, tracker, cdn):
        loop.run(origin.start())
    proxy = start_proxy(loop, matcher=make_matcher(LISTS))
    yield Net(loop, proxy, site, tracker, cdn, None)
    loop.run(proxy.close())
    for origin in (site, tracker, cdn):
        loop.run(origin.close())
    loop.stop()


@pytest.fixture
def net(real_net: Net) -> Net:
    real_net.reset()
    return real_net


def fetch(net: Net, page_host: str, host: str, path: str) -> httpx.Response:
    """Open `http://page_host/page.html` as a typed address, then fetch `host/path` from it."""
    with httpx.Client(proxy=net.proxy_url, timeout=30, trust_env=False) as c:
        page = c.get(net.url(page_host, "/page.html"), headers={"Accept": HTML})
        assert page.status_code == 200
        return c.get(net.url(host, path), headers={"Referer": net.url(page_host, "/page.html")})


def test_a_listed_sites_own_script_passes_on_its_own_page(net: Net) -> None:
    own = fetch(net, "tracker.test", "cdn.tracker.test", "/t.js")
    assert own.status_code == 200 and own.text == "window.loaded = true;"
    assert "x-trackguard-blocked" not in own.headers
    assert [s.target for s in net.tracker.seen] == ["/page.html", "/t.js"]
    # The same script from another site is a third-party tracker.
    net.reset()
    other = fetch(net, "site.test", "cdn.tracker.test", "/t.js")
    assert other.headers["x-trackguard-blocked"].startswith("-d tracker.test (test.tpl:2)")
    assert net.tracker.seen == []


def test_third_party_option_spares_the_first_party(net: Net) -> None:
    own = fetch(net, "ads.test", "ads.test", "/a.js")
    assert own.status_code == 200 and "x-trackguard-blocked" not in own.headers
    net.reset()
    other = fetch(net, "site.test", "ads.test", "/a.js")
    assert other.headers["x-trackguard-blocked"].startswith("||ads.test^$third-party")


def test_domain_option_applies_on_the_named_site_only(net: Net) -> None:
    on_site = fetch(net, "site.test", "cdn.test", "/ads.js")
    assert on_site.headers["x-trackguard-blocked"].startswith(
        "/ads.js$domain=site.test (test.txt:2)"
    )
    assert [s.target for s in net.cdn.seen] == []
    net.reset()
    elsewhere = fetch(net, "other.test", "cdn.test", "/ads.js")
    assert elsewhere.status_code == 200 and elsewhere.text == "window.loaded = true;"
    assert "x-trackguard-blocked" not in elsewhere.headers
    assert [s.target for s in net.cdn.seen] == ["/page.html", "/ads.js"]
