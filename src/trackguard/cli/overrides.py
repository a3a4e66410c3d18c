"""`trackguard site`, `rule`, `allow`, `block`: the user's overrides (TPL spec §A.8 1-2).

Overrides always win over every list, so they are checked before they are saved: a host
must be a host name (not `!!`), a public suffix (`com`) is refused without `--force` (it
would cover every site under it; `lint` warns about the same in lists), a rule switched
off must be a rule of an enabled list, and removing an entry that was never there says
so and exits 1. Every listing has `--json`. No decision logic lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from trackguard.cli.common import EXIT_FAILED, home, json_option, load, print_json, save

#: What a DNS label may hold; `_` is tolerated (real tracker hosts use it).
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def _is_host_name(host: str) -> bool:
    if len(host) > 253:
        return False
    return all(
        0 < len(label) <= 63 and set(label) <= _LABEL_CHARS and label[0] != "-" != label[-1]
        for label in host.split(".")
    )


def host_argument(value: str) -> str:
    """A host name (or a URL's host) in A-label form, or BadParameter saying why not."""
    from trackguard.domain import is_ip_literal, split_url, to_ascii_host

    text = value.strip()
    host = split_url(text).host if "://" in text else to_ascii_host(text)
    if host and (is_ip_literal(host) or _is_host_name(host)):
        return host
    raise click.BadParameter(f"not a host name: {value!r} (e.g. tracker.example)")


def _refuse_suffix(host: str, force: bool, what: str) -> None:
    from trackguard.domain import is_public_suffix

    if is_public_suffix(host) and not force:
        raise click.BadParameter(
            f"{host} is a public suffix: {what} would cover every site under it. "
            f"Give a site (e.g. example.{host}), or add --force if you really mean it."
        )


def _report(
    as_json: bool,
    setting: str,
    entries: Sequence[str],
    changed: Sequence[str],
    unchanged: Sequence[str],
    done: str,
    not_done: str,
) -> None:
    """Print what changed; exit 1 when some entry needed no change (nothing to remove)."""
    if as_json:
        print_json(
            {
                "setting": setting,
                "changed": list(changed),
                "unchanged": list(unchanged),
                "entries": list(entries),
            }
        )
    else:
        for item in changed:
            click.echo(done.format(item))
        for item in unchanged:
            click.echo(not_done.format(item), err=True)


def _listing(entries: Sequence[str], as_json: bool, empty: str) -> None:
    if as_json:
        print_json(list(entries))
    elif entries:
        for entry in entries:
            click.echo(entry)
    else:
        click.echo(empty, err=True)


# --- site -------------------------------------------------------------------------------


@click.group("site")
def site_group() -> None:
    """Turn protection off or on for a site (IE9's address-bar switch)."""


def _site(value: str) -> str:
    from trackguard.domain import site_of

    host = host_argument(value)
    _refuse_suffix(host, False, "turning protection off")
    return site_of(host)


@site_group.command("off")
@click.argument("sites", nargs=-1, required=True)
@json_option
def site_off(sites: tuple[str, ...], as_json: bool) -> None:
    """Stop blocking on pages of SITES (their third-party requests all load)."""
    settings = load()
    exempt = list(settings.exempt_sites)
    changed: list[str] = []
    unchanged: list[str] = []
    for site in dict.fromkeys(_site(v) for v in sites):
        (unchanged if site in exempt else changed).append(site)
        if site not in exempt:
            exempt.append(site)
    save(settings.replace(exempt_sites=tuple(exempt)))
    _report(
        as_json,
        "exempt_sites",
        exempt,
        changed,
        unchanged,
        "protection off on {}",
        "protection was already off on {}",
    )


@site_group.command("on")
@click.argument("sites", nargs=-1, required=True)
@json_option
def site_on(sites: tuple[str, ...], as_json: bool) -> None:
    """Protect pages of SITES again."""
    settings = load()
    wanted = list(dict.fromkeys(_site(v) for v in sites))
    changed = [s for s in wanted if s in settings.exempt_sites]
    unchanged = [s for s in wanted if s not in settings.exempt_sites]
    kept = tuple(s for s in settings.exempt_sites if s not in wanted)
    if changed:
        save(settings.replace(exempt_sites=kept))
    _report(
        as_json,
        "exempt_sites",
        kept,
        changed,
        unchanged,
        "protection back on for {}",
        "protection was not off on {}: nothing changed",
    )
    if unchanged:
        raise SystemExit(EXIT_FAILED)


@site_group.command("list")
@json_option
def site_list(as_json: bool) -> None:
    """Sites where protection is off."""
    _listing(load().exempt_sites, as_json, "protection is on for every site")


# --- rule -------------------------------------------------------------------------------


@click.group("rule")
def rule_group() -> None:
    """Switch single list rules off or on, whatever list they come from."""


def _where_listed(texts: Sequence[str]) -> dict[str, str]:
    """`text -> list:line` for the texts that are rules of an enabled list."""
    from trackguard.subscriptions.cache import enabled_sources

    wanted = set(texts)
    found: dict[str, str] = {}
    for source in enabled_sources(home()):
        for number, line in enumerate(source.text.splitlines(), 1):
            text = line.strip()
            if text in wanted and text not in found and not text.startswith(("!", "#")):
                found[text] = f"{source.list_id}:{number}"
    return found


# TPL rules start with `-`: let `rule off "-d host"` read it as a rule, not an option.
@rule_group.command("off", context_settings={"ignore_unknown_options": True})
@click.argument("rules", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Switch off a rule no enabled list has (yet).")
@json_option
def rule_off(rules: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Stop applying RULES, given by their exact text as `check` prints it
    (e.g. `trackguard rule off "-d google-analytics.com"`)."""
    texts = list(dict.fromkeys(t.strip() for t in rules))
    if "" in texts:
        raise click.BadParameter("a rule's text cannot be empty")
    settings = load()
    where = _where_listed(texts)
    missing = [t for t in texts if t not in where]
    if missing and not force:
        raise click.BadParameter(
            "no enabled list has this rule: "
            + ", ".join(repr(t) for t in missing)
            + ". Copy its exact text from `trackguard check` or `trackguard query`, "
            "or add --force to switch it off anyway."
        )
    disabled = list(settings.disabled_rules)
    changed = [t for t in texts if t not in disabled]
    unchanged = [t for t in texts if t in disabled]
    disabled += changed
    save(settings.replace(disabled_rules=tuple(disabled)))
    if as_json:
        _report(True, "disabled_rules", disabled, changed, unchanged, "", "")
        return
    for text in changed:
        click.echo(f"rule off: {text} ({where.get(text, 'in no enabled list')})")
    for text in unchanged:
        click.echo(f"rule was already off: {text}", err=True)


@rule_group.command("on", context_settings={"ignore_unknown_options": True})
@click.argument("rules", nargs=-1, required=True)
@json_option
def rule_on(rules: tuple[str, ...], as_json: bool) -> None:
    """Apply RULES again."""
    settings = load()
    wanted = list(dict.fromkeys(t.strip() for t in rules))
    changed = [t for t in wanted if t in settings.disabled_rules]
    unchanged = [t for t in wanted if t not in settings.disabled_rules]
    kept = tuple(t for t in settings.disabled_rules if t not in wanted)
    if changed:
        save(settings.replace(disabled_rules=kept))
    _report(
        as_json,
        "disabled_rules",
        kept,
        changed,
        unchanged,
        "rule on: {}",
        "rule was not off: {} (nothing changed)",
    )
    if unchanged:
        raise SystemExit(EXIT_FAILED)


@rule_group.command("list")
@json_option
def rule_list(as_json: bool) -> None:
    """Rules you switched off."""
    _listing(load().disabled_rules, as_json, "no rule is switched off")


# --- allow / block ----------------------------------------------------------------------


def _override(
    field: str,
    other: str,
    verb: str,
    domains: Sequence[str],
    remove: bool,
    force: bool,
    as_json: bool,
) -> None:
    settings = load()
    current = list(getattr(settings, field))
    opposite = list(getattr(settings, other))
    if not domains:
        _listing(current, as_json, f"no domain is always {verb}ed")
        return
    hosts = list(dict.fromkeys(host_argument(v) for v in domains))
    changed: list[str] = []
    unchanged: list[str] = []
    for host in hosts:
        if remove:
            (changed if host in current else unchanged).append(host)
            if host in current:
                current.remove(host)
            continue
        _refuse_suffix(host, force, f"always {verb}ing it")
        (unchanged if host in current else changed).append(host)
        if host not in current:
            current.append(host)
        if host in opposite:
            opposite.remove(host)
            click.echo(
                f"{host}: no longer always {'allow' if verb == 'block' else 'block'}ed", err=True
            )
    if changed:
        save(settings.replace(**{field: tuple(current), other: tuple(opposite)}))
    if remove:
        _report(
            as_json,
            field,
            current,
            changed,
            unchanged,
            "{}: no longer always " + verb + "ed",
            "{}: was not always " + verb + "ed; nothing changed",
        )
        if unchanged:
            raise SystemExit(EXIT_FAILED)
    else:
        _report(
            as_json,
            field,
            current,
            changed,
            unchanged,
            "{}: always " + verb + "ed (and its subdomains)",
            "{}: already always " + verb + "ed",
        )


_force = click.option("--force", is_flag=True, help="Accept a public suffix (e.g. `com`).")
_remove = click.option("--remove", is_flag=True, help="Remove the override.")


@click.command("allow")
@click.argument("domains", nargs=-1)
@_remove
@_force
@json_option
def allow_command(domains: tuple[str, ...], remove: bool, force: bool, as_json: bool) -> None:
    """Always allow DOMAINS (and subdomains), whatever the lists say. Without DOMAINS,
    list them."""
    _override("user_allow", "user_block", "allow", domains, remove, force, as_json)


@click.command("block")
@click.argument("domains", nargs=-1)
@_remove
@_force
@json_option
def block_command(domains: tuple[str, ...], remove: bool, force: bool, as_json: bool) -> None:
    """Always block DOMAINS (and subdomains) as third parties. Without DOMAINS, list
    them."""
    _override("user_block", "user_allow", "block", domains, remove, force, as_json)


def register(main: click.Group) -> None:
    """Add this module's commands to the main group."""
    for command in (site_group, rule_group, allow_command, block_command):
        main.add_command(command)
