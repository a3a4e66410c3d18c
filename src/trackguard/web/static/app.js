// trackguard dashboard: plain JavaScript, no build step, no third-party code.
"use strict";

const token = document.querySelector('meta[name="csrf-token"]').content;
const sections = ["overview", "log", "sites", "lists", "learn", "settings"];
let liveSource = null;
let logRows = [];

function $(id) { return document.getElementById(id); }

function say(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function getJSON(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `${path}: ${response.status}`);
  }
  return response.json();
}

async function act(name, payload) {
  const response = await fetch(`/api/action/${name}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Trackguard-CSRF": token },
    body: JSON.stringify(payload),
  });
  const data = await response.json().catch(() => ({ ok: false, error: `HTTP ${response.status}` }));
  if (!data.ok) { say(data.error || "the change was refused", true); return null; }
  say(data.message || "done");
  return data;
}

function cell(row, text, label) {
  const td = document.createElement("td");
  td.textContent = text;
  if (label) td.dataset.label = label;
  row.appendChild(td);
  return td;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function fillList(id, pairs) {
  const list = $(id);
  list.replaceChildren();
  for (const [name, count] of pairs) {
    const li = document.createElement("li");
    li.textContent = `${name} (${count})`;
    list.appendChild(li);
  }
  if (!pairs.length) {
    const li = document.createElement("li");
    li.textContent = "nothing yet";
    list.appendChild(li);
  }
}

function drawChart(series, since, bucket) {
  const width = 600, height = 120, svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 20}`);
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1, ...series.map((p) => p[1]));
  const barWidth = width / 28;
  series.forEach(([at, count]) => {
    const index = Math.min(27, Math.round((at - since) / bucket));
    const bar = document.createElementNS(svgNS, "rect");
    const h = Math.max(1, (count / max) * height);
    bar.setAttribute("x", String(index * barWidth + 1));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", String(barWidth - 2));
    bar.setAttribute("height", String(h));
    bar.setAttribute("class", "bar");
    svg.appendChild(bar);
  });
  const total = series.reduce((sum, p) => sum + p[1], 0);
  const chart = $("chart");
  chart.replaceChildren(svg);
  chart.setAttribute("aria-label", `${total} trackers blocked in the last 7 days, in 6-hour steps`);
}

async function loadOverview() {
  const data = await getJSON("/api/overview");
  $("protection-state").textContent = `Protection: ${data.protection ? "on" : "off"}`;
  $("protection-toggle").textContent = data.protection ? "Switch protection off" : "Switch protection on";
  $("protection-toggle").dataset.on = data.protection ? "1" : "";
  $("fig-requests").textContent = data.today.requests;
  $("fig-blocked").textContent = data.today.blocked;
  $("fig-stripped").textContent = data.today.stripped;
  $("fig-tunnels").textContent = `${Math.round(data.today.no_signal_share * 100)}%`;
  $("signals-state").textContent = `Do Not Track: ${data.dnt ? "sent" : "off"}. Global Privacy Control: ${data.gpc ? "sent" : "off"}.`;
  $("signals-question").hidden = data.signals_asked;
  fillList("top-trackers", data.top_trackers);
  fillList("top-sites", data.top_sites);
  fillList("top-lists", data.top_lists);
  drawChart(data.series, data.series_since, data.series_bucket);
}

function matchesFilter(row) {
  const site = $("filter-site").value.trim();
  const action = $("filter-action").value;
  const list = $("filter-list").value.trim();
  return (!site || row.site.includes(site)) && (!action || row.action === action)
    && (!list || (row.list || "").includes(list));
}

function why(row) {
  if (row.rule) return `${row.rule} (${row.where})`;
  return row.layer;
}

function renderLog() {
  const body = $("log-rows");
  body.replaceChildren();
  for (const row of logRows.filter(matchesFilter).slice(-300).reverse()) {
    const tr = document.createElement("tr");
    tr.className = row.action;
    cell(tr, new Date(row.time * 1000).toLocaleTimeString(), "Time");
    cell(tr, row.action, "Action");
    cell(tr, row.host, "Host");
    cell(tr, row.site || "–", "Site");
    cell(tr, why(row), "Why");
    const change = cell(tr, "", "Change");
    if (row.action === "block") {
      change.appendChild(button(`Allow ${row.host}`, () => act("allow", { domain: row.host })));
      if (row.site) {
        change.appendChild(button(`Allow ${row.host} on ${row.site} only`,
          () => act("allow", { domain: row.host, site: row.site })));
      }
    }
    if (row.site) {
      change.appendChild(button(`Protection off on ${row.site}`,
        () => act("site", { site: row.site, protection: false })));
    }
    body.appendChild(tr);
  }
}

async function startLog() {
  const data = await getJSON("/api/log");
  logRows = data.rows;
  renderLog();
  if (liveSource) liveSource.close();
  liveSource = new EventSource(`/api/events?after=${data.last}`);
  liveSource.onmessage = (event) => {
    logRows.push(JSON.parse(event.data));
    if (logRows.length > 2000) logRows = logRows.slice(-1000);
    renderLog();
  };
}

async function loadSites() {
  const data = await getJSON("/api/sites");
  const body = $("site-rows");
  body.replaceChildren();
  for (const site of data.sites) {
    const tr = document.createElement("tr");
    cell(tr, site.site, "Site");
    cell(tr, site.requests, "Requests");
    cell(tr, site.blocked, "Blocked");
    cell(tr, site.trackers, "Trackers");
    const change = cell(tr, site.protection ? "on " : "off ", "Protection");
    change.appendChild(button(site.protection ? `Switch off on ${site.site}` : `Switch on on ${site.site}`,
      async () => { if (await act("site", { site: site.site, protection: !site.protection })) loadSites(); }));
    body.appendChild(tr);
  }
}

function diagnostics(stats) {
  if (!stats) return "–";
  const parts = [];
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === "number" && value > 0 && key !== "rules") parts.push(`${key.replaceAll("_", " ")}: ${value}`);
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) if (typeof v === "number" && v > 0) parts.push(`${k}: ${v}`);
    }
  }
  return parts.slice(0, 6).join(", ") || "none";
}

async function loadLists() {
  const data = await getJSON("/api/lists");
  const catalogue = $("catalogue");
  catalogue.replaceChildren(...data.catalogue.map((entry) => {
    const option = document.createElement("option");
    option.value = entry.key;
    option.label = entry.name;
    return option;
  }));
  const body = $("list-rows");
  body.replaceChildren();
  for (const list of data.lists) {
    const tr = document.createElement("tr");
    cell(tr, list.name, "Name");
    cell(tr, `${list.rules}${list.skipped ? ` (${list.skipped} not applied)` : ""}`, "Rules");
    cell(tr, `${list.enabled ? "" : "disabled, "}${list.status}${list.last_error ? ": " + list.last_error : ""}`, "Health");
    cell(tr, diagnostics(list.diagnostics), "Diagnostics");
    cell(tr, list.builtin ? "built in" : (list.last_update || "never").replace("T", " ").slice(0, 16), "Updated");
    const change = cell(tr, "", "Change");
    change.appendChild(button(list.enabled ? `Disable ${list.name}` : `Enable ${list.name}`,
      async () => { if (await act("list-enable", { name: list.id, enabled: !list.enabled })) loadLists(); }));
    change.appendChild(button(`Update ${list.name}`,
      async () => { if (await act("list-update", { name: list.id })) loadLists(); }));
    body.appendChild(tr);
  }
}

async function loadLearn() {
  const data = await getJSON("/api/learn");
  $("learn-mode").value = data.mode;
  $("learn-threshold").value = data.threshold;
  const paused = data.paused_until * 1000 > Date.now();
  $("learn-paused").hidden = !paused;
  $("learn-paused").textContent = paused ? `Learning is paused until ${new Date(data.paused_until * 1000).toLocaleString()}.` : "";
  $("auto-warning").hidden = data.mode !== "auto";
  const body = $("learn-rows");
  body.replaceChildren();
  for (const item of data.items) {
    const tr = document.createElement("tr");
    cell(tr, item.domain, "Domain");
    cell(tr, item.sites, "Sites");
    cell(tr, item.days, "Days");
    cell(tr, (item.kinds || []).join(", ") || "–", "Evidence");
    cell(tr, item.action || "not yet", "Suggested");
    const decide = cell(tr, "", "Decide");
    decide.appendChild(button(`Accept ${item.domain}`,
      async () => { if (await act("learn-accept", { domain: item.domain })) loadLearn(); }));
    decide.appendChild(button(`Reject ${item.domain}`,
      async () => { if (await act("learn-reject", { domain: item.domain })) loadLearn(); }));
    body.appendChild(tr);
  }
  const ignored = $("never-learn-rows");
  ignored.replaceChildren();
  for (const site of data.never_learn || []) {
    const li = document.createElement("li");
    li.textContent = `${site} `;
    li.appendChild(button(`Learn from ${site} again`,
      async () => { if (await act("learn-ignore", { site, ignored: false })) loadLearn(); }));
    ignored.appendChild(li);
  }
  $("never-learn-empty").hidden = (data.never_learn || []).length > 0;
}

async function loadSettings() {
  const data = await getJSON("/api/settings");
  $("set-dnt").checked = data.dnt;
  $("set-gpc").checked = data.gpc;
  $("set-retention").value = data.log_retention_days;
  $("ca-state").textContent = data.ca.exists
    ? `The interception CA exists at ${data.ca.path}. Run "trackguard ca" for how to trust it.`
    : "No interception CA yet: run \"trackguard ca\" to create one and see how to trust it.";
}

const loaders = { overview: loadOverview, log: startLog, sites: loadSites, lists: loadLists, learn: loadLearn, settings: loadSettings };

function show() {
  const name = sections.includes(location.hash.slice(1)) ? location.hash.slice(1) : "overview";
  for (const id of sections) $(id).hidden = id !== name;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name !== "log" && liveSource) { liveSource.close(); liveSource = null; }
  loaders[name]().catch((error) => say(`could not load ${name}: ${error.message}`, true));
}

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", show);
  $("protection-toggle").addEventListener("click", async () => {
    if (await act("protection", { on: !$("protection-toggle").dataset.on })) loadOverview();
  });
  for (const id of ["filter-site", "filter-action", "filter-list"]) $(id).addEventListener("input", renderLog);
  $("log-filter").addEventListener("submit", (event) => event.preventDefault());
  $("list-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    say("adding…");
    if (await act("list-add", { source: $("list-source").value })) { $("list-source").value = ""; loadLists(); }
  });
  $("learn-mode-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await act("learn-mode", { mode: $("learn-mode").value })) loadLearn();
  });
  $("learn-settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await act("learn-settings", { threshold: Number($("learn-threshold").value) })) loadLearn();
  });
  $("learn-pause-button").addEventListener("click", async () => {
    if (await act("learn-settings", { pause_hours: Number($("learn-pause").value) })) loadLearn();
  });
  $("learn-resume").addEventListener("click", async () => {
    if (await act("learn-settings", { pause_hours: 0 })) loadLearn();
  });
  for (const [id, gpc] of [["signals-yes", true], ["signals-no", false]]) {
    $(id).addEventListener("click", async () => { if (await act("signals", { gpc })) loadOverview(); });
  }
  $("learn-mode").addEventListener("change", () => { $("auto-warning").hidden = $("learn-mode").value !== "auto"; });
  $("never-learn-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await act("learn-ignore", { site: $("never-learn-site").value, ignored: true })) {
      $("never-learn-site").value = "";
      loadLearn();
    }
  });
  $("learn-wipe").addEventListener("click", async () => {
    if (confirm("Wipe everything the personalized list has learned?")) { await act("learn-wipe", {}); loadLearn(); }
  });
  $("settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await act("settings", { dnt: $("set-dnt").checked, gpc: $("set-gpc").checked,
      log_retention_days: Number($("set-retention").value) });
  });
  $("wipe-log").addEventListener("click", async () => {
    if (confirm("Erase the whole decision log?")) await act("wipe-log", {});
  });
  show();
});
