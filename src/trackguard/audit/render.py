"""Render a report (from `report.build_report`) as JSON, CSV or one self-contained HTML file.

Rule 1: the HTML opens offline and makes no request: no scripts, no external styles,
fonts or images; charts are inline SVG; a Content-Security-Policy of `default-src 'none'`
forbids anything else even if a name in the data tried. Rule 2: everything from the data
(domains, rule text, URLs — all attacker-chosen) is escaped. Rule 3: same figures in every
format; CSV is long-form (`section,key,metric,value`) so it carries all of them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from typing import Any

TOP_TRACKERS = 25
TOP_SITES_TABLES = 60
TOP_PAGES = 200


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _csv_rows(report: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    for metric, value in report["summary"].items():
        yield ("summary", "", metric, value)
    for name, figures in report["types"].items():
        for metric, value in figures.items():
            yield ("type", name, metric, value)
    for section, table, key in (
        ("tracker", "trackers", "domain"),
        ("third_party", "third_parties", "domain"),
        ("company", "companies", "company"),
        ("site", "sites", "site"),
        ("page", "pages", "page"),
    ):
        for row in report[table]:
            for metric, value in row.items():
                if metric == key:
                    continue
                if isinstance(value, list | dict):
                    value = json.dumps(value, ensure_ascii=False, sort_keys=True)
                yield (section, row[key], metric, value)
    for rule in report["rules"]:
        yield ("rule", f"{rule['list']}:{rule['line']}", rule["rule"], rule["requests"])
    for item in report.get("skipped_inputs", ()):
        yield ("skipped_input", item["file"], "reason", item["reason"])


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: domains, URLs and rule text come from
    untrusted input, so text starting like a formula gets a leading `'` (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "metric", "value"))
    for section, key, metric, value in _csv_rows(report):
        writer.writerow((section, _cell(key), _cell(metric), _cell(value)))
    return out.getvalue()


# -- HTML ------------------------------------------------------------------------------

_CSS = """
:root{--fg:#1d2330;--muted:#5b6475;--bg:#fff;--line:#e3e6ec;--accent:#3457d5;--block:#c8341f}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg);margin:0;padding:1.5rem;max-width:1200px;margin:auto}
h1{font-size:1.6rem;margin:.2rem 0 1rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;
border-bottom:1px solid var(--line);padding-bottom:.3rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.7rem}
.card{border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem}
.card b{display:block;font-size:1.5rem}.card span{color:var(--muted);font-size:.85rem}
.scroll{overflow-x:auto;max-width:100%}table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f5f6f9;position:sticky;top:0}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.8rem;word-break:break-all;color:#333}.muted{color:var(--muted)}
svg{height:auto}.chart{overflow-x:auto}.chart svg{min-width:560px;max-width:100%}
details{margin:.4rem 0}summary{cursor:pointer}
.warn{border:1px solid var(--block);border-radius:8px;padding:.5rem .9rem;margin:.5rem 0}
.warn code{word-break:break-all}
.matrix td{text-align:center;font-size:.78rem;min-width:2.2rem}
.matrix th.c{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:500}
@media (max-width:640px){body{padding:.7rem}.card b{font-size:1.2rem}}
"""

_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


def _n(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _bar_chart(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    width: int = 720,
    colors: Sequence[str] = (),
) -> str:
    """A horizontal bar chart as inline SVG: (label, share 0..1, value text) per bar."""
    bar_h, gap, label_w, value_w = 18, 6, 220, 80
    height = len(rows) * (bar_h + gap) + 30
    plot_w = width - label_w - value_w
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, share, text) in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        w = max(1.0, plot_w * max(0.0, min(1.0, share)))
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" font-size="12" '
            f'fill="#1d2330">{escape(label[:34])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'fill="{colors[i] if i < len(colors) else "#3457d5"}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="12" '
            f'fill="#5b6475">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _stack_chart(summary: Mapping[str, Any], width: int = 720) -> str:
    """Subresources split into first party, third party, blocked and tunnel-stopped."""
    total = summary["subresources"] or 1
    bars = [
        ("third-party", summary["third_party_requests"], "#6b85e8"),
        ("blocked by lists", summary["blocked_by_lists"], "#c8341f"),
        ("stopped by tunnels", summary["stopped_by_tunnels"], "#e08a2c"),
    ]
    rows = [(label, value / total, f"{value:,} ({value / total:.1%})") for label, value, _ in bars]
    return _bar_chart("Share of subresource requests", rows, width, [c for _, _, c in bars])


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _rules_cell(rules: Sequence[Mapping[str, Any]]) -> str:
    if not rules:
        return '<span class="muted">entity data only</span>'
    return "<br>".join(
        f"<code>{escape(r['list'])}:{r['line']}</code> <code>{escape(r['rule'])}</code> "
        f'<span class="muted">×{r["requests"]:,}</span>'
        for r in rules
    )


def _matrix(matrix: Mapping[str, Any]) -> str:
    companies, sites, cells = matrix["companies"], matrix["sites"], matrix["cells"]
    if not companies or not sites:
        return '<p class="muted">No third-party companies seen.</p>'
    peak = max((v for row in cells for v in row), default=0) or 1
    head = "<th>site</th>" + "".join(f'<th class="c">{escape(c)}</th>' for c in companies)
    body = []
    for site, row in zip(sites, cells, strict=True):
        tds = []
        for value in row:
            if value:
                alpha = 0.12 + 0.78 * (value / peak) ** 0.5
                tds.append(
                    f'<td style="background:rgba(52,87,213,{alpha:.2f});'
                    f'color:{"#fff" if alpha > 0.55 else "#1d2330"}">{value:,}</td>'
                )
            else:
                tds.append("<td></td>")
        body.append(f"<tr><th>{escape(site)}</th>{''.join(tds)}</tr>")
    return (
        f'<div class="scroll"><table class="matrix"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _skipped_note(report: Mapping[str, Any]) -> str:
    """A visible line when inputs were read only partly or rows could not be read."""
    skipped = report.get("skipped_inputs") or []
    rows = report["summary"].get("unreadable_rows", 0)
    if not skipped and not rows:
        return ""
    items = "".join(
        f"<li><code>{escape(s['file'])}</code>: {escape(s['reason'])}</li>" for s in skipped
    )
    return (
        f"<div class=warn><b>Incomplete input:</b> {_n(len(skipped))} file(s) read only up "
        f"to a break (their rows before it are counted), {_n(rows)} unreadable row(s) "
        f"skipped.<ul>{items}</ul></div>"
    )


def render_html(report: Mapping[str, Any], title: str = "trackguard audit") -> str:
    s = report["summary"]
    meta = report["report"]
    cards = [
        ("pages", s["pages"]),
        ("sites", s["sites"]),
        ("requests", s["requests"]),
        ("third-party requests", s["third_party_requests"]),
        ("blocked by lists", s["blocked_by_lists"]),
        ("stopped by tunnels", s["stopped_by_tunnels"]),
        ("trackers", s["trackers"]),
        ("tracking companies", s["companies"]),
    ]
    if s.get("detailed_requests"):
        cards += [
            ("third-party cookies sent", s["third_party_cookies_sent"]),
            ("third-party cookies set", s["third_party_cookies_set"]),
            ("pages sending DNT", s["pages_with_dnt"]),
            ("pages sending GPC", s["pages_with_gpc"]),
            ("bytes", _bytes(s["bytes"])),
            ("bytes blocked", _bytes(s["blocked_bytes"])),
        ]
    learned = report.get("learned") or {}
    cards_html = "".join(
        f"<div class=card><b>{_n(v)}</b><span>{escape(k)}</span></div>" for k, v in cards
    )

    trackers = report["trackers"][:TOP_TRACKERS]
    tracker_chart = _bar_chart(
        "Top trackers by reach",
        [(t["domain"], t["reach"], f"{t['reach']:.0%} · {t['sites']:,} sites") for t in trackers],
    )
    companies = [c for c in report["companies"] if c["tracker"]][:TOP_TRACKERS]
    company_chart = _bar_chart(
        "Top tracking companies by reach",
        [(c["company"], c["reach"], f"{c['reach']:.0%} · {c['sites']:,} sites") for c in companies],
    )
    tracker_table = _table(
        ["domain", "company", "sites", "reach", "requests", "blocked", "tunnels", "rules"],
        [
            [
                escape(t["domain"]),
                escape(t["company"] or "—"),
                _n(t["sites"]),
                _n(t["reach"]),
                _n(t["requests"]),
                _n(t["blocked"]),
                _n(t["stopped_by_tunnels"]),
                _rules_cell(t["rules"]),
            ]
            for t in report["trackers"][:200]
        ],
        {2, 3, 4, 5, 6},
    )
    company_table = _table(
        ["company", "domains", "sites", "reach", "requests", "blocked"],
        [
            [
                escape(c["company"]),
                escape(", ".join(c["domains"][:8]) + (" …" if len(c["domains"]) > 8 else "")),
                _n(c["sites"]),
                _n(c["reach"]),
                _n(c["requests"]),
                _n(c["blocked"]),
            ]
            for c in companies
        ],
        {2, 3, 4, 5},
    )
    site_rows = [r for r in report["sites"] if r["site"]][:TOP_SITES_TABLES]
    site_table = _table(
        ["site", "pages", "requests", "3rd party", "blocked", "tunnels", "3p cookies", "trackers"],
        [
            [
                escape(r["site"]),
                _n(r["pages"]),
                _n(r["requests"]),
                _n(r["third_party_requests"]),
                _n(r["blocked_by_lists"]),
                _n(r["stopped_by_tunnels"]),
                _n(r["third_party_cookies_sent"] + r["third_party_cookies_set"]),
                escape(", ".join(list(r["trackers"])[:6])),
            ]
            for r in site_rows
        ],
        {1, 2, 3, 4, 5, 6},
    )
    page_table = _table(
        ["page", "requests", "3rd party", "blocked", "tunnels", "DNT", "GPC", "bytes"],
        [
            [
                f"<code>{escape(p['url'][:120])}</code>",
                _n(p["requests"]),
                _n(p["third_party_requests"]),
                _n(p["blocked_by_lists"]),
                _n(p["stopped_by_tunnels"]),
                "yes" if p["dnt_sent"] else "no",
                "yes" if p["gpc_sent"] else "no",
                _bytes(p["bytes"]) if p["detailed_requests"] else "—",
            ]
            for p in report["pages"][:TOP_PAGES]
        ],
        {1, 2, 3, 4, 7},
    )
    rule_table = _table(
        ["list", "line", "rule", "requests"],
        [
            [
                escape(r["list"]),
                _n(r["line"]),
                f"<code>{escape(r['rule'])}</code>",
                _n(r["requests"]),
            ]
            for r in report["rules"][:100]
        ],
        {1, 3},
    )
    if learned.get("available"):
        suggestions = learned.get("suggestions") or []
        learned_html = (
            f"<p>{_n(learned.get('domains', 0))} domains would be suggested "
            f"({_n(learned.get('not_blocked_by_host', 0))} of them not blocked by host in "
            f"the lists) from {_n(learned.get('files', 0))} HAR file(s), at "
            f"{_n(learned.get('threshold', 0))} sites. "
            f"{escape(str(learned.get('note', '')))}</p>"
        ) + _table(
            ["domain", "sites", "evidence", "action", "lists today", "why"],
            [
                [
                    escape(str(i.get("domain"))),
                    _n(i.get("sites", 0)),
                    escape(", ".join(map(str, i.get("kinds") or []))),
                    escape(str(i.get("action"))),
                    escape(str(i.get("layer"))),
                    escape(str(i.get("reason"))),
                ]
                for i in suggestions[:100]
            ],
            {1},
        )
    else:
        learned_html = f"<p class=muted>{escape(str(learned.get('note', '')))}</p>"
    definitions = "".join(
        f"<li><b>{escape(k.replace('_', ' '))}</b>: {escape(v)}</li>"
        for k, v in meta["definitions"].items()
    )
    lists = ", ".join(meta["lists"]) or "none"
    entities = ", ".join(meta["entities"]) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Lists: {escape(lists)} · entity data: {escape(entities)} ·
{meta["inputs"]:,} input file(s). Every block below names the rule (list:line) that made it.</p>
<section id="summary"><h2>Summary</h2>{_skipped_note(report)}<div class="cards">{cards_html}</div>
<div class="chart">{_stack_chart(s)}</div><ul class="muted">{definitions}</ul></section>
<section id="trackers"><h2>Top trackers by reach</h2><div class="chart">{tracker_chart}</div>
<details open><summary>All trackers with the rules that blocked them</summary>
{tracker_table}</details></section>
<section id="companies"><h2>Companies by reach</h2><div class="chart">{company_chart}</div>
{company_table}</section>
<section id="matrix"><h2>Sites × companies (third-party requests)</h2>
{_matrix(report["matrix"])}</section>
<section id="sites"><h2>Sites</h2>{site_table}</section>
<section id="pages"><h2>Pages</h2>{page_table}</section>
<section id="rules"><h2>Rules that blocked requests</h2>{rule_table}</section>
<section id="learned"><h2>What the Personalized list would learn</h2>{learned_html}</section>
</body></html>
"""
