"""mitmproxy addon: trackguard's policy on decrypted HTTPS (loaded by `intercept.py`).

mitmproxy imports this file by path in the child process started by
`trackguard proxy --intercept`. It asks the same `exchange.Planner` as the plain proxy's
two paths, so a request gets the same verdict, blocked answer and decision-log row however
it arrived (with full URLs and `Sec-Fetch-*` headers here, since TLS is terminated). Only
the glue to mitmproxy's flow objects lives here. Passthrough hosts (not decrypted) are
judged as tunnels on the host alone in `http_connect`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from trackguard.domain import host_suffixes
from trackguard.learn.service import ProxyLearning
from trackguard.policy.decide import Layer, ListMatcher, PolicyConfig, Verdict
from trackguard.proxy.exchange import Planner, ProxyState, strip_request_fields
from trackguard.proxy.intercept import (
    ENV_DNT,
    ENV_GPC,
    ENV_HOME,
    ENV_LISTS,
    ENV_LOG,
    ENV_PASSTHROUGH,
)
from trackguard.proxy.log import DecisionLog, log_path
from trackguard.proxy.responses import Answer
from trackguard.settings import SETTINGS_FILE, Settings, SettingsError, load_settings


def _tristate(name: str) -> bool | None:
    value = os.environ.get(name, "")
    return None if value == "" else value == "1"


def _build_engine(home: Path, extra: tuple[Path, ...], settings: Settings) -> ListMatcher:
    from trackguard.subscriptions import engine_for

    built: ListMatcher = engine_for(home, extra, settings=settings)
    return built


def _headers(fields: list[tuple[str, str]]) -> Any:
    """mitmproxy `Headers` (bytes, order and repeats kept) from (name, value) fields."""
    from mitmproxy import http  # type: ignore[import-not-found,unused-ignore]

    return http.Headers([(k.encode("latin-1"), v.encode("latin-1")) for k, v in fields])


def _response(answer: Answer) -> Any:
    """A mitmproxy response from a planned local answer (status, fields, body)."""
    from mitmproxy import http

    status, fields, body = answer
    return http.Response.make(status, body, _headers(fields))


def _fields(headers: Any) -> list[tuple[str, str]]:
    """All fields of mitmproxy `Headers` (repeated ones too), or of a plain mapping."""
    if headers is None:
        return []
    try:
        return list(headers.items(multi=True))
    except TypeError:
        return list(headers.items())


class TrackguardAddon:
    """mitmproxy hooks: `http_connect`, `request`, `response`, `done`."""

    def __init__(self) -> None:
        self.home = Path(os.environ.get(ENV_HOME) or ".")
        lists = os.environ.get(ENV_LISTS, "")
        self.extra = tuple(Path(p) for p in lists.split(os.pathsep) if p)
        self.passthrough = frozenset(
            h.lower() for h in os.environ.get(ENV_PASSTHROUGH, "").split(os.pathsep) if h
        )
        self.settings = self._load()
        log: DecisionLog | None = None
        if os.environ.get(ENV_LOG, "1") == "1":
            log = DecisionLog(log_path(self.home), retention_days=self.settings.log_retention_days)
            log.start()
        matcher = _build_engine(self.home, self.extra, self.settings)
        self.learning = ProxyLearning(self.home, self.settings, matcher)
        config = self.learning.with_learned(PolicyConfig.from_settings(self.settings))
        self.planner = Planner(ProxyState(matcher, config), log, self.learning.hook)
        self._mtime = self._settings_mtime()
        self._checked = time.monotonic()

    def _load(self) -> Settings:
        settings = load_settings(self.home)
        changes: dict[str, object] = {}
        for key, env in (("dnt", ENV_DNT), ("gpc", ENV_GPC)):
            value = _tristate(env)
            if value is not None:
                changes[key] = value
        return settings.replace(**changes) if changes else settings

    def _settings_mtime(self) -> float:
        try:
            return (self.home / SETTINGS_FILE).stat().st_mtime
        except OSError:
            return 0.0

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < 2.0:
            return
        self._checked = now
        mtime = self._settings_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.settings = self._load()
            except SettingsError as exc:  # a typo must not drop the user's choices
                logging.getLogger("trackguard.proxy").warning(
                    "%s; keeping the last good settings", exc
                )
                return
            self.learning.reload(self.settings)
            config = PolicyConfig.from_settings(self.settings)
            self.planner.state.config = self.learning.with_learned(config)

    def _is_passthrough(self, host: str) -> bool:
        return any(s in self.passthrough for s in host_suffixes(host.lower()))

    # -- mitmproxy hooks ------------------------------------------------------------------

    def http_connect(self, flow: Any) -> None:
        """Tunnels that stay encrypted (passthrough hosts) are judged on the host alone."""
        host = flow.request.host
        if not self._is_passthrough(host):
            return
        self._maybe_reload()
        plan = self.planner.tunnel(host)
        if plan.answer is not None:
            flow.response = _response(plan.answer)

    def request(self, flow: Any) -> None:
        self._maybe_reload()
        req = flow.request
        url = req.pretty_url
        lower: dict[str, str] = {}
        for name, value in req.headers.items(multi=True):
            lower.setdefault(name.lower(), value)
        judged = self.planner.judge(req.method, url, lower, req.host)
        flow.metadata["trackguard_verdict"] = judged.verdict
        if judged.answer is not None:
            flow.response = _response(judged.answer)
            return
        if judged.url != url:
            req.url = judged.url
        fields = self.planner.add_signals(list(req.headers.items(multi=True)))
        if judged.verdict.layer is Layer.LEARNED_STRIP:
            fields = strip_request_fields(fields, req.method)
        req.headers = _headers(fields)

    def response(self, flow: Any) -> None:
        verdict = flow.metadata.get("trackguard_verdict")
        if not isinstance(verdict, Verdict) or flow.response is None:
            return
        self.planner.engage(
            verdict,
            flow.request.pretty_url,
            flow.response.status_code,
            flow.response.headers.get("content-type", ""),
        )
        self.planner.learn(
            verdict,
            getattr(flow.request, "method", "GET"),
            flow.request.pretty_url,
            _fields(getattr(flow.request, "headers", None)),
            flow.response.status_code,
            _fields(flow.response.headers),
        )
        if verdict.layer is Layer.LEARNED_STRIP:
            del flow.response.headers["set-cookie"]

    def done(self) -> None:
        if self.planner.log is not None:
            self.planner.log.close()
        self.learning.close()


addons = [TrackguardAddon()] if os.environ.get(ENV_HOME) is not None else []
