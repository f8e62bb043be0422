// Drives the status page (include/sluice/metrics/detail/status_page_html.hpp) in Debian's headless
// Chromium with puppeteer-core, against a running service that has load going through it:
//
//   node check-page.mjs <base-url> <out-dir>
//
// 1. loads <base>/ and waits until every pipeline and sink that <base>/status.json lists is shown;
// 2. reads the displayed totals, waits while the load runs, and checks that they moved;
// 3. checks each sink's displayed in/out totals against /metrics fetched just before and after
//    (before <= shown <= after: the page reads the right series);
// 4. checks the charts drew something, the tables have column headers, a focused table keeps the
//    focus across polls, and a narrow window does not scroll the page sideways;
// 5. makes status.json and metrics fail (request interception): the page must say "disconnected"
//    and keep its last values; then lets them through again and waits until it is live again;
// 6. no console error, page error, failed request or HTTP error before step 5.
// Screenshots (wide and narrow) go to <out-dir>; their paths are printed. Exits non-zero on failure.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [base0, outDir] = process.argv.slice(2);
if (!base0 || !outDir) {
  console.error("usage: node check-page.mjs <base-url> <out-dir>");
  process.exit(2);
}
const base = base0.replace(/\/$/, "");
const browserPath = process.env.SLUICE_CHROMIUM || "/usr/bin/chromium";
mkdirSync(outDir, { recursive: true });

const problems = [];
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) problems.push(what);
  console.log((ok ? "ok    " : "FAIL  ") + what);
}

async function getText(path) {
  const response = await fetch(base + path, { cache: "no-store" });
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}`);
  return response.text();
}

/** { "<metric>|<component>|<name>": value } of the sluice_ series, summed over other labels. */
async function metrics() {
  const index = {};
  for (const line of (await getText("/metrics")).split("\n")) {
    const m = /^(sluice_[a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const k = `${m[1]}|${labels.component}|${labels.name}`;
    index[k] = (index[k] || 0) + Number(m[3]);
  }
  return index;
}

const profile = mkdtempSync(join(outDir, "chromium-profile-"));
const browser = await puppeteer.launch({
  executablePath: browserPath,
  headless: true,
  pipe: true, // Chromium exits when the pipe closes, even if this script is killed
  userDataDir: profile,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"],
});
let failed = false;
try {
  const page = await browser.newPage();
  const trouble = []; // before the simulated outage
  let outage = false;
  page.on("console", (m) => { if (m.type() === "error" && !outage) trouble.push("console error: " + m.text()); });
  page.on("pageerror", (e) => trouble.push("page error: " + e.message));
  page.on("requestfailed", (r) => { if (!outage) trouble.push(`request failed: ${r.url()} ${r.failure()?.errorText}`); });
  page.on("response", (r) => { if (r.status() >= 400 && !outage) trouble.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.setViewport({ width: 1280, height: 900 });

  // 1. Every pipeline and sink of status.json shows up.
  await page.goto(base + "/", { waitUntil: "load", timeout: 15000 });
  const status = JSON.parse(await getText("/status.json"));
  check(status.pipelines.length > 0, `status.json lists ${status.pipelines.length} pipelines`);
  for (const p of status.pipelines) {
    const shown = await page.waitForFunction((name) => {
      for (const s of document.querySelectorAll("section[data-pipeline]"))
        if (s.dataset.pipeline === name && s.querySelector("h2").textContent === name) return true;
      return false;
    }, { timeout: 10000 }, p.name).then(() => true, () => false);
    check(shown, `pipeline "${p.name}" (${p.kind}) is shown`);
    for (const sink of p.sinks) {
      const row = await page.evaluate((pipeline, name) => {
        const section = [...document.querySelectorAll("section[data-pipeline]")].find((s) => s.dataset.pipeline === pipeline);
        const tr = section && [...section.querySelectorAll("tr[data-sink]")].find((t) => t.dataset.sink === name);
        return tr ? tr.querySelector("th").textContent : null;
      }, p.name, sink.name);
      check(row !== null && row.startsWith(sink.name), `sink "${sink.name}" of "${p.name}" has a row`);
    }
  }
  const live = await page.waitForSelector('#connection[data-state="live"]', { timeout: 5000 }).then(() => true, () => false);
  check(live, "the page says it is live");

  // 2. The displayed totals move while the load runs.
  const total = (name) => page.$eval(`[data-total="${name}"]`, (e) => Number(e.dataset.value || NaN));
  const in1 = await total("in"), out1 = await total("out");
  check(in1 > 0 && out1 > 0, `totals shown: ${in1} in, ${out1} delivered`);
  const moved = await page.waitForFunction((before) =>
      Number(document.querySelector('[data-total="out"]').dataset.value) > before, { timeout: 15000 }, out1)
    .then(() => true, () => false);
  const in2 = await total("in"), out2 = await total("out");
  check(moved && in2 > in1, `the totals moved: in ${in1} -> ${in2}, delivered ${out1} -> ${out2}`);
  const rateText = await page.$eval('[data-total="rate_in"]', (e) => e.textContent);
  check(/\/s$/.test(rateText) && Number(await total("rate_in")) > 0, `a rate is shown: ${rateText}`);

  // 3. Each sink's shown totals lie between /metrics before and after two of the page's polls.
  const before = await metrics();
  const updated = await page.$eval("#connection", (e) => Number(e.dataset.updated));
  await page.waitForFunction((t) => Number(document.querySelector("#connection").dataset.updated) > t + 1500,
                             { timeout: 10000 }, updated);
  const shownValues = await page.evaluate(() => [...document.querySelectorAll("tr[data-sink]")].map((tr) => ({
    sink: tr.dataset.sink,
    out: Number(tr.querySelector('[data-field="out"]').dataset.value),
    failed: Number(tr.querySelector('[data-field="failed"]').dataset.value),
  })));
  const after = await metrics();
  for (const v of shownValues) {
    for (const [field, metric] of [["out", "sluice_events_out_total"], ["failed", "sluice_events_failed_total"]]) {
      // Batch sinks publish as component "sink", file and S3 sinks (the object engine) as "objects".
      const component = before[`${metric}|sink|${v.sink}`] !== undefined ? "sink" : "objects";
      const k = `${metric}|${component}|${v.sink}`;
      check(before[k] !== undefined && before[k] <= v[field] && v[field] <= after[k],
            `${v.sink} ${field}: ${before[k]} <= shown ${v[field]} <= ${after[k]}`);
    }
  }

  // 4. Charts, table headers, a narrow window.
  const painted = await page.evaluate(() => [...document.querySelectorAll("section[data-pipeline] canvas")].map((c) => {
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return { pixels: n, label: c.getAttribute("aria-label") || "" };
  }));
  check(painted.length === status.pipelines.length && painted.every((c) => c.pixels > 100 && c.label.includes("per second")),
        `every pipeline's chart is drawn and labelled (${painted.map((c) => c.pixels).join(", ")} pixels)`);
  const headers = await page.$$eval("table", (ts) => ts.every((t) => t.querySelectorAll('thead th[scope="col"]').length >= 10 &&
                                                              [...t.querySelectorAll("tbody tr")].every((r) => r.querySelector('th[scope="row"]'))));
  check(headers, "every sink table has column and row headers");
  // Keyboard users keep their place: a focused table stays focused across polls.
  await page.focus("section[data-pipeline] .table-wrap");
  await new Promise((r) => setTimeout(r, 2200));
  const focused = await page.evaluate(() => document.activeElement?.classList.contains("table-wrap") === true);
  check(focused, "a focused sink table keeps the focus across polls");
  const wide = join(outDir, "status-page.png");
  await page.screenshot({ path: wide, fullPage: true });
  await page.setViewport({ width: 360, height: 800 });
  await new Promise((r) => setTimeout(r, 1200));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `at 360 px wide the page does not scroll sideways (overflow ${overflow} px)`);
  const narrow = join(outDir, "status-page-narrow.png");
  await page.screenshot({ path: narrow, fullPage: true });
  await page.setViewport({ width: 1280, height: 900 });

  // 5. The service "goes away": the page says so and keeps its values; then it comes back.
  check(trouble.length === 0, "no console error, page error, failed request or HTTP error" +
        (trouble.length ? ": " + trouble.slice(0, 5).join("; ") : ""));
  outage = true;
  await page.setRequestInterception(true);
  let blocked = 0;
  const gate = (request) => {
    if (/\/(status\.json|metrics)$/.test(new URL(request.url()).pathname)) { blocked++; request.abort("connectionrefused"); }
    else request.continue();
  };
  page.on("request", gate);
  const disconnected = await page.waitForSelector('#connection[data-state="disconnected"]', { timeout: 10000 })
    .then(() => true, () => false);
  const kept = await total("out");
  await new Promise((r) => setTimeout(r, 1500));
  const stillKept = await total("out");
  const sectionsKept = await page.$$eval("section[data-pipeline]", (s) => s.length);
  const connectionText = await page.$eval("#connection", (e) => e.textContent);
  check(disconnected && blocked > 0, `blocked ${blocked} polls: the page says "${connectionText}"`);
  check(kept > 0 && stillKept === kept && sectionsKept === status.pipelines.length,
        `while disconnected the last values stay (delivered ${kept}, ${sectionsKept} pipelines)`);
  page.off("request", gate);
  await page.setRequestInterception(false);
  const back = await page.waitForSelector('#connection[data-state="live"]', { timeout: 10000 }).then(() => true, () => false);
  check(back && (await total("out")) > kept, "live again, and the totals moved on");
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await new Promise((r) => setTimeout(r, 1200));
  check(errors.length === 0, "no console error after reconnecting" + (errors.length ? ": " + errors[0] : ""));

  console.log(`screenshot: ${wide}`);
  console.log(`screenshot: ${narrow}`);
} catch (e) {
  failed = true;
  console.error("check-page: " + (e && e.stack || e));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${checks - problems.length} passed, ${problems.length} failed`);
process.exit(failed || problems.length ? 1 : 0);
