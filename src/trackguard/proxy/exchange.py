"""One exchange's plan: decide, explain and record a request; rewrite its head; answer a
response head. No I/O: no awaits, no transports, no sockets.

Rule 1: every path that serves a request asks the `Planner` here, and nothing else decides,
explains or records: the fast path (`fastconn`), the stream path (`streamconn`) and the
mitmproxy addon (`mitm_addon`). So a request gets the same verdict, the same blocked answer
and the same log row whichever way it came in.
Rule 2: the transports move bytes. What they get from here is bytes to send (a local answer
or the head for upstream) and a few flags (keep-alive, framing); never a reason to look at
the policy themselves.
Rule 3: a failure of the policy fails open (the request is allowed and logged as
unattributed), never takes a connection down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from trackguard.dnsserver.decide import DnsVerdict
from trackguard.model import RequestType, SourceRef
from trackguard.policy.attribution import NavigationRecord, origin_of
from trackguard.policy.decide import (
    Layer,
    ListMatcher,
    MemoMatcher,
    PolicyConfig,
    Verdict,
    decide,
    decide_tunnel,
    explain,
    strip_params,
)
from trackguard.policy.signals import apply_signals
from trackguard.proxy.fastpath import header_map
from trackguard.proxy.framing import request_fields, response_fields, transfer_codings
from trackguard.proxy.http1 import (
    HOP_BY_HOP,
    Framing,
    Header,
    RequestHead,
    ResponseHead,
    Target,
    keep_alive,
    parse_absolute_target,
    response_framing,
    serialize_head,
)
from trackguard.proxy.log import DecisionLog, strip_query
from trackguard.proxy.responses import (
    Answer,
    blocked_bytes,
    blocked_parts,
    build_response,
    tunnel_refused_parts,
)

logger = logging.getLogger("trackguard.proxy")


class ProxyState:
    """What the planner reads for each request; replaced wholesale, never mutated in place.

    Assigning `matcher` or `config` is atomic for the event loop: a request in flight keeps
    the objects it already read, the next request sees the new ones (issue 4: "the swap is
    atomic").
    """

    def __init__(
        self, matcher: ListMatcher, config: PolicyConfig, record: NavigationRecord | None = None
    ) -> None:
        self.matcher = matcher
        self.config = config
        self.record = record if record is not None else NavigationRecord()

    @property
    def matcher(self) -> ListMatcher:
        """The engine as given (tests and the service compare identities)."""
        return self._matcher

    @matcher.setter
    def matcher(self, matcher: ListMatcher) -> None:
        # The memo and its engine are replaced together, in one assignment: a request
        # reads `memo` once, so it never mixes answers of two engines.
        self._matcher = matcher
        self.memo = MemoMatcher(matcher)


class RequestParts(Protocol):
    """A request already split up (`fastpath.FastRequest` is one, `HeadRequest` another)."""

    @property
    def method(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def headers(self) -> tuple[Header, ...]: ...
    @property
    def lower(self) -> dict[str, str]: ...  # lower-case name -> first value
    @property
    def tokens(self) -> frozenset[str]: ...  # `Connection` tokens, lower case
    @property
    def url(self) -> str: ...
    @property
    def authority(self) -> str: ...
    @property
    def path(self) -> str: ...


class HeadRequest:
    """`RequestParts` of a request the general parser read (`http1.RequestHead`)."""

    __slots__ = ("authority", "headers", "lower", "method", "path", "tokens", "url", "version")

    def __init__(self, head: RequestHead, target: Target) -> None:
        self.method = head.method
        self.version = head.version
        self.headers = head.headers
        self.lower, self.tokens = header_map(head.headers)
        self.url = target.url
        self.authority = target.authority
        self.path = target.path


_TYPE_NAMES = {t: (t.name or "other").lower() for t in RequestType}


def type_name(rtype: RequestType) -> str:
    """The request type as the log writes it: lower-case ABP name."""
    return _TYPE_NAMES.get(rtype) or (rtype.name or "other").lower()


#: Request fields never forwarded as they are: hop-by-hop ones, and the ones the proxy
#: writes itself (`Host` from the target, `Expect` answered here).
_FORWARD_DROP = HOP_BY_HOP | {"host", "expect"}
#: The drop sets for the `Connection` tokens clients commonly send (no set union per
#: request); other token sets are built when they occur.
_DROP_FOR_TOKENS = {
    tokens: _FORWARD_DROP | tokens
    for tokens in (
        frozenset(),
        frozenset({"keep-alive"}),
        frozenset({"close"}),
        frozenset({"upgrade"}),
        frozenset({"keep-alive", "upgrade"}),
    )
}
_HTML = ("text/html", "application/xhtml")


class Judged:
    """A decided request, before any transport detail: what every path needs to know."""

    __slots__ = ("answer", "url", "verdict")

    def __init__(self, verdict: Verdict, url: str, answer: Answer | None) -> None:
        self.verdict = verdict
        self.url = url  # allowed: the URL to request, removeparam applied
        self.answer = answer  # blocked: status, fields and body of the local answer


class LearnerHook(Protocol):
    """The learner service as the planner sees it (`learn.service.ProxyLearner`)."""

    def wants(self, site: str, engage: bool, host: str) -> bool: ...

    def observe(
        self,
        site: str,
        engage: bool,
        rtype: RequestType,
        method: str,
        url: str,
        request_headers: Mapping[str, str],
        status: int,
        response_headers: Iterable[tuple[str, str]],
    ) -> None: ...


def strip_request_fields(fields: list[Header], method: str) -> list[Header]:
    """Learned `strip` (learning.md §B6): no Cookie; Referer cut to its origin on GET and
    dropped on other methods."""
    out: list[Header] = []
    for name, value in fields:
        lower = name.lower()
        if lower == "cookie":
            continue
        if lower == "referer":
            if method != "GET":
                continue
            value = origin_of(value) + "/"
        out.append((name, value))
    return out


class Plan:
    """A decided plain-HTTP request: either a local answer or the head to send upstream."""

    __slots__ = (
        "client_keep",
        "close",
        "expect",
        "inspect",
        "is_upgrade",
        "key",
        "request",
        "response",
        "url",
        "verdict",
    )

    def __init__(
        self,
        verdict: Verdict,
        url: str,
        client_keep: bool,
        *,
        response: bytes | None = None,
        close: bool = False,
        request: bytes = b"",
        is_upgrade: bool = False,
        expect: bool = False,
        key: tuple[str, str, int] = ("", "", 0),
        inspect: bool = False,
    ) -> None:
        self.verdict = verdict
        self.url = url
        self.client_keep = client_keep
        self.response = response  # blocked: the local answer
        self.close = close
        self.request = request  # allowed: the head to send upstream
        self.is_upgrade = is_upgrade
        self.expect = expect
        self.key = key
        #: the response head must go through `response_head` (the learner observes it,
        #: or a learned strip removes its Set-Cookie): no byte-level fast relay
        self.inspect = inspect


class ResponsePlan:
    """How to relay one upstream response: the client's head and the body's framing."""

    __slots__ = ("dechunk", "framing", "head", "keep", "length", "upstream_keep")

    def __init__(
        self,
        head: bytes,
        framing: Framing,
        length: int,
        keep: bool,
        upstream_keep: bool,
        dechunk: bool,
    ) -> None:
        self.head = head
        self.framing = framing
        self.length = length
        self.keep = keep  # the client connection stays open
        self.upstream_keep = upstream_keep  # the upstream connection may be pooled
        self.dechunk = dechunk  # chunked upstream, HTTP/1.0 client: send the bare body


class TunnelPlan:
    """A decided CONNECT: refused (`answer`, `response`) or to be opened."""

    __slots__ = ("answer", "response", "verdict")

    def __init__(self, verdict: Verdict, answer: Answer | None, response: bytes | None) -> None:
        self.verdict = verdict
        self.answer = answer
        self.response = response


class Planner:
    """Plans exchanges against a `ProxyState` and records them in the decision log."""

    def __init__(
        self, state: ProxyState, log: DecisionLog | None = None, learner: LearnerHook | None = None
    ) -> None:
        self.state = state
        self.log = log
        self.learner = learner

    # -- requests ----------------------------------------------------------------------

    def judge(self, method: str, url: str, lower: Mapping[str, str], host: str) -> Judged:
        """Decide, record and explain one request (the mitmproxy addon stops here).

        `lower` maps lower-case field names to their first value; `host` names the request
        in the error log if the policy fails.
        """
        state = self.state
        config, matcher, record = state.config, state.memo, state.record
        try:
            verdict = decide(method, url, lower, config=config, matcher=matcher, record=record)
        except Exception:
            logger.exception("policy failed for %s; failing open", host)
            verdict = Verdict(False, Layer.UNATTRIBUTED, RequestType.OTHER, host, "")
        if verdict.blocked:
            self.record(verdict, "http", url)
            answer = blocked_parts(
                verdict.type,
                explain(verdict),
                host=verdict.host,
                method=method,
                request_headers=lower,
            )
            return Judged(verdict, url, answer)
        if verdict.frame_of is not None:
            record.note_frame(url, verdict.frame_of)
        try:
            new_url, rules = strip_params(url, verdict, config=config, matcher=matcher)
        except Exception:
            logger.exception("removeparam failed for %s", host)
            new_url, rules = url, ()
        if rules and new_url != url:
            self.record(verdict, "http", None, strip=rules[0].source)
            return Judged(verdict, new_url, None)
        self.record(verdict, "http", None)
        return Judged(verdict, url, None)

    def request(
        self,
        req: RequestParts,
        key: tuple[str, str, int],
        framing: Framing,
        *,
        length: int = 0,
        closing: bool = False,
    ) -> Plan:
        """Judge a plain-HTTP request and build the bytes to send: a local answer or the
        head for upstream. `key` is (scheme, lower-case host, port); `framing` and `length`
        the request body's (written once, canonical: `Content-Length: 4, 4` leaves as `4`);
        `closing`: the proxy is shutting down (answer, then close)."""
        tokens = req.tokens
        version = req.version
        client_keep = (
            "close" not in tokens
            and (version == "HTTP/1.1" or "keep-alive" in tokens)
            and not closing
        )
        method, url, lower = req.method, req.url, req.lower
        judged = self.judge(method, url, lower, key[1])
        verdict = judged.verdict
        if judged.answer is not None:
            close = not client_keep or framing is not Framing.NONE
            response = blocked_bytes(judged.answer, verdict.type, method=method, close=close)
            return Plan(verdict, url, client_keep, response=response, close=close)

        path = req.path if judged.url is url else parse_absolute_target(judged.url).path
        upgrade = lower.get("upgrade", "")
        is_upgrade = bool(upgrade) and "upgrade" in tokens
        drop = _DROP_FOR_TOKENS.get(tokens) or _FORWARD_DROP | tokens
        out = [("Host", req.authority)]
        out += [h for h in req.headers if h[0].lower() not in drop]
        signals = self.state.config.signals
        if signals.active:  # `add_signals`, inlined: this runs for every request
            out = apply_signals(out, signals)
        strip = verdict.layer is Layer.LEARNED_STRIP
        if strip:
            out = strip_request_fields(out, method)
        learner = self.learner
        inspect = strip or (
            learner is not None and learner.wants(verdict.site, verdict.engage, verdict.host)
        )
        if framing is not Framing.NONE:
            out = request_fields(out, framing, length, transfer_codings(req.headers))
        elif "content-length" in lower:
            out = request_fields(out, Framing.LENGTH, 0)  # `0, 0` leaves as `0`
        if is_upgrade:
            out.append(("Connection", "Upgrade"))
            out.append(("Upgrade", upgrade))
        request_bytes = serialize_head(f"{method} {path} HTTP/1.1", out)
        expect = "100-continue" in lower.get("expect", "").lower()
        return Plan(
            verdict,
            url,
            client_keep,
            request=request_bytes,
            is_upgrade=is_upgrade,
            expect=expect,
            key=key,
            inspect=inspect,
        )

    def add_signals(self, fields: list[Header]) -> list[Header]:
        """The request's fields with DNT / Sec-GPC as the settings say (`signals`)."""
        signals = self.state.config.signals
        return apply_signals(fields, signals) if signals.active else fields

    # -- responses ---------------------------------------------------------------------

    def response_head(self, response: ResponseHead, head: RequestHead, plan: Plan) -> ResponsePlan:
        """The client's response head for an upstream response, and how to relay the body.

        Raises HttpError (502) for a response whose framing cannot be trusted. Opens the
        page context when a possible navigation answered 2xx HTML (§B2 rule 1).
        """
        verdict = plan.verdict
        self.engage(verdict, plan.url, response.status, response.get("content-type"))
        if plan.inspect:
            self.learn(
                verdict, head.method, plan.url, head.headers, response.status, response.headers
            )
        framing, length = response_framing(response, head.method)
        upstream_keep = (
            keep_alive(response.version, response.headers) and framing is not Framing.CLOSE
        )
        dechunk = framing is Framing.CHUNKED and head.version == "HTTP/1.0"
        keep = plan.client_keep and framing is not Framing.CLOSE and not dechunk
        # One framing, canonical: Content-Length goes when Transfer-Encoding came, codings
        # such as gzip stay (framing.response_fields, RFC 9112 §6.3).
        headers = response_fields(response.headers, framing, length, dechunk=dechunk)
        if verdict.layer is Layer.LEARNED_STRIP:
            headers = [h for h in headers if h[0].lower() != "set-cookie"]
        if not keep:
            headers.append(("Connection", "close"))
        elif head.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))  # 1.0 clients assume close otherwise
        status_line = f"HTTP/1.1 {response.status} {response.reason}"
        return ResponsePlan(
            serialize_head(status_line, headers), framing, length, keep, upstream_keep, dechunk
        )

    def learn(
        self,
        verdict: Verdict,
        method: str,
        url: str,
        request_headers: Iterable[Header],
        status: int,
        response_headers: Iterable[Header],
    ) -> None:
        """Hand one answered exchange to the learner (never fails the exchange)."""
        learner = self.learner
        if learner is None:
            return
        try:
            lower: dict[str, str] = {}
            for name, value in request_headers:
                lower.setdefault(name.lower(), value)
            learner.observe(
                verdict.site,
                verdict.engage,
                verdict.type,
                method,
                url,
                lower,
                status,
                response_headers,
            )
        except Exception:
            logger.exception("learner failed for %s; exchange unaffected", verdict.host)

    def engage(self, verdict: Verdict, url: str, status: int, content_type: str | None) -> None:
        """A possible navigation answered 2xx HTML: its site becomes a page context."""
        if (
            verdict.engage
            and 200 <= status < 300
            and (content_type or "").lower().startswith(_HTML)
        ):
            self.state.record.engage(url)

    # -- tunnels -----------------------------------------------------------------------

    def tunnel(self, host: str) -> TunnelPlan:
        """Decide and record a CONNECT to `host` (judged on the host alone, §A.7)."""
        state = self.state
        try:
            verdict = decide_tunnel(host, config=state.config, matcher=state.matcher)
        except Exception:
            logger.exception("tunnel policy failed for %s; failing open", host)
            verdict = Verdict(False, Layer.UNATTRIBUTED, RequestType.OTHER, host, "")
        self.record(verdict, "tunnel", None)
        if not verdict.blocked:
            return TunnelPlan(verdict, None, None)
        answer = tunnel_refused_parts(explain(verdict), verdict.host)
        return TunnelPlan(verdict, answer, build_response(*answer, close=True))

    def cloaked(self, host: str, verdict: DnsVerdict, kind: str) -> bytes:
        """Refuse a connection to `host`, an alias of a listed tracker (`resolve.py`).

        Found only once the name was resolved, after the request or tunnel was allowed: the
        log gets a second row for it, naming the tracker's rule and the alias chain.
        """
        decision = verdict.verdict.decision
        matched = decision.matched if decision is not None else None
        if self.log is not None:
            source = matched.source if matched is not None else None
            self.log.add_fields(
                time.time(),
                kind,
                "block",
                verdict.verdict.layer.value,
                "tunnel" if kind == "tunnel" else "other",
                "",
                host,
                source.text if source else None,
                source.list_id if source else None,
                source.line if source else None,
                "cname:" + " > ".join(verdict.chain),
            )
        return build_response(*tunnel_refused_parts(verdict.explain(), host), close=True)

    # -- the log -----------------------------------------------------------------------

    def record(
        self, verdict: Verdict, kind: str, url: str | None, strip: SourceRef | None = None
    ) -> None:
        """One row for the decision log. `strip`: the removeparam rule's `SourceRef` that
        changed an allowed request (the row then names that rule, not the list decision)."""
        log = self.log
        if log is None:
            return
        rule: str | None = None
        list_id: str | None = None
        line: int | None = None
        if strip is not None:
            action = "strip"
            rule, list_id, line = strip.text, strip.list_id, strip.line
        else:
            action = "block" if verdict.blocked else "allow"
            decision = verdict.decision
            matched = decision.matched if decision is not None else None
            if matched is not None:
                source = matched.source
                rule, list_id, line = source.text, source.list_id, source.line
        log.add_fields(
            time.time(),
            kind,
            action,
            verdict.layer.value,
            "tunnel" if kind == "tunnel" else type_name(verdict.type),
            verdict.site,
            verdict.host,
            rule,
            list_id,
            line,
            strip_query(url) if verdict.blocked and url else None,
        )
