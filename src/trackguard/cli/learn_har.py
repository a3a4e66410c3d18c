"""`trackguard learn from-har FILE_OR_DIR...`: learn from recorded page loads.

Only parsing, the progress bar and output live here; the HAR adapter attributes entries
and the learner service counts them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trackguard.har import HarStats
from trackguard.learn.har_adapter import HarError, har_files, read_har_exchanges
from trackguard.learn.model import Mode
from trackguard.learn.service import LearnerService, learn_settings
from trackguard.settings import load_settings, state_dir


@click.command("from-har")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def from_har_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Count tracking evidence in HAR files (Chrome, Firefox, Playwright exports)."""
    home = state_dir()
    learn = learn_settings(load_settings(home))
    err = Console(stderr=True, highlight=False)
    if learn.mode is Mode.OFF:
        raise click.ClickException("learning is off (`trackguard learn mode suggest` turns it on)")
    files = har_files(paths)
    from trackguard.cli.learn import list_knowledge

    # The enabled lists say which domains are known (not novel, learning.md §B9.3).
    listed, allows, _ = list_knowledge(home)
    service = LearnerService(home, learn, is_listed=listed, list_allows=allows)
    stats = HarStats()
    counted = exchanges = 0
    failed: list[str] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
    ) as progress:
        task = progress.add_task("Reading HAR files", total=len(files))
        for path in files:
            try:
                for exchange, site in read_har_exchanges(path, stats):
                    exchanges += 1
                    counted += service.exchange(exchange, site)
            except (HarError, OSError) as exc:
                failed.append(f"{path}: {exc}")
            progress.advance(task)
    service.flush()
    suggestions = len(
        [t for t in service.state.trackers if service.state.summary(t).sites >= learn.threshold]
    )
    data = {
        "files": len(files),
        "entries": stats.entries,
        "skipped_entries": stats.skipped_entries,
        "exchanges": exchanges,
        "evidence": counted,
        "trackers": len(service.state.trackers),
        "at_threshold": suggestions,
        "failed": failed,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(
            f"{len(files)} files, {exchanges} attributed requests, {counted} pieces of evidence;"
            f" {data['trackers']} domains seen, {suggestions} at the threshold"
            " (`trackguard learn list`)."
        )
        for line in failed:
            err.print(f"[red]error:[/] {line}")
    if failed and len(failed) == len(files):
        raise SystemExit(1)


def register(group: click.Group) -> None:
    group.add_command(from_har_command)
