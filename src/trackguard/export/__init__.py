"""Export: the enabled lists in the rule formats browsers and DNS servers run today.

Read in this order:
- `report`: the per-rule accounting (exact / narrowed / dropped, with a stable reason).
- `shapes`: rule shapes every exporter asks about (host-only, `$badfilter`, TPL domain +
  pattern), stated from `model.Rule` and the list syntaxes, not from engine internals.
- one module per target: `dnr` (Chrome MV3 declarativeNetRequest), `safari` (WebKit
  content blockers), `hosts` (hosts, dnsmasq, Unbound, RPZ), `tpl`, `abp`.
- `extension`: an unpacked MV3 extension around the `dnr` rulesets.

Every module computes from values: text in, file texts and a report out. Nothing here
imports the proxy or the CLI, opens files or touches the network; the CLI writes files.
"""

from __future__ import annotations

from collections.abc import Iterable

from trackguard.export.report import ExportReport, FormatOutput
from trackguard.export.shapes import prepare
from trackguard.model import ParsedList, Rule

FORMATS = ("dnr", "safari", "hosts", "dnsmasq", "unbound", "rpz", "tpl", "abp")


def export_lists(
    fmt: str,
    lists: Iterable[ParsedList],
    *,
    disabled: frozenset[str] = frozenset(),
    title: str | None = None,
    safari_max_rules: int | None = None,
    safari_max_bytes: int | None = None,
) -> ExportReport:
    """Export the rules of `lists` to `fmt` (one of `FORMATS`), with the full report."""
    parsed = list(lists)
    rules = [r for p in parsed for r in p.rules]
    keep, gone = prepare(rules, disabled)
    output = _export(fmt, keep, title, safari_max_rules, safari_max_bytes)
    # Keep the report in list order: the outcomes of prepared-away rules go first.
    output.outcomes = gone + output.outcomes
    return ExportReport(fmt, [p.list_id for p in parsed], len(rules), output)


def _export(
    fmt: str,
    typed: list[Rule],
    title: str | None,
    safari_max_rules: int | None,
    safari_max_bytes: int | None,
) -> FormatOutput:
    if fmt == "dnr":
        from trackguard.export.dnr import export_dnr

        return export_dnr(typed)
    if fmt == "safari":
        from trackguard.export.safari import SafariOptions, export_safari

        defaults = SafariOptions()
        options = SafariOptions(
            max_rules=safari_max_rules or defaults.max_rules,
            max_bytes=safari_max_bytes or defaults.max_bytes,
        )
        return export_safari(typed, options)
    if fmt in ("hosts", "dnsmasq", "unbound", "rpz"):
        from trackguard.export.hosts import export_dns

        return export_dns(typed, fmt, title=title or "trackguard")
    if fmt == "tpl":
        from trackguard.export.tpl import export_tpl

        return export_tpl(typed, title=title)
    if fmt == "abp":
        from trackguard.export.abp import export_abp

        return export_abp(typed, title=title)
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "ExportReport", "FormatOutput", "export_lists"]
