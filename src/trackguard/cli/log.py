"""`trackguard log`, `stats`, `wipe`: the proxy's decision log, read and erased.

Formats what `trackguard.proxy.log` stores; `decision_line` is also the format of
`proxy -v`, so the live view and `log --follow` read the same.
"""

from __future__ import annotations

import time
from typing import Any

import click

from trackguard.cli.common import (
    add_row,
    home,
    json_option,
    narrow,
    out,
    parse_duration,
    print_json,
    table,
)
from trackguard.proxy.log import LogEntry, log_path, read_log, read_new, read_stats, wipe_log


def entry_json(e: LogEntry) -> dict[str, Any]:
    return {
        "time": e.time,
        "kind": e.kind,
        "action": e.action,
        "layer": e.layer,
        "type": e.type,
        "site": e.site,
        "host": e.host,
        "rule": e.rule,
        "list": e.list,
        "line": e.line,
        "url": e.url,
        "count": e.count,
    }


def _why(e: LogEntry) -> str:
    """The rule and where it is, or the deciding layer (user-allow, site-off, ...)."""
    return f"{e.rule} ({e.list}:{e.line})" if e.rule else e.layer


def decision_line(e: LogEntry) -> str:
    """`time site action host rule (list:line)`: one line per decision (proxy -v, --follow)."""
    stamp = time.strftime("%H:%M:%S", time.localtime(e.time))
    return f"{stamp} {e.site or '-'} {e.action.upper()} {e.host} {_why(e)}"


def _matches(e: LogEntry, blocked: bool, site: str | None, host: str | None) -> bool:
    if blocked and e.action != "block":
        return False
    if site and e.site != site:
        return False
    return not host or e.host == host or e.host.endswith("." + host)


def _follow(blocked: bool, site: str | None, host: str | None, as_json: bool) -> None:
    """Print decisions as the proxy logs them, until Ctrl-C."""
    path = log_path(home())
    # Start from "now"; a log that does not exist yet is all new when it appears.
    last: int | None = None if path.exists() else 0
    click.echo(f"following {path} (Ctrl-C to stop)", err=True)
    try:
        while True:
            if path.exists():
                last, entries = read_new(path, last)
                for e in entries:
                    if _matches(e, blocked, site, host):
                        click.echo(print_line(e, as_json))
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def print_line(e: LogEntry, as_json: bool) -> str:
    if as_json:
        import json

        return json.dumps(entry_json(e), ensure_ascii=False)
    return decision_line(e)


@click.command("log")
@click.option("--since", default="24h", show_default=True, help="How far back (30m, 7d...).")
@click.option("-n", "--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--blocked", is_flag=True, help="Only blocked requests.")
@click.option("--site", help="Only requests made by pages of this site.")
@click.option("--host", "host_filter", help="Only requests to this host (and subdomains).")
@click.option(
    "-f", "--follow", is_flag=True, help="Print new decisions as they come, until Ctrl-C."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def log_command(
    since: str,
    limit: int,
    blocked: bool,
    site: str | None,
    host_filter: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Show the proxy's recent decisions (newest first), or follow them live."""
    if follow:
        _follow(blocked, site, host_filter, as_json)
        return
    path = log_path(home())
    if not path.exists():
        click.echo("no decisions logged yet", err=True)
        return
    entries = read_log(
        path,
        since=time.time() - parse_duration(since),
        limit=limit,
        action="block" if blocked else None,
        site=site,
        host=host_filter,
    )
    if as_json:
        for e in entries:
            click.echo(print_line(e, True))
        return
    if not entries:
        click.echo("no decisions in that period", err=True)
        return
    console = out()
    if narrow(console):
        # Under 120 columns: host, site and rule share one folding cell, one line each,
        # so the host is never cut and the rule keeps its full width (issue 11).
        t = table([("time", False), ("action", False), ("host, site, rule (list:line)", True)])
        for e in entries:
            where = f" (on {e.site})" if e.site else ""
            when = time.strftime("%H:%M:%S", time.localtime(e.time))
            add_row(t, when, e.action, f"{e.host}{where}\n{_why(e)}")
    else:
        columns = [("time", False), ("action", False), ("site", True), ("host", False)]
        t = table([*columns, ("type", False), ("n", False), ("rule (list:line)", True)])
        for e in entries:
            when = time.strftime("%m-%d %H:%M:%S", time.localtime(e.time))
            add_row(t, when, e.action, e.site or "-", e.host, e.type, str(e.count), _why(e))
    console.print(t)


@click.command("stats")
@click.option("--since", default="7d", show_default=True, help="How far back (24h, 7d...).")
@json_option
def stats_command(since: str, as_json: bool) -> None:
    """Summarise the decision log: blocked share, top trackers, sites and lists."""
    path = log_path(home())
    if not path.exists():
        click.echo("no decisions logged yet", err=True)
        return
    stats = read_stats(path, since=time.time() - parse_duration(since))
    if as_json:
        print_json(
            {
                "since": stats.since,
                "total": stats.total,
                "by_action": stats.by_action,
                "by_kind": stats.by_kind,
                "tunnels_without_signals": stats.tunnels_allowed,
                "top_blocked_hosts": stats.top_blocked_hosts,
                "top_sites": stats.top_sites,
                "top_lists": stats.top_lists,
                "top_rules": stats.top_rules,
            }
        )
        return
    blocked = stats.by_action.get("block", 0)
    share = f"{100 * blocked / stats.total:.1f}%" if stats.total else "-"
    click.echo(
        f"requests: {stats.total}  blocked: {blocked} ({share})  "
        f"params stripped: {stats.by_action.get('strip', 0)}"
    )
    click.echo(
        f"plain HTTP: {stats.by_kind.get('http', 0)}  tunnels: {stats.by_kind.get('tunnel', 0)}"
        f"  (tunnels carry no DNT/GPC header: {stats.tunnels_allowed})"
    )
    for title, rows in (
        ("top blocked hosts", stats.top_blocked_hosts),
        ("sites with most blocked requests", stats.top_sites),
        ("lists that blocked most", stats.top_lists),
    ):
        if rows:
            click.echo(f"\n{title}:")
            for name, n in rows:
                click.echo(f"  {n:>8}  {name}")
    if stats.top_rules:
        click.echo("\nrules that blocked most:")
        for rule, list_id, n in stats.top_rules:
            click.echo(f"  {n:>8}  {rule}  ({list_id})")


@click.command("wipe")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def wipe_command(yes: bool) -> None:
    """Erase the proxy's decision log."""
    if not yes:
        click.confirm("Erase the whole decision log?", abort=True)
    deleted = wipe_log(log_path(home()))
    click.echo(f"decision log erased ({deleted} rows)")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    for command in (log_command, stats_command, wipe_command):
        main.add_command(command)
