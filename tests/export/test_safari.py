"""Safari export: schema, WebKit's regex subset, caps, and decisions like the engine.

The decisions are checked by a small evaluator of WebKit content-blocker semantics
written from Apple's "Creating a content blocker": each file is one content blocker; its
rules apply in order, `ignore-previous-rules` cancels every earlier match of that file; a
load is blocked when any blocker ends with a block. `url-filter` is matched
case-insensitively against the URL; `if-domain` / `unless-domain` against the page's
host (`*` prefix: subdomains too); `load-type` first/third party by registrable domain.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import re2
from compare import comparable, exact_rules
from publicsuffixlist import PublicSuffixList
from schemas import SAFARI_LIST, webkit_regex_problem

from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.report import Fate
from trackguard.export.safari import SafariOptions, export_safari
from trackguard.lists import parse_list

_PSL = PublicSuffixList()
_TYPES = {
    "script": "script",
    "image": "image",
    "stylesheet": "style-sheet",
    "font": "font",
    "media": "media",
    "ping": "ping",
    "xmlhttprequest": "fetch",
    "websocket": "websocket",
    "other": "other",
    "object": "other",
}


@functools.cache
def _required_literal(rx: str) -> str:
    """A lower-case text every match of one of our url-filters contains (for speed).

    Cached: the exceptions are repeated in every file, so half the filters recur."""
    best, cur, i, depth = "", "", 0, 0
    while i < len(rx):
        c = rx[i]
        if c == "\\" and i + 1 < len(rx):
            if depth == 0:
                cur += rx[i + 1]
            i += 2
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        if depth == 0 and c not in "()[].*+?^$":
            cur += c
        else:
            if i + 1 < len(rx) and rx[i + 1] in "*?":
                cur = cur[:-1]
            best = max(best, cur, key=len)
            cur = ""
        if i + 1 < len(rx) and rx[i + 1] in "*?" and cur:
            cur = cur[:-1]
            best = max(best, cur, key=len)
            cur = ""
        i += 1
    return max(best, cur, key=len).lower()


class WebKitEvaluator:
    """Rules are found through a literal each url-filter needs (one RE2 set per file),
    then checked in full, in file order."""

    def __init__(self, blockers: list[list[dict[str, Any]]]) -> None:
        self.blockers = []
        big = re2.Options()
        big.max_mem = 1 << 30
        for rules in blockers:
            compiled = []
            always: list[int] = []
            screen = re2.Set.SearchSet(big)
            screened: list[int] = []
            for i, rule in enumerate(rules):
                literal = _required_literal(rule["trigger"]["url-filter"])
                compiled.append((rule, None, literal))
                if len(literal) >= 3:
                    screen.Add(re2.escape(literal))
                    screened.append(i)
                else:
                    always.append(i)
            screen.Compile()
            self.blockers.append((compiled, always, screen, screened))

    @staticmethod
    def _regex(rule: dict[str, Any]) -> re.Pattern[str]:
        trig = rule["trigger"]
        flags = 0 if trig.get("url-filter-is-case-sensitive") else re.IGNORECASE
        return re.compile(trig["url-filter"], flags)  # noqa: TID251 - test-only

    @staticmethod
    def _domain_in(host: str, entries: list[str]) -> bool:
        for e in entries:
            if e.startswith("*"):
                if host == e[1:] or host.endswith("." + e[1:]):
                    return True
            elif host == e:
                return True
        return False

    def blocked(self, url: str, page: str, rtype: str, frame: str = "") -> bool:
        host = (urlsplit(url).hostname or "").lower()
        page_host = (urlsplit(page).hostname or "").lower()
        third = (_PSL.privatesuffix(host) or host) != (_PSL.privatesuffix(page_host) or page_host)
        wtype = "document" if rtype in ("subdocument", "document") else _TYPES.get(rtype, "other")
        context = "top-frame" if rtype == "document" else "child-frame"
        low = url.lower()
        for compiled, always, screen, screened in self.blockers:
            state = False
            hits = sorted(always + [screened[i] for i in (screen.Match(low) or ())])
            for index in hits:
                rule, _, literal = compiled[index]
                trig = rule["trigger"]
                if wtype not in trig.get("resource-type", [wtype]):
                    continue
                if "load-context" in trig and (
                    wtype != "document" or context not in trig["load-context"]
                ):
                    continue
                if "load-type" in trig and trig["load-type"] != [
                    "third-party" if third else "first-party"
                ]:
                    continue
                if "if-domain" in trig and not self._domain_in(page_host, trig["if-domain"]):
                    continue
                if "unless-domain" in trig and self._domain_in(page_host, trig["unless-domain"]):
                    continue
                if literal and literal not in low:
                    continue
                if self._regex(rule).search(url) is None:
                    continue
                state = rule["action"]["type"] == "block"
            if state:
                return True
        return False


def blockers(files: dict[str, str]) -> list[list[dict[str, Any]]]:
    names = json.loads(files["index.json"])
    return [json.loads(files[n]) for n in names]


SMALL = """[Adblock Plus 2.0]
||tracker.example^
/pixel.gif?
||ads.example^$third-party,script
@@||tracker.example^*/allowed/
||important.example^$important
@@||important.example^
||frame.example^$subdocument
||paged.example^$domain=news.example
@@||safe.example^$document
/banner^
||denied.example^$denyallow=ok.example
"""

CASES = [
    ("https://tracker.example/p.gif", "https://news.example/", "image"),
    ("https://sub.tracker.example/p.gif", "https://news.example/", "image"),
    ("https://tracker.example.org/p.gif", "https://news.example/", "image"),
    ("https://tracker.example/x/allowed/p.gif", "https://news.example/", "image"),
    ("https://any.example/pixel.gif?a", "https://news.example/", "image"),
    ("https://ads.example/a.js", "https://news.example/", "script"),
    ("https://ads.example/a.js", "https://ads.example/", "script"),
    ("https://ads.example/a.png", "https://news.example/", "image"),
    ("https://important.example/a.js", "https://news.example/", "script"),
    ("https://frame.example/f.html", "https://news.example/", "subdocument"),
    ("https://frame.example/f.js", "https://news.example/", "script"),
    ("https://paged.example/a.js", "https://www.news.example/", "script"),
    ("https://paged.example/a.js", "https://other.example/", "script"),
    ("https://tracker.example/p.gif", "https://safe.example/", "image"),
    ("https://x.example/banner", "https://news.example/", "image"),
    ("https://x.example/banner/1", "https://news.example/", "image"),
    ("https://x.example/bannerx", "https://news.example/", "image"),
]


def test_small_list_decides_like_the_engine() -> None:
    parsed = [parse_list(SMALL, "s.txt")]
    report = export_lists("safari", parsed)
    fates = {o.rule.source.text: (o.fate, o.reason) for o in report.output.outcomes}
    assert fates["||denied.example^$denyallow=ok.example"] == (Fate.DROPPED, "denyallow")
    assert fates["||tracker.example^"] == (Fate.EXACT, "")
    engine = Engine.from_parsed(parsed)
    evaluator = WebKitEvaluator(blockers(report.output.files))
    exact = exact_rules(report)
    compared = 0
    for url, page, rtype in CASES:
        if comparable(engine, exact, url, page, rtype):
            compared += 1
            want = engine.check(url, page, rtype).blocked
            assert evaluator.blocked(url, page, rtype) == want, (url, page, rtype)
    assert compared == len(CASES)


def test_caps_split_files_and_repeat_exceptions() -> None:
    text = "\n".join(f"||t{i}.example^$image" for i in range(30)) + "\n@@||ok.t1.example^\n"
    out = export_safari(parse_list(text, "c.txt").rules, SafariOptions(max_rules=11))
    files = blockers(out.files)
    # A trailing `^` is two WebKit rules; the exception (all types) is four.
    exceptions = files[0][-4:]
    assert all(r["action"]["type"] == "ignore-previous-rules" for r in exceptions)
    assert len(files) == 9 and all(len(f) <= 11 and f[-4:] == exceptions for f in files)
    assert sum(len(f) - 4 for f in files) == 60


@pytest.fixture(scope="module")
def el_ep_safari(el_ep_lists: list[Any]) -> Any:
    return export_lists("safari", el_ep_lists)


@pytest.mark.slow
def test_easylist_easyprivacy_validate(el_ep_safari: Any) -> None:
    files = blockers(el_ep_safari.output.files)
    for rules in files:
        assert len(rules) <= SafariOptions().max_rules
        jsonschema.validate(rules[::25], SAFARI_LIST)  # every shape, in bounded time
        for text in {rule["trigger"]["url-filter"] for rule in rules}:  # each filter once
            problem = webkit_regex_problem(text)
            assert problem is None, (text, problem)
        for rule in rules[::25]:
            re.compile(rule["trigger"]["url-filter"])  # noqa: TID251 - test-only
    assert el_ep_safari.counts()["exact"] > 0.9 * el_ep_safari.rules_in


@pytest.mark.slow
def test_easyprivacy_decides_like_the_engine(
    el_ep_lists: list[Any], real_requests: list[dict[str, Any]]
) -> None:
    source = [p for p in el_ep_lists if p.list_id == "easyprivacy.txt"]
    report = export_lists("safari", source)
    engine = Engine.from_parsed(source)
    evaluator = WebKitEvaluator(blockers(report.output.files))
    exact = exact_rules(report)
    compared = blocked = 0
    for r in real_requests[::8]:
        url, page, rtype = r["url"], r["source_url"], r["type"]
        if not comparable(engine, exact, url, page, rtype):
            continue
        compared += 1
        want = engine.check(url, page, rtype).blocked
        blocked += want
        assert evaluator.blocked(url, page, rtype) == want, (url, page, rtype)
    assert compared > 500 and blocked > 20
