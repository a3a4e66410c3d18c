"""`trackguard query`: which rules of which lists match a domain or URL (`pihole -q`).

`check` shows the one rule that decides; `query` shows every rule of every enabled list
(or `--list` file) that matches, block and allow alike, with list and line, plus the
user's overrides that cover the host. Without `--type`, every request type is tried, so
`||host^$script` shows up for a bare domain too. No matching logic here: the engine's
`matching_rules` answers.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from trackguard.cli.check import CheckError, request_url
from trackguard.cli.common import add_row, json_option, out, print_json, table
from trackguard.model import RequestType, Rule, TrackguardError

_TYPES = sorted(t.name.lower() for t in RequestType)  # type: ignore[union-attr]


def _rule_json(rule: Rule) -> dict[str, Any]:
    src = rule.source
    return {"rule": src.text, "list": src.list_id, "line": src.line, "action": rule.action.value}


@click.command("query")
@click.argument("target", metavar="DOMAIN_OR_URL")
@click.option("--source", "source_url", help="Page (URL or domain) that made the request.")
@click.option(
    "--type",
    "request_type",
    type=click.Choice(_TYPES, case_sensitive=False),
    help="Only this request type (default: every type).",
)
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="List file to search (repeatable). Default: the enabled subscriptions.",
)
@json_option
def query_command(
    target: str,
    source_url: str | None,
    request_type: str | None,
    lists: tuple[str, ...],
    as_json: bool,
) -> None:
    """Every rule of every enabled list that matches DOMAIN_OR_URL, block and allow.

    Exit status, like grep: 0 some rule or override matches, 1 none, 2 error.
    """
    from trackguard.domain import host_suffixes, split_url

    try:
        url, note = request_url(target)
        if source_url is not None:
            source_url, _ = request_url(source_url, "--source")
    except ValueError as exc:
        raise CheckError(str(exc)) from None
    overrides: list[dict[str, str]] = []
    try:
        if lists:
            from trackguard.engine import Engine

            engine: Any = Engine.from_files(lists)
        else:
            from trackguard.settings import load_settings
            from trackguard.subscriptions import engine_for

            settings = load_settings()
            engine = engine_for(settings=settings)
            suffixes = host_suffixes(split_url(url).host)
            for setting in ("user_allow", "user_block", "exempt_sites"):
                for entry in getattr(settings, setting):
                    if entry in suffixes:
                        overrides.append({"setting": setting, "entry": entry})
    except (TrackguardError, OSError) as exc:
        raise CheckError(str(exc)) from None
    types = [request_type] if request_type else _TYPES
    found: dict[tuple[str, int, str], Rule] = {}
    for name in types:
        for rule in engine.matching_rules(url, source_url, name):
            found.setdefault((rule.source.list_id, rule.source.line, rule.source.text), rule)
    rules = sorted(found.values(), key=lambda r: (r.source.list_id, r.source.line))
    if as_json:
        print_json(
            {
                "query": target,
                "url": url,
                "source_url": source_url,
                "matches": [_rule_json(r) for r in rules],
                "overrides": overrides,
            }
        )
    else:
        if note:
            click.echo(f"note: {note}", err=True)
        if rules:
            t = table([("list:line", False), ("action", False), ("rule", True)])
            for r in rules:
                add_row(t, f"{r.source.list_id}:{r.source.line}", r.action.value, r.source.text)
            out().print(t)
        else:
            click.echo(f"no rule of the enabled lists matches {url}", err=True)
        for o in overrides:
            click.echo(f"your override: {o['setting']} {o['entry']}")
    sys.exit(0 if rules or overrides else 1)


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(query_command)
