"""`trackguard ca`: where the interception CA is and how to trust it, per system and browser.

Parses options, asks `proxy.intercept`, prints. Creating the CA here (before the first
`proxy --intercept`) lets a person trust it first; nothing else about TLS lives here.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from trackguard.settings import state_dir


def register(main: click.Group) -> None:
    """Add `ca` to the main group."""

    @main.command("ca")
    @click.option("--json", "as_json", is_flag=True, help="Print paths and steps as JSON.")
    @click.option("--no-create", is_flag=True, help="Only report; do not create a missing CA.")
    def ca(as_json: bool, no_create: bool) -> None:
        """Show the HTTPS interception CA certificate and how to trust it.

        Exit code 0: the CA exists; 1: it does not and could not be created (mitmproxy
        missing, see `trackguard proxy --intercept`); 3: --no-create and none yet.
        """
        from trackguard.proxy.intercept import (
            InterceptUnavailable,
            ca_certificate,
            ensure_ca,
            mitm_python,
            trust_steps,
        )

        home = state_dir()
        cert = ca_certificate(home)
        if not cert.exists():
            if no_create:
                _report(cert, False, as_json, mitm_python())
                raise SystemExit(3)
            try:
                ensure_ca(home)
            except InterceptUnavailable as exc:
                raise click.ClickException(str(exc)) from None
        _report(cert, True, as_json, mitm_python())
        if not as_json:
            click.echo("\nTrust it (only on machines you use this proxy from):")
            for where, how in trust_steps(cert):
                click.echo(f"\n  {where}:\n    {how}")
            click.echo(
                "\nThe key beside it can decrypt your HTTPS traffic: keep the folder private "
                "(it is 0700). Pinned hosts: `trackguard proxy --intercept --passthrough HOST`."
            )

    def _report(cert: Path, exists: bool, as_json: bool, python: str | None) -> None:
        if as_json:
            from trackguard.proxy.intercept import trust_steps

            steps = trust_steps(cert) if exists else []
            click.echo(
                json.dumps(
                    {
                        "certificate": str(cert),
                        "exists": exists,
                        "mitm_python": python,
                        "trust": [{"where": w, "how": h} for w, h in steps],
                    },
                    indent=2,
                )
            )
        elif exists:
            click.echo(f"CA certificate: {cert}")
        else:
            click.echo(f"no CA yet (it will be {cert})")
