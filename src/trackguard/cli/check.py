"""CLI: `trackguard check` (one request or a JSON Lines batch) and `trackguard lint`.

Only argument parsing and output formatting live here; decisions come from the engine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from trackguard.model import Decision, ListRejected, RequestType, Severity, TrackguardError

_TYPES = sorted(t.name.lower() for t in RequestType)  # type: ignore[union-attr]


def _engine(lists: Sequence[str], strict_ie: bool) -> Any:
    """An engine from `--list` files (the lists alone), or the user's own protection:
    the enabled subscriptions behind the same overrides and switches as the proxy."""
    from trackguard.engine import Engine

    if lists:
        return Engine.from_files(lists, strict_ie=strict_ie)
    from trackguard.settings import load_settings
    from trackguard.subscriptions import engine_for

    settings = load_settings()
    return _UserPolicy(engine_for(settings=settings), settings)


class _UserPolicy:
    """`check` as the proxy decides: overrides and switches first (TPL spec §A.8 1-2)."""

    def __init__(self, engine: Any, settings: Any) -> None:
        from trackguard.policy.decide import PolicyConfig

        self.engine = engine
        self.config = PolicyConfig.from_settings(settings)

    def check(self, url: str, source_url: str | None, type: str | None = "other") -> Decision:
        from trackguard.policy.decide import LAYER_REASONS, decide_for_page

        rtype = RequestType.parse(type or "other")
        verdict = decide_for_page(url, source_url, rtype, config=self.config, matcher=self.engine)
        reason = LAYER_REASONS.get(verdict.layer.value)
        if reason is None and verdict.decision is not None:
            return verdict.decision
        return Decision(verdict.blocked, None, None, reason or verdict.layer.value)


def _run_batch(engine: Any, infile: IO[str], out: IO[str]) -> tuple[int, int]:
    """Decide every JSON Lines request in order; bad lines get an `error` object."""
    check = engine.check
    dumps = json.dumps
    write = out.write
    seen = blocked = 0
    for lineno, line in enumerate(infile, 1):
        if not line.strip():
            continue
        seen += 1
        try:
            req = json.loads(line)
            url = req["url"]
            if not isinstance(url, str):
                raise TypeError("url must be a string")
            source = req.get("source_url")
            decision = check(url, source if isinstance(source, str) else None, req.get("type"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            write(dumps({"error": f"line {lineno}: {exc.__class__.__name__}: {exc}"}) + "\n")
            continue
        blocked += decision.blocked
        write(dumps(decision.to_json()) + "\n")
    return seen, blocked


def register(main: click.Group) -> None:
    """Add `check` and `lint` to the main group."""

    @main.command()
    @click.argument("url", required=False)
    @click.option("--source", "source_url", help="URL of the page that made the request.")
    @click.option(
        "--type",
        "request_type",
        default="other",
        show_default=True,
        type=click.Choice(_TYPES, case_sensitive=False),
        help="Request type (Adblock Plus names).",
    )
    @click.option(
        "--list",
        "lists",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="List file to decide with (repeatable). Default: the enabled subscriptions.",
    )
    @click.option(
        "--requests",
        "requests_file",
        type=click.File("r", encoding="utf-8"),
        help='JSON Lines of {"url", "source_url", "type"}: one decision per line, in order.',
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--strict-ie", is_flag=True, help="TPL: no http:// ↔ https:// equivalence.")
    def check(
        url: str | None,
        source_url: str | None,
        request_type: str,
        lists: tuple[str, ...],
        requests_file: IO[str] | None,
        as_json: bool,
        strict_ie: bool,
    ) -> None:
        """Decide whether tracking protection blocks a request, and say why.

        Without --list: your enabled lists, behind your overrides and switches (as the
        proxy decides). With --list: those lists alone. A request without --source has
        no page and counts as third-party.
        """
        if (url is None) == (requests_file is None):
            raise click.UsageError("give either a URL or --requests FILE")
        try:
            engine = _engine(lists, strict_ie)
        except (TrackguardError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        if requests_file is not None:
            out = sys.stdout
            seen, blocked = _run_batch(engine, requests_file, out)
            out.flush()
            if not as_json:
                click.echo(f"{seen} requests, {blocked} blocked", err=True)
            return
        assert url is not None
        decision = engine.check(url, source_url, request_type)
        if as_json:
            click.echo(json.dumps(decision.to_json()))
        else:
            from trackguard.policy.decide import explain_decision

            click.echo(explain_decision(decision))

    @main.command()
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["tpl", "abp", "hosts"]),
        help="List syntax (default: detected from the content).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--quiet", "-q", is_flag=True, help="Only errors and warnings, not notices.")
    def lint(file: str, fmt: str | None, as_json: bool, quiet: bool) -> None:
        """Report every problem in a list and what the engine will and will not apply.

        Exits 1 when the list is unusable as a whole, 0 otherwise.
        """
        from trackguard.engine import Engine
        from trackguard.lists import detect_format, parse_list

        path = Path(file)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise click.ClickException(
                f"{file}: not UTF-8 ({exc.reason} at byte {exc.start})"
            ) from exc
        try:
            format_ = detect_format(text) if fmt is None else fmt
            parsed = parse_list(text, path.name, format_)
        except ListRejected as exc:
            if as_json:
                click.echo(json.dumps({"list": path.name, "rejected": str(exc)}))
            else:
                click.echo(f"{path.name}: rejected: {exc}", err=True)
            sys.exit(1)
        engine = Engine.from_parsed([parsed])
        diagnostics = [*engine.diagnostics, *engine.lint()]
        summary = engine.lists[path.name]
        counts = {s.value: 0 for s in Severity}
        for d in diagnostics:
            counts[d.severity.value] += 1
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "list": path.name,
                        "format": parsed.format.value,
                        "rules_applied": summary["rules"],
                        "not_applied": summary["skipped"],
                        "metadata": summary["metadata"],
                        "counts": counts,
                        "diagnostics": [
                            {
                                "line": d.line,
                                "severity": d.severity.value,
                                "code": d.code,
                                "message": d.message,
                            }
                            for d in diagnostics
                        ],
                    }
                )
            )
            return
        for d in diagnostics:
            if quiet and d.severity is Severity.NOTICE:
                continue
            click.echo(f"{file}:{d.line}: {d.severity.value}: {d.message} [{d.code}]")
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(summary["skipped"].items())) or "none"
        click.echo(
            f"{path.name}: {parsed.format.value} list, {summary['rules']} rules applied; "
            f"not applied: {skipped}; {counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['notice']} notices"
        )
