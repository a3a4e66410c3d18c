"""`trackguard proxy`: run the protection proxy.

Parses options, validates `--list` files like every other entry point, and starts
`trackguard.proxy.service`. No decision logic lives here. `-v` prints every decision as
the decision log records it (`cli.log.decision_line`), whether or not it is stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from trackguard.cli.common import check_list_files, load, start_service
from trackguard.cli.common import home as state_home
from trackguard.settings import Settings


def _engine_factory(extra_files: tuple[Path, ...], home: Path) -> Callable[[Settings], Any]:
    """Build the engine for the enabled subscriptions plus this run's `--list` files."""

    def build(settings: Settings) -> Any:
        from trackguard.subscriptions import engine_for

        # Warmed here, in the builder's thread, so the first requests served do not
        # wait for the PSL or the rule texts' offsets.
        return engine_for(home, extra_files, settings=settings).warm()

    return build


def _engine_key(extra_files: tuple[Path, ...], home: Path) -> Callable[[Settings], str]:
    """Fingerprint of the enabled lists, polled so CLI list changes reach a running proxy."""
    from trackguard.subscriptions import engine_key

    def key(settings: Settings) -> str:
        return str(engine_key(home, extra_files, settings=settings))

    return key


def _updater(home: Path) -> Callable[[], Any]:
    from trackguard.subscriptions import update_due

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


def _echo(entry: Any) -> None:
    from trackguard.cli.log import decision_line

    sys.stderr.write(decision_line(entry) + "\n")
    sys.stderr.flush()


@click.command("proxy")
@click.option("--host", help="Address to listen on (default: setting `proxy_host`).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default: setting `proxy_port`, 8118)."
)
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra list file for this run (TPL, EasyList or hosts). Repeatable.",
)
@click.option(
    "--dnt/--no-dnt", default=None, help="Send DNT: 1 for this run (default: setting `dnt`)."
)
@click.option(
    "--gpc/--no-gpc", default=None, help="Send Sec-GPC: 1 for this run (default: setting `gpc`)."
)
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
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Print every decision to stderr (time, site, action, host, rule, list:line).",
)
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

    start_service(verbose=verbose, allow_from=allow_from)
    check_list_files(lists)
    home = state_home()
    saved = load()
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
        echo=_echo if verbose else None,
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
            # start() also opens the log, the learner and the engine: name the file, if any
            where = f" ({exc.filename})" if exc.filename else ""
            raise click.ClickException(
                f"cannot start on {listen_host}:{listen_port}: {exc.strerror or exc}{where}"
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
            # Every worker records its share for the learner; the store merges them.
            learn=True,
        )
        _run_async(lambda: serve(service, False))
        return 0

    code = run_workers(sockets, worker)
    click.echo("stopped", err=True)
    sys.exit(code)


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(proxy_command)
