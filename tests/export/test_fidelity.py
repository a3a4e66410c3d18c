"""Real-browser fidelity: EasyList + EasyPrivacy as an exported extension in Chromium,
against the engine, on thousands of real subresource requests.

Each recorded request is issued from a page at its recorded page's origin with the
element or API that gives it its recorded type (`<script>`, `<img>`, `<link>`, fetch,
`<iframe>`, `sendBeacon`, `<video>`, `FontFace`, `<object>`, prefetch). Every host is
mapped onto one loopback TLS server. Chromium's verdict is whether the request failed
with `net::ERR_BLOCKED_BY_CLIENT`. Compared: requests whose rules the export report calls
exact (see compare.py). Set TRACKGUARD_FIDELITY_OUT=FILE to keep the per-request results.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from compare import exact_rules, load_real_requests, rules_for
from extension_browser import CHROMIUM, TlsRecorder, extension_browser, self_signed_cert

from trackguard.engine import Engine
from trackguard.export import export_lists
from trackguard.export.extension import build_extension, decode_file
from trackguard.model import ParsedList

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
]

TARGET = 5200  # comparable requests Chromium issued and we compared
PER_PAGE = 120
ISSUERS = {
    "script": "u => { const s = document.createElement('script'); s.async = true; s.src = u;"
    " document.head.appendChild(s); }",
    "image": "u => { const i = document.createElement('img'); i.src = u;"
    " document.body.appendChild(i); }",
    "stylesheet": "u => { const l = document.createElement('link'); l.rel = 'stylesheet';"
    " l.href = u; document.head.appendChild(l); }",
    "xmlhttprequest": "u => fetch(u, {mode: 'no-cors', credentials: 'omit'}).catch(() => {})",
    "subdocument": "u => { const f = document.createElement('iframe'); f.src = u;"
    " document.body.appendChild(f); }",
    "ping": "u => navigator.sendBeacon(u, '')",
    "media": "u => { const v = document.createElement('video'); v.preload = 'auto';"
    " v.muted = true; v.src = u; document.body.appendChild(v); }",
    "font": "u => new FontFace('f' + Math.random().toString(36).slice(2),"
    " 'url(' + JSON.stringify(u) + ')').load().catch(() => {})",
    "object": "u => { const o = document.createElement('object'); o.data = u;"
    " document.body.appendChild(o); }",
    "other": "u => { const l = document.createElement('link'); l.rel = 'prefetch';"
    " l.href = u; document.head.appendChild(l); }",
}


def replay_page(batch: list[dict[str, Any]]) -> str:
    issuers = ",\n".join(f"{json.dumps(k)}: {v}" for k, v in ISSUERS.items())
    items = json.dumps([[r["url"], r["type"]] for r in batch])
    return f"""<!doctype html><html><head><meta charset="utf-8"></head><body><script>
const issue = {{{issuers}}};
window.issued = [];
for (const [u, t] of {items}) {{
  let href = u;
  try {{ href = new URL(u).href; }} catch (e) {{}}
  window.issued.push(href);
  try {{ issue[t](u); }} catch (e) {{}}
}}
</script></body></html>"""


def pages_of(requests: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    by_page: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        if r["type"] in ISSUERS and r["source_url"].startswith(("http://", "https://")):
            batch = by_page[r["source_url"]]
            if len(batch) < PER_PAGE and all(r["url"] != b["url"] for b in batch):
                batch.append(r)
    return list(by_page.items())


@pytest.fixture(scope="module")
def exported(el_ep_lists: list[ParsedList], tmp_path_factory: pytest.TempPathFactory) -> Any:
    report = export_lists("dnr", el_ep_lists)
    ext = tmp_path_factory.mktemp("fidelity") / "ext"
    for name, text in build_extension(report, title="EasyList+EasyPrivacy").items():
        target = ext / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(decode_file(text))
    return report, ext


def test_chromium_agrees_with_engine_on_real_requests(
    exported: Any,
    easylist_easyprivacy: Engine,
    corpus_dir: Path,
    tmp_path: Path,
) -> None:
    report, ext = exported
    exact = exact_rules(report)
    fate = {o.rule: o for o in report.output.outcomes}
    engine = easylist_easyprivacy
    pages = pages_of(load_real_requests(corpus_dir, 100_000))
    html: dict[str, str] = {}

    def answer(host: str, path: str) -> tuple[str, bytes]:
        if path.startswith("/__replay/"):
            return "text/html; charset=utf-8", html.get(path, "").encode()
        return "text/plain", b""

    cert, key = self_signed_cert(tmp_path)
    server = TlsRecorder(answer, cert, key)
    results: list[dict[str, Any]] = []
    categories: Counter[str] = Counter()
    compared = agree = 0
    started = time.monotonic()
    try:
        with extension_browser(
            ext,
            tmp_path / "profile",
            resolver=f"MAP * 127.0.0.1:{server.port}",
            extra=("--ignore-certificate-errors",),
        ) as (context, _worker):
            tab = context.new_page()
            for n, (source, batch) in enumerate(pages):
                if compared >= TARGET or time.monotonic() - started > 600:
                    break
                outcome: dict[str, str] = {}
                tab.on(
                    "requestfailed", lambda r, o=outcome: o.setdefault(r.url, r.failure or "failed")
                )
                tab.on("requestfinished", lambda r, o=outcome: o.setdefault(r.url, "ok"))
                host = source.split("/")[2].split(":")[0]
                path = f"/__replay/{n}"
                html[path] = replay_page(batch)
                try:
                    tab.goto(f"https://{host}{path}", wait_until="load", timeout=30_000)
                    issued = tab.evaluate("window.issued")
                except Exception:
                    categories["page did not load"] += len(batch)
                    tab.remove_listener(
                        "requestfailed", tab.listeners("requestfailed")[0]
                    ) if False else None
                    tab.close()
                    tab = context.new_page()
                    continue
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline and not all(u in outcome for u in issued):
                    tab.wait_for_timeout(100)
                for r, href in zip(batch, issued, strict=True):
                    url, rtype = r["url"], r["type"]
                    seen = outcome.get(href)
                    matched = rules_for(engine, url, source, rtype)
                    not_exact = [m for m in matched if m not in exact]
                    want = engine.check(url, source, rtype).blocked
                    row = {"url": url, "source_url": source, "type": rtype, "engine": want}
                    if seen is None:
                        categories[f"not issued by Chromium ({rtype})"] += 1
                        row["chromium"] = None
                    else:
                        got = seen == "net::ERR_BLOCKED_BY_CLIENT"
                        row["chromium"] = got
                        if not_exact:
                            reason = fate[not_exact[0]].reason
                            categories[f"rule not exact: {reason}"] += 1
                        else:
                            compared += 1
                            row["compared"] = True
                            agree += got == want
                            if got != want:
                                categories["disagree"] += 1
                                row["rule"] = engine.check(url, source, rtype).rule
                    results.append(row)
                tab.close()
                tab = context.new_page()
    finally:
        server.stop()
    summary = {
        "compared": compared,
        "agree": agree,
        "agreement": agree / compared if compared else 0.0,
        "blocked_by_engine_among_compared": sum(
            1 for r in results if r.get("compared") and r["engine"]
        ),
        "categories": dict(categories.most_common()),
        "seconds": round(time.monotonic() - started),
        "rules_exact": report.counts()["exact"],
        "rules_in": report.rules_in,
    }
    out = os.environ.get("TRACKGUARD_FIDELITY_OUT")
    if out:
        Path(out).write_text(json.dumps({"summary": summary, "results": results}, indent=1))
    print(json.dumps(summary, indent=1))
    assert compared >= 5000, summary
    assert agree / compared >= 0.99, summary
    assert summary["blocked_by_engine_among_compared"] >= 300, "too few blocked requests"
