// Drive the demo app in headless Chromium (the Debian package, never a downloaded browser) with
// playwright-core, as a phone: 390x844 CSS px, deviceScaleFactor 2, touch. Used by
// tests/test_demo_app.py and for the README screenshot.
//
//   EDGEKIT_NODE_MODULES=... node tests/js/drive_demo_app.mjs SPEC.json   (edgekit.node.run_script sets it)
//
// SPEC: {"chromium", "base_url", "fixed": [sample indices], "upload": PNG path, a list of them or null,
//        "screenshot": PNG path or null, "offline": true|false, "timeout_ms",
//        "runtimes": [runtime ids] (optional: only these are driven; default every one that loaded),
//        "screenshot_image": sample index shown in the screenshot (optional; default fixed[0]),
//        "draw": false to skip the drawing}
//   or   {"chromium", "base_url", "profile": browser profile folder, "expect_cache": cache name, "timeout_ms"}
//        (one visit with a persistent profile: see `visit`)
// Prints one JSON line: {"browser", "online": pass, "offline": pass, "upload", "uploads", "drawing", ...}
// where a pass is {"runtimes", "unavailable", "controlled", "started_on", "recommended", "page" (title,
// texts, preview size, sample captions), "results": {runtime: [per image]}}; an upload's result also
// has "preview" (the model-input canvas's size and mean R, G, B);
// or {"error": "..."} with exit code 1 when Chromium cannot start.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// playwright-core from edgekit's web runtime folder (this file lives outside it, so Node would not find it).
const { chromium } = createRequire(`${process.env.EDGEKIT_NODE_MODULES}/`)('playwright-core');

// The flags edgekit/web/browser_bench.mjs launches Chromium with (CPU only).
const FLAGS = ['--disable-gpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-extensions', '--disable-default-apps'];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const seq = (page) => page.evaluate(() => window.__demo.seq);

async function waitForResult(page, before, timeout) {
  await page.waitForFunction((n) => window.__demo.seq > n && window.__demo.last.seq > n, before, { timeout, polling: 50 });
  return page.evaluate(() => ({ ...window.__demo.last, shown: document.getElementById('latency').textContent }));
}

async function loaded(page, spec) {
  await page.waitForFunction(() => window.__demo && (window.__demo.probed || window.__demo.error),
    null, { timeout: spec.timeout_ms, polling: 100 });
  await page.waitForFunction(() => window.__demo.error || window.__demo.seq > 0, null, { timeout: spec.timeout_ms });
  return page.evaluate(() => ({
    runtimes: window.__demo.runtimes, notes: window.__demo.notes, unavailable: window.__demo.unavailable, error: window.__demo.error,
    controlled: Boolean(navigator.serviceWorker && navigator.serviceWorker.controller),
    status: document.getElementById('status').textContent,
    started_on: window.__demo.started_on, recommended: window.__demo.recommended, input: window.__demo.input,
    page: {
      title: document.title, heading: document.getElementById('title').textContent,
      hints: [...document.querySelectorAll('.hint')].map((e) => e.textContent.replace(/\s+/g, ' ')),
      preview: [document.getElementById('preview').width, document.getElementById('preview').height],
      captions: [...document.querySelectorAll('#samples button span')].map((e) => e.textContent),
      options: [...document.querySelectorAll('#runtime option')].map((o) => o.value),
    },
  }));
}

// Size and mean R, G, B of the "model input" canvas: what the model got from the last picture.
const preview = (page) => page.evaluate(() => {
  const canvas = document.getElementById('preview');
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const mean = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c += 1) mean[c] += data[i + c] / (data.length / 4);
  return { width: canvas.width, height: canvas.height, mean };
});

// Every fixed test image on every runtime that loaded, tapped in the UI.
async function pass(page, spec) {
  const state = await loaded(page, spec);
  state.results = {};
  for (const runtime of state.runtimes.filter((id) => !spec.runtimes || spec.runtimes.includes(id))) {
    let before = await seq(page);
    await page.selectOption('#runtime', runtime);
    await waitForResult(page, before, spec.timeout_ms);  // the switch re-runs the last input
    state.results[runtime] = [];
    for (const index of spec.fixed) {
      before = await seq(page);
      await page.tap(`[data-sample="${index}"]`);
      const last = await waitForResult(page, before, spec.timeout_ms);
      state.results[runtime].push({ index, top: last.top, runtime: last.runtime, latency_ms: last.latency_ms,
        median_ms: last.median_ms, shown: last.shown });
    }
  }
  return state;
}

async function draw(page, spec) {
  await page.locator('#pad').scrollIntoViewIfNeeded();
  const box = await page.locator('#pad').boundingBox();
  const at = (x, y) => [box.x + box.width * x, box.y + box.height * y];
  const before = await seq(page);
  await page.mouse.move(...at(0.3, 0.2));
  await page.mouse.down();
  for (const [x, y] of [[0.3, 0.8], [0.7, 0.8], [0.7, 0.2]]) await page.mouse.move(...at(x, y), { steps: 8 });
  await page.mouse.up();
  return waitForResult(page, before, spec.timeout_ms);
}

// One visit with a browser profile kept in spec.profile (service worker and caches survive between
// visits): load, wait until the worker for spec.expect_cache has settled, reload, report the caches.
async function visit(spec) {
  const context = await chromium.launchPersistentContext(spec.profile, {
    executablePath: spec.chromium, headless: true, args: FLAGS, timeout: 60000, ...PHONE });
  const page = context.pages()[0] || await context.newPage();
  await page.goto(`${spec.base_url}/`, { waitUntil: 'load', timeout: spec.timeout_ms });
  await loaded(page, spec);
  const keys = () => page.evaluate(() => caches.keys());
  // Settled: the new worker installed (its model cache exists), activated (older model caches
  // deleted) and controls this page. A worker that never gets there times out and the caller's
  // assertions on the caches fail.
  const settled = async () => {
    const names = await keys();
    const models = names.filter((name) => name.startsWith('edgekit-demo-model-'));
    if (models.length !== 1 || models[0] !== spec.expect_cache) return false;
    return page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      return !!reg && !reg.installing && !reg.waiting && !!reg.active && reg.active.state === 'activated'
        && navigator.serviceWorker.controller === reg.active;
    });
  };
  for (const start = Date.now(); !(await settled()) && Date.now() - start < spec.timeout_ms;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));  // the page's controllerchange handler runs
  const status = await page.evaluate(() => document.getElementById('status').textContent);
  await page.reload({ waitUntil: 'load', timeout: spec.timeout_ms });
  const state = await loaded(page, spec);
  const result = { ...state, status_before_reload: status, caches: (await keys()).sort(),
    first_sample: await page.getAttribute('[data-sample="0"]', 'title') };
  await context.close();
  return result;
}

async function main() {
  const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  if (spec.profile) return out(await visit(spec));
  let browser;
  try {
    browser = await chromium.launch({ executablePath: spec.chromium, headless: true, args: FLAGS, timeout: 60000 });
  } catch (err) {
    out({ error: `Chromium did not start: ${String((err && err.message) || err).split('\n')[0]}` });
    process.exit(1);
  }
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e.message || e)));
  const result = { browser: `Chromium ${browser.version()} headless` };
  await page.goto(`${spec.base_url}/`, { waitUntil: 'load', timeout: spec.timeout_ms });
  result.online = await pass(page, spec);
  result.uploads = [];
  for (const file of [].concat(spec.upload || [])) {
    const before = await seq(page);
    await page.setInputFiles('#upload', file);
    result.uploads.push({ ...(await waitForResult(page, before, spec.timeout_ms)), preview: await preview(page) });
  }
  [result.upload] = result.uploads;
  if (spec.draw !== false) result.drawing = { ...(await draw(page, spec)), preview: await preview(page) };
  if (spec.screenshot) {
    await page.selectOption('#runtime', result.online.started_on || result.online.runtimes[0]);
    const before = await seq(page);
    await page.tap(`[data-sample="${spec.screenshot_image ?? spec.fixed[0]}"]`);
    await waitForResult(page, before, spec.timeout_ms);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: spec.screenshot });
    result.screenshot = spec.screenshot;
  }
  if (spec.offline) {
    await context.setOffline(true);
    const responses = [];
    const failed = [];
    page.on('response', (r) => responses.push({ url: r.url(), sw: r.fromServiceWorker(), status: r.status() }));
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.reload({ waitUntil: 'load', timeout: spec.timeout_ms });
    result.offline = await pass(page, spec);
    result.offline.responses = responses;
    result.offline.failed = failed;
    result.offline.online_flag = await page.evaluate(() => navigator.onLine);
  }
  result.errors = errors;
  await browser.close();
  out(result);
}

main().catch((err) => { out({ error: String((err && err.stack) || err).split('\n').slice(0, 3).join(' | ') }); process.exit(1); });
