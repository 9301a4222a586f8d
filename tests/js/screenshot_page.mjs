// Open a local HTML page (edgekit's report.html) in headless Chromium (the Debian package, via
// playwright-core), measure what a reader sees, and save a full-page screenshot.
//
//   EDGEKIT_NODE_MODULES=... node tests/js/screenshot_page.mjs SPEC.json   (edgekit.node.run_script sets it)
//
// SPEC: {"chromium", "page": absolute path of the HTML file, "png": where to save the screenshot, "width"}
// Prints one JSON line: {"points", "labels", "overlapping_labels", "baseline_points", "pareto", "budget_lines",
//   "details", "details_open", "ship_items", "title"} or {"error": "..."} when Chromium cannot start.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const { chromium } = createRequire(`${process.env.EDGEKIT_NODE_MODULES}/`)('playwright-core');
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

let browser;
try {
  browser = await chromium.launch({ executablePath: spec.chromium, args: ['--no-sandbox', '--disable-gpu'] });
} catch (err) {
  out({ error: `Chromium did not start: ${String(err.message).split('\n')[0]}`, environment: true });
  process.exit(1);
}
try {
  const page = await browser.newPage({ viewport: { width: spec.width || 1100, height: 800 } });
  await page.goto(pathToFileURL(spec.page).href);
  const facts = await page.evaluate(() => {
    const boxes = [...document.querySelectorAll('svg.scatter text.point-label')].map((t) => t.getBoundingClientRect());
    let overlapping = 0;
    for (let i = 0; i < boxes.length; i += 1) {
      for (let j = i + 1; j < boxes.length; j += 1) {
        const a = boxes[i]; const b = boxes[j];
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlapping += 1;
      }
    }
    return {
      title: document.title,
      points: document.querySelectorAll('svg.scatter circle.point').length,
      labels: boxes.length,
      overlapping_labels: overlapping,
      baseline_points: document.querySelectorAll('svg.scatter circle.baseline').length,
      pareto: document.querySelectorAll('svg.scatter polyline.pareto').length,
      budget_lines: document.querySelectorAll('svg.scatter line.budget').length,
      details: document.querySelectorAll('details').length,
      details_open: document.querySelectorAll('details[open]').length,
      ship_items: document.querySelectorAll('section.ship li').length,
    };
  });
  await page.screenshot({ path: spec.png, fullPage: false });
  out(facts);
} finally {
  await browser.close();
}
