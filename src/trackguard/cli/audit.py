"""CLI: `trackguard audit` — who tracks whom, from HAR files and request logs.

Parses arguments, builds the engine and entity data, calls the auditor and writes the
report. No classification or counting lives here (see `trackguard.audit`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click

from trackguard.cli.common import EXIT_FAILED, EXIT_USAGE
from trackguard.model import ListRejected, TrackguardError

FORMATS = ("html", "json", "csv")
#: Exit status when the report is complete but some input was read only partly (a file
#: broke partway, or rows were unreadable): 0 and 1/2 keep their meaning (docs/cli.md).
EXIT_INCOMPLETE = 3


def _format_for(out: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if out and out != "-":
        suffix = Path(out).suffix.lower().lstrip(".")
        if suffix in ("htm", "html"):
            return "html"
        if suffix in FORMATS:
            return suffix
    return "json"


@contextmanager
def _progress(enabled: bool, total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (rows done); a no-op when disabled."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _engine(lists: Sequence[str]) -> Any:
    from trackguard.engine import Engine

    if lists:
        return Engine.from_files(lists)
    from trackguard.subscriptions import engine_for

    return engine_for()


def _summary_lines(report: dict[str, Any]) -> list[str]:
    s = report["summary"]
    lines = [
        f"pages {s['pages']:,} · sites {s['sites']:,} · requests {s['requests']:,}",
        f"third-party {s['third_party_requests']:,} ({s['third_party_share']:.1%} of "
        f"subresources) · trackers {s['trackers']:,}",
        f"blocked by lists {s['blocked_by_lists']:,} · "
        f"stopped by tunnels {s['stopped_by_tunnels']:,}",
    ]
    for t in report["trackers"][:5]:
        company = f" ({t['company']})" if t["company"] else ""
        lines.append(f"  {t['domain'][:40]}{company[:30]}: {t['sites']:,} sites, {t['reach']:.0%}")
    return lines


def _skipped_lines(report: dict[str, Any]) -> list[str]:
    """Warnings for stderr when some input was read only partly (then exit 3)."""
    skipped = report["skipped_inputs"]
    rows = report["summary"]["unreadable_rows"]
    if not skipped and not rows:
        return []
    lines = [
        f"warning: {len(skipped):,} file(s) read only up to a break, "
        f"{rows:,} unreadable row(s) skipped (see `skipped_inputs` in the report)"
    ]
    lines += [f"  {s['file']}: {s['reason']}" for s in skipped[:20]]
    if len(skipped) > 20:
        lines.append(f"  … and {len(skipped) - 20:,} more")
    return lines


def _learned(files: Sequence[Path], engine: Any) -> dict[str, Any]:
    """What the Personalized list would suggest from the same HAR files (learning.md §B).

    The learner's own service and HAR adapter, in `suggest` mode, on a throwaway state
    folder (never the user's: an audit must not teach the user's learner), with the
    audit's lists as "the lists". Request logs carry no headers, so only HARs count.
    Sites are numbered exactly (`ExactTagger`), not tagged with 16 bits under a fresh
    random key as a kept state is: a tracker on a few hundred sites would otherwise lose
    a site or two to tag collisions, differently on every run of the same input.
    """
    import tempfile

    from trackguard.har import HarError
    from trackguard.learn.har_adapter import read_har_exchanges
    from trackguard.learn.keys import ExactTagger
    from trackguard.learn.listing import UserChoices, listing
    from trackguard.learn.model import Mode
    from trackguard.learn.service import LearnerService, LearnSettings

    hars = [f for f in files if f.name.lower().endswith(".har")]
    if not hars:
        return {
            "available": False,
            "note": "the learner needs headers and cookies: give HAR files (logs have neither)",
        }

    def layer(domain: str) -> str | None:
        decision = engine.check_host(domain)
        if decision.blocked:
            return "list-block"
        return "list-allow" if decision.matched is not None else None

    settings = LearnSettings(mode=Mode.SUGGEST)
    with tempfile.TemporaryDirectory(prefix="trackguard-audit-learn-") as home:
        service = LearnerService(
            Path(home),
            settings,
            is_listed=lambda d: layer(d) is not None,
            list_allows=lambda d: layer(d) == "list-allow",
            site_tag=ExactTagger(),
        )
        for path in hars:
            # a file that breaks partway keeps what was read before (as in the audit)
            with suppress(HarError):
                for exchange, site in read_har_exchanges(path):
                    service.exchange(exchange, site)
        last_day = max(
            (s.last_day for s in map(service.state.summary, service.state.trackers)), default=0
        )
        items = listing(service.state, service.ctx, UserChoices(list_layer=layer), last_day)
    suggested = [i for i in items if i["action"] is not None]
    return {
        "available": True,
        "mode": "suggest",
        "threshold": settings.threshold,
        "files": len(hars),
        "domains": len(suggested),
        "not_blocked_by_host": sum(1 for i in suggested if i["layer"] != "list-block"),
        "seen": len(items),
        "suggestions": [
            {k: i[k] for k in ("domain", "sites", "kinds", "action", "reason", "layer")}
            for i in suggested
        ],
        "note": "suggest mode: nothing is enforced; accepting a suggestion makes it a user rule",
    }


def register(main: click.Group) -> None:
    """Add `audit` to the main group."""

    @main.command()
    @click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
    @click.option(
        "--list",
        "lists",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="List file to audit with (repeatable). Default: the enabled subscriptions.",
    )
    @click.option(
        "--entities",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Disconnect services.json / entities.json or DuckDuckGo tds.json (repeatable).",
    )
    @click.option(
        "--format", "fmt", type=click.Choice(FORMATS), help="Default: from --out, else json."
    )
    @click.option("--out", "-o", help="Write the report here (default: standard output).")
    @click.option("--workers", type=click.IntRange(1, 256), help="Run on a local Dask cluster.")
    @click.option(
        "--dask", "dask_address", help="Run on an existing Dask scheduler (tcp://HOST:PORT)."
    )
    @click.option(
        "--partition-rows",
        type=click.IntRange(100, 10_000_000),
        default=20_000,
        show_default=True,
        help="Rows per unit of work.",
    )
    @click.option("--title", default="trackguard audit", show_default=True)
    @click.option(
        "--progress/--no-progress", default=None, help="Progress bar (default: on a terminal)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @click.option(
        "--learn/--no-learn",
        default=True,
        show_default=True,
        help="Also report what the Personalized list would suggest (HAR input).",
    )
    def audit(
        inputs: tuple[str, ...],
        lists: tuple[str, ...],
        entities: tuple[str, ...],
        fmt: str | None,
        out: str | None,
        workers: int | None,
        dask_address: str | None,
        partition_rows: int,
        title: str,
        progress: bool | None,
        as_json: bool,
        learn: bool,
    ) -> None:
        """Who tracks whom: audit HAR files, folders or request logs (JSONL, CSV, Parquet).

        Reports per page and per site: requests, third parties, trackers with the rule
        that caught each, cookies and DNT/GPC (HAR), and what trackguard would have
        stopped with the lists by URL and with host-only tunnels.
        """
        from trackguard.audit.entities import EntityError, EntityMap, load_entities
        from trackguard.audit.plan import plan_inputs
        from trackguard.audit.readers import AuditInputError, expand_inputs
        from trackguard.audit.render import render_csv, render_html, render_json
        from trackguard.audit.report import ReportContext, build_report

        if workers and dask_address:
            raise click.UsageError("use either --workers or --dask, not both")
        fmt = "json" if as_json else _format_for(out, fmt)
        try:
            files = expand_inputs(inputs)
            entity_map = load_entities(entities) if entities else EntityMap()
            engine = _engine(lists)
            tasks = plan_inputs(files, partition_rows)
        except (AuditInputError, EntityError, ListRejected, TrackguardError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        show = sys.stderr.isatty() if progress is None else progress
        label = f"auditing {len(files):,} file(s)"
        try:
            with _progress(show, None, label) as advance:
                if workers or dask_address:
                    from trackguard.audit.distributed import audit_on_dask

                    tally = audit_on_dask(
                        tasks,
                        engine.to_bytes(),
                        entity_map or None,
                        address=dask_address,
                        workers=workers or 2,
                        partition_rows=partition_rows,
                        progress=advance,
                    )
                else:
                    from trackguard.audit.run import audit_tasks

                    tally = audit_tasks(
                        tasks,
                        engine,
                        entity_map or None,
                        partition_rows=partition_rows,
                        progress=advance,
                    )
        except (AuditInputError, TrackguardError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)
        list_ids = tuple(Path(p).name for p in lists) or ("enabled subscriptions",)
        learned = _learned(files, engine) if learn else None
        context = ReportContext(
            lists=list_ids, entities=entity_map.sources, inputs=len(files), learned=learned
        )
        report = build_report(tally, entity_map, context)
        text = {"html": lambda: render_html(report, title), "csv": lambda: render_csv(report)}.get(
            fmt, lambda: render_json(report)
        )()
        if out and out != "-":
            Path(out).write_text(text, encoding="utf-8")
            for line in _summary_lines(report):
                click.echo(line, err=True)
            click.echo(f"report written to {out} ({fmt})", err=True)
        else:
            click.echo(text, nl=False)
        warnings = _skipped_lines(report)
        for line in warnings:
            click.echo(line, err=True)
        if warnings:
            sys.exit(EXIT_INCOMPLETE)
