"""An unpacked Manifest V3 extension that enforces exported DNR rulesets on its own.

Rule 1: the extension only blocks through `declarativeNetRequest` static rulesets; its
script never sees or sends page data anywhere (no host is ever contacted: everything is
local, as in the rest of trackguard).
Rule 2: the popup explains each match with the source rule, list and line from the
`explain/` files. Chrome reports matches with their URL only to unpacked extensions
(`onRuleMatchedDebug`, needs `declarativeNetRequestFeedback`); elsewhere the popup falls
back to `getMatchedRules`, which names the rule but not the URL. List text is shown with
`textContent` only: lists are untrusted input.

No I/O: `build_extension` returns file texts; icons are PNGs drawn here.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

from trackguard import __version__
from trackguard.export.dnr import MIN_CHROME_VERSION
from trackguard.export.report import ExportReport

ICON_SIZES = (16, 32, 48, 128)


def _png(size: int) -> bytes:
    """A small shield-blue square with a white bar: enough to tell the extension apart."""
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            edge = min(x, y, size - 1 - x, size - 1 - y)
            bar = size // 3 <= y < size - size // 3 and size // 4 <= x < size - size // 4
            if edge < max(1, size // 16):
                row += bytes((20, 60, 120, 255))
            elif bar:
                row += bytes((255, 255, 255, 255))
            else:
                row += bytes((40, 110, 200, 255))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


BACKGROUND_JS = r"""// trackguard: remembers which request matched which rule, per tab (local only).
const MAX_PER_TAB = 500;
const seen = new Map();  // tabId -> the last MAX_PER_TAB matches, oldest first

function remember(tabId, entry) {
  if (tabId < 0) return;
  let list = seen.get(tabId);
  if (!list) { list = []; seen.set(tabId, list); }
  list.push(entry);
  if (list.length > MAX_PER_TAB) list.splice(0, list.length - MAX_PER_TAB);
  chrome.action.setBadgeText({tabId, text: String(list.length)}).catch(() => {});
}

if (chrome.declarativeNetRequest.onRuleMatchedDebug) {
  // Only unpacked extensions with declarativeNetRequestFeedback get this event.
  chrome.declarativeNetRequest.onRuleMatchedDebug.addListener((info) => {
    remember(info.request.tabId, {
      url: info.request.url, type: info.request.type,
      rulesetId: info.rule.rulesetId, ruleId: info.rule.ruleId, time: Date.now(),
    });
  });
}

chrome.tabs.onRemoved.addListener((tabId) => seen.delete(tabId));

chrome.runtime.onMessage.addListener((message, sender, reply) => {
  if (message && message.kind === "matches") {
    const debug = !!chrome.declarativeNetRequest.onRuleMatchedDebug;
    reply({entries: seen.get(message.tabId) || [], debug});
  } else if (message && message.kind === "all") {
    reply({tabs: Object.fromEntries(seen)});
  }
  return false;
});
"""

POPUP_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>trackguard</title>
<style>
 body { font: 13px system-ui, sans-serif; width: 560px; margin: 8px; }
 h1 { font-size: 15px; margin: 0 0 6px; }
 table { border-collapse: collapse; width: 100%; }
 td { border-top: 1px solid #ddd; padding: 3px 4px; vertical-align: top; word-break: break-all; }
 .action { font-weight: bold; white-space: nowrap; }
 .block { color: #b00; } .allow, .allowAllRequests { color: #070; } .redirect { color: #a60; }
 .why { color: #555; }
</style></head>
<body><h1 id="title">trackguard</h1><p id="summary"></p>
<table><tbody id="rows"></tbody></table>
<script src="popup.js"></script></body></html>
"""

POPUP_JS = r"""// Shows what was blocked (or allowed) on a tab, and which list rule did it, and why.
const rulesets = {};  // rulesetId -> {rules: Map(id -> rule), explain: {...}}

async function loadRuleset(id) {
  if (!rulesets[id]) {
    const [rules, explain] = await Promise.all([
      fetch(chrome.runtime.getURL(`rulesets/${id}.json`)).then((r) => r.json()),
      fetch(chrome.runtime.getURL(`explain/${id}.json`)).then((r) => r.json()),
    ]);
    rulesets[id] = {rules: new Map(rules.map((r) => [r.id, r])), explain};
  }
  return rulesets[id];
}

function hostOf(url) {
  try { return new URL(url).hostname; } catch (e) { return ""; }
}

function sourcesFor(refs, url) {
  // Merged rules list one source per host: keep the ones for this request's host.
  const host = hostOf(url);
  const specific = refs.filter((r) => r[3] && (host === r[3] || host.endsWith("." + r[3])));
  return specific.length ? specific : refs.filter((r) => !r[3]);
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;  // list text is untrusted: never innerHTML
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

async function tabId() {
  const param = new URLSearchParams(location.search).get("tab");
  if (param) return Number(param);
  const [tab] = await chrome.tabs.query({active: true, currentWindow: true});
  return tab ? tab.id : -1;
}

async function entriesFor(tab) {
  const answer = await chrome.runtime.sendMessage({kind: "matches", tabId: tab});
  if (answer && answer.debug) return answer.entries;
  // Packed extensions: Chrome names the rule but not the URL.
  const info = await chrome.declarativeNetRequest.getMatchedRules({tabId: tab});
  return info.rulesMatchedInfo.map((m) => ({url: "", type: "", rulesetId: m.rule.rulesetId,
                                            ruleId: m.rule.ruleId, time: m.timeStamp}));
}

async function main() {
  const tab = await tabId();
  const entries = await entriesFor(tab);
  const rows = document.getElementById("rows");
  let blocked = 0;
  for (const e of entries) {
    const set = await loadRuleset(e.rulesetId);
    const rule = set.rules.get(e.ruleId);
    const action = rule ? rule.action.type : "?";
    if (action === "block") blocked += 1;
    const refs = sourcesFor(set.explain[String(e.ruleId)] || [], e.url);
    const row = document.createElement("tr");
    row.className = "match";
    row.dataset.action = action;
    cell(row, action, "action " + action);
    cell(row, e.url || "(URL not reported by Chrome)", "url");
    const why = refs.map((r) => `${r[2]}  (${r[0]}:${r[1]})`).join("\n") || e.rulesetId;
    cell(row, why, "why");
    rows.appendChild(row);
  }
  document.getElementById("summary").textContent =
    `${blocked} blocked, ${entries.length - blocked} other matches on this tab`;
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  document.getElementById("summary").textContent = "error: " + err;
  document.body.dataset.ready = "1";
});
"""


def build_extension(report: ExportReport, *, title: str = "trackguard") -> dict[str, str]:
    """Every file of the unpacked extension, by relative path. Icons are binary: their
    text is `BINARY_PREFIX` + base64, which `decode_file` turns back into bytes."""
    files = {k: v for k, v in report.output.files.items() if k != "rulesets.json"}
    resources: list[dict[str, Any]] = json.loads(report.output.files["rulesets.json"])
    manifest = {
        "manifest_version": 3,
        "name": title[:45],
        "version": __version__.split("+")[0].split("-")[0],
        "description": (
            f"trackguard export of {', '.join(report.lists)[:80]}: "
            "blocks with declarativeNetRequest, explains each block"
        )[:132],
        "minimum_chrome_version": MIN_CHROME_VERSION,
        "permissions": ["declarativeNetRequest", "declarativeNetRequestFeedback"],
        "host_permissions": ["<all_urls>"],
        "background": {"service_worker": "background.js"},
        "action": {
            "default_title": title[:45],
            "default_popup": "popup.html",
            "default_icon": {str(s): f"icons/{s}.png" for s in ICON_SIZES},
        },
        "icons": {str(s): f"icons/{s}.png" for s in ICON_SIZES},
        "declarative_net_request": {
            "rule_resources": [
                {"id": r["id"], "enabled": r["enabled"], "path": r["path"]} for r in resources
            ]
        },
    }
    files["manifest.json"] = json.dumps(manifest, indent=1)
    files["background.js"] = BACKGROUND_JS
    files["popup.html"] = POPUP_HTML
    files["popup.js"] = POPUP_JS
    for size in ICON_SIZES:
        files[f"icons/{size}.png"] = BINARY_PREFIX + base64.b64encode(_png(size)).decode()
    return files


#: Marks a file text that holds base64 bytes; the writer decodes it (`decode_file`).
BINARY_PREFIX = "base64:"


def decode_file(text: str) -> bytes:
    """The bytes to write for one returned file."""
    if text.startswith(BINARY_PREFIX):
        return base64.b64decode(text[len(BINARY_PREFIX) :])
    return text.encode("utf-8")
