"""CLI commands for the protection proxy: proxy, log, stats, wipe, site, allow, block.

Parses input, calls `trackguard.proxy`, formats output. No decision logic lives here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from trackguard.settings import Settings, load_settings, save_settings, state_dir

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `24h`, `7d`, `2w` (or a plain number of seconds) -> seconds."""
    text = text.strip().lower()
    try:
        if text and text[-1] in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(f"not a duration: {text!r} (try 30m, 24h, 7d)") from None


def _home() -> Path:
    return state_dir()


def _engine_factory(extra_files: tuple[Path, ...], home: Path) -> Callable[[Settings], Any]:
    """Build the engine for the enabled subscriptions plus this run's `--list` files."""

    def build(settings: Settings) -> Any:
        try:
            from trackguard.subscriptions import engine_for
        except ImportError:
            from trackguard.engine import Engine

            return Engine.from_files(list(extra_files), strict_ie=settings.strict_ie)
        return engine_for(home, extra_files, settings=settings)

    return build


def _engine_key(extra_files: tuple[Path, ...], home: Path) -> Callable[[Settings], str] | None:
    """Fingerprint of the enabled lists, polled so CLI list changes reach a running proxy."""
    try:
        from trackguard.subscriptions import engine_key
    except ImportError:
        return None

    def key(settings: Settings) -> str:
        return str(engine_key(home, extra_files, settings=settings))

    return key


def _updater(home: Path) -> Callable[[], Any] | None:
    try:
        from trackguard.subscriptions import update_due
    except ImportError:
        return None

    def run() -> Any:
        return update_due(home)

    return run


def _run_async(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run with uvloop when installed (`pip install trackguard[fast]`), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def _resolver_address(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    from trackguard.dnsserver.server import parse_address

    try:
        return parse_address(value, 53)
    except ValueError:
        raise click.BadParameter(
            f"not an IP address with optional port: {value!r}", param_hint="--resolver"
        ) from None


def _dashboard(home: Path) -> Any:
    from trackguard.web.app import WebApp

    return WebApp(home)


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""

    @main.command("proxy")
    @click.option("--host", help="Address to listen on (default: settings, 127.0.0.1).")
    @click.option("--port", type=click.IntRange(0, 65535), help="Port (default: 8118).")
    @click.option(
        "--list",
        "lists",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Extra list file for this run (TPL, EasyList or hosts). Repeatable.",
    )
    @click.option("--dnt/--no-dnt", default=None, help="Send DNT: 1 (overrides settings).")
    @click.option("--gpc/--no-gpc", default=None, help="Send Sec-GPC: 1 (overrides settings).")
    @click.option(
        "--allow-from",
        multiple=True,
        help="Client network allowed to use the proxy (CIDR). Repeatable.",
    )
    @click.option("--no-log", is_flag=True, help="Do not write the decision log.")
    @click.option(
        "--no-dashboard",
        is_flag=True,
        help="Do not serve the dashboard at the proxy's own address.",
    )
    @click.option(
        "--pac-fallback-direct",
        is_flag=True,
        help="Let /proxy.pac fall back to DIRECT when the proxy is down.",
    )
    @click.option("--max-connections", type=click.IntRange(1), default=1024, show_default=True)
    @click.option(
        "--resolver",
        help="Resolve upstream hosts through this DNS server (IP[:PORT], e.g. trackguard dns)"
        " and refuse names whose CNAME chain reaches a listed tracker.",
    )
    @click.option(
        "--intercept",
        is_flag=True,
        help="Decrypt HTTPS with mitmproxy for URL-level matching (scripts/setup builds it; "
        "`trackguard ca` shows the CA to trust).",
    )
    @click.option(
        "--passthrough",
        multiple=True,
        help="With --intercept: host never decrypted (certificate pinning). Repeatable.",
    )
    @click.option(
        "--mitm-option",
        multiple=True,
        hidden=True,
        help="With --intercept: extra mitmproxy KEY=VALUE setting. Repeatable.",
    )
    @click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=None,
        help="Proxy processes sharing the port (default: CPUs, at most 4).",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log every decision to stderr.")
    def proxy_command(
        host: str | None,
        port: int | None,
        lists: tuple[Path, ...],
        dnt: bool | None,
        gpc: bool | None,
        allow_from: tuple[str, ...],
        no_log: bool,
        no_dashboard: bool,
        pac_fallback_direct: bool,
        max_connections: int,
        resolver: str | None,
        intercept: bool,
        passthrough: tuple[str, ...],
        mitm_option: tuple[str, ...],
        workers: int | None,
        verbose: bool,
    ) -> None:
        """Run the protection proxy (HTTP, and HTTPS through CONNECT).

        Point browsers at it as their HTTP and HTTPS proxy, or at
        http://HOST:PORT/proxy.pac. Tracker requests are answered locally and never
        leave the machine; HTTPS tunnels are judged on the host name alone unless
        --intercept is given.
        """
        from trackguard.proxy.server import ServerLimits
        from trackguard.proxy.service import ProxyOptions, ProxyService, effective_settings

        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(message)s",
        )
        for cidr in allow_from:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise click.BadParameter(
                    f"not a network: {cidr}", param_hint="--allow-from"
                ) from None
        home = _home()
        saved = load_settings(home)
        listen_host = host if host is not None else saved.proxy_host
        listen_port = port if port is not None else saved.proxy_port
        options = ProxyOptions(
            host=listen_host,
            port=listen_port,
            allow_from=allow_from or None,
            dnt=dnt,
            gpc=gpc,
            log=not no_log,
            pac_fallback_direct=pac_fallback_direct,
            resolver=_resolver_address(resolver),
            local_app=None if no_dashboard else _dashboard(home),
            limits=ServerLimits(max_connections=max_connections),
        )
        settings = effective_settings(saved, options)
        try:
            if not ipaddress.ip_address(listen_host).is_loopback:
                click.echo(
                    f"warning: listening on {listen_host}, not loopback; clients are limited "
                    f"to {', '.join(allow_from or settings.allow_from)}",
                    err=True,
                )
        except ValueError:
            pass

        if intercept:
            from trackguard.proxy.intercept import InterceptUnavailable, run_intercept

            try:
                code = run_intercept(
                    host=listen_host,
                    port=listen_port,
                    home=home,
                    extra_lists=lists,
                    passthrough=passthrough,
                    dnt=dnt,
                    gpc=gpc,
                    log=not no_log,
                    options=mitm_option,
                )
            except InterceptUnavailable as exc:
                raise click.ClickException(str(exc)) from None
            sys.exit(code)

        from trackguard.proxy.workers import default_workers, listen_sockets, run_workers

        factory = _engine_factory(lists, home)
        key = _engine_key(lists, home)
        count = workers if workers is not None else default_workers()

        def banner(host: str, port: int, extra: str = "") -> None:
            shown = f"[{host}]" if ":" in host else host
            click.echo(
                f"trackguard proxy on http://{shown}:{port}/ "
                f"(dashboard: http://{shown}:{port}/, PAC: /proxy.pac) - "
                f"protection {_onoff(settings.protection)}, DNT {_onoff(settings.dnt)}, "
                f"GPC {_onoff(settings.gpc)}{extra}. Ctrl-C to stop.",
                err=True,
            )

        async def serve(service: ProxyService, announce: bool) -> None:
            try:
                server = await service.start()
            except OSError as exc:
                raise click.ClickException(
                    f"cannot listen on {listen_host}:{listen_port}: {exc.strerror or exc}"
                ) from None
            service.install_signal_handlers()
            if announce:
                banner(server.host, server.port)
            await service.wait()
            if announce:
                click.echo("stopping...", err=True)
            await service.stop()

        if count == 1:
            service = ProxyService(
                options, home=home, engine_factory=factory, updater=_updater(home), engine_key=key
            )
            _run_async(lambda: serve(service, True))
            return

        try:
            sockets = listen_sockets(listen_host, listen_port, count)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {listen_host}:{listen_port}: {exc.strerror or exc}"
            ) from None
        matcher = factory(settings)  # built once; the workers share it copy-on-write
        if not no_log:
            from contextlib import closing

            from trackguard.proxy.log import connect, log_path

            with closing(connect(log_path(home))):
                pass  # create the log once, not N workers racing to set it up
        host_shown, port_shown = sockets[0].getsockname()[:2]
        banner(host_shown, port_shown, f", {count} workers")

        def worker(index: int, sock: Any, peers: list[Any]) -> int:
            service = ProxyService(
                options,
                home=home,
                engine_factory=factory,
                # One worker downloads due list updates; all of them notice the change.
                updater=_updater(home) if index == 0 else None,
                engine_key=key,
                matcher=matcher,
                sock=sock,
                peers=peers,
            )
            _run_async(lambda: serve(service, False))
            return 0

        code = run_workers(sockets, worker)
        click.echo("stopped", err=True)
        sys.exit(code)

    @main.command("log")
    @click.option("--since", default="24h", show_default=True, help="How far back (30m, 7d...).")
    @click.option("-n", "--limit", type=click.IntRange(1), default=50, show_default=True)
    @click.option("--blocked", is_flag=True, help="Only blocked requests.")
    @click.option("--site", help="Only requests made by pages of this site.")
    @click.option("--host", "host_filter", help="Only requests to this host (and subdomains).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def log_command(
        since: str,
        limit: int,
        blocked: bool,
        site: str | None,
        host_filter: str | None,
        as_json: bool,
    ) -> None:
        """Show the proxy's recent decisions (newest first)."""
        from trackguard.proxy.log import log_path, read_log

        path = log_path(_home())
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
                click.echo(
                    json.dumps(
                        {
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
                    )
                )
            return
        if not entries:
            click.echo("no decisions in that period", err=True)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for col in ("time", "action", "site", "host", "type", "n", "rule (list:line)"):
            table.add_column(col, no_wrap=col != "rule (list:line)")
        for e in entries:
            rule = f"{e.rule} ({e.list}:{e.line})" if e.rule else e.layer
            table.add_row(
                time.strftime("%m-%d %H:%M:%S", time.localtime(e.time)),
                e.action,
                e.site or "-",
                e.host,
                e.type,
                str(e.count),
                rule,
            )
        Console().print(table)

    @main.command("stats")
    @click.option("--since", default="7d", show_default=True, help="How far back (24h, 7d...).")
    @click.option("--json", "as_json", is_flag=True)
    def stats_command(since: str, as_json: bool) -> None:
        """Summarise the decision log: blocked share, top trackers, sites and lists."""
        from trackguard.proxy.log import log_path, read_stats

        path = log_path(_home())
        if not path.exists():
            click.echo("no decisions logged yet", err=True)
            return
        stats = read_stats(path, since=time.time() - parse_duration(since))
        if as_json:
            click.echo(
                json.dumps(
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
                    },
                    indent=2,
                )
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

    @main.command("wipe")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def wipe_command(yes: bool) -> None:
        """Erase the proxy's decision log."""
        from trackguard.proxy.log import log_path, wipe_log

        if not yes:
            click.confirm("Erase the whole decision log?", abort=True)
        deleted = wipe_log(log_path(_home()))
        click.echo(f"decision log erased ({deleted} rows)")

    @main.group("site")
    def site_group() -> None:
        """Turn protection off or on for a site (IE9's address-bar switch)."""

    def _normalise(value: str) -> str:
        from trackguard.domain import split_url, to_ascii_host

        host = split_url(value).host if "://" in value else to_ascii_host(value)
        if not host or any(c in host for c in "/ ?#@*"):
            raise click.BadParameter(f"not a host name: {value!r}")
        return host

    def _site(value: str) -> str:
        from trackguard.domain import site_of

        return site_of(_normalise(value))

    @site_group.command("off")
    @click.argument("sites", nargs=-1, required=True)
    def site_off(sites: tuple[str, ...]) -> None:
        """Stop blocking on pages of SITES (their third-party requests all load)."""
        home = _home()
        settings = load_settings(home)
        exempt = list(settings.exempt_sites)
        for value in sites:
            site = _site(value)
            if site not in exempt:
                exempt.append(site)
            click.echo(f"protection off on {site}")
        save_settings(settings.replace(exempt_sites=tuple(exempt)), home)

    @site_group.command("on")
    @click.argument("sites", nargs=-1, required=True)
    def site_on(sites: tuple[str, ...]) -> None:
        """Protect pages of SITES again."""
        home = _home()
        settings = load_settings(home)
        remove = {_site(v) for v in sites}
        save_settings(
            settings.replace(
                exempt_sites=tuple(s for s in settings.exempt_sites if s not in remove)
            ),
            home,
        )
        for site in sorted(remove):
            click.echo(f"protection back on for {site}")

    @site_group.command("list")
    def site_list() -> None:
        """Sites where protection is off."""
        for site in load_settings(_home()).exempt_sites:
            click.echo(site)

    @main.group("rule")
    def rule_group() -> None:
        """Switch single list rules off or on, whatever list they come from."""

    # TPL rules start with `-`: let `rule off "-d host"` read it as a rule, not an option.
    @rule_group.command("off", context_settings={"ignore_unknown_options": True})
    @click.argument("rules", nargs=-1, required=True)
    def rule_off(rules: tuple[str, ...]) -> None:
        """Stop applying RULES, given by their exact text as `check` prints it
        (e.g. `trackguard rule off "-d google-analytics.com"`)."""
        home = _home()
        settings = load_settings(home)
        disabled = list(settings.disabled_rules)
        for text in rules:
            text = text.strip()
            if not text:
                raise click.BadParameter("a rule's text cannot be empty")
            if text not in disabled:
                disabled.append(text)
            click.echo(f"rule off: {text}")
        save_settings(settings.replace(disabled_rules=tuple(disabled)), home)

    @rule_group.command("on", context_settings={"ignore_unknown_options": True})
    @click.argument("rules", nargs=-1, required=True)
    def rule_on(rules: tuple[str, ...]) -> None:
        """Apply RULES again."""
        home = _home()
        settings = load_settings(home)
        remove = {text.strip() for text in rules}
        kept = tuple(t for t in settings.disabled_rules if t not in remove)
        save_settings(settings.replace(disabled_rules=kept), home)
        for text in sorted(remove):
            click.echo(f"rule on: {text}")

    @rule_group.command("list")
    def rule_list() -> None:
        """Rules you switched off."""
        for text in load_settings(_home()).disabled_rules:
            click.echo(text)

    def _override(field: str, other: str, verb: str) -> Callable[..., None]:
        def command(domains: tuple[str, ...], remove: bool) -> None:
            home = _home()
            settings = load_settings(home)
            current = list(getattr(settings, field))
            opposite = list(getattr(settings, other))
            if not domains:
                for d in current:
                    click.echo(d)
                return
            for value in domains:
                host = _normalise(value)
                if remove:
                    if host in current:
                        current.remove(host)
                    click.echo(f"{host}: no longer always {verb}ed")
                else:
                    if host not in current:
                        current.append(host)
                    if host in opposite:
                        opposite.remove(host)
                    click.echo(f"{host}: always {verb}ed")
            save_settings(settings.replace(**{field: tuple(current), other: tuple(opposite)}), home)

        return command

    main.command(
        "allow",
        help="Always allow DOMAINS (and subdomains), whatever the lists say. "
        "Without DOMAINS, list them.",
    )(
        click.argument("domains", nargs=-1)(
            click.option("--remove", is_flag=True, help="Remove the override.")(
                _override("user_allow", "user_block", "allow")
            )
        )
    )
    main.command(
        "block",
        help="Always block DOMAINS (and subdomains) as third parties. Without DOMAINS, list them.",
    )(
        click.argument("domains", nargs=-1)(
            click.option("--remove", is_flag=True, help="Remove the override.")(
                _override("user_block", "user_allow", "block")
            )
        )
    )
