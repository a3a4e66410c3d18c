"""Helpers every command module shares: state folder, JSON, consoles, host arguments.

Formatting only; no decisions. Tables go through `table()` so every command reads at
80 columns: columns say which may fold (`fold=True`) and which never do (the key a
person must type, e.g. a list id or a catalogue short name).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from trackguard.settings import Settings, load_settings, save_settings, state_dir

#: Exit status of commands that failed for a reason the user can act on (click's own).
EXIT_FAILED = 1
#: Usage errors (click's convention); `check` also uses it for every error (docs/cli.md).
EXIT_USAGE = 2

JSON_META = "trackguard.json"


def _inherit_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """`lists --json update` means `lists update --json`: a group's flag reaches down."""
    return value or bool(ctx.meta.get(JSON_META))


json_option = click.option(
    "--json", "as_json", is_flag=True, callback=_inherit_json, help="Print JSON on stdout."
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def home() -> Path:
    return state_dir()


def print_json(data: object, *, indent: int | None = 2) -> None:
    click.echo(json.dumps(data, indent=indent, ensure_ascii=False))


def out() -> Console:
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def narrow(console: Console) -> bool:
    """Whether a table must drop its optional columns (a terminal under 120 columns)."""
    return console.width < 120


def table(columns: Sequence[tuple[str, bool]], *, title: str | None = None) -> Table:
    """A plain table; `columns` are (header, may fold). Keys never fold or truncate."""
    t = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for header, fold in columns:
        if fold:
            t.add_column(header, overflow="fold", min_width=len(header))
        else:
            t.add_column(header, no_wrap=True, overflow="ignore", min_width=len(header))
    return t


def add_row(t: Table, *cells: str) -> None:
    """Add plain-text cells (list text may hold `[...]`, which is not markup here)."""
    t.add_row(*(escape(c) for c in cells))


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `24h`, `7d`, `2w` (or a plain number of seconds) -> seconds."""
    text = text.strip().lower()
    try:
        if text and text[-1] in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(f"not a duration: {text!r} (try 30m, 24h, 7d)") from None


def settings_refused(exc: Exception) -> click.ClickException:
    return click.ClickException(
        f"{exc}\nThe file was left untouched: fix it, or move it away to start from the defaults."
    )


def load() -> Settings:
    """The saved settings; a broken settings.json stops the command (and is kept as is)."""
    from trackguard.settings import SettingsError

    try:
        return load_settings(home())
    except SettingsError as exc:
        raise settings_refused(exc) from None


def save(settings: Settings) -> None:
    save_settings(settings, home())


def check_list_files(paths: Sequence[Path]) -> None:
    """Refuse `--list` files that are no usable list, as `lists add` and `lint` do."""
    from trackguard.lists import parse_list
    from trackguard.lists.detect import decode_list_bytes
    from trackguard.model import ListRejected

    for path in paths:
        try:
            parse_list(decode_list_bytes(path.read_bytes()), path.name)
        except ListRejected as exc:
            raise click.BadParameter(f"{path}: {exc}", param_hint="--list") from None
        except OSError as exc:
            raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--list") from None


def start_service(*, verbose: bool, allow_from: Sequence[str]) -> None:
    """What `proxy` and `dns` do first: logging to stderr, and refuse a bad --allow-from."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    for cidr in allow_from:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise click.BadParameter(f"not a network: {cidr}", param_hint="--allow-from") from None
