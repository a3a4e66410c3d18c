"""CLI commands: `trackguard learn ...`, the personalized list (learning.md §B10).

Parses arguments, calls `trackguard.learn` and formats the answer: rich tables on stdout,
or pure JSON on stdout with `--json`. Exit codes: 0 done, 1 nothing found / refused,
2 usage. No learning logic lives here.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trackguard.domain import to_ascii_host
from trackguard.learn import listing, store
from trackguard.learn.core import LearnContext, LearnState
from trackguard.learn.model import Mode
from trackguard.learn.service import (
    LearnSettings,
    build_context,
    learn_settings,
    never_learn,
    record_verdict,
    save_learn_settings,
    today,
)
from trackguard.settings import load_settings, state_dir

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
AUTO_WARNING = (
    "auto mode enforces learned decisions: this can make you more identifiable to websites "
    "(learning.md §B9). `suggest` has no such exposure."
)


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def list_knowledge(
    home: Path,
) -> tuple[Callable[[str], bool], Callable[[str], bool], Callable[[str], str | None]]:
    """(is_listed, list_allows, list_layer) from the enabled lists; nothing if unavailable."""
    try:
        from trackguard.subscriptions import engine_for

        engine = engine_for(home, settings=load_settings(home))
    except Exception:  # the lists are optional here: the learner still explains itself
        return (lambda _d: False), (lambda _d: False), (lambda _d: None)

    def layer(domain: str) -> str | None:
        decision = engine.check_host(domain)
        if decision.blocked:
            return "list-block"
        return "list-allow" if decision.matched is not None else None

    return (
        lambda d: layer(d) is not None,
        lambda d: layer(d) == "list-allow",
        layer,
    )


class _View:
    """Everything a command reads: settings, context, state, the user's choices."""

    def __init__(self, *, with_lists: bool = True) -> None:
        self.home = state_dir()
        self.settings = load_settings(self.home)
        self.learn = learn_settings(self.settings)
        listed, allows, layer = (
            list_knowledge(self.home)
            if with_lists
            else ((lambda _d: False), (lambda _d: False), (lambda _d: None))
        )
        self.ctx: LearnContext = build_context(
            self.home, self.learn, is_listed=listed, list_allows=allows
        )
        self.state: LearnState = store.load_state(self.home)
        self.today = today()
        self.choices = listing.UserChoices(
            user_allow=frozenset(to_ascii_host(d) for d in self.settings.user_allow),
            user_block=frozenset(to_ascii_host(d) for d in self.settings.user_block),
            verdicts=store.load_verdicts(self.home),
            list_layer=layer,
        )

    def items(self) -> list[dict[str, Any]]:
        return listing.listing(self.state, self.ctx, self.choices, self.today)


def _kinds(item: dict[str, Any]) -> str:
    return ",".join(item["kinds"]) or "-"


@click.group("learn")
def learn_group() -> None:
    """The personalized list: trackers learned from your own traffic (suggest by default)."""


@learn_group.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Mode, counts and storage size."""
    view = _View(with_lists=False)
    items = view.items()
    paused = view.learn.paused_until > time.time()
    data = {
        "mode": view.learn.mode.value,
        "paused_until": view.learn.paused_until if paused else None,
        "threshold": view.learn.threshold,
        "presence": view.learn.presence,
        "presence_threshold": view.learn.presence_threshold,
        "trackers": len(view.state.trackers),
        "suggestions": sum(1 for i in items if i["action"] is not None),
        "enforced": sum(1 for i in items if i["enforced"]),
        "evidence_rows": sum(len(r) for r in view.state.evidence.values()),
        "noisy_dropped": view.state.noisy,
        "storage_bytes": store.storage_bytes(view.home),
        "never_learn": sorted(view.ctx.never_learn),
    }
    if as_json:
        _print_json(data)
        return
    out = _out()
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        out.print(f"{key.replace('_', ' '):<20} {escape(str(value))}")
    if view.learn.mode is Mode.AUTO:
        _err().print(f"[yellow]warning:[/] {AUTO_WARNING}")


@learn_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include trackers under the threshold.")
@json_option
def list_command(show_all: bool, as_json: bool) -> None:
    """Learned trackers: suggestions (count >= threshold) first."""
    view = _View()
    items = view.items()
    if as_json:
        _print_json(items)
        return
    shown = items if show_all else [i for i in items if i["action"] is not None]
    table = Table(title=f"Personalized list (mode {view.learn.mode.value})", title_justify="left")
    for header in ("Domain", "Sites", "Days", "Kinds", "Action", "Enforced"):
        table.add_column(header, overflow="fold")
    for i in shown:
        table.add_row(
            escape(i["domain"]),
            str(i["sites"]),
            str(i.get("days", "")),
            _kinds(i),
            i["action"] or "-",
            "[green]yes[/]" if i["enforced"] else "[dim]no[/]",
        )
    _out().print(table)
    if not shown:
        _err().print(f"No suggestions yet ({len(items)} domains under the threshold).")


def _find(view: _View, domain: str) -> dict[str, Any] | None:
    name = domain.strip().lower()
    host, slash, path = name.partition("/")
    name = to_ascii_host(host) + (slash + path)
    return next((i for i in view.items() if i["domain"] == name), None)


@learn_group.command("show")
@click.argument("domain")
@json_option
def show_command(domain: str, as_json: bool) -> None:
    """Why a domain is (or is not) on the personalized list."""
    view = _View()
    found = _find(view, domain)
    if found is None:
        if as_json:
            _print_json(None)
        else:
            _err().print(f"{escape(domain)}: nothing learned about this domain.")
        sys.exit(1)
    if as_json:
        _print_json(found)
        return
    rows = [
        ("domain", found["domain"]),
        ("kinds", _kinds(found)),
        ("sites", f"{found['sites']} (threshold {found['threshold']})"),
        ("days", f"{found.get('first_day', '-')} .. {found.get('last_day', '-')}"),
        ("action", found["action"] or "none yet"),
        ("remedy rule", found["reason"]),
        ("deciding layer", f"{found.get('layer', '-')}: {found.get('layer_reason', '')}"),
        ("enforced", "yes" if found["enforced"] else "no"),
    ]
    checked = found.get("dnt_policy") or {}
    if checked:
        rows.append(
            (
                "dnt policy",
                ", ".join(
                    f"{host} {'posts it (exempt)' if ok else 'none'}"
                    for host, ok in checked.items()
                ),
            )
        )
    out = _out()
    for key, value in rows:
        out.print(f"{key:<15} {escape(str(value))}")


def _verdict(domain: str, verdict: str, as_json: bool) -> None:
    view = _View(with_lists=False)
    found = _find(view, domain)
    if found is None:
        _err().print(f"{escape(domain)}: nothing learned about this domain; nothing to {verdict}.")
        sys.exit(1)
    name = found["domain"]
    action = record_verdict(view.home, found, verdict)
    data = {"domain": name, "verdict": verdict, "action": action}
    if as_json:
        _print_json(data)
    else:
        _out().print(f"{escape(name)}: {verdict} ({action}).")


@learn_group.command("accept")
@click.argument("domain")
@json_option
def accept_command(domain: str, as_json: bool) -> None:
    """Accept a suggestion: it becomes your own rule (applied in every mode)."""
    _verdict(domain, "accepted", as_json)


@learn_group.command("reject")
@click.argument("domain")
@json_option
def reject_command(domain: str, as_json: bool) -> None:
    """Reject a suggestion: it is never suggested or enforced again."""
    _verdict(domain, "rejected", as_json)


def _never_learn(site: str, listed: bool, as_json: bool) -> None:
    try:
        change = never_learn(state_dir(), site, listed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SITE") from None
    if as_json:
        _print_json(dataclasses.asdict(change))  # site, never_learn, changed, forgotten
        return
    _out().print(escape(change.message()))


@learn_group.command("ignore")
@click.argument("site")
@json_option
def ignore_command(site: str, as_json: bool) -> None:
    """Never learn here: pages of SITE add no evidence; what they added is forgotten."""
    _never_learn(site, True, as_json)


@learn_group.command("unignore")
@click.argument("site")
@json_option
def unignore_command(site: str, as_json: bool) -> None:
    """Learn from pages of SITE again (undoes `learn ignore`)."""
    _never_learn(site, False, as_json)


@learn_group.command("mode")
@click.argument("mode", type=click.Choice([m.value for m in Mode]))
@click.option("--threshold", type=click.IntRange(3, 30), help="Sites needed (3-30).")
@click.option("--presence/--no-presence", default=None, help="IE-compatible presence mode.")
@click.option("--presence-threshold", type=click.IntRange(3, 30), help="Presence sites (3-30).")
@json_option
def mode_command(
    mode: str,
    threshold: int | None,
    presence: bool | None,
    presence_threshold: int | None,
    as_json: bool,
) -> None:
    """Turn learning off, to suggestions only (default), or to automatic enforcement."""
    home = state_dir()
    current = learn_settings(load_settings(home))
    new = LearnSettings(
        mode=Mode(mode),
        threshold=threshold or current.threshold,
        presence=current.presence if presence is None else presence,
        presence_threshold=presence_threshold or current.presence_threshold,
        paused_until=current.paused_until,
        entities_file=current.entities_file,
    )
    save_learn_settings(home, new)
    if as_json:
        _print_json(new.to_dict())
    else:
        _out().print(f"learning mode: {new.mode.value} (threshold {new.threshold})")
        if new.presence:
            _err().print(
                "[yellow]presence mode stores third-party items (host and path) in clear"
                " so you can review them.[/]"
            )
    if new.mode is Mode.AUTO and not as_json:
        _err().print(f"[yellow]warning:[/] {AUTO_WARNING}")


_DURATION = re.compile(r"^(\d{1,6})([smhd])$")  # noqa: TID251 - fixed pattern, user's own text


@learn_group.command("pause")
@click.option("--for", "duration", default="1h", show_default=True, help="e.g. 30m, 2h, 1d.")
@json_option
def pause_command(duration: str, as_json: bool) -> None:
    """Stop recording for a while (enforcement is unchanged)."""
    m = _DURATION.match(duration.strip())
    if not m:
        raise click.BadParameter("use a number and s/m/h/d, e.g. 30m", param_hint="--for")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    home = state_dir()
    current = learn_settings(load_settings(home))
    until = time.time() + seconds
    save_learn_settings(home, LearnSettings(**{**_fields(current), "paused_until": until}))
    if as_json:
        _print_json({"paused_until": until})
    else:
        _out().print(f"learning paused for {duration}")


def _fields(learn: LearnSettings) -> dict[str, Any]:
    return {
        "mode": learn.mode,
        "threshold": learn.threshold,
        "presence": learn.presence,
        "presence_threshold": learn.presence_threshold,
        "paused_until": learn.paused_until,
        "entities_file": learn.entities_file,
    }


@learn_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "tpl"]), default="json", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def export_command(fmt: str, output: Path | None) -> None:
    """Write the personalized list (decisions, never site tags) as JSON or a TPL."""
    view = _View(with_lists=False)
    items = view.items()
    text = listing.export_json(items) if fmt == "json" else listing.export_tpl(items, view.today)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        _err().print(f"wrote {output}")


@learn_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def import_command(file: Path, as_json: bool) -> None:
    """Merge decisions from an exported JSON file (source=imported; no evidence)."""
    if file.stat().st_size > 10 * 1024 * 1024:
        raise click.ClickException(f"{file}: larger than 10 MB, not an export")
    try:
        rows = listing.parse_import(file.read_text(encoding="utf-8", errors="replace"), today())
    except ValueError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    added = 0

    def merge(state: LearnState) -> None:
        nonlocal added
        added = listing.merge_import(state, rows)

    store.update_state(state_dir(), merge)  # a running proxy's evidence is kept
    if as_json:
        _print_json({"imported": added, "read": len(rows)})
    else:
        _out().print(f"imported {added} decisions ({len(rows)} read)")


@learn_group.command("wipe")
@click.option("--include-verdicts", is_flag=True, help="Also forget accepted/rejected choices.")
@click.option("--yes", is_flag=True, help="Do not ask.")
@json_option
def wipe_command(include_verdicts: bool, yes: bool, as_json: bool) -> None:
    """Delete everything learned, rotate the site-tag key, shrink the file."""
    if not yes and not as_json:
        click.confirm("Delete everything the learner recorded?", abort=True)
    deleted = store.wipe(state_dir(), include_verdicts=include_verdicts)
    if as_json:
        _print_json({"deleted_rows": deleted, "verdicts_wiped": include_verdicts})
    else:
        _out().print(f"wiped {deleted} rows; new site-tag key")


def register(main: click.Group) -> None:
    from trackguard.cli import learn_har

    learn_har.register(learn_group)
    main.add_command(learn_group)


def personalized_view(home: Path | None = None) -> dict[str, Any] | None:
    """The personalized list as a row of `trackguard lists` (enabled when mode is auto).

    None until the learner has been used (a database or a learner setting exists), so a
    fresh install lists only what it subscribed to.
    """
    home = home or state_dir()
    settings = load_settings(home)
    if not (home / store.LEARN_DB).exists() and "learn" not in settings.extra:
        return None
    learn = learn_settings(settings)
    items: list[dict[str, Any]] = []
    if (home / store.LEARN_DB).exists():
        ctx = build_context(home, learn)
        items = listing.listing(store.load_state(home), ctx, listing.UserChoices(), today())
    return {
        "id": "personalized",
        "name": "Personalized list",
        "url": None,
        "format": "learned",
        "enabled": learn.mode is Mode.AUTO,
        "builtin": True,
        "status": "ok",
        "last_error": None,
        "rules": sum(1 for i in items if i["action"] is not None),
        "skipped": 0,
        "last_update": None,
        "next_update": None,
        "insecure": False,
        "learn_mode": learn.mode.value,
    }
