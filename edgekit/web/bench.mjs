// Runs one runtime/backend on one model inside the page and leaves the result in
// window.__edgekit (read by browser_bench.mjs). Query parameters:
//   runtime=tfjs|litertjs  backend=wasm|webgl|cpu|webgpu  model=URL  format=graph|layers  samples=URL
//   shape=28,28,1  warmup=N  runs=N  threads=N
// Time to first inference is measured from navigation start: HTML, runtime scripts, wasm,
// model download, compilation and the first run on a zero input.
const q = new URLSearchParams(location.search);
const runtime = q.get('runtime');
const backend = q.get('backend');
const modelUrl = q.get('model');
const layers = q.get('format') === 'layers';
const samplesUrl = q.get('samples');
const shape = [1, ...q.get('shape').split(',').map(Number)];
const warmup = Number(q.get('warmup') || 10);
const runs = Number(q.get('runs') || 100);
const threads = Number(q.get('threads') || 1);
const NM = '/node_modules';

function finish(result) {
  window.__edgekit = { runtime, backend, ...result };
  document.getElementById('status').textContent = JSON.stringify(window.__edgekit, null, 1);
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

// Why a GPU backend cannot run here, or null when it can.
async function gpuProblem() {
  if (backend === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
    if (!gl) return 'no WebGL context in this Chromium (headless without a GPU)';
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    if (/swiftshader|llvmpipe|software/i.test(renderer)) return `WebGL is software-emulated here (${renderer}); not a GPU measurement`;
    return null;
  }
  if (backend === 'webgpu') {
    if (!navigator.gpu) return 'navigator.gpu is missing (WebGPU is not enabled in this Chromium)';
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return 'no WebGPU adapter (headless Chromium without a GPU)';
    const info = adapter.info || {};
    if (info.isFallbackAdapter || /swiftshader/i.test(`${info.vendor} ${info.architecture} ${info.description}`)) {
      return 'WebGPU adapter is a software fallback (SwiftShader); not a GPU measurement';
    }
    return null;
  }
  return null;
}

function transferred() {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  let model = 0;
  let runtimeBytes = 0;
  for (const e of entries) {
    const bytes = e.transferSize || e.encodedBodySize || 0;
    if (new URL(e.name, location.href).pathname.startsWith('/model/')) model += bytes; else runtimeBytes += bytes;
  }
  return { bytes_transferred: model + runtimeBytes, model_bytes_transferred: model, runtime_bytes_transferred: runtimeBytes };
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b);
  const pct = (p) => {
    const k = (sorted.length - 1) * p;
    const lo = Math.floor(k);
    const hi = Math.ceil(k);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo);
  };
  return {
    p50_ms: pct(0.5), p90_ms: pct(0.9), min_ms: sorted[0], max_ms: sorted[sorted.length - 1],
    mean_ms: times.reduce((a, b) => a + b, 0) / times.length,
  };
}

async function tfjsRunner() {
  await loadScript(`${NM}/@tensorflow/tfjs/dist/tf.min.js`);
  const tf = window.tf;
  if (backend === 'wasm') {
    await loadScript(`${NM}/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js`);
    tf.wasm.setWasmPaths(`${NM}/@tensorflow/tfjs-backend-wasm/dist/`);
    tf.wasm.setThreadsCount(threads);
  } else if (backend === 'webgpu') {
    await loadScript(`${NM}/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js`);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed`);
  await tf.ready();
  const loadStart = performance.now();
  // The format comes from the report: fetching model.json to find out would download it twice.
  const model = layers ? await tf.loadLayersModel(modelUrl) : await tf.loadGraphModel(modelUrl);
  const loadMs = performance.now() - loadStart;
  const run = async (data) => {
    const x = tf.tensor(data, shape, 'float32');
    const y = model.predict(x);
    const out = await y.data();
    tf.dispose([x, y]);
    return out;
  };
  const usedThreads = backend === 'wasm' ? tf.wasm.getThreadsCount() : undefined;
  return { run, loadMs, threads: usedThreads, version: tf.version.tfjs };
}

async function litertRunner() {
  const litert = await import(`${NM}/@litertjs/core/dist/index.js`);
  await litert.loadLiteRt(`${NM}/@litertjs/core/wasm/`, { threads: threads > 1 });
  const loadStart = performance.now();
  const options = backend === 'wasm' ? { accelerator: 'wasm', cpuOptions: { numThreads: threads } } : { accelerator: 'webgpu' };
  const model = await litert.loadAndCompile(modelUrl, options);
  const loadMs = performance.now() - loadStart;
  const run = async (data) => {
    const input = new litert.Tensor(data, shape);
    const outputs = await model.run(input);
    input.delete();
    const first = outputs[0].accelerator === 'wasm' ? outputs[0] : await outputs[0].moveTo('wasm');
    const out = first.toTypedArray().slice();
    first.delete();
    for (const t of outputs) if (!t.deleted) t.delete();
    return out;
  };
  const note = backend === 'webgpu' && !model.isFullyAccelerated ? 'not fully accelerated: some ops ran on wasm' : undefined;
  return { run, loadMs, threads: backend === 'wasm' ? threads : undefined, note, version: '@litertjs/core' };
}

// The app's own preprocessing: raw pixels -> (pixel * scale - mean) / std.
function inputs(data) {
  const { scale, mean, std } = data.preprocess;
  return data.samples.map((s) => Float32Array.from(s.pixels, (p) => (p * scale - mean) / std));
}

async function check(run, data) {
  const xs = inputs(data);
  let maxErr = 0;
  let agree = 0;
  const argmax = (a) => a.reduce((best, v, i, arr) => (v > arr[best] ? i : best), 0);
  for (const [index, s] of data.samples.entries()) {
    const out = Array.from(await run(xs[index]));
    s.reference.forEach((r, i) => { maxErr = Math.max(maxErr, Math.abs(r - out[i])); });
    if (argmax(out) === argmax(s.reference)) agree += 1;
  }
  return { samples: data.samples.length, max_abs_error: maxErr, top1_agreement: agree / data.samples.length };
}

async function main() {
  const problem = await gpuProblem();
  if (problem) return finish({ available: false, reason: problem });
  const runner = runtime === 'tfjs' ? await tfjsRunner() : await litertRunner();
  const zeros = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const firstStart = performance.now();
  await runner.run(zeros);
  const firstInference = performance.now();
  const bytes = transferred();
  for (let i = 0; i < warmup; i += 1) await runner.run(zeros);
  const samples = await (await fetch(samplesUrl)).json();
  const parity = await check(runner.run, samples);
  const input = inputs(samples)[0];
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    const t = performance.now();
    await runner.run(input);
    times.push(performance.now() - t);
  }
  finish({
    available: true, ...stats(times), first_inference_ms: firstInference, first_run_ms: firstInference - firstStart,
    load_ms: runner.loadMs, ...bytes, warmup, runs, threads: runner.threads, check: parity,
    runtime_version: runner.version, note: runner.note, cross_origin_isolated: self.crossOriginIsolated,
  });
}

main().catch((err) => finish({ available: false, error: true, reason: String((err && err.message) || err).split('\n')[0] }));
