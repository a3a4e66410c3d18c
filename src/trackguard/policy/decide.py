"""The proxy's decision function: request headers + context -> verdict.

This is the policy layer around the engine (TPL spec §A.7, §A.8): which requests are
evaluated at all, who the first party is, the user's overrides, the global and per-site
switches, then what the lists say. It is a plain function of its inputs (the request's
headers, the settings, a matcher, a read of the navigation record); the asyncio server
only moves bytes and calls it. No I/O, no list parsing (the engine does that).

Evaluation order (§A.8, "Decision — evaluation order"):

    0. not evaluated: top-level navigations, unattributed requests that may be
       navigations (§A.7 items 3-4); other unattributed requests are judged as a
       tunnel is, on the host alone (revised item 4 -> `decide_tunnel`); requests made
       by a document the proxy blocked are blocked with it
    1. user overrides: allow / block for a domain                    -> that action
    2. protection off globally, or off for this first-party site     -> ALLOW
    3-4. the enabled lists (allow beats block; the engine decides)   -> ALLOW / BLOCK
    5. learned decisions (`auto`, or accepted suggestions), third-party only
                                                                     -> BLOCK / strip
    6. otherwise                                                     -> ALLOW
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from trackguard.domain import (
    UrlParts,
    host_suffixes,
    memo_short_urls,
    site_of,
    split_url,
    to_ascii_host,
)
from trackguard.model import Decision, RequestType, Rule
from trackguard.policy.attribution import NavigationRecord, PageContext, site_of_url
from trackguard.policy.classify import initiator_origin, is_top_level_navigation, request_type
from trackguard.policy.signals import SignalPlan, plan_signals
from trackguard.settings import Settings

_K = TypeVar("_K")
_V = TypeVar("_V")


class ListMatcher(Protocol):
    """What the policy needs from the engine (docs/ENGINE_API.md)."""

    def check(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> Decision: ...

    def check_host(self, host: str) -> Decision: ...

    def removeparam(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> tuple[str, tuple[Rule, ...]]: ...


class MemoMatcher:
    """A matcher with a bounded memo of its answers, for the proxy's hot path.

    The engine is read-only after build, so the same question always gets the same
    answer: `check` is memoised on the *whole* question (full URL, source URL, type), never
    on the host alone, so a cached allow for one URL can never hide a URL-level block for
    another URL of the same host. `check_host` (tunnels) is memoised on the host, which is
    all it reads. A new engine gets a new memo (see `server.ProxyState`). Long URLs and long
    page URLs are not memoised (rarely repeated, and the client chooses its Referer: they
    would make the memo's memory unbounded), and the memo drops its oldest entries when
    full.
    """

    MAX_URL = 1024

    def __init__(self, inner: ListMatcher, size: int = 16384) -> None:
        self.inner = inner
        self._size = size
        self._checks: dict[tuple[str, str | None, RequestType | str], Decision] = {}
        self._hosts: dict[str, Decision] = {}

    def check(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> Decision:
        key = (url, source_url, type)
        found = self._checks.get(key)
        if found is not None:
            return found
        found = self.inner.check(url, source_url, type)
        if len(url) <= self.MAX_URL and (source_url is None or len(source_url) <= self.MAX_URL):
            _remember(self._checks, key, found, self._size)
        return found

    def check_host(self, host: str) -> Decision:
        found = self._hosts.get(host)
        if found is None:
            found = self.inner.check_host(host)
            _remember(self._hosts, host, found, self._size)
        return found

    def removeparam(
        self, url: str, source_url: str | None = None, type: str | RequestType = "other"
    ) -> tuple[str, tuple[Rule, ...]]:
        return self.inner.removeparam(url, source_url, type)


def _remember(memo: dict[_K, _V], key: _K, value: _V, size: int) -> None:
    if len(memo) >= size:
        del memo[next(iter(memo))]  # oldest first (dicts keep insertion order)
    memo[key] = value


class Layer(enum.Enum):
    """Which step of the evaluation decided; logged with every verdict."""

    NAVIGATION = "navigation"  # top-level navigation: never blocked (§A.7 item 3)
    UNATTRIBUTED = "unattributed"  # no page context, may be a navigation (§A.7 item 4)
    BLOCKED_DOCUMENT = "blocked-document"  # made by a frame document the proxy blocked
    USER_ALLOW = "user-allow"
    USER_BLOCK = "user-block"
    PROTECTION_OFF = "protection-off"
    SITE_OFF = "site-off"  # the per-site switch (§A.7 item 5)
    LIST_ALLOW = "list-allow"
    LIST_BLOCK = "list-block"
    LEARNED_BLOCK = "learned-block"  # the personalized list, `auto` (learning.md §B7 step 5)
    LEARNED_STRIP = "learned-strip"  # ... its `strip` remedy: cookies removed, not blocked
    #: ... a learned block not applied: the exact host posts the EFF DNT policy (§B7.4)
    LEARNED_EXEMPT = "learned-exempt"
    NO_MATCH = "no-match"


@dataclass(frozen=True, slots=True)
class LearnedMatch:
    """A learned decision for one request; `decision` names a rule of the list
    "personalized" so it is explained and logged like any list decision."""

    block: bool  # False: strip cookies both ways and cut the Referer (§B6 `strip`)
    decision: Decision
    #: The learned decision is not applied at all (DNT-policy exemption, learning.md
    #: §B7.4): the request passes untouched; `decision.overridden` names the learned rule.
    exempt: bool = False


class LearnedLayer(Protocol):
    """The learner's layer as the policy sees it (`learn.service.LearnedPolicy`)."""

    def match(self, host: str, path: str) -> LearnedMatch | None: ...


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The settings the policy reads, in lookup-friendly form (built once per change)."""

    protection: bool = True
    exempt_sites: frozenset[str] = frozenset()
    user_allow: frozenset[str] = frozenset()
    user_block: frozenset[str] = frozenset()
    #: (site, host) pairs: host and its subdomains allowed on that first-party site only.
    site_allow: frozenset[tuple[str, str]] = frozenset()
    signals: SignalPlan = field(default_factory=SignalPlan)
    #: Learned decisions (§B7 step 5), below every list; None: no learner wired in.
    learned: LearnedLayer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        return cls(
            protection=settings.protection,
            exempt_sites=_domains(settings.exempt_sites, as_site=True),
            user_allow=_domains(settings.user_allow),
            user_block=_domains(settings.user_block),
            site_allow=_site_pairs(settings.site_allow),
            signals=plan_signals(
                protection=settings.protection,
                dnt=settings.dnt,
                ie9_dnt=settings.ie9_dnt,
                gpc=settings.gpc,
            ),
        )


def _site_pairs(values: Iterable[str]) -> frozenset[tuple[str, str]]:
    """Entries "SITE HOST" -> (site, host) pairs; malformed entries are ignored."""
    out = set()
    for value in values:
        parts = value.split()
        if len(parts) == 2:
            site, host = to_ascii_host(parts[0]), to_ascii_host(parts[1])
            if site and host:
                out.add((site_of(site), host))
    return frozenset(out)


def _domains(values: Iterable[str], *, as_site: bool = False) -> frozenset[str]:
    out = set()
    for value in values:
        host = to_ascii_host(value)
        if host:
            out.add(site_of(host) if as_site else host)
    return frozenset(out)


def is_third_party(host: str, site: str) -> bool:
    """Whether a request to `host` is third party on first-party `site`; no site (no
    page, a tunnel) counts as third party, as everywhere in the engine."""
    return not site or site_of(host) != site


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one request, and why (for the blocked response and the log)."""

    blocked: bool
    layer: Layer
    type: RequestType
    host: str
    site: str  # first-party site, "" when unattributed or for tunnels
    decision: Decision | None = None  # the engine's answer, when the lists were asked
    #: The request opens a top-level page context if it answers 2xx HTML (§B2 rule 1).
    engage: bool = False
    #: The request is a frame document of this context (§B2 rule 2).
    frame_of: PageContext | None = None
    #: The engine's source URL for this request (top-level page origin), for removeparam.
    source_url: str | None = None

    @property
    def evaluated(self) -> bool:
        return self.layer not in (Layer.NAVIGATION, Layer.UNATTRIBUTED)

    @property
    def third_party(self) -> bool:
        return is_third_party(self.host, self.site)

    @property
    def rule(self) -> str | None:
        return self.decision.rule if self.decision else None

    @property
    def list(self) -> str | None:
        return self.decision.list if self.decision else None

    @property
    def line(self) -> int | None:
        return self.decision.line if self.decision else None


#: `split_url` memoised: a page's requests repeat URLs (the parts are immutable values).
_split_url = memo_short_urls(4096)(split_url)


# -- attribution --------------------------------------------------------------------------


def _matches_domain(host: str, domains: frozenset[str]) -> str | None:
    """The longest entry of `domains` that `host` equals or is a subdomain of."""
    if not domains:
        return None
    for suffix in host_suffixes(host):
        if suffix in domains:
            return suffix
    return None


def decide(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    config: PolicyConfig,
    matcher: ListMatcher,
    record: NavigationRecord,
) -> Verdict:
    """Decide one plain-HTTP (or intercepted) request. `headers` has lower-case names."""
    parts = _split_url(url)
    host = parts.host
    rtype = request_type(headers, parts, method)
    initiator = initiator_origin(headers)
    context = record.context_for(initiator) if initiator else None

    referer = headers.get("referer", "")
    site = context.site if context is not None else ""
    if referer and record.blocked_documents:  # an attribute, not a call: the hot path
        parent_blocked, why = record.blocked_document(referer)
        if parent_blocked and not _left_alone(host, site, config):
            return Verdict(True, Layer.BLOCKED_DOCUMENT, rtype, host, site, why)

    verdict = _decide(method, url, headers, parts, rtype, initiator, context, config, matcher)
    if verdict.type in (RequestType.SUBDOCUMENT, RequestType.DOCUMENT):
        if verdict.blocked:
            record.note_blocked(url, verdict.decision)
        elif record.blocked_documents:
            record.forget_blocked(url)  # allowed now (an override): its requests are too
    return verdict


def _left_alone(host: str, site: str, config: PolicyConfig) -> bool:
    """The user's word keeps a blocked frame's requests from being blocked with it: an
    allow (everywhere or on this site), protection off, or the site switched off."""
    if not config.protection or (site and site in config.exempt_sites):
        return True
    if _matches_domain(host, config.user_allow) is not None:
        return True
    return bool(site) and any((site, h) in config.site_allow for h in host_suffixes(host))


def _decide(
    method: str,
    url: str,
    headers: Mapping[str, str],
    parts: UrlParts,
    rtype: RequestType,
    initiator: str,
    context: PageContext | None,
    config: PolicyConfig,
    matcher: ListMatcher,
) -> Verdict:
    host = parts.host
    if is_top_level_navigation(headers, method):
        if "sec-fetch-mode" in headers:
            return Verdict(
                False, Layer.NAVIGATION, RequestType.DOCUMENT, host, site_of(host), engage=True
            )
        # No fetch metadata: a typed address or a same-site link opens a page context; a
        # cross-site HTML request from a known page may be a frame, so it is remembered as
        # one (its subresources then belong to the referring page) and never blocked.
        same_site = bool(initiator) and site_of_url(initiator) == site_of(host)
        if context is None or same_site:
            return Verdict(
                False,
                Layer.NAVIGATION,
                RequestType.DOCUMENT,
                host,
                site_of(host),
                engage=method == "GET",
            )
        return Verdict(
            False, Layer.NAVIGATION, RequestType.SUBDOCUMENT, host, context.site, frame_of=context
        )

    source_url: str | None
    if context is not None:
        site, source_url = context.site, context.page_origin + "/"
    elif headers.get("sec-fetch-site", "").lower() == "cross-site":
        # §A.7 item 4: unattributed but the browser says cross-site -> third-party.
        site, source_url = "", (initiator + "/") if initiator else None
    elif headers.get("sec-fetch-mode", "").lower() == "navigate":
        # A frame navigation we cannot attribute may be a navigation: never blocked.
        return Verdict(False, Layer.UNATTRIBUTED, rtype, host, "")
    else:
        # Revised §A.7 item 4: judged as a tunnel is (item 6), on the host alone, so a
        # program that is not a browser gets the same protection over HTTP as over HTTPS.
        tunnel = decide_tunnel(host, config=config, matcher=matcher)
        return Verdict(tunnel.blocked, tunnel.layer, rtype, tunnel.host, "", tunnel.decision)

    frame_of = context if rtype is RequestType.SUBDOCUMENT and context is not None else None
    third_party = is_third_party(host, site)
    blocked, layer, decision = _layers(
        url, source_url, rtype, host, site, third_party, config, matcher
    )
    return Verdict(
        blocked, layer, rtype, host, site, decision, frame_of=frame_of, source_url=source_url
    )


def _layers(
    url: str,
    source_url: str | None,
    rtype: RequestType,
    host: str,
    site: str,
    third_party: bool,
    config: PolicyConfig,
    matcher: ListMatcher,
) -> tuple[bool, Layer, Decision | None]:
    """TPL spec §A.8 steps 1-4 for a request whose page context is known."""
    allow = _matches_domain(host, config.user_allow)
    if allow is None and site and config.site_allow:
        allow = next((h for h in host_suffixes(host) if (site, h) in config.site_allow), None)
    block = _matches_domain(host, config.user_block) if third_party else None
    if allow is not None and (block is None or len(allow) >= len(block)):
        return False, Layer.USER_ALLOW, None
    if block is not None:
        return True, Layer.USER_BLOCK, None
    if not config.protection:
        return False, Layer.PROTECTION_OFF, None
    if site and site in config.exempt_sites:
        return False, Layer.SITE_OFF, None
    decision = matcher.check(url, source_url, rtype)
    if decision.blocked:
        return True, Layer.LIST_BLOCK, decision
    if decision.matched is not None:
        return False, Layer.LIST_ALLOW, decision  # a list allow also beats learning (§B7.3)
    learned = config.learned
    if learned is not None and third_party:
        found = learned.match(host, _path_of(url))
        if found is not None:
            allowed = _list_allow(matcher, url, source_url, rtype)
            if allowed is not None:
                return False, Layer.LIST_ALLOW, allowed
            if found.exempt:
                return False, Layer.LEARNED_EXEMPT, found.decision
            layer = Layer.LEARNED_BLOCK if found.block else Layer.LEARNED_STRIP
            return found.block, layer, found.decision
    return False, Layer.NO_MATCH, decision


def _list_allow(
    matcher: ListMatcher, url: str, source_url: str | None, rtype: RequestType
) -> Decision | None:
    """A list allow rule for a request no list blocks (TPL `+d` alone decides nothing in
    the engine), which still beats a learned decision (§B7.3). Asked only when a learned
    rule matched, so the full rule walk stays off the hot path."""
    inner = getattr(matcher, "inner", matcher)
    rules = getattr(inner, "matching_rules", None)
    if rules is None:
        return None
    for rule in rules(url, source_url, rtype):
        if rule.is_exception:
            return Decision(False, rule, None, "a list allows this: it beats the personalized list")
    return None


def _path_of(url: str) -> str:
    text = _split_url(url).text
    start = text.find("/", text.find("://") + 3)
    return text[start:] if start >= 0 else "/"


def decide_for_page(
    url: str,
    source_url: str | None,
    rtype: RequestType,
    *,
    config: PolicyConfig,
    matcher: ListMatcher,
) -> Verdict:
    """The same layers as `decide` for a request whose page is given outright.

    For `trackguard check` and other callers that know the page, so that user overrides,
    the global switch and the per-site switch explain a verdict exactly as the proxy
    would (no page: judged as third-party, as everywhere in the engine).
    """
    host = _split_url(url).host
    site = site_of(_split_url(source_url).host) if source_url else ""
    third_party = is_third_party(host, site)
    blocked, layer, decision = _layers(
        url, source_url, rtype, host, site, third_party, config, matcher
    )
    return Verdict(blocked, layer, rtype, host, site, decision, source_url=source_url)


def decide_tunnel(host: str, *, config: PolicyConfig, matcher: ListMatcher) -> Verdict:
    """Decide a CONNECT tunnel on its host alone (§A.7 item 6).

    A tunnel carries no page context, so it is judged as a third-party request to its host
    by the host-only rules (`engine.check_host`). User overrides come first (§A.8 step 1);
    the per-site switch applies when the tunnel's own site is exempt (the user turned
    protection off for the site they are visiting, which may itself be listed).
    """
    host = to_ascii_host(host)
    site = site_of(host)

    def verdict(blocked: bool, layer: Layer, decision: Decision | None = None) -> Verdict:
        return Verdict(blocked, layer, RequestType.OTHER, host, "", decision)

    allow = _matches_domain(host, config.user_allow)
    block = _matches_domain(host, config.user_block)
    if allow is not None and (block is None or len(allow) >= len(block)):
        return verdict(False, Layer.USER_ALLOW)
    if block is not None:
        return verdict(True, Layer.USER_BLOCK)
    if not config.protection:
        return verdict(False, Layer.PROTECTION_OFF)
    if site in config.exempt_sites:
        return verdict(False, Layer.SITE_OFF)
    decision = matcher.check_host(host)
    if decision.blocked:
        return verdict(True, Layer.LIST_BLOCK, decision)
    if decision.matched is not None:
        return verdict(False, Layer.LIST_ALLOW, decision)
    return verdict(False, Layer.NO_MATCH, decision)


def strip_params(
    url: str, verdict: Verdict, *, config: PolicyConfig, matcher: ListMatcher
) -> tuple[str, tuple[Rule, ...]]:
    """Apply `$removeparam` rules to an allowed request (plain HTTP or intercepted).

    Skipped when the user allowed the host, when protection is off globally or for the
    site: those layers mean "leave this request alone" (§A.8 steps 1-2).
    """
    if verdict.blocked or not config.protection or "?" not in url:
        return url, ()
    if verdict.layer in (Layer.USER_ALLOW, Layer.SITE_OFF, Layer.PROTECTION_OFF):
        return url, ()
    if verdict.site and verdict.site in config.exempt_sites:
        return url, ()
    return matcher.removeparam(url, verdict.source_url, verdict.type)


# -- explanations: the one place a verdict becomes words ----------------------------------

#: Why a layer above the lists decided (TPL spec §A.8 layers 1-2), for people.
LAYER_REASONS: dict[str, str] = {
    Layer.USER_ALLOW.value: "your override always allows this domain (`trackguard allow`)",
    Layer.USER_BLOCK.value: "your override always blocks this domain (`trackguard block`)",
    Layer.PROTECTION_OFF.value: "tracking protection is off",
    Layer.SITE_OFF.value: "protection is off on this site (`trackguard site on SITE` turns it on)",
}


def describe_rule(rule: str | None, list_id: str | None, line: int | None, layer: str) -> str:
    """`<rule> (<list>:<line>)`, or `(<layer>)` when no list rule decided.

    The short form blocked answers carry (`X-Trackguard-Blocked`, the frame page, the
    refused tunnel's text).
    """
    if rule is None:
        return f"({layer})"
    where = f"{list_id}:{line}" if line else (list_id or "?")
    return f"{rule} ({where})"


def explain(verdict: Verdict) -> str:
    """`describe_rule` of a verdict: the rule and where it came from, or its layer."""
    return describe_rule(verdict.rule, verdict.list, verdict.line, verdict.layer.value)


def explain_decision(decision: Decision) -> str:
    """One line for people (`trackguard check`): the action, the rule, its list and line,
    and the rule it overrode, or the reason when no rule matched."""
    if decision.matched is None:
        return f"{'BLOCKED' if decision.blocked else 'allowed'}: {decision.reason}"
    where = f"{decision.list}:{decision.line}" if decision.line else (decision.list or "?")
    if decision.blocked:
        return f"BLOCKED by `{decision.rule}` ({where}): {decision.reason}"
    overridden = decision.overridden
    text = f"allowed by `{decision.rule}` ({where})"
    if overridden is not None:
        src = overridden.source
        text += f", overriding `{src.text}` ({src.list_id}:{src.line})"
    return text
