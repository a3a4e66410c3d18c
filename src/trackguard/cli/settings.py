"""`trackguard settings`: show, set and reset the persistent settings (`settings.json`).

Values are typed and checked by `trackguard.settings.parse_setting`, the same checks the
file gets when it is loaded; a bad value is refused and nothing is written. `proxy`
flags (`--dnt`, `--gpc`, `--port`...) override a setting for one run only.
"""

from __future__ import annotations

import json
from typing import Any

import click

from trackguard.cli.common import (
    JSON_META,
    add_row,
    json_option,
    load,
    out,
    print_json,
    save,
    table,
)
from trackguard.settings import (
    DESCRIPTIONS,
    default_of,
    parse_setting,
    setting_names,
    settings_to_dict,
)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(value) if value else "(none)"
    if isinstance(value, dict):
        return json.dumps(value) if value else "{}"
    return str(value)


def _name(value: str) -> str:
    name = value.strip().lower().replace("-", "_")
    if name not in setting_names():
        raise click.BadParameter(
            f"unknown setting {value!r}; known: {', '.join(setting_names())}", param_hint="KEY"
        )
    return name


@click.group("settings", invoke_without_command=True)
@json_option
@click.pass_context
def settings_group(ctx: click.Context, as_json: bool) -> None:
    """Persistent settings: protection, DNT, GPC, log retention, proxy address...

    Without a subcommand: the same as `settings show`.
    """
    ctx.meta[JSON_META] = as_json
    if ctx.invoked_subcommand is None:
        _show(None, as_json)


def _show(key: str | None, as_json: bool) -> None:
    values = settings_to_dict(load())
    names = [_name(key)] if key else list(setting_names())
    if as_json:
        if key:
            print_json(values[names[0]])
        else:
            print_json(values)
        return
    t = table([("setting", False), ("value", True), ("what it does", True)])
    for name in names:
        value = values[name]
        default = default_of(name)
        changed = value != (list(default) if isinstance(default, tuple) else default)
        shown = _shown(value) + ("" if not changed else " *")
        add_row(t, name, shown, DESCRIPTIONS[name])
    console = out()
    console.print(t)
    console.print("[dim]* changed from the default[/]")


@settings_group.command("show")
@click.argument("key", required=False)
@json_option
def show_command(key: str | None, as_json: bool) -> None:
    """Every setting (or KEY alone) with its value; `*` marks changed ones."""
    _show(key, as_json)


@settings_group.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@json_option
def set_command(key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE: on/off for switches, a number, or comma-separated lists.

    Examples: `settings set dnt on`, `settings set log_retention_days 30`,
    `settings set allow_from 127.0.0.0/8,192.168.0.0/16`.
    """
    name = _name(key)
    try:
        typed = parse_setting(name, value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="VALUE") from None
    settings = load()
    save(settings.replace(**{name: typed}))
    new = settings_to_dict(settings.replace(**{name: typed}))[name]
    if as_json:
        print_json({"setting": name, "value": new})
    else:
        click.echo(f"{name} = {_shown(new)}")


@settings_group.command("reset")
@click.argument("key")
@json_option
def reset_command(key: str, as_json: bool) -> None:
    """Put KEY back to its default."""
    name = _name(key)
    settings = load()
    default = default_of(name)
    save(settings.replace(**{name: default}))
    value = settings_to_dict(settings.replace(**{name: default}))[name]
    if as_json:
        print_json({"setting": name, "value": value})
    else:
        click.echo(f"{name} = {_shown(value)} (default)")


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    main.add_command(settings_group)
