// edgekit demo app: classify images in the browser with the model an `edgekit build --target web`
// produced, on TF.js (wasm, WebGL) or LiteRT.js (wasm). Title, texts, input size and channels come
// from the build's samples.json (present.mjs); it starts on the runtime the build recommends.
// window.__demo exposes the app's state (read by the browser tests in demo_app/test/).
import { RUNTIMES, modelIo } from './runtimes.mjs';
import { borderBrightness, canvasPixels, fit, inkBox, normalise, paint } from './image.mjs';
import { applyTexts, invertUpload, presentation, recommendedId } from './present.mjs';

const REPEATS = 20;  // runs behind the median shown beside the last inference's latency
const $ = (id) => document.getElementById(id);
const state = { ready: false, probed: false, runtimes: [], notes: {}, unavailable: [], active: null, last: null, seq: 0,
  offline: false, recommended: null, started_on: null, input: null };
window.__demo = state;
const opened = new Map();  // runtime id -> {run, note}
let build;
let samples;
let look;  // presentation(samples): title, input size and channels, background
let queue = Promise.resolve();
let lastInput = null;  // {pixels, source} of the last classification: re-run on a runtime switch

function status(text, kind = '') {
  $('status').textContent = text;
  $('status').className = `status ${kind}`;
}

async function controlledByServiceWorker() {
  if (!('serviceWorker' in navigator)) return 'no service worker here (needs https or localhost): online only';
  try {
    await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {  // first visit: wait for clients.claim()
      await Promise.race([new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true })),
        new Promise((r) => setTimeout(r, 10000))]);
    }
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      status('A new build was installed: reload to use it.', 'warn');
    });
    return navigator.serviceWorker.controller ? 'works offline: app, runtimes and model are cached' : 'offline cache not ready yet';
  } catch (err) {
    return `no offline cache (${err.message})`;
  }
}

function softmaxIfNeeded(values) {
  const sum = values.reduce((a, b) => a + b, 0);
  if (values.every((v) => v >= 0) && Math.abs(sum - 1) < 1e-3) return values;
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1));

// Classify raw 0-255 pixels (model-sized, HWC); `source` says where they came from.
function classify(pixels, source) {
  lastInput = { pixels, source };
  if (!source.startsWith('test image')) for (const b of $('samples').children) b.classList.remove('active');
  queue = queue.then(() => runOnce(pixels, source)).catch((err) => status(`Inference failed: ${err.message}`, 'error'));
  return queue;
}

async function runOnce(pixels, source) {
  const runtime = opened.get(state.active);
  paint($('preview'), pixels, samples.input_shape);
  const input = normalise(pixels, samples.preprocess);
  const t0 = performance.now();
  const output = softmaxIfNeeded(Array.from(await runtime.run(input)));
  const latency = performance.now() - t0;
  const times = [];
  for (let i = 0; i < REPEATS; i += 1) {
    const t = performance.now();
    await runtime.run(input);
    times.push(performance.now() - t);
  }
  const top = output.map((p, index) => ({ index, name: samples.class_names[index] ?? String(index), p }))
    .sort((a, b) => b.p - a.p).slice(0, 3);
  state.seq += 1;
  state.last = { seq: state.seq, source, runtime: state.active, top, latency_ms: latency, median_ms: median(times), repeats: REPEATS };
  render(state.last);
}

function render(last) {
  const label = RUNTIMES.find((r) => r.id === last.runtime).label;
  $('source').textContent = last.source;
  $('top').replaceChildren(...last.top.map((t, i) => {
    const row = document.createElement('li');
    row.className = i === 0 ? 'best' : '';
    row.innerHTML = '<span class="name"></span><span class="bar"><span></span></span><span class="p"></span>';
    row.querySelector('.name').textContent = t.name;
    row.querySelector('.bar span').style.width = `${(100 * t.p).toFixed(1)}%`;
    row.querySelector('.p').textContent = `${(100 * t.p).toFixed(1)} %`;
    return row;
  }));
  $('latency').textContent = `${label}: ${ms(last.latency_ms)} ms · median of ${last.repeats} runs ${ms(last.median_ms)} ms`;
  $('result').dataset.seq = String(last.seq);
}

function sampleButtons() {
  const [h, w, c] = samples.input_shape;
  $('samples').replaceChildren(...samples.samples.map((s, i) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.sample = String(i);
    button.title = `test image ${i + 1}: ${s.label_name}`;
    const canvas = document.createElement('canvas');
    paint(canvas, s.pixels, [h, w, c]);
    const caption = document.createElement('span');
    caption.textContent = s.label_name;
    button.append(canvas, caption);
    button.addEventListener('click', () => {
      for (const other of $('samples').children) other.classList.toggle('active', other === button);
      classify(Float32Array.from(s.pixels), `test image ${i + 1} (true class: ${s.label_name})`);
    });
    return button;
  }));
}

function drawingPad() {
  const pad = $('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true });
  const clear = () => { ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let last = null;
  const point = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener('pointerdown', (e) => { pad.setPointerCapture(e.pointerId); last = point(e); stroke(last, last); });
  pad.addEventListener('pointermove', (e) => { if (last) { const p = point(e); stroke(last, p); last = p; } });
  const end = () => { if (last) { last = null; classifyPad(); } };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  function stroke(a, b) {
    ctx.strokeStyle = '#000'; ctx.lineWidth = pad.width / 14; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
    ctx.beginPath(); ctx.moveTo(...a); ctx.lineTo(...b); ctx.stroke();
  }
  $('clear').addEventListener('click', clear);
}

function classifyPad() {
  const pad = $('pad');
  const box = inkBox(pad);
  if (!box) return;
  const small = fit(pad, pad.width, pad.height, look.width, look.height, { background: '#fff', box });
  const invert = look.invertDrawing;
  classify(canvasPixels(small, look.channels, { invert }), `your drawing${invert ? ' (inverted: white on black)' : ''}`);
}

async function classifyUpload(file) {
  const bitmap = await createImageBitmap(file);
  const full = fit(bitmap, bitmap.width, bitmap.height, bitmap.width, bitmap.height);
  const light = borderBrightness(full) > 127;
  const small = fit(bitmap, bitmap.width, bitmap.height, look.width, look.height, { background: light ? '#fff' : '#000' });
  const invert = invertUpload($('invert').value, light, look.background);
  classify(canvasPixels(small, look.channels, { invert }),
    `${file.name} (${invert ? `inverted: ${light ? 'light' : 'dark'} background` : 'not inverted'})`);
}

// The runtimes in the order they are tried: the build's recommended one first, then the app's order.
function probeOrder() {
  const wanted = recommendedId(build.recommendation);
  const first = RUNTIMES.find((r) => r.id === wanted && build[r.artifact]);
  return first ? [first, ...RUNTIMES.filter((r) => r !== first)] : RUNTIMES;
}

function objectiveText(recommendation) {
  const objective = recommendation.objective || 'p50';
  return { p50: 'fastest per inference', first_inference: 'fastest first result on the build\'s network',
           bytes: 'fewest bytes to download' }[objective] || objective;
}

function startText(runtime) {
  const wanted = recommendedId(build.recommendation);
  if (!wanted) return `Model loaded on ${runtime.label}.`;
  if (wanted === runtime.id) return `Model loaded on ${runtime.label}, the build's recommendation (${objectiveText(build.recommendation)}).`;
  const missing = state.unavailable.find((u) => u.id === wanted);
  const why = missing ? missing.reason : RUNTIMES.some((r) => r.id === wanted) ? 'not loaded here' : 'not offered in this app';
  return `Model loaded on ${runtime.label} (the build recommends ${build.recommendation.runtime} ${build.recommendation.backend}: ${why}).`;
}

async function probeRuntimes() {
  const select = $('runtime');
  const rank = (id) => RUNTIMES.findIndex((r) => r.id === id);
  state.recommended = recommendedId(build.recommendation);
  for (const runtime of probeOrder()) {
    if (!build[runtime.artifact]) {
      state.unavailable.push({ id: runtime.id, reason: `the build has no ${runtime.artifact} model` });
      continue;
    }
    try {
      const handle = await runtime.open(build, modelIo(samples));
      await handle.run(normalise(samples.samples[0].pixels, samples.preprocess));
      opened.set(runtime.id, handle);
      state.runtimes = [...state.runtimes, runtime.id].sort((x, y) => rank(x) - rank(y));  // the menu's order
      if (handle.note) state.notes[runtime.id] = handle.note;
      const option = new Option(runtime.label + (handle.note ? ' (software)' : ''), runtime.id);
      option.title = handle.note || '';
      select.add(option, [...select.options].find((o) => rank(o.value) > rank(runtime.id)) || null);
      if (!state.active) {
        state.active = runtime.id;
        state.started_on = runtime.id;
        select.value = runtime.id;
        select.disabled = false;
        document.body.classList.add('ready');
        state.ready = true;
        status(`${startText(runtime)} Pick a test image, draw, or upload a photo.`, 'ok');
        $('samples').querySelector('button').click();
      }
    } catch (err) {
      state.unavailable.push({ id: runtime.id, reason: String(err.message || err).split('\n')[0] });
    }
  }
  select.value = state.active;
  $('unavailable').textContent = state.unavailable.length
    ? `Not available here: ${state.unavailable.map((u) => `${RUNTIMES.find((r) => r.id === u.id).label} (${u.reason})`).join('; ')}`
    : '';
  state.probed = true;
  if (!state.active) status('No runtime could load the model in this browser.', 'error');
}

async function main() {
  status('Loading app, runtimes and model…');
  const offline = await controlledByServiceWorker();
  build = await (await fetch('/build.json')).json();
  samples = await (await fetch(build.samples)).json();
  const [input] = samples.inputs || [];
  if (samples.app?.title) $('title').textContent = samples.app.title;
  if (!input || samples.inputs.length !== 1 || !input.pixels || !samples.label_output) {
    throw new Error('this demo runs single-image classifiers; this build\'s model takes '
      + `${(samples.inputs || []).map((i) => `${i.name} ${i.shape.join('x')}`).join(', ') || 'no image input'}`
      + (samples.label_output ? '' : ' and has no class labels'));
  }
  look = presentation(samples);
  applyTexts(document, look, samples.samples.length);
  state.input = { height: look.height, width: look.width, channels: look.channels, background: look.background };
  $('offline').textContent = offline;
  $('build').textContent = [build.model_name && `model ${build.model_name}`, build.created && `built ${build.created.slice(0, 16).replace('T', ' ')}`,
    build.recommendation && `recommended at build time (${objectiveText(build.recommendation)}): ${build.recommendation.runtime} ${build.recommendation.backend}`]
    .filter(Boolean).join(' · ');
  sampleButtons();
  drawingPad();
  $('runtime').addEventListener('change', (e) => {
    state.active = e.target.value;
    if (lastInput) classify(lastInput.pixels, lastInput.source);
  });
  $('upload').addEventListener('change', (e) => { if (e.target.files[0]) classifyUpload(e.target.files[0]); });
  await probeRuntimes();
}

main().catch((err) => { status(`Could not start: ${err.message}`, 'error'); state.error = String(err.message || err); });
