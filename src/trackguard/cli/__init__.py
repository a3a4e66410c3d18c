"""The `trackguard` command: parses arguments, calls the library, formats output.

No matching logic lives here. Each command family sits in its own module and registers
itself on the main group, so the families can grow independently.
"""

from __future__ import annotations

import click

from trackguard import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackguard")
def main() -> None:
    """Tracking protection: TPL and EasyList engine, protection proxy, DNT and GPC."""
    from trackguard.files import tighten
    from trackguard.settings import state_dir

    # State an older version left readable by others is narrowed on every start (issue 9).
    tighten(state_dir())


def _register() -> None:
    from trackguard.cli import audit, ca, check, dns, export, learn, lists, proxy

    for module in (audit, check, dns, export, learn, lists, proxy, ca):
        module.register(main)


_register()
