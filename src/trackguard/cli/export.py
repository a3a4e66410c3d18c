"""CLI: `trackguard export` — the enabled lists (or `--list` files) in another rule format.

Only argument parsing, reading the lists, writing files and printing the report live
here; the conversion is `trackguard.export`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from trackguard.model import ListRejected, ListSource, ParsedList, TrackguardError

_FORMATS = ["dnr", "safari", "hosts", "dnsmasq", "unbound", "rpz", "tpl", "abp"]
_DIRECTORY_FORMATS = ("dnr", "safari")


def _file_sources(paths: tuple[str, ...]) -> list[ListSource]:
    out = []
    for name in paths:
        path = Path(name)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            message = f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})"
            raise click.ClickException(message) from exc
        except OSError as exc:
            raise click.ClickException(f"{name}: {exc.strerror}") from exc
        out.append(ListSource(path.name, text))
    return out


def _enabled_sources() -> tuple[list[ListSource], frozenset[str]]:
    """The enabled subscriptions' last good copies (built-in list included), as `check`
    and the proxy use them, and the rules the user switched off."""
    from trackguard.settings import load_settings, state_dir
    from trackguard.subscriptions.service import ensure_state
    from trackguard.subscriptions.store import Store, load_builtin_bytes, sha256_hex

    store = Store(state_dir())
    settings = load_settings(store.home)
    state = ensure_state(store)
    sources: list[ListSource] = []
    with store.read_lock():
        for sub in state.enabled:
            if sub.builtin:
                sources.append(ListSource(sub.id, load_builtin_bytes().decode("utf-8")))
                continue
            if sub.file is None:
                continue
            try:
                body = store.read_body(sub.file)
            except OSError as exc:
                click.echo(f"warning: {sub.id} left out: cannot read its copy ({exc})", err=True)
                continue
            if sha256_hex(body) != sub.sha256:
                click.echo(f"warning: {sub.id} left out: its stored copy is damaged", err=True)
                continue
            sources.append(ListSource(sub.id, body.decode("utf-8", "replace"), sub.format))
    return sources, frozenset(settings.disabled_rules)


def _parse(sources: list[ListSource], strict: bool) -> list[ParsedList]:
    from trackguard.lists import parse_list

    parsed = []
    for source in sources:
        try:
            parsed.append(parse_list(source.text, source.list_id, source.format))
        except ListRejected as exc:
            if strict:
                raise click.ClickException(f"{source.list_id}: rejected: {exc}") from exc
            click.echo(f"warning: {source.list_id} left out: {exc}", err=True)
    return parsed


def _write(root: Path, files: dict[str, str]) -> None:
    from trackguard.export.extension import decode_file

    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(decode_file(text))


def register(main: click.Group) -> None:
    """Add `export` to the main group."""

    @main.command()
    @click.option(
        "--format", "fmt", type=click.Choice(_FORMATS), required=True, help="Target format."
    )
    @click.option(
        "--list",
        "lists",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="List file to export (repeatable). Default: the enabled subscriptions.",
    )
    @click.option(
        "--out",
        type=click.Path(),
        help="Output file (a folder for dnr and safari). The full per-rule report is "
        "written beside it (`PATH.report.json`, or `report.json` in the folder).",
    )
    @click.option(
        "--extension",
        type=click.Path(file_okay=False),
        help="dnr only: write a complete unpacked MV3 extension into this folder.",
    )
    @click.option("--title", help="Title written into the exported list.")
    @click.option("--safari-max-rules", type=click.IntRange(1), help="Rules per Safari file.")
    @click.option("--safari-max-bytes", type=click.IntRange(1024), help="Bytes per Safari file.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report summary as JSON.")
    def export(
        fmt: str,
        lists: tuple[str, ...],
        out: str | None,
        extension: str | None,
        title: str | None,
        safari_max_rules: int | None,
        safari_max_bytes: int | None,
        as_json: bool,
    ) -> None:
        """Compile lists into browser or DNS rule formats, and report every rule.

        Formats: dnr (Chrome/Edge MV3), safari (WebKit content blockers), hosts, dnsmasq,
        unbound, rpz, tpl, abp. The report counts each rule as exact, narrowed (matches
        fewer requests than its source) or dropped, with a reason; no rule is ever
        exported broader than its source. Exit status 0 on success, 1 on an error.
        """
        from trackguard.export import export_lists

        if out is None and extension is None:
            raise click.UsageError("give --out PATH (or --extension DIR for dnr)")
        if extension is not None and fmt != "dnr":
            raise click.UsageError("--extension needs --format dnr")
        try:
            if lists:
                sources, disabled = _file_sources(lists), frozenset[str]()
            else:
                sources, disabled = _enabled_sources()
            parsed = _parse(sources, strict=bool(lists))
            if not parsed:
                raise click.ClickException("no usable list to export")
            report = export_lists(
                fmt,
                parsed,
                disabled=disabled,
                title=title,
                safari_max_rules=safari_max_rules,
                safari_max_bytes=safari_max_bytes,
            )
        except (TrackguardError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        files = report.output.files
        written: list[str] = []
        try:
            if out is not None:
                if fmt in _DIRECTORY_FORMATS:
                    root = Path(out)
                    _write(root, files)
                    report_path = root / "report.json"
                else:
                    (only,) = files.values()
                    Path(out).write_text(only, encoding="utf-8")
                    report_path = Path(out + ".report.json")
                report_path.write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
                written += [out, str(report_path)]
            if extension is not None:
                from trackguard.export.extension import build_extension

                ext_root = Path(extension)
                _write(ext_root, build_extension(report, title=title or "trackguard"))
                (ext_root / "report.json").write_text(
                    json.dumps(report.to_json(), indent=1), encoding="utf-8"
                )
                written.append(extension)
        except OSError as exc:
            raise click.ClickException(f"cannot write the export: {exc}") from exc
        summary: dict[str, Any] = report.to_json(every_rule=False)
        summary["written"] = written
        if as_json:
            click.echo(json.dumps(summary))
        else:
            click.echo(report.to_text())
            for path in written:
                click.echo(f"  wrote {path}")
        sys.stdout.flush()
