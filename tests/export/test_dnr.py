"""DNR export: mapping, limits, schema, and decisions equal to the engine's.

The decisions are checked with `dnr_eval`, an evaluator written from Chrome's DNR
documentation (the real browser is in test_extension.py and test_fidelity.py).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import re2
from compare import comparable, exact_rules
from dnr_eval import DnrEvaluator
from schemas import DNR_RULESET

from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.dnr import (
    GUARANTEED_MINIMUM_STATIC_RULES,
    MAX_NUMBER_OF_REGEX_RULES,
    REGEX_MAX_MEM,
    DnrOptions,
    export_dnr,
)
from trackguard.export.report import Fate
from trackguard.lists import parse_list
from trackguard.model import ParsedList

ABP = """[Adblock Plus 2.0]
||tracker.example^
||ads.example^$third-party
||cdn.example/ads/*.js
/pixel.gif?
||metrics.example^$script,domain=news.example|~sub.news.example
@@||tracker.example/allowed/
||important.example^$important
@@||important.example^
@@||safe.example^$document
||widget.example^$denyallow=ok.widget.example
/CaseSensitive/*$match-case
||popup.example^$popup
||site.example^$removeparam=utm_source
/^https?:\\/\\/rx\\.example\\/[0-9]+\\.js/
||ent.example^$domain=google.*
||docblock.example^$document
"""

TPL = """msFilterList
-d tpltrack.example
-d tplads.example /banner/
- /tplpixel.gif?
+d ok.tpltrack.example
- http://plain.example/t.js
"""

HOSTS = "0.0.0.0 hostsblock.example\n"

CASES = [
    # (url, page, type)
    ("https://tracker.example/p.gif", "https://news.example/", "image"),
    ("https://sub.tracker.example/p.gif", "https://news.example/", "image"),
    ("https://tracker.example.org/p.gif", "https://news.example/", "image"),
    ("https://tracker.example/allowed/x.js", "https://news.example/", "script"),
    ("https://ads.example/a.js", "https://news.example/", "script"),
    ("https://ads.example/a.js", "https://ads.example/", "script"),
    ("https://cdn.example/ads/x.js", "https://news.example/", "script"),
    ("https://cdn.example/ads/x.css", "https://news.example/", "stylesheet"),
    ("https://any.example/t/pixel.gif?id=1", "https://news.example/", "image"),
    ("https://metrics.example/m.js", "https://news.example/", "script"),
    ("https://metrics.example/m.js", "https://sub.news.example/", "script"),
    ("https://metrics.example/m.js", "https://other.example/", "script"),
    ("https://metrics.example/m.gif", "https://news.example/", "image"),
    ("https://important.example/x.js", "https://news.example/", "script"),
    ("https://tracker.example/p.gif", "https://safe.example/", "image"),
    ("https://widget.example/w.js", "https://news.example/", "script"),
    ("https://ok.widget.example/w.js", "https://news.example/", "script"),
    ("https://x.example/CaseSensitive/a", "https://news.example/", "image"),
    ("https://x.example/casesensitive/a", "https://news.example/", "image"),
    ("https://rx.example/123.js", "https://news.example/", "script"),
    ("https://rx.example/abc.js", "https://news.example/", "script"),
    ("https://tpltrack.example/a", "https://news.example/", "script"),
    ("https://a.tpltrack.example.net/a", "https://news.example/", "script"),
    ("https://ok.tpltrack.example/a", "https://news.example/", "script"),
    ("https://tpltrack.example/a", "https://tpltrack.example/", "script"),
    ("https://tplads.example/img/banner/1.png", "https://news.example/", "image"),
    ("https://x.tplads.example.org/banner/1.png", "https://news.example/", "image"),
    ("https://tplads.example/img/1.png", "https://news.example/", "image"),
    ("https://q.example/tplpixel.gif?a", "https://news.example/", "image"),
    ("http://plain.example/t.js", "https://news.example/", "script"),
    ("https://plain.example/t.js", "https://news.example/", "script"),
    ("https://hostsblock.example/x", "https://news.example/", "xmlhttprequest"),
    ("https://a.hostsblock.example/x", "https://hostsblock.example/", "xmlhttprequest"),
    ("https://docblock.example/", "https://news.example/", "document"),
    ("https://docblock.example/x.js", "https://news.example/", "script"),
]

_DNR_TYPE = {
    "subdocument": "sub_frame",
    "document": "main_frame",
}


def dnr_type(engine_type: str) -> str:
    return _DNR_TYPE.get(engine_type, engine_type)


def small_lists() -> list[ParsedList]:
    return [
        parse_list(ABP, "small.txt"),
        parse_list(TPL, "small.tpl"),
        parse_list(HOSTS, "small.hosts", "hosts"),
    ]


def rulesets(files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {
        name.split("/")[1][: -len(".json")]: json.loads(text)
        for name, text in files.items()
        if name.startswith("rulesets/")
    }


def test_small_lists_decide_like_the_engine() -> None:
    parsed = small_lists()
    report = export_lists("dnr", parsed)
    engine = Engine.from_parsed(parsed)
    evaluator = DnrEvaluator(rulesets(report.output.files))
    exact = exact_rules(report)
    compared = 0
    for url, page, rtype in CASES:
        if not comparable(engine, exact, url, page, rtype):
            continue
        compared += 1
        want = engine.check(url, page, rtype).blocked
        got = evaluator.blocked(url, page, dnr_type(rtype))
        assert got == want, (url, page, rtype, engine.check(url, page, rtype).rule)
    assert compared >= len(CASES) - 3


def test_small_lists_report() -> None:
    report = export_lists("dnr", small_lists())
    fates = {o.rule.source.text: (o.fate, o.reason) for o in report.output.outcomes}
    assert fates["||popup.example^$popup"] == (Fate.DROPPED, "popup")
    assert fates["||ent.example^$domain=google.*"] == (Fate.DROPPED, "entity-domain")
    assert fates["||site.example^$removeparam=utm_source"][0] is Fate.NARROWED
    assert fates["-d tpltrack.example"] == (Fate.EXACT, "")
    assert fates["||tracker.example^"] == (Fate.EXACT, "")
    assert report.rules_in == len(report.output.outcomes)


def test_mapping_of_options() -> None:
    files = export_lists("dnr", small_lists()).output.files
    rules = [r for rs in rulesets(files).values() for r in rs]

    def find(**cond: Any) -> dict[str, Any]:
        for r in rules:
            if all(r["condition"].get(k) == v for k, v in cond.items()):
                return r
        raise AssertionError(f"no rule with {cond}")

    meta = find(initiatorDomains=["news.example"])
    assert meta["condition"]["excludedInitiatorDomains"] == ["sub.news.example"]
    assert meta["condition"]["resourceTypes"] == ["script"]
    assert find(requestDomains=["important.example"])["priority"] == 3
    allow = find(urlFilter="||tracker.example/allowed/")
    assert allow["action"] == {"type": "allow"} and allow["priority"] == 2
    page = find(requestDomains=["safe.example"])
    assert page["action"]["type"] == "allowAllRequests"
    assert page["condition"]["resourceTypes"] == ["main_frame"]
    assert find(excludedRequestDomains=["ok.widget.example"])["action"]["type"] == "block"
    assert find(urlFilter="/CaseSensitive/")["condition"]["isUrlFilterCaseSensitive"] is True
    strip = find(requestDomains=["site.example"])
    assert strip["action"]["redirect"]["transform"]["queryTransform"] == {
        "removeParams": ["utm_source"]
    }
    assert find(urlFilter="||tpltrack.example.")["condition"]["domainType"] == "thirdParty"
    assert find(urlFilter="https://plain.example/t.js")
    assert find(requestDomains=["docblock.example"])["condition"].get("resourceTypes") == [
        "main_frame"
    ]


def test_host_rules_are_merged_and_explained() -> None:
    text = "\n".join(f"||t{i}.example^" for i in range(50)) + "\n||t7.example^$script\n"
    out = export_dnr(parse_list(text, "m.txt").rules)
    (rules,) = (json.loads(t) for n, t in out.files.items() if n.startswith("rulesets/"))
    assert len(rules) == 2
    assert len(rules[0]["condition"]["requestDomains"]) == 50
    (explain,) = (json.loads(t) for n, t in out.files.items() if n.startswith("explain/"))
    refs = {r[3]: (r[1], r[2]) for r in explain["1"]}
    assert refs["t7.example"] == (8, "||t7.example^")


def test_limits_split_rulesets_and_regexes() -> None:
    text = "\n".join(f"/p{i}x.$script" for i in range(25)) + "\n"
    text += "\n".join(f"/^https:\\/\\/r{i}\\.example\\//" for i in range(5)) + "\n"
    rules = parse_list(text, "l.txt").rules
    out = export_dnr(rules, DnrOptions(max_rules_per_ruleset=10, max_regex_rules=3))
    sets = rulesets(out.files)
    assert sorted(len(v) for v in sets.values()) == [8, 10, 10]
    reasons = [o.reason for o in out.outcomes if o.fate is Fate.DROPPED]
    assert reasons == ["regex-count-limit", "regex-count-limit"]
    index = json.loads(out.files["rulesets.json"])
    assert [r["id"] for r in index] == ["tg_l_txt", "tg_l_txt_2", "tg_l_txt_3"]


def test_regex_over_chrome_memory_limit_is_dropped() -> None:
    big = "/^https?:\\/\\/x\\.example\\/" + "[a-z0-9]{1,40}" * 3 + "/"
    out = export_dnr(parse_list(big + "\n", "r.txt").rules)
    assert [o.reason for o in out.outcomes] == ["regex-chrome-limit"]


@pytest.fixture(scope="module")
def el_ep_dnr(el_ep_lists: list[ParsedList]) -> Any:
    return export_lists("dnr", el_ep_lists)


def test_easylist_easyprivacy_validate_and_fit_chrome_limits(el_ep_dnr: Any) -> None:
    sets = rulesets(el_ep_dnr.output.files)
    regexes = 0
    total = 0
    for rules in sets.values():
        jsonschema.validate(rules, DNR_RULESET)
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids))
        for r in rules:
            rx = r["condition"].get("regexFilter")
            if rx is not None:
                regexes += 1
                options = re2.Options()
                options.max_mem = REGEX_MAX_MEM
                options.case_sensitive = False
                re2.compile(rx, options)
        total += len(rules)
    assert regexes <= MAX_NUMBER_OF_REGEX_RULES
    assert total <= GUARANTEED_MINIMUM_STATIC_RULES
    counts = el_ep_dnr.counts()
    assert counts["exact"] > 0.95 * el_ep_dnr.rules_in


@pytest.mark.slow
def test_easylist_easyprivacy_decide_like_the_engine(
    el_ep_dnr: Any, easylist_easyprivacy: Engine, real_requests: list[dict[str, Any]]
) -> None:
    evaluator = DnrEvaluator(rulesets(el_ep_dnr.output.files))
    exact = exact_rules(el_ep_dnr)
    compared = blocked = 0
    wrong = []
    for r in real_requests:
        url, page, rtype = r["url"], r["source_url"], r["type"]
        if not comparable(easylist_easyprivacy, exact, url, page, rtype):
            continue
        compared += 1
        want = easylist_easyprivacy.check(url, page, rtype)
        blocked += want.blocked
        if evaluator.blocked(url, page, dnr_type(rtype)) != want.blocked:
            wrong.append((url, page, rtype, want.rule))
    assert compared > 0.9 * len(real_requests)
    assert blocked > 500
    assert not wrong, wrong[:10]
