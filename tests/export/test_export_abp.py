"""ABP export: TPL and hosts rules as Adblock Plus filters that decide like the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compare import comparable, exact_rules

from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.report import Fate
from trackguard.lists import parse_list

TPL = """msFilterList
-d tracker.example
-d ads.example /banner/
- /pixel.gif?
+d partner.example
+d partner.example /widget/
- http://plain.example/t.js
- /odd^sep
-d 203.0.113.7
-d ads2.example banner
"""

REQUESTS = [
    "https://tracker.example/p.gif",
    "https://a.tracker.example.net/p.gif",
    "https://mytracker.example/p.gif",
    "https://ads.example/x/banner/1.png",
    "https://ads.example:8443/banner/1.png",
    "https://x.ads.example.org/y/banner/1.png",
    "https://ads.example/img/1.png",
    "https://c.example/t/pixel.gif?id=1",
    "https://partner.example/pixel.gif?x",
    "http://plain.example/t.js",
    "https://plain.example/t.js",
    "http://203.0.113.7/ad.js",
    "http://203.0.113.70/ad.js",
]


def test_tpl_rules_as_abp_decide_like_tpl() -> None:
    parsed = parse_list(TPL, "t.tpl")
    report = export_lists("abp", [parsed])
    fates = {o.rule.source.text: (o.fate, o.reason) for o in report.output.outcomes}
    assert fates["- /odd^sep"] == (Fate.DROPPED, "literal-separator")
    assert fates["-d ads2.example banner"] == (Fate.DROPPED, "abp-label-run-pattern")
    (text,) = report.output.files.values()
    assert "||tracker.example^$third-party" in text.splitlines()
    original = Engine.from_parsed([parsed])
    exported = Engine.from_text(text, "abp", list_id="out.txt")
    exact = exact_rules(report)
    checked = 0
    for url in REQUESTS:
        for page in ("https://news.example/", url):
            if comparable(original, exact, url, page, "image"):
                checked += 1
                want = original.check(url, page, "image").blocked
                assert exported.check(url, page, "image").blocked == want, (url, page)
    assert checked >= len(REQUESTS) * 2 - 2


def test_abp_rules_pass_through_unchanged(el_ep_lists: list[Any]) -> None:
    source = [p for p in el_ep_lists if p.list_id == "easyprivacy.txt"]
    report = export_lists("abp", source)
    assert report.counts() == {"exact": len(source[0].rules)}
    (text,) = report.output.files.values()
    again = parse_list(text, "easyprivacy.txt")
    assert {r.source.text for r in again.rules} == {r.source.text for r in source[0].rules}


def test_hosts_as_abp() -> None:
    parsed = parse_list("0.0.0.0 ads.example\n0.0.0.0 1.2.3.4\n", "h.hosts", "hosts")
    report = export_lists("abp", [parsed])
    (text,) = report.output.files.values()
    assert "||ads.example^" in text.splitlines()
    assert report.counts()["exact"] == len(parsed.rules)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["easyprivacy_nointernational.tpl", "fanboy-social.tpl"])
def test_corpus_tpl_as_abp_decides_like_the_tpl(
    name: str, corpus_dir: Path, real_requests: list[dict[str, Any]]
) -> None:
    parsed = parse_list((corpus_dir / "tpl" / name).read_text("utf-8"), name)
    report = export_lists("abp", [parsed])
    counts = report.counts()
    assert counts["exact"] > 0.9 * len(parsed.rules)
    (text,) = report.output.files.values()
    original = Engine.from_parsed([parsed])
    exported = Engine.from_text(text, "abp", list_id="out.txt")
    exact = exact_rules(report)
    compared = blocked = 0
    for r in real_requests[::2]:
        url, page, rtype = r["url"], r["source_url"], r["type"]
        if not comparable(original, exact, url, page, rtype):
            continue
        compared += 1
        want = original.check(url, page, rtype).blocked
        blocked += want
        assert exported.check(url, page, rtype).blocked == want, (url, page, rtype)
    assert compared > 1000 and blocked > 0
