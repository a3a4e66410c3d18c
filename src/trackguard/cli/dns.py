"""CLI command for the DNS forwarder: `trackguard dns`.

Parses input, calls `trackguard.dnsserver`, prints a banner. No decision logic lives here.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from trackguard.cli.common import start_service
from trackguard.settings import Settings, state_dir


def _address(value: str, default_port: int, hint: str) -> tuple[str, int]:
    from trackguard.dnsserver.server import parse_address

    try:
        return parse_address(value, default_port)
    except ValueError:
        raise click.BadParameter(
            f"not an IP address with optional port: {value!r} (e.g. 127.0.0.1:5353, [::1]:53)",
            param_hint=hint,
        ) from None


@click.command("dns")
@click.option(
    "--listen",
    default="127.0.0.1:5353",
    show_default=True,
    help="Address to answer on (UDP and TCP).",
)
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    required=True,
    help="Resolver to forward to, IP[:PORT] (repeat for fallbacks, tried in order).",
)
@click.option(
    "--list",
    "lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra list file for this run, on top of the enabled subscriptions.",
)
@click.option(
    "--allow-from",
    multiple=True,
    help="Client network allowed to query (CIDR; default loopback only). Never open it widely.",
)
@click.option(
    "--block-answer",
    type=click.Choice(["null", "nxdomain", "refused"]),
    default="null",
    show_default=True,
    help="How blocked names are answered: 0.0.0.0 / ::, NXDOMAIN, or REFUSED.",
)
@click.option("--log-allowed", is_flag=True, help="Log allowed names too (default: blocked only).")
@click.option("--no-log", is_flag=True, help="Keep no decision log.")
@click.option("-v", "--verbose", is_flag=True, help="Log start-up and list changes to stderr.")
def dns_command(
    listen: str,
    upstreams: tuple[str, ...],
    lists: tuple[Path, ...],
    allow_from: tuple[str, ...],
    block_answer: str,
    log_allowed: bool,
    no_log: bool,
    verbose: bool,
) -> None:
    """Run a DNS forwarder that blocks trackers for every device and app.

    Names are judged as the proxy judges HTTPS tunnels (host-only rules, your overrides
    and switches); every name of an answer's CNAME chain is checked too, so trackers
    disguised as first-party names are blocked. Blocked names never reach the upstream.
    """
    from trackguard.cli.proxy import _engine_factory, _engine_key, _run_async
    from trackguard.dnsserver.packets import BlockAnswer
    from trackguard.dnsserver.server import DnsOptions
    from trackguard.dnsserver.service import DnsService
    from trackguard.proxy.log import DecisionLog, log_path

    start_service(verbose=verbose, allow_from=allow_from)
    options = DnsOptions(
        listen=_address(listen, 5353, "--listen"),
        upstreams=tuple(_address(u, 53, "--upstream") for u in upstreams),
        allow_from=allow_from or DnsOptions().allow_from,
        block_answer=BlockAnswer(block_answer),
        log_allowed=log_allowed,
    )
    if options.listen in options.upstreams:
        raise click.BadParameter(
            "an upstream is this server's own address", param_hint="--upstream"
        )
    home = state_dir()

    def decision_log(settings: Settings) -> DecisionLog:
        return DecisionLog(log_path(home), retention_days=settings.log_retention_days)

    service = DnsService(
        options,
        home=home,
        engine_factory=_engine_factory(lists, home),
        engine_key=_engine_key(lists, home),
        log=None if no_log else decision_log,
    )

    async def run() -> None:
        try:
            host, port = await service.start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {listen}: {exc.strerror or exc}"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        shown = f"[{host}]" if ":" in host else host
        ups = ", ".join(f"{h}:{p}" for h, p in options.upstreams)
        click.echo(
            f"trackguard dns on {shown}:{port} (UDP and TCP), forwarding to {ups}; "
            f"blocked names answered {block_answer}. Ctrl-C to stop.",
            err=True,
        )
        await stop.wait()
        click.echo("stopping...", err=True)
        await service.stop()

    _run_async(run)


def register(main: click.Group) -> None:
    main.add_command(dns_command)
