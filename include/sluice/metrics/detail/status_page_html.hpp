#pragma once

// The status page served at GET / by add_observability_routes (metrics/status_page.hpp): one HTML
// document with its CSS and JavaScript inline and nothing loaded from anywhere else (the routes'
// Content-Security-Policy forbids it too). Every second it fetches status.json and metrics (relative
// URLs, so the page works under any prefix), parses the Prometheus text format, and shows per
// pipeline its sinks' totals and rates, buffer fill, retries, throttles, failures, drops and last
// error, with a chart of events/s in and out over the last five minutes. When a fetch fails it says
// "disconnected" and keeps the last values on screen until the service answers again.
//
// Text from the service (names, error messages) only ever reaches the page through textContent and
// attributes, never as markup. Hooks for tests: section[data-pipeline], tr[data-sink],
// [data-field] and [data-total] elements carry the raw number in data-value, #connection has
// data-state="live|disconnected|connecting" and data-updated (the last good poll, ms since the epoch).

#include <string_view>

namespace sluice::detail {

inline constexpr std::string_view status_page_html = R"sluice_page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>sluice status</title>
<link rel="icon" href="data:,">
<style>
:root { --bg: #f7f7f5; --fg: #1d1f21; --muted: #5b6168; --card: #fff; --line: #d9dcdf;
        --in: #1f5fbf; --out: #1d7a3a; --bad: #b3261e; --warn: #8a5a00; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #141618; --fg: #e8eaed; --muted: #a3a9b0; --card: #1d2023; --line: #33383d;
          --in: #7fb0ff; --out: #6fd08c; --bad: #ff8a80; --warn: #f0c060; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       background: var(--bg); color: var(--fg); }
header.top { padding: 12px 16px; border-bottom: 1px solid var(--line); background: var(--card);
             display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; }
h1 { font-size: 20px; margin: 0; }
.version { color: var(--muted); margin-left: 6px; }
#connection { margin: 0; padding: 2px 10px; border-radius: 12px; font-weight: 600; }
#connection[data-state="live"] { color: var(--out); border: 1px solid var(--out); }
#connection[data-state="disconnected"] { color: var(--bad); border: 1px solid var(--bad); }
#connection[data-state="connecting"] { color: var(--muted); border: 1px solid var(--line); }
dl.totals { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0; }
dl.totals div { min-width: 80px; }
dt { color: var(--muted); font-size: 12px; }
dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
main { padding: 12px 16px; display: grid; gap: 16px; }
body.stale main, body.stale dl.totals { opacity: 0.6; }
section.pipeline { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px; min-width: 0; }
.phead { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
h2 { font-size: 17px; margin: 0; overflow-wrap: anywhere; }
.kind { font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted);
        border: 1px solid var(--line); border-radius: 4px; padding: 0 6px; }
.meta { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.rates { margin: 0; font-variant-numeric: tabular-nums; }
.rin { color: var(--in); } .rout { color: var(--out); }
figure { margin: 8px 0; }
canvas { width: 100%; height: 120px; display: block; }
figcaption { color: var(--muted); font-size: 12px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: 12px; padding: 4px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; white-space: nowrap; }
th[scope="row"], thead th:first-child, thead th:last-child, td.error { text-align: left; }
th[scope="row"] { overflow-wrap: anywhere; white-space: normal; min-width: 8em; }
td.error { white-space: normal; min-width: 12em; max-width: 28em; overflow-wrap: anywhere; }
td.error.has-error { color: var(--bad); }
.sub { display: block; color: var(--muted); font-size: 12px; font-weight: 400; }
.nonzero { color: var(--warn); }
.failing { color: var(--bad); }
footer { padding: 8px 16px 16px; color: var(--muted); font-size: 12px; }
a { color: var(--in); }
@media (max-width: 600px) {
  header.top, main { padding: 8px; }
  th, td { padding: 3px 5px; }
}
</style>
</head>
<body>
<header class="top">
  <div><h1 id="service">sluice</h1><span id="version" class="version"></span></div>
  <p id="connection" role="status" aria-live="polite" data-state="connecting">connecting&hellip;</p>
  <dl class="totals" aria-label="Totals">
    <div><dt>Uptime</dt><dd id="uptime">&ndash;</dd></div>
    <div><dt>Events in</dt><dd data-total="in">&ndash;</dd></div>
    <div><dt>In/s</dt><dd data-total="rate_in">&ndash;</dd></div>
    <div><dt>Delivered</dt><dd data-total="out">&ndash;</dd></div>
    <div><dt>Out/s</dt><dd data-total="rate_out">&ndash;</dd></div>
    <div><dt>Failed</dt><dd data-total="failed">&ndash;</dd></div>
    <div><dt>Dropped</dt><dd data-total="dropped">&ndash;</dd></div>
  </dl>
</header>
<main id="pipelines" aria-label="Pipelines">
  <p id="empty">No pipelines yet.</p>
</main>
<footer>Read every second from <a href="status.json">status.json</a> and <a href="metrics">metrics</a>.
<noscript>This page needs JavaScript to show live values.</noscript></footer>
<script>
"use strict";
(function () {
const POLL_MS = 1000, TIMEOUT_MS = 2500, HISTORY_MS = 5 * 60 * 1000;
const number = new Intl.NumberFormat("en-US");
const rateFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const state = { previous: null, lastOk: 0, sections: new Map(), history: new Map(), made: 0 };

// ---- the Prometheus text format 0.0.4 ------------------------------------------------------
function parseValue(text) {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const v = Number(text);
  if (text === "" || Number.isNaN(v)) throw new Error("bad sample value '" + text + "'");
  return v;
}

function parseLabels(line, i, labels) {
  i++; // '{'
  for (;;) {
    while (line[i] === " " || line[i] === ",") i++;
    if (line[i] === "}") return i + 1;
    let j = i;
    while (j < line.length && /[A-Za-z0-9_]/.test(line[j])) j++;
    if (j === i || line[j] !== "=" || line[j + 1] !== "\"") throw new Error("bad label in '" + line + "'");
    const name = line.slice(i, j);
    let value = "";
    for (i = j + 2; ; i++) {
      if (i >= line.length) throw new Error("unterminated label value in '" + line + "'");
      const c = line[i];
      if (c === "\"") break;
      if (c === "\\") {
        const n = line[++i];
        value += n === "n" ? "\n" : n;
      } else {
        value += c;
      }
    }
    labels[name] = value;
    i++;
  }
}

/** Samples of a text exposition: [{name, labels, value}]. Throws on a malformed line. */
function parsePrometheus(text) {
  const samples = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line[0] === "#") continue;
    let i = 0;
    while (i < line.length && /[A-Za-z0-9_:]/.test(line[i])) i++;
    if (i === 0) throw new Error("bad metric name in '" + line + "'");
    const sample = { name: line.slice(0, i), labels: {}, value: 0 };
    if (line[i] === "{") i = parseLabels(line, i, sample.labels);
    const fields = line.slice(i).trim().split(/\s+/);
    sample.value = parseValue(fields[0]);
    samples.push(sample);
  }
  return samples;
}

// ---- series by (metric, component, name[, medium]) ------------------------------------------
function key(metric, component, name, medium) {
  return metric + "\u0000" + component + "\u0000" + name + "\u0000" + (medium || "");
}

function indexSamples(samples) {
  const index = new Map();
  for (const s of samples) {
    if (s.labels.component === undefined || s.labels.name === undefined) continue;
    const k = key(s.name, s.labels.component, s.labels.name, s.labels.medium);
    index.set(k, (index.get(k) || 0) + s.value);
  }
  return index;
}

const SINK_COUNTERS = {
  in: "sluice_events_in_total", out: "sluice_events_out_total", failed: "sluice_events_failed_total",
  dropped: "sluice_events_dropped_total", retried: "sluice_events_retried_total",
  requests: "sluice_requests_total", request_retries: "sluice_request_retries_total",
  throttles: "sluice_request_throttles_total"
};

function sinkValues(index, name) {
  const v = {};
  // Batch sinks publish as component "sink"; file and S3 sinks (the object engine) as "objects".
  for (const field in SINK_COUNTERS) {
    const own = index.get(key(SINK_COUNTERS[field], "sink", name));
    v[field] = own !== undefined ? own : index.get(key(SINK_COUNTERS[field], "objects", name));
  }
  for (const medium of ["memory", "disk"]) {
    v[medium + "_events"] = index.get(key("sluice_buffer_events", "buffer", name, medium));
    v[medium + "_bytes"] = index.get(key("sluice_buffer_bytes", "buffer", name, medium));
  }
  return v;
}

/** Per second since the previous poll; a counter that went down was reset, so it counts from 0. */
function rate(now, before, seconds) {
  if (now === undefined || before === undefined || !(seconds > 0)) return undefined;
  return (now >= before ? now - before : now) / seconds;
}

function sum(values) {
  let total, seen = false;
  for (const v of values) if (v !== undefined) { total = (seen ? total : 0) + v; seen = true; }
  return total;
}

// ---- formatting ------------------------------------------------------------------------------
const DASH = "\u2013";
function fmtCount(v) { return v === undefined ? DASH : number.format(v); }
function fmtRate(v) { return v === undefined ? DASH : rateFormat.format(v) + "/s"; }
function fmtBytes(v) {
  if (v === undefined) return DASH;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? number.format(v) : rateFormat.format(v)) + " " + units[u];
}
function fmtDuration(seconds) {
  if (!(seconds >= 0)) return DASH;
  let s = Math.floor(seconds);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
}
function fmtClock(date) { return date.toLocaleTimeString("en-GB", { hour12: false }); }
function fmtWhen(text) {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) return text;
  const sameDay = at.toDateString() === new Date().toDateString();
  return (sameDay ? "" : at.toLocaleDateString("en-GB") + " ") + fmtClock(at);
}

// ---- DOM -------------------------------------------------------------------------------------
function el(tag, attributes, ...children) {
  const e = document.createElement(tag);
  for (const name in attributes || {}) e.setAttribute(name, attributes[name]);
  for (const c of children) e.append(c);
  return e;
}

/** Puts `node` at `index` among parent's children, only when it is elsewhere (moving a node blurs it). */
function place(parent, node, index) {
  const at = parent.children[index];
  if (at !== node) parent.insertBefore(node, at || null);
}

function setNumber(node, value, text, className) {
  node.dataset.value = value === undefined ? "" : String(value);
  if (node.firstChild === null || node.firstChild.nodeType !== Node.TEXT_NODE) node.prepend(document.createTextNode(""));
  if (node.firstChild.data !== text) node.firstChild.data = text;
  node.className = className || "";
}

function setSub(node, text) {
  let sub = node.querySelector(".sub");
  if (!sub) { sub = el("span", { class: "sub" }); node.append(sub); }
  if (sub.textContent !== text) sub.textContent = text;
}

const COLUMNS = [
  ["rate_in", "In/s"], ["rate_out", "Out/s"], ["out", "Delivered"], ["memory", "Memory buffer"],
  ["disk", "Disk buffer"], ["retried", "Retries"], ["throttles", "Throttles"], ["failed", "Failed"],
  ["dropped", "Dropped"], ["error", "Last error"]
];

function makeSection(n) {
  const id = "pipeline-" + n;
  const title = el("h2", { id: id + "-title" });
  const kind = el("span", { class: "kind" });
  const meta = el("p", { class: "meta" });
  const rates = el("p", { class: "rates" });
  const canvas = el("canvas", { role: "img", width: "600", height: "120" });
  const head = el("tr", {}, el("th", { scope: "col" }, "Sink"));
  for (const [, label] of COLUMNS) head.append(el("th", { scope: "col" }, label));
  const caption = el("caption");
  const body = el("tbody");
  const wrap = el("div", { class: "table-wrap", role: "region", tabindex: "0", "aria-labelledby": id + "-title" },
                  el("table", {}, caption, el("thead", {}, head), body));
  const figure = el("figure", {}, canvas,
                    el("figcaption", {}, "Events/s in (blue) and out (green), last 5 minutes"));
  const section = el("section", { class: "pipeline", "aria-labelledby": id + "-title" },
                     el("div", { class: "phead" }, title, kind, rates), meta, figure, wrap);
  return { section, title, kind, meta, rates, canvas, caption, body, rows: new Map() };
}

function makeRow(sink) {
  const name = el("th", { scope: "row" });
  const tr = el("tr", {}, name);
  const cells = {};
  for (const [field] of COLUMNS) {
    cells[field] = el("td", { "data-field": field });
    if (field === "error") cells[field].classList.add("error");
    tr.append(cells[field]);
  }
  tr.dataset.sink = sink.name;
  return { tr, name, cells };
}

function updateRow(row, sink, v, r) {
  row.name.textContent = sink.name;
  setSub(row.name, sink.type || "");
  const c = row.cells;
  setNumber(c.rate_in, r.in, fmtRate(r.in));
  setNumber(c.rate_out, r.out, fmtRate(r.out));
  setNumber(c.out, v.out, fmtCount(v.out));
  setSub(c.out, "of " + fmtCount(v.in) + " in");
  setNumber(c.memory, v.memory_events, fmtCount(v.memory_events) + " ev");
  setSub(c.memory, fmtBytes(v.memory_bytes));
  setNumber(c.disk, v.disk_events, fmtCount(v.disk_events) + " ev");
  setSub(c.disk, fmtBytes(v.disk_bytes));
  setNumber(c.retried, v.retried, fmtCount(v.retried), v.retried ? "nonzero" : "");
  setSub(c.retried, fmtCount(v.request_retries) + " requests");
  setNumber(c.throttles, v.throttles, fmtCount(v.throttles), v.throttles ? "nonzero" : "");
  setNumber(c.failed, v.failed, fmtCount(v.failed), v.failed ? "failing" : "");
  setSub(c.failed, sink.dead_letter ? "dead letters \u2192 " + sink.dead_letter : "no dead-letter sink");
  setNumber(c.dropped, v.dropped, fmtCount(v.dropped), v.dropped ? "failing" : "");
  const e = sink.last_error;
  const text = e ? e.message : "none";
  if (c.error.dataset.message !== text) {
    c.error.dataset.message = text;
    c.error.textContent = "";
    c.error.append(text);
    if (e) c.error.append(el("span", { class: "sub" }, el("time", { datetime: e.at, title: e.at }, fmtWhen(e.at))));
  }
  c.error.className = "error" + (e ? " has-error" : "");
}

function updatePipeline(view, pipeline, index, previous, seconds, now) {
  view.title.textContent = pipeline.name;
  view.kind.textContent = pipeline.kind;
  view.section.dataset.pipeline = pipeline.name;
  view.caption.textContent = "Sinks of " + pipeline.name;
  const sources = (pipeline.sources || []).join(", ") || "none";
  const depth = pipeline.queue ? index.get(key("sluice_queue_depth", "queue", pipeline.queue)) : undefined;
  view.meta.textContent = "Sources: " + sources + (pipeline.queue ? " \u00b7 queue " + pipeline.queue +
                          (depth === undefined ? "" : " (" + fmtCount(depth) + " waiting)") : "");
  const totals = { in: [], out: [], failed: [], dropped: [], rin: [], rout: [] };
  const seen = new Set();
  (pipeline.sinks || []).forEach((sink, k) => {
    seen.add(sink.name);
    let row = view.rows.get(sink.name);
    if (!row) { row = makeRow(sink); view.rows.set(sink.name, row); }
    place(view.body, row.tr, k); // the status document's order
    const v = sinkValues(index, sink.name);
    const p = previous ? sinkValues(previous, sink.name) : {};
    const r = { in: rate(v.in, p.in, seconds), out: rate(v.out, p.out, seconds) };
    updateRow(row, sink, v, r);
    totals.in.push(v.in); totals.out.push(v.out); totals.failed.push(v.failed); totals.dropped.push(v.dropped);
    totals.rin.push(r.in); totals.rout.push(r.out);
  });
  for (const [name, row] of view.rows) if (!seen.has(name)) { row.tr.remove(); view.rows.delete(name); }
  // A pipeline's input is what its queue accepted when it has one, else what its sinks did.
  const queueIn = pipeline.queue ? index.get(key("sluice_events_in_total", "queue", pipeline.queue)) : undefined;
  const result = { in: queueIn !== undefined ? queueIn : sum(totals.in), out: sum(totals.out),
                   failed: sum(totals.failed), dropped: sum(totals.dropped), rate_out: sum(totals.rout) };
  result.rate_in = queueIn !== undefined
      ? rate(queueIn, previous ? previous.get(key("sluice_events_in_total", "queue", pipeline.queue)) : undefined, seconds)
      : sum(totals.rin);
  view.rates.textContent = "in " + fmtRate(result.rate_in) + " \u00b7 out " + fmtRate(result.rate_out);
  record(pipeline.name, now, result.rate_in, result.rate_out);
  drawChart(view.canvas, state.history.get(pipeline.name) || [], now);
  return result;
}

// ---- charts ----------------------------------------------------------------------------------
function record(name, now, rateIn, rateOut) {
  if (rateIn === undefined && rateOut === undefined) return;
  let h = state.history.get(name);
  if (!h) { h = []; state.history.set(name, h); }
  h.push({ t: now, in: rateIn || 0, out: rateOut || 0 });
  while (h.length && h[0].t < now - HISTORY_MS) h.shift();
}

function drawChart(canvas, points, now) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(200, Math.round(canvas.clientWidth * ratio)), h = Math.round(120 * ratio);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext("2d");
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  g.clearRect(0, 0, w, h);
  let max = 1;
  for (const p of points) max = Math.max(max, p.in, p.out);
  const top = 14 * ratio, bottom = h - 4 * ratio;
  const x = (t) => w - (now - t) / HISTORY_MS * w;
  const y = (v) => bottom - v / max * (bottom - top);
  g.strokeStyle = color("--line");
  g.lineWidth = 1;
  g.beginPath(); g.moveTo(0, bottom); g.lineTo(w, bottom); g.moveTo(0, top); g.lineTo(w, top); g.stroke();
  g.fillStyle = color("--muted");
  g.font = 11 * ratio + "px system-ui, sans-serif";
  g.fillText(rateFormat.format(max) + "/s", 2 * ratio, 11 * ratio);
  for (const [field, name] of [["in", "--in"], ["out", "--out"]]) {
    g.strokeStyle = color(name);
    g.lineWidth = 1.5 * ratio;
    g.beginPath();
    let last = null;
    for (const p of points) {
      // A gap of more than three polls (disconnected) breaks the line.
      if (last === null || p.t - last > 3 * POLL_MS) g.moveTo(x(p.t), y(p[field])); else g.lineTo(x(p.t), y(p[field]));
      last = p.t;
    }
    g.stroke();
  }
  const latest = points.length ? points[points.length - 1] : null;
  canvas.setAttribute("aria-label", latest
      ? "Chart of events per second over the last 5 minutes; now " + rateFormat.format(latest.in) +
        " in and " + rateFormat.format(latest.out) + " out per second"
      : "Chart of events per second over the last 5 minutes; no data yet");
}

// ---- polling ---------------------------------------------------------------------------------
async function fetchText(url) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(url, { cache: "no-store", signal: abort.signal });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return await response.text();
  } finally {
    clearTimeout(timer);
  }
}

function setConnection(stateName, text) {
  const c = document.getElementById("connection");
  c.dataset.state = stateName;
  if (c.textContent !== text) c.textContent = text;
  document.body.classList.toggle("stale", stateName === "disconnected");
}

function setTotal(name, value, text) {
  setNumber(document.querySelector('[data-total="' + name + '"]'), value, text);
}

function render(status, index, now) {
  const previous = state.previous;
  const seconds = previous ? (now - previous.at) / 1000 : 0;
  document.getElementById("service").textContent = status.service || "sluice";
  document.getElementById("version").textContent = status.version ? "v" + status.version : "";
  document.title = (status.service || "sluice") + " status";
  document.getElementById("uptime").textContent = fmtDuration(status.uptime_seconds);
  const main = document.getElementById("pipelines");
  const totals = { in: [], out: [], failed: [], dropped: [], rate_in: [], rate_out: [] };
  const names = new Set();
  (status.pipelines || []).forEach((pipeline, i) => {
    names.add(pipeline.name);
    let view = state.sections.get(pipeline.name);
    if (!view) { view = makeSection(state.made++); state.sections.set(pipeline.name, view); }
    place(main, view.section, i + 1); // after #empty
    const r = updatePipeline(view, pipeline, index, previous && previous.index, seconds, now);
    for (const field in totals) totals[field].push(r[field]);
  });
  for (const [name, view] of state.sections)
    if (!names.has(name)) { view.section.remove(); state.sections.delete(name); state.history.delete(name); }
  document.getElementById("empty").hidden = names.size > 0;
  setTotal("in", sum(totals.in), fmtCount(sum(totals.in)));
  setTotal("out", sum(totals.out), fmtCount(sum(totals.out)));
  setTotal("failed", sum(totals.failed), fmtCount(sum(totals.failed)));
  setTotal("dropped", sum(totals.dropped), fmtCount(sum(totals.dropped)));
  setTotal("rate_in", sum(totals.rate_in), fmtRate(sum(totals.rate_in)));
  setTotal("rate_out", sum(totals.rate_out), fmtRate(sum(totals.rate_out)));
  state.previous = { at: now, index };
}

async function poll() {
  try {
    const [statusText, metricsText] = await Promise.all([fetchText("status.json"), fetchText("metrics")]);
    const status = JSON.parse(statusText);
    const index = indexSamples(parsePrometheus(metricsText));
    const now = Date.now();
    render(status, index, now);
    state.lastOk = now;
    document.getElementById("connection").dataset.updated = String(now);
    setConnection("live", "live \u00b7 updated " + fmtClock(new Date(now)));
  } catch (failure) {
    // Keep what is on screen; say since when it is stale. The next rate is taken over the whole gap.
    const since = state.lastOk ? " since " + fmtClock(new Date(state.lastOk)) + ", showing the last values" : "";
    setConnection("disconnected", "disconnected" + since + " (" + (failure && failure.message || failure) + ")");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

window.addEventListener("resize", () => {
  const now = Date.now();
  for (const [name, view] of state.sections) drawChart(view.canvas, state.history.get(name) || [], now);
});
poll();
})();
</script>
</body>
</html>
)sluice_page";

} // namespace sluice::detail
