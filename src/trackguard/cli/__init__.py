"""The `trackguard` command: parses arguments, calls the library, formats output.

No matching logic lives here. Each command family sits in its own module with
module-level click commands and a `register(main)`; `MODULES` lists them in help order.
Shared formatting (JSON, 80-column tables, the state folder) is in `common`.
"""

from __future__ import annotations

import importlib

import click

from trackguard import __version__

#: Command modules of `trackguard.cli`, each with `register(main)`.
MODULES = (
    "check",
    "query",
    "lists",
    "proxy",
    "log",
    "overrides",
    "settings",
    "learn",
    "export",
    "audit",
    "dns",
    "ca",
)


class _Main(click.Group):
    """The main group: a refused settings.json stops any command with its file, line and
    reason (exit 1), whichever module read it, never with a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from trackguard.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            from trackguard.cli.common import settings_refused

            raise settings_refused(exc) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trackguard")
def main() -> None:
    """Tracking protection: TPL and EasyList engine, protection proxy, DNT and GPC.

    Exit status: 0 success, 1 failure, 2 usage error; `check` and `query` answer
    like grep (docs/cli.md).
    """
    from trackguard.files import tighten
    from trackguard.settings import state_dir

    # State an older version left readable by others is narrowed on every start (issue 9).
    tighten(state_dir())


def _register() -> None:
    for name in MODULES:
        importlib.import_module(f"trackguard.cli.{name}").register(main)


_register()
