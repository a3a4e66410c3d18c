"""What the dashboard shows and what it may change, as JSON-ready values.

Reads: the decision log (`proxy.log`), settings, subscriptions, the learner's state. Writes:
only through the same library calls the command line uses (settings saved atomically,
`subscriptions.add_list`/`set_enabled`/`update_lists`, the learner's store), so a running
proxy picks a change up exactly as it does from the CLI. Every action validates its input
and answers `{"ok": false, "error": ...}` with a reason a person can act on; nothing here
formats HTML.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trackguard.domain import is_public_suffix, site_of, to_ascii_host
from trackguard.learn import listing, store
from trackguard.learn.model import Mode
from trackguard.learn.service import (
    LearnSettings,
    build_context,
    learn_settings,
    record_verdict,
    save_learn_settings,
    today,
)
from trackguard.proxy.log import (
    LogEntry,
    log_path,
    read_log,
    read_new,
    read_series,
    read_sites,
    read_stats,
    wipe_log,
)
from trackguard.settings import Settings, load_settings, save_settings

DAY = 86400.0
SERIES_BUCKET = 6 * 3600.0  # the overview chart: 28 bars for 7 days
MAX_TEXT = 2048


class ActionError(Exception):
    """A refused action; the message is shown to the user as is."""


def entry_json(entry: LogEntry) -> dict[str, Any]:
    data = asdict(entry)
    data["where"] = f"{entry.list}:{entry.line}" if entry.list else None
    return data


def _day_start(now: float) -> float:
    local = time.localtime(now)
    return time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))


# -- reads ----------------------------------------------------------------------------------


def overview(home: Path, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    settings = load_settings(home)
    path = log_path(home)
    stats = read_stats(path, since=_day_start(now), top=8)
    week = read_stats(path, since=now - 7 * DAY, top=8)
    tunnels = stats.by_kind.get("tunnel", 0)
    learn = learn_settings(settings)
    return {
        "protection": settings.protection,
        "dnt": settings.dnt,
        "gpc": settings.gpc,
        "retention_days": settings.log_retention_days,
        "today": {
            "requests": stats.total,
            "blocked": stats.by_action.get("block", 0),
            "stripped": stats.by_action.get("strip", 0),
            # Tunnels carry no headers we can add: DNT/GPC cannot reach those requests.
            "tunnels": tunnels,
            "no_signal_share": round(tunnels / stats.total, 3) if stats.total else 0.0,
        },
        "top_trackers": week.top_blocked_hosts,
        "top_sites": week.top_sites,
        "top_lists": week.top_lists,
        "series": read_series(path, since=now - 7 * DAY, bucket=SERIES_BUCKET),
        "series_since": now - 7 * DAY,
        "series_bucket": SERIES_BUCKET,
        "learn_mode": learn.mode.value,
        "signals_asked": bool(settings.extra.get("signals_asked")),
    }


def log_rows(home: Path, after: int | None) -> dict[str, Any]:
    """The newest rows (first call) or the rows after `after` (the live view's next step)."""
    path = log_path(home)
    if after is None:
        last, _ = read_new(path)
        rows = list(reversed(read_log(path, limit=200)))
        return {"last": last, "rows": [entry_json(r) for r in rows]}
    last, new = read_new(path, after)
    return {"last": last, "rows": [entry_json(r) for r in new]}


def sites(home: Path, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    exempt = set(load_settings(home).exempt_sites)
    rows = read_sites(log_path(home), since=now - 7 * DAY)
    listed = [{**asdict(r), "protection": r.site not in exempt} for r in rows]
    seen = {r.site for r in rows}
    listed += [
        {"site": s, "requests": 0, "blocked": 0, "trackers": 0, "protection": False}
        for s in sorted(exempt - seen)
    ]
    return {"sites": listed}


def lists(home: Path) -> dict[str, Any]:
    from trackguard.subscriptions import CATALOGUE
    from trackguard.subscriptions.service import describe, load_subscriptions

    state = load_subscriptions(home)
    return {
        "lists": [describe(sub) for sub in state.subscriptions],
        "catalogue": [
            {"key": e.key, "name": e.name, "description": e.description} for e in CATALOGUE
        ],
    }


def _learn_view(home: Path) -> tuple[Settings, LearnSettings, list[dict[str, Any]]]:
    settings = load_settings(home)
    learn = learn_settings(settings)
    ctx = build_context(home, learn)
    choices = listing.UserChoices(
        user_allow=frozenset(to_ascii_host(d) for d in settings.user_allow),
        user_block=frozenset(to_ascii_host(d) for d in settings.user_block),
        verdicts=store.load_verdicts(home),
    )
    items = listing.listing(store.load_state(home), ctx, choices, today())
    return settings, learn, items


def learn(home: Path) -> dict[str, Any]:
    _, settings, items = _learn_view(home)
    return {
        "mode": settings.mode.value,
        "threshold": settings.threshold,
        "paused_until": settings.paused_until,
        "items": items,
    }


def settings_view(home: Path) -> dict[str, Any]:
    s = load_settings(home)
    return {
        "protection": s.protection,
        "dnt": s.dnt,
        "gpc": s.gpc,
        "log_retention_days": s.log_retention_days,
        "user_allow": list(s.user_allow),
        "user_block": list(s.user_block),
        "exempt_sites": list(s.exempt_sites),
        "site_allow": list(s.site_allow),
        "signals_asked": bool(s.extra.get("signals_asked")),
        "ca": _ca_status(home),
    }


def _ca_status(home: Path) -> dict[str, Any]:
    cert = home / "mitmproxy" / "mitmproxy-ca-cert.pem"
    return {"exists": cert.exists(), "path": str(cert)}


# -- actions --------------------------------------------------------------------------------


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ActionError(f"{key!r} must be a non-empty text")
    return value.strip()


def _flag(payload: dict[str, Any], key: str) -> bool:
    value = payload.get(key)
    if not isinstance(value, bool):
        raise ActionError(f"{key!r} must be true or false")
    return value


def _domain(payload: dict[str, Any], key: str = "domain") -> str:
    host = to_ascii_host(_text(payload, key))
    if not host or "/" in host or " " in host or "." not in host.strip("."):
        raise ActionError(f"not a domain: {payload.get(key)!r}")
    if is_public_suffix(host):
        raise ActionError(f"{host} is a public suffix: it would cover unrelated sites")
    return host


def _save(home: Path, settings: Settings) -> None:
    save_settings(settings, home)


def _toggle(values: tuple[str, ...], value: str, on: bool) -> tuple[str, ...]:
    rest = tuple(v for v in values if v != value)
    return (*rest, value) if on else rest


def act(home: Path, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Carry out one action; raises ActionError with a reason the page shows."""
    handler = ACTIONS.get(name)
    if handler is None:
        raise ActionError(f"unknown action {name!r}")
    result = handler(home, payload)
    return {"ok": True, **result}


def _protection(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    on = _flag(p, "on")
    _save(home, load_settings(home).replace(protection=on))
    return {"message": f"protection {'on' if on else 'off'}"}


def _allow(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    host = _domain(p)
    on = p.get("on", True) is not False
    s = load_settings(home)
    if p.get("site"):
        # "Allow it on this site only": a (site, host) pair, not a global allow.
        site = site_of(_domain(p, "site"))
        entry = f"{site} {host}"
        _save(home, s.replace(site_allow=_toggle(s.site_allow, entry, on)))
        verb = "allowed" if on else "no longer allowed"
        return {"message": f"{host} {verb} on {site}"}
    allow = _toggle(s.user_allow, host, on)
    block = tuple(d for d in s.user_block if d != host) if on else s.user_block
    _save(home, s.replace(user_allow=allow, user_block=block))
    return {"message": f"{host} {'always allowed' if on else 'no longer always allowed'}"}


def _block(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    host = _domain(p)
    on = p.get("on", True) is not False
    s = load_settings(home)
    block = _toggle(s.user_block, host, on)
    allow = tuple(d for d in s.user_allow if d != host) if on else s.user_allow
    _save(home, s.replace(user_block=block, user_allow=allow))
    return {"message": f"{host} {'always blocked' if on else 'no longer always blocked'}"}


def _site(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    site = site_of(_domain(p, "site"))
    on = _flag(p, "protection")
    s = load_settings(home)
    _save(home, s.replace(exempt_sites=_toggle(s.exempt_sites, site, not on)))
    return {"message": f"protection {'on' if on else 'off'} on {site}"}


def _settings(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    s = load_settings(home)
    changes: dict[str, Any] = {}
    for key in ("dnt", "gpc"):
        if key in p:
            changes[key] = _flag(p, key)
    if "log_retention_days" in p:
        days = p["log_retention_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            raise ActionError("log_retention_days must be a whole number of days, 0-3650")
        changes["log_retention_days"] = days
    if not changes:
        raise ActionError("nothing to change")
    _save(home, s.replace(**changes))
    return {"message": "settings saved", "changed": sorted(changes)}


def _signals_answer(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    """The overview's one-time question: send DNT/GPC? Asked once, answered either way."""
    gpc = _flag(p, "gpc")
    s = load_settings(home)
    extra = {**s.extra, "signals_asked": True}
    _save(home, s.replace(gpc=gpc, dnt=gpc or s.dnt, extra=extra))
    return {"message": "privacy signals on" if gpc else "privacy signals stay off"}


def _wipe_log(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": f"log wiped ({wipe_log(log_path(home))} entries)"}


def _list_add(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    from trackguard.subscriptions.service import add_list
    from trackguard.subscriptions.sources import AddRefused

    try:
        sub = add_list(_text(p, "source"), home=home)
    except AddRefused as exc:
        raise ActionError(str(exc)) from None
    return {"message": f"added {sub.name} ({sub.id})", "id": sub.id}


def _list_enable(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    from trackguard.model import TrackguardError
    from trackguard.subscriptions.service import set_enabled

    on = _flag(p, "enabled")
    try:
        sub = set_enabled(_text(p, "name"), on, home=home)
    except (TrackguardError, KeyError, LookupError) as exc:
        raise ActionError(str(exc)) from None
    return {"message": f"{sub.name} {'enabled' if on else 'disabled'}"}


def _list_update(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    from trackguard.model import TrackguardError
    from trackguard.subscriptions.service import update_lists

    try:
        results = update_lists([_text(p, "name")], home=home)
    except (TrackguardError, KeyError, LookupError) as exc:
        raise ActionError(str(exc)) from None
    return {"message": "; ".join(f"{r.id}: {r.outcome.value}" for r in results)}


def _learn_verdict(home: Path, p: dict[str, Any], verdict: str) -> dict[str, Any]:
    name = _domain(p)
    _, _, items = _learn_view(home)
    found = next((i for i in items if i["domain"] == name), None)
    if found is None:
        raise ActionError(f"nothing learned about {name}")
    action = record_verdict(home, found, verdict)
    return {"message": f"{name}: {verdict} ({action})"}


def _learn_mode(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    value = _text(p, "mode")
    try:
        mode = Mode(value)
    except ValueError:
        raise ActionError(f"mode must be one of {[m.value for m in Mode]}") from None
    current = learn_settings(load_settings(home))
    fields = {f: getattr(current, f) for f in current.__dataclass_fields__}
    save_learn_settings(home, LearnSettings(**{**fields, "mode": mode}))
    return {"message": f"learning mode: {mode.value}"}


def _learn_settings(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Threshold (3-30 sites, §B6) and a pause in hours (0 resumes)."""
    current = learn_settings(load_settings(home))
    fields = {f: getattr(current, f) for f in current.__dataclass_fields__}
    if "threshold" in p:
        value = p["threshold"]
        if not isinstance(value, int) or isinstance(value, bool) or not 3 <= value <= 30:
            raise ActionError("the threshold is a number of sites from 3 to 30")
        fields["threshold"] = value
    if "pause_hours" in p:
        hours = p["pause_hours"]
        if (
            not isinstance(hours, int | float)
            or isinstance(hours, bool)
            or not 0 <= hours <= 24 * 30
        ):
            raise ActionError("pause for 0 to 720 hours")
        fields["paused_until"] = time.time() + hours * 3600 if hours else 0.0
    save_learn_settings(home, LearnSettings(**fields))
    return {"message": "learning settings saved"}


def learn_export(home: Path) -> str:
    """The personalized list as a TPL file (`learn export --format tpl`)."""
    _, _, items = _learn_view(home)
    return listing.export_tpl(items, today())


def _learn_wipe(home: Path, p: dict[str, Any]) -> dict[str, Any]:
    return {"message": f"learned state wiped ({store.wipe(home)} trackers)"}


ACTIONS: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]] = {
    "protection": _protection,
    "allow": _allow,
    "block": _block,
    "site": _site,
    "settings": _settings,
    "wipe-log": _wipe_log,
    "list-add": _list_add,
    "list-enable": _list_enable,
    "list-update": _list_update,
    "learn-accept": lambda home, p: _learn_verdict(home, p, "accepted"),
    "learn-reject": lambda home, p: _learn_verdict(home, p, "rejected"),
    "learn-mode": _learn_mode,
    "learn-settings": _learn_settings,
    "signals": _signals_answer,
    "learn-wipe": _learn_wipe,
}
