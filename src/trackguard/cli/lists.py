"""CLI commands: `trackguard lists ...`, the user's view of subscriptions.

Parses arguments, calls `trackguard.subscriptions`, and formats the answer: rich tables
on stdout, progress on stderr, or pure JSON on stdout with `--json`. No decisions are
made here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from trackguard.cli.common import JSON_META, add_row, json_option, narrow, table
from trackguard.model import Format, TrackguardError
from trackguard.subscriptions import (
    CATALOGUE,
    Outcome,
    Subscription,
    UpdateResult,
    add_list,
    describe,
    load_subscriptions,
    remove_list,
    set_enabled,
    update_lists,
)
from trackguard.subscriptions.fetch import ProgressCallback
from trackguard.subscriptions.state import NOT_RULES

_STATUS_STYLE = {"ok": "green", "stale": "yellow", "failing": "red"}
_OUTCOME_STYLE = {
    "updated": "green",
    "not-modified": "green",
    "failed": "red",
    "held-back": "yellow",
}


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _fail(exc: TrackguardError) -> click.ClickException:
    return click.ClickException(str(exc))


# --- time formatting ----------------------------------------------------------------


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{int(minutes)} min"
    hours = minutes / 60
    if hours < 36:
        return f"{int(hours)} h"
    return f"{int(hours / 24)} d"


def _ago(value: str | None, now: datetime) -> str:
    if value is None:
        return "never"
    return f"{_span((now - datetime.fromisoformat(value)).total_seconds())} ago"


def _until(value: str | None, now: datetime, view: dict[str, Any]) -> str:
    if view["builtin"]:
        return "with trackguard"
    if not view["enabled"] or value is None:
        return "—"
    delta = (datetime.fromisoformat(value) - now).total_seconds()
    return "due now" if delta <= 0 else f"in {_span(delta)}"


# --- progress -------------------------------------------------------------------------


class RichReporter:
    """Download progress bars on stderr, and one line per finished list."""

    def __init__(self, console: Console, *, lines: bool = True) -> None:
        self.console = console
        self.lines = lines
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def track(self, label: str) -> ProgressCallback:
        """A progress bar for one download; returns the callback that moves it."""
        if len(label) > 36:  # the bar, size and speed must still fit 80 columns
            label = label[:17] + "…" + label[-18:]
        self._task = self.progress.add_task(escape(label), total=None)
        task = self._task

        def update(received: int, total: int | None) -> None:
            self.progress.update(task, completed=received, total=total)

        return update

    def downloading(self, sub: Subscription) -> ProgressCallback | None:
        return self.track(sub.name)

    def finished(self, result: UpdateResult) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)
            self._task = None
        if self.lines:
            style = _OUTCOME_STYLE.get(result.outcome.value, "")
            self.console.print(
                f"[{style}]{result.outcome.value:>12}[/] {escape(result.id)}: "
                f"{escape(result.message)}"
            )


def _rebuild(console: Console) -> None:
    """Build (or load) the engine for the enabled lists now, so `check` starts fast."""
    started = time.monotonic()
    try:
        from trackguard.subscriptions import engine_for

        with console.status("Building the engine for the enabled lists…"):
            engine_for()
    except (ImportError, TrackguardError, OSError) as exc:
        console.print(f"[yellow]warning:[/] the engine could not be rebuilt now: {exc}")
        return
    console.print(f"Engine ready ({time.monotonic() - started:.1f} s).", style="dim")


# --- the table ------------------------------------------------------------------------


def _views(now: datetime) -> list[dict[str, Any]]:
    try:
        state = load_subscriptions()
    except TrackguardError as exc:
        raise _fail(exc) from None
    from trackguard.cli.learn import personalized_view  # the learner's list (learning.md §B7)

    personal = personalized_view()
    return [describe(sub, now) for sub in state.subscriptions] + ([personal] if personal else [])


def _show_table(as_json: bool) -> None:
    now = datetime.now(UTC)
    views = _views(now)
    if as_json:
        _print_json(views)
        return
    console = _out()
    small = narrow(console)
    columns = [("ID", False), ("On", False), ("Rules", False)]
    if not small:
        columns += [("Format", False), ("Not applied", False)]
    columns += [("Updated", False)]
    if not small:
        columns += [("Next", False)]
    columns += [("Status", False), ("Name", True)]
    t = table(columns, title="Tracking protection lists")
    for view in views:
        status = view["status"]
        status_text = f"[{_STATUS_STYLE[status]}]{status}[/]"
        name = escape(view["name"])
        if view["insecure"]:
            name += " [yellow](plain HTTP)[/]"
        if view["last_error"]:
            name += f"\n[dim]{escape(view['last_error'])}[/]"
        row = [
            escape(view["id"]),
            "[green]yes[/]" if view["enabled"] else "[dim]no[/]",
            f"{view['rules']:,}",
        ]
        if not small:
            row += [view["format"], f"{view['skipped']:,}"]
        row += [_ago(view["last_update"], now)]
        if not small:
            row += [_until(view["next_update"], now, view)]
        row += [status_text, name]
        t.add_row(*row)
    console.print(t)
    if not any(view["enabled"] for view in views):
        _err().print("[yellow]No list is enabled: nothing is blocked.[/]")


#: Skipped kinds that hide page elements: a network blocker never applies them.
_COSMETIC = frozenset({"cosmetic", "cosmetic-exception", "procedural", "scriptlet", "html"})


def not_applied_text(view: dict[str, Any]) -> str:
    """`24,596 skipped` in words: cosmetic filters are not failures (issue 11)."""
    skipped = view["diagnostics"]["skipped"]
    cosmetic = sum(n for kind, n in skipped.items() if kind in _COSMETIC)
    other = sum(n for kind, n in skipped.items() if kind not in _COSMETIC | NOT_RULES)
    errors = view["diagnostics"]["errors"]
    parts = []
    if cosmetic:
        parts.append(
            f"{cosmetic:,} cosmetic filters not applied (they hide page elements; "
            "trackguard blocks requests)"
        )
    if other:
        parts.append(f"{other:,} filters of kinds trackguard does not apply")
    if errors:
        parts.append(f"{errors:,} invalid lines (`trackguard lists show {view['id']}`)")
    return "; ".join(parts)


# --- commands -------------------------------------------------------------------------


@click.group("lists", invoke_without_command=True)
@json_option
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool) -> None:
    """Tracking Protection Lists, EasyList-style lists and hosts files you subscribe to.

    Without a subcommand: a table of the lists with their status.
    """
    ctx.meta[JSON_META] = as_json
    if ctx.invoked_subcommand is None:
        _show_table(as_json)


@lists_group.command("add")
@click.argument("source", metavar="URL_OR_PATH")
@click.option("--name", help="Display name (default: the list's Title, else its host).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    help="List syntax, if detection from the content is not wanted.",
)
@click.option("--disabled", is_flag=True, help="Add the list but do not use it yet.")
@json_option
def add_command(
    source: str, name: str | None, fmt: str | None, disabled: bool, as_json: bool
) -> None:
    """Subscribe to a list: a web address, a local file, or a catalogue name.

    The list is downloaded and checked first; a list with no valid rule is refused and
    nothing changes. Catalogue names: see `trackguard lists catalogue`.
    """
    err = _err()
    with RichReporter(err, lines=False) as reporter:
        try:
            sub = add_list(
                source,
                name=name,
                format=Format(fmt) if fmt else None,
                enabled=not disabled,
                progress=reporter.track(source),
            )
        except TrackguardError as exc:
            raise _fail(exc) from None
    view = describe(sub)
    if as_json:
        _print_json(view)
    else:
        _out().print(
            f"Added [bold]{escape(sub.name)}[/] as [bold]{escape(sub.id)}[/]: "
            f"{view['rules']:,} rules ({sub.format.value}), "
            f"{'enabled' if sub.enabled else 'disabled'}."
        )
        if not_applied := not_applied_text(view):
            _out().print(escape(not_applied), style="dim")
        if sub.insecure:
            err.print(
                "[yellow]warning:[/] this list is fetched over plain HTTP; anyone on the "
                "network path could change it. Use an https:// address if there is one."
            )
    if sub.enabled:
        _rebuild(err)


@lists_group.command("update")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--force",
    is_flag=True,
    help="Download even if unchanged, and accept a version that lost many rules.",
)
@json_option
def update_command(names: Sequence[str], force: bool, as_json: bool) -> None:
    """Update the named lists, or all enabled ones, now.

    Exits with status 1 if any list failed or was held back; its last good copy is
    kept in use either way.
    """
    err = _err()
    with RichReporter(err, lines=not as_json) as reporter:
        try:
            results = update_lists(names, force=force, reporter=reporter)
        except TrackguardError as exc:
            raise _fail(exc) from None
    if as_json:
        _print_json([r.to_json() for r in results])
    elif not results:
        err.print("No list to update (only enabled lists are updated unless named).")
    if any(r.outcome is Outcome.UPDATED for r in results):
        _rebuild(err)
    if any(not r.ok for r in results):
        raise SystemExit(1)


def _toggle(name: str, enabled: bool, as_json: bool) -> None:
    try:
        sub = set_enabled(name, enabled)
    except TrackguardError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(describe(sub))
    else:
        _out().print(f"{'Enabled' if enabled else 'Disabled'} [bold]{escape(sub.id)}[/].")
    _rebuild(_err())


@lists_group.command("enable")
@click.argument("name")
@json_option
def enable_command(name: str, as_json: bool) -> None:
    """Use a list again."""
    _toggle(name, True, as_json)


@lists_group.command("disable")
@click.argument("name")
@json_option
def disable_command(name: str, as_json: bool) -> None:
    """Stop using a list (it stays subscribed and can be enabled again)."""
    _toggle(name, False, as_json)


@lists_group.command("remove")
@click.argument("name")
@json_option
def remove_command(name: str, as_json: bool) -> None:
    """Unsubscribe and delete the stored copy. The built-in list can only be disabled."""
    try:
        sub = remove_list(name)
    except TrackguardError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json({"removed": sub.id, "name": sub.name, "url": sub.url})
    else:
        _out().print(f"Removed [bold]{escape(sub.id)}[/] ({escape(sub.url)}).")
    if sub.enabled:
        _rebuild(_err())


def _field_rows(view: dict[str, Any], now: datetime) -> list[tuple[str, str]]:
    diag = view["diagnostics"]
    interval_days = view["interval_seconds"] / 86400
    rows: list[tuple[str, Callable[[], str]]] = [
        ("ID", lambda: view["id"]),
        ("Name", lambda: view["name"]),
        ("Address", lambda: view["url"] + ("  (plain HTTP)" if view["insecure"] else "")),
        ("Redirected to", lambda: view["final_url"] if view["final_url"] != view["url"] else ""),
        ("Title", lambda: view["title"] or ""),
        ("Homepage", lambda: view["homepage"] or ""),
        ("Format", lambda: view["format"]),
        ("Enabled", lambda: "yes" if view["enabled"] else "no"),
        ("Status", lambda: view["status"]),
        ("Last error", lambda: view["last_error"] or ""),
        ("Failures in a row", lambda: str(view["failures"]) if view["failures"] else ""),
        ("Rules applied", lambda: f"{view['rules']:,}"),
        ("Not applied", lambda: not_applied_text(view) or "none"),
        ("Invalid lines", lambda: f"{diag['errors']:,}"),
        ("Warnings / notices", lambda: f"{diag['warnings']:,} / {diag['notices']:,}"),
        (
            "Diagnostic codes",
            lambda: ", ".join(f"{k} ×{v}" for k, v in list(diag["codes"].items())[:8]),
        ),
        (
            "Update interval",
            lambda: (
                "updated with trackguard"
                if view["builtin"]
                else f"{interval_days:g} days ({view['interval_source']})"
            ),
        ),
        ("Last update", lambda: _stamp(view["last_update"], now)),
        ("Content changed", lambda: _stamp(view["last_changed"], now)),
        ("Last attempt", lambda: _stamp(view["last_attempt"], now)),
        ("Next update", lambda: _until(view["next_update"], now, view)),
        ("Held-back version", lambda: _held(view)),
        ("ETag", lambda: (view["etag"] or "") if view["url"].startswith("http") else ""),
        ("Last-Modified", lambda: view["last_modified"] or ""),
        ("Size", lambda: f"{view['size']:,} bytes"),
        ("SHA-256", lambda: view["sha256"]),
        ("Added", lambda: _stamp(view["added"], now)),
    ]
    return [(label, text) for label, make in rows if (text := make())]


def _held(view: dict[str, Any]) -> str:
    held = view["held_back_rules"]
    return f"{held:,} rules (not applied)" if held is not None else ""


def _stamp(value: str | None, now: datetime) -> str:
    return f"{value} ({_ago(value, now)})" if value else "never"


@lists_group.command("show")
@click.argument("name")
@json_option
def show_command(name: str, as_json: bool) -> None:
    """Everything about one list: source, schedule, status and parser diagnostics."""
    now = datetime.now(UTC)
    try:
        from trackguard.subscriptions.service import find_subscription

        sub = find_subscription(load_subscriptions(), name)
    except TrackguardError as exc:
        raise _fail(exc) from None
    view = describe(sub, now)
    if as_json:
        _print_json(view)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in _field_rows(view, now):
        grid.add_row(label, escape(text))
    out = _out()
    out.print(grid)
    samples = view["diagnostics"]["samples"]
    if samples:
        out.print("\n[bold]First diagnostics[/]")
        for sample in samples:
            out.print(f"  {escape(sample)}")


@lists_group.command("catalogue")
@json_option
def catalogue_command(as_json: bool) -> None:
    """Well-known lists you can add by short name (`trackguard lists add easyprivacy`)."""
    try:
        subscribed = {s.url: s.id for s in load_subscriptions().subscriptions}
    except TrackguardError:
        subscribed = {}
    rows: list[dict[str, Any]] = [
        {
            "key": e.key,
            "name": e.name,
            "url": e.url,
            "format": e.format.value,
            "homepage": e.homepage,
            "licence": e.licence,
            "description": e.description,
            "subscribed_as": subscribed.get(e.url),
        }
        for e in CATALOGUE
    ]
    if as_json:
        _print_json(rows)
        return
    console = _out()
    small = narrow(console)
    columns = [("Short name", False), ("Subscribed", False), ("What it blocks", True)]
    if not small:
        columns.insert(1, ("List", True))
        columns.append(("Address", True))
    t = table(columns, title="List catalogue (`trackguard lists add SHORT_NAME`)")
    for row in rows:
        cells = [row["key"], row["subscribed_as"] or "no", row["description"]]
        if not small:
            cells.insert(1, row["name"])
            cells.append(row["url"])
        add_row(t, *cells)
    console.print(t)


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(lists_group)
