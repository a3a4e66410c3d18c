"""mitmproxy addon: trackguard's policy on decrypted HTTPS (loaded by `intercept.py`).

mitmproxy imports this file by path in the child process started by
`trackguard proxy --intercept`. It reuses the plain proxy's pieces unchanged: `policy` for
the decision (with full URLs and `Sec-Fetch-*` headers, since TLS is terminated),
`signals` for DNT/GPC, `responses` for blocked answers, `log` for the decision log. Only
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
from trackguard.policy.attribution import NavigationRecord
from trackguard.policy.decide import (
    Matcher,
    PolicyConfig,
    Verdict,
    decide,
    decide_tunnel,
    strip_params,
)
from trackguard.policy.signals import apply_signals
from trackguard.proxy.intercept import (
    ENV_DNT,
    ENV_GPC,
    ENV_HOME,
    ENV_LISTS,
    ENV_LOG,
    ENV_PASSTHROUGH,
)
from trackguard.proxy.log import DecisionLog, LogEntry, log_path, strip_query
from trackguard.proxy.responses import blocked_parts, describe_rule, header_safe
from trackguard.settings import SETTINGS_FILE, Settings, SettingsError, load_settings


def _tristate(name: str) -> bool | None:
    value = os.environ.get(name, "")
    return None if value == "" else value == "1"


def _build_engine(home: Path, extra: tuple[Path, ...], settings: Settings) -> Matcher:
    try:
        from trackguard.subscriptions import engine_for
    except ImportError:
        from trackguard.engine import Engine

        engine: Matcher = Engine.from_files(list(extra), strict_ie=settings.strict_ie)
        return engine
    built: Matcher = engine_for(home, extra, settings=settings)
    return built


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
        self.config = PolicyConfig.from_settings(self.settings)
        self.matcher = _build_engine(self.home, self.extra, self.settings)
        self.record = NavigationRecord()
        self.log: DecisionLog | None = None
        if os.environ.get(ENV_LOG, "1") == "1":
            self.log = DecisionLog(
                log_path(self.home), retention_days=self.settings.log_retention_days
            )
            self.log.start()
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
            self.config = PolicyConfig.from_settings(self.settings)

    def _log(self, verdict: Verdict, kind: str, url: str | None, action: str) -> None:
        if self.log is None:
            return
        self.log.add(
            LogEntry(
                time=time.time(),
                kind=kind,
                action=action,
                layer=verdict.layer.value,
                type="tunnel" if kind == "tunnel" else (verdict.type.name or "other").lower(),
                site=verdict.site,
                host=verdict.host,
                rule=verdict.rule,
                list=verdict.list,
                line=verdict.line,
                url=strip_query(url) if url and verdict.blocked else None,
            )
        )

    def _is_passthrough(self, host: str) -> bool:
        return any(s in self.passthrough for s in host_suffixes(host.lower()))

    # -- mitmproxy hooks ------------------------------------------------------------------

    def http_connect(self, flow: Any) -> None:
        """Tunnels that stay encrypted (passthrough hosts) are judged on the host alone."""
        from mitmproxy import http  # type: ignore[import-not-found,unused-ignore]

        host = flow.request.host
        if not self._is_passthrough(host):
            return
        self._maybe_reload()
        verdict = decide_tunnel(host, config=self.config, matcher=self.matcher)
        self._log(verdict, "tunnel", None, "block" if verdict.blocked else "allow")
        if verdict.blocked:
            explanation = describe_rule(
                verdict.rule, verdict.list, verdict.line, verdict.layer.value
            )
            flow.response = http.Response.make(
                403,
                f"trackguard blocked the connection to {host}: {explanation}\n".encode(),
                {
                    "Content-Type": "text/plain; charset=utf-8",
                    "X-Trackguard-Blocked": header_safe(explanation),
                },
            )

    def request(self, flow: Any) -> None:
        from mitmproxy import http

        self._maybe_reload()
        req = flow.request
        url = req.pretty_url
        headers_lc: dict[str, str] = {}
        for name, value in req.headers.items(multi=True):
            headers_lc.setdefault(name.lower(), value)
        verdict = decide(
            req.method,
            url,
            headers_lc,
            config=self.config,
            matcher=self.matcher,
            record=self.record,
        )
        flow.metadata["trackguard_verdict"] = verdict
        if verdict.blocked:
            self._log(verdict, "http", url, "block")
            explanation = describe_rule(
                verdict.rule, verdict.list, verdict.line, verdict.layer.value
            )
            status, headers, body = blocked_parts(
                verdict.type,
                explanation,
                host=verdict.host,
                method=req.method,
                request_headers=headers_lc,
            )
            flow.response = http.Response.make(status, body, dict(headers))
            return
        if verdict.frame_of is not None:
            self.record.note_frame(url, verdict.frame_of)
        new_url, rules = strip_params(url, verdict, config=self.config, matcher=self.matcher)
        self._log(verdict, "http", None, "strip" if rules and new_url != url else "allow")
        if rules and new_url != url:
            req.url = new_url
        fields = apply_signals(list(req.headers.items(multi=True)), self.config.signals)
        req.headers = http.Headers([(k.encode("latin-1"), v.encode("latin-1")) for k, v in fields])

    def response(self, flow: Any) -> None:
        verdict = flow.metadata.get("trackguard_verdict")
        if not isinstance(verdict, Verdict) or not verdict.engage or flow.response is None:
            return
        ctype = flow.response.headers.get("content-type", "").lower()
        if 200 <= flow.response.status_code < 300 and ctype.startswith(
            ("text/html", "application/xhtml")
        ):
            self.record.engage(flow.request.pretty_url)

    def done(self) -> None:
        if self.log is not None:
            self.log.close()


addons = [TrackguardAddon()] if os.environ.get(ENV_HOME) is not None else []
