"""A small evaluator of Chrome's declarativeNetRequest semantics, for tests only.

Written from Chrome's documentation (chrome.declarativeNetRequest: RuleCondition,
"Rule priorities", "urlFilter syntax"), not from trackguard's engine, so that comparing
the two checks the exporter against an independent reading of DNR:

- urlFilter: `*` any run, `|` start / end anchor, `||` start of the host or of one of its
  labels, `^` a separator (anything but a letter, digit, `_ - . %`) or the end of the URL;
  case-insensitive unless `isUrlFilterCaseSensitive`.
- requestDomains / initiatorDomains: the domain or a subdomain; excluded* entries take
  precedence over included ones.
- domainType: first party when request and initiator share a registrable domain.
- resourceTypes: when absent, every type but main_frame.
- The matching rule with the highest priority wins; at equal priority allow >
  allowAllRequests > block > upgradeScheme > redirect. An allowAllRequests rule that
  matched the page's navigation outranks the page's requests' rules of lower or equal
  priority. A redirect that would not change the URL is no action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import re2
from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList()
_RANK = {"allow": 5, "allowAllRequests": 4, "block": 3, "upgradeScheme": 2, "redirect": 1}
_SEP = "(?:[^a-zA-Z0-9_.%-]|$)"
_ALL_BUT_MAIN = frozenset(
    "sub_frame stylesheet script image font object xmlhttprequest ping csp_report media "
    "websocket webtransport webbundle other".split()
)


def canonical(url: str) -> str:
    """The URL roughly as Chrome serialises a request URL (no fragment, default port off)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path or "/"
    query = "?" + parts.query if parts.query else ("?" if url.split("#")[0].endswith("?") else "")
    return f"{parts.scheme.lower()}://{netloc}{path}{query}"


def url_filter_regex(text: str, case: bool) -> re.Pattern[str]:
    out = ""
    if text.startswith("||"):
        out = r"^[a-z][a-z0-9+.-]*://(?:[^/?#:]*\.)?"
        text = text[2:]
    elif text.startswith("|"):
        out = "^"
        text = text[1:]
    end = ""
    if text.endswith("|"):
        end = "$"
        text = text[:-1]
    for ch in text:
        out += ".*" if ch == "*" else _SEP if ch == "^" else re.escape(ch)
    flags = 0 if case else re.IGNORECASE
    return re.compile(out + end, flags)  # noqa: TID251 - test-only translation, our own text


def _domain_match(host: str, domains: frozenset[str]) -> bool:
    """`host` is one of `domains` or below one (a suffix walk: lists can be long)."""
    if not domains:
        return False
    while True:
        if host in domains:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


_DOMAIN_KEYS = (
    "requestDomains",
    "excludedRequestDomains",
    "initiatorDomains",
    "excludedInitiatorDomains",
)


def _site(host: str) -> str:
    return _PSL.privatesuffix(host) or host


@dataclass
class _Rule:
    ruleset: str
    raw: dict[str, Any]
    url_rx: Any
    literal: str
    domains: dict[str, frozenset[str]]

    @property
    def action(self) -> str:
        return str(self.raw["action"]["type"])

    @property
    def priority(self) -> int:
        return int(self.raw.get("priority", 1))


def _literal(url_filter: str) -> str:
    pieces = re.split(r"[*^|]", url_filter.lower())
    return max(pieces, key=len, default="")


class DnrEvaluator:
    """Rules are looked up by request host (`requestDomains`) or by a literal every
    matching URL contains (one RE2 set over all literals): only candidate lookup, every
    candidate is then checked in full."""

    def __init__(self, rulesets: dict[str, list[dict[str, Any]]]) -> None:
        self.by_host: dict[str, list[_Rule]] = {}
        self.other: list[_Rule] = []
        self._page_cache: dict[str, list[_Rule]] = {}
        for name, rules in rulesets.items():
            for raw in rules:
                cond = raw["condition"]
                case = bool(cond.get("isUrlFilterCaseSensitive", False))
                literal = ""
                if "urlFilter" in cond:
                    rx: Any = url_filter_regex(cond["urlFilter"], case)
                    literal = "" if case else _literal(cond["urlFilter"])
                elif "regexFilter" in cond:
                    options = re2.Options()
                    options.case_sensitive = case
                    rx = re2.compile(cond["regexFilter"], options)
                else:
                    rx = None
                domains = {k: frozenset(cond.get(k, ())) for k in _DOMAIN_KEYS}
                rule = _Rule(name, raw, rx, literal, domains)
                if "requestDomains" in cond:
                    for d in cond["requestDomains"]:
                        self.by_host.setdefault(d, []).append(rule)
                else:
                    self.other.append(rule)
        self.always = [r for r in self.other if len(r.literal) < 3]
        self.screened = [r for r in self.other if len(r.literal) >= 3]
        big = re2.Options()
        big.max_mem = 1 << 30
        self.screen = re2.Set.SearchSet(big)
        for r in self.screened:
            self.screen.Add(re2.escape(r.literal))
        self.screen.Compile()

    def _candidates(self, host: str, low: str) -> list[_Rule]:
        out: list[_Rule] = []
        labels = host.split(".")
        for i in range(len(labels)):
            out.extend(self.by_host.get(".".join(labels[i:]), ()))
        out.extend(self.always)
        out.extend(self.screened[i] for i in (self.screen.Match(low) or ()))
        return out

    def matching(self, url: str, initiator: str | None, rtype: str) -> list[_Rule]:
        url = canonical(url)
        low = url.lower()
        host = (urlsplit(url).hostname or "").lower()
        ihost = (urlsplit(initiator).hostname or "").lower() if initiator else ""
        out = []
        seen: set[int] = set()
        for rule in self._candidates(host, low):
            if id(rule) in seen:
                continue
            seen.add(id(rule))
            cond = rule.raw["condition"]
            types = cond.get("resourceTypes")
            if types is None:
                if rtype not in _ALL_BUT_MAIN:
                    continue
            elif rtype not in types:
                continue
            if rule.literal and rule.literal not in low:
                continue
            domains = rule.domains
            if "requestDomains" in cond and not _domain_match(host, domains["requestDomains"]):
                continue
            if _domain_match(host, domains["excludedRequestDomains"]):
                continue
            if "initiatorDomains" in cond and not (
                ihost and _domain_match(ihost, domains["initiatorDomains"])
            ):
                continue
            if ihost and _domain_match(ihost, domains["excludedInitiatorDomains"]):
                continue
            dtype = cond.get("domainType")
            if dtype is not None:
                third = not ihost or _site(host) != _site(ihost)
                if (dtype == "thirdParty") != third:
                    continue
            if rule.url_rx is not None and rule.url_rx.search(url) is None:
                continue
            out.append(rule)
        return out

    def decide(self, url: str, initiator: str | None, rtype: str) -> tuple[str, _Rule | None]:
        """("block" | "allow" | "redirect:<url>" | "none", deciding rule)."""
        candidates: list[tuple[int, int, str, _Rule | None]] = []
        if initiator:
            page = self._page_cache.get(initiator)
            if page is None:
                page = self._page_cache[initiator] = self.matching(initiator, None, "main_frame")
            for r in page:
                if r.action == "allowAllRequests":
                    candidates.append((r.priority, _RANK["allowAllRequests"], "allow", r))
        for r in self.matching(url, initiator, rtype):
            if r.action == "allowAllRequests" and rtype not in ("main_frame", "sub_frame"):
                continue
            if r.action == "redirect":
                target = _transform(url, r.raw["action"]["redirect"]["transform"])
                if canonical(target) == canonical(url):
                    continue  # Chrome ignores a redirect to the same URL
                candidates.append((r.priority, _RANK["redirect"], "redirect:" + target, r))
                continue
            name = "allow" if r.action == "allowAllRequests" else r.action
            candidates.append((r.priority, _RANK[r.action], name, r))
        if not candidates:
            return "none", None
        best = max(candidates, key=lambda c: (c[0], c[1]))
        return best[2], best[3]

    def blocked(self, url: str, initiator: str | None, rtype: str) -> bool:
        for _ in range(3):
            action, _rule = self.decide(url, initiator, rtype)
            if action.startswith("redirect:"):
                url = action[len("redirect:") :]
                continue
            return action == "block"
        return False


def _transform(url: str, transform: dict[str, Any]) -> str:
    base = url.partition("#")[0]
    path, _, query = base.partition("?")
    if "query" in transform:
        return path + transform["query"]
    remove = set(transform.get("queryTransform", {}).get("removeParams", []))
    fields = [f for f in query.split("&") if f and f.split("=", 1)[0] not in remove]
    return path + ("?" + "&".join(fields) if fields else "")
