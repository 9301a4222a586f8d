// Drive headless Chromium (the Debian package, never a downloaded browser) with playwright-core
// through the benchmark page, one fresh browser context (empty cache) per runtime/backend.
//
//   node edgekit/web/browser_bench.mjs SPEC.json
//
// SPEC: {"chromium": "/usr/bin/chromium", "base_url": "http://127.0.0.1:PORT", "gpu": false,
//        "timeout_ms": 120000, "cases": [{"runtime", "backend", "model", "format", "samples", "inputs",
//        "outputs", "warmup", "runs", "threads", "max_seconds"}]}
// Prints one JSON line: {"browser": "Chromium <version> headless", "results": [page result + case]}
// or {"error": "...", "environment": true} with exit code 1 when Chromium cannot start
// ({"error": "..."} alone for anything else).
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const CPU_FLAGS = ['--disable-gpu'];
const GPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist'];
const COMMON_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-extensions', '--disable-default-apps'];

function out(value) {
  process.stdout.write(JSON.stringify(value) + '\n');
}

async function runCase(browser, spec, c) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const console = [];
  page.on('console', (m) => { if (m.type() === 'error') console.push(m.text()); });
  page.on('pageerror', (e) => console.push(String(e.message || e)));
  const query = new URLSearchParams({
    runtime: c.runtime, backend: c.backend, model: c.model, format: c.format || 'graph', samples: c.samples,
    inputs: JSON.stringify(c.inputs), outputs: JSON.stringify(c.outputs),
    warmup: String(c.warmup), runs: String(c.runs), threads: String(c.threads), max_seconds: String(c.max_seconds),
  });
  // TF.js' wasm backend caps its thread pool at navigator.hardwareConcurrency / 2; where the machine
  // reports fewer than 2 × the requested threads, report more so the requested count runs (recorded)
  let override;
  try {
    if (c.runtime === 'tfjs' && c.backend === 'wasm' && Number(c.threads) > 1) {
      const real = await page.evaluate(() => navigator.hardwareConcurrency);
      if (real < 2 * Number(c.threads)) {
        try {
          const cdp = await context.newCDPSession(page);
          await cdp.send('Emulation.setHardwareConcurrencyOverride', { hardwareConcurrency: 2 * Number(c.threads) });
          override = { real, reported: 2 * Number(c.threads) };
        } catch (err) {  // an older Chromium: TF.js then runs fewer threads, and reports how many
          override = { real, failed: String((err && err.message) || err).split('\n')[0] };
        }
      }
    }
    await page.goto(`${spec.base_url}/bench/bench.html?${query}`, { waitUntil: 'load', timeout: spec.timeout_ms });
    await page.waitForFunction(() => window.__edgekit !== undefined, null, { timeout: spec.timeout_ms, polling: 100 });
    const result = await page.evaluate(() => window.__edgekit);
    if (result.error && console.length) result.console = console.slice(0, 3);
    return { ...c, ...result, ...(override ? { hardware_concurrency_override: override } : {}) };
  } catch (err) {
    const reason = String((err && err.message) || err).split('\n')[0];
    return { ...c, available: false, error: true, reason, console: console.slice(0, 3) };
  } finally {
    await context.close();
  }
}

async function main() {
  const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: spec.chromium,
      headless: true,
      args: [...COMMON_FLAGS, ...(spec.gpu ? GPU_FLAGS : CPU_FLAGS)],
      timeout: 60000,
    });
  } catch (err) {
    out({ error: `Chromium did not start: ${String((err && err.message) || err).split('\n')[0]}`, environment: true });
    process.exit(1);
  }
  try {
    const results = [];
    for (const c of spec.cases) results.push(await runCase(browser, spec, c));
    out({ browser: `Chromium ${browser.version()} headless${spec.gpu ? ' (GPU flags)' : ''}`, results });
  } finally {
    await browser.close();
  }
}

main().catch((err) => { out({ error: String((err && err.stack) || err).split('\n')[0] }); process.exit(1); });
