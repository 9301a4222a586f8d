// Runs one runtime/backend on one model inside the page and leaves the result in
// window.__edgekit (read by browser_bench.mjs). Query parameters:
//   runtime=tfjs|litertjs  backend=wasm|webgl|cpu|webgpu  model=URL  format=graph|layers  samples=URL
//   inputs=[{"name","shape","dtype"}] (JSON, shapes without the batch)  outputs=["name", ...] (JSON)
//   warmup=N  runs=N  threads=N  max_seconds=S (stop the timed runs after S seconds, at least 3 runs)
// Inputs are fed by name and outputs read by name (TF.js graph models carry structured output
// names; LiteRT.js takes and returns records keyed by the .tflite signature's names).
// Time to first inference is measured from navigation start: HTML, runtime scripts, wasm,
// model download, compilation and the first run on a zero input.
const q = new URLSearchParams(location.search);
const runtime = q.get('runtime');
const backend = q.get('backend');
const modelUrl = q.get('model');
const layers = q.get('format') === 'layers';
const samplesUrl = q.get('samples');
const inputSpecs = JSON.parse(q.get('inputs'));
const outputNames = JSON.parse(q.get('outputs'));
const warmup = Number(q.get('warmup') || 10);
const runs = Number(q.get('runs') || 100);
const maxSeconds = Number(q.get('max_seconds') || 30);
const threads = Number(q.get('threads') || 1);
const NM = '/node_modules';

// Typed arrays per input dtype (the .tflite's own dtype for LiteRT.js; TF.js tensors are int32 or float32).
const TYPED = { uint8: Uint8Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: Int32Array, bool: Uint8Array };
const typedFor = (dtype) => TYPED[dtype] || Float32Array;
const tfjsDtype = (dtype) => (dtype in TYPED ? 'int32' : 'float32');

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
  const runtimeFiles = new Set();  // what the runtime fetched: the harness sizes them gzip/brotli-compressed
  for (const e of entries) {
    const bytes = e.transferSize || e.encodedBodySize || 0;
    const path = new URL(e.name, location.href).pathname;
    if (path.startsWith('/model/')) model += bytes; else { runtimeBytes += bytes; runtimeFiles.add(path); }
  }
  return { bytes_transferred: model + runtimeBytes, model_bytes_transferred: model, runtime_bytes_transferred: runtimeBytes,
           runtime_files: [...runtimeFiles].slice(0, 200) };
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
  // graph models run the nodes the model.json signature names for each output, in our order
  const signature = (!layers && model.modelSignature && model.modelSignature.outputs) || {};
  const nodes = layers ? null : outputNames.map((n) => {
    if (!signature[n]) throw new Error(`the model has no output named ${n} (it has ${Object.keys(signature).join(', ')})`);
    return signature[n].name;
  });
  // inputs become tensors once per feed (`prepare`), so the timed loop measures the model, not the copy in
  const prepare = (feed) => {
    const named = {};
    const xs = inputSpecs.map((s) => (named[s.name] = tf.tensor(feed[s.name], [1, ...s.shape], tfjsDtype(s.dtype))));
    return { named, xs, dispose: () => tf.dispose(xs) };
  };
  const infer = async ({ named, xs }) => {
    let y;
    if (layers) y = model.predict(xs.length === 1 ? xs[0] : xs);
    else {
      try { y = model.execute(named, nodes); } catch (err) {
        if (!/executeAsync/.test(String(err && err.message))) throw err;
        y = await model.executeAsync(named, nodes);
      }
    }
    const list = y instanceof tf.Tensor ? [y] : y;
    const out = {};
    for (const [i, name] of outputNames.entries()) out[name] = await list[i].data();
    tf.dispose(list.filter((t) => !xs.includes(t)));  // an output that is an input stays prepared
    return out;
  };
  const usedThreads = backend === 'wasm' ? tf.wasm.getThreadsCount() : undefined;
  return { prepare, infer, loadMs, threads: usedThreads, version: tf.version.tfjs };
}

async function litertRunner() {
  const litert = await import(`${NM}/@litertjs/core/dist/index.js`);
  await litert.loadLiteRt(`${NM}/@litertjs/core/wasm/`, { threads: threads > 1 });
  const loadStart = performance.now();
  const options = backend === 'wasm' ? { accelerator: 'wasm', cpuOptions: { numThreads: threads } } : { accelerator: 'webgpu' };
  const model = await litert.loadAndCompile(modelUrl, options);
  const loadMs = performance.now() - loadStart;
  const prepare = (feed) => {
    const named = {};
    for (const s of inputSpecs) named[s.name] = new litert.Tensor(feed[s.name], [1, ...s.shape]);
    return { named, dispose: () => { for (const t of Object.values(named)) if (!t.deleted) t.delete(); } };
  };
  const infer = async ({ named }) => {
    const outputs = await model.run(named);
    const out = {};
    for (const name of outputNames) {
      const t = outputs[name];
      if (!t) throw new Error(`the .tflite has no output named ${name} (it has ${Object.keys(outputs).join(', ')})`);
      const local = t.accelerator === 'wasm' ? t : await t.moveTo('wasm');
      out[name] = local.toTypedArray().slice();
      if (local !== t && !local.deleted) local.delete();
    }
    for (const t of Object.values(outputs)) if (!t.deleted) t.delete();
    return out;
  };
  const note = backend === 'webgpu' && !model.isFullyAccelerated ? 'not fully accelerated: some ops ran on wasm' : undefined;
  return { prepare, infer, loadMs, threads: backend === 'wasm' ? threads : undefined, note, version: '@litertjs/core' };
}

// Model inputs of each exported sample, by input name: pixel inputs get the app's own
// preprocessing, (pixel * scale - mean) / std; other inputs are stored ready to feed.
function feeds(data) {
  const { scale, mean, std } = data.preprocess;
  const norm = (values) => Float32Array.from(values, (p) => (p * scale - mean) / std);
  return data.samples.map((s) => {
    const feed = {};
    for (const spec of data.inputs) {
      const values = s.pixels && data.inputs.length === 1 ? s.pixels : s.inputs[spec.name];
      feed[spec.name] = spec.pixels ? norm(values) : typedFor(spec.dtype).from(values);
    }
    return feed;
  });
}

// The runtime's outputs on the exported samples (judged in Python against the Keras outputs).
async function check(run, data) {
  const outputs = [];
  for (const feed of feeds(data)) {
    const out = await run(feed);
    const row = {};
    for (const name of outputNames) row[name] = Array.from(out[name], (v) => (Number.isFinite(v) ? v : null));
    outputs.push(row);
  }
  return { samples: data.samples.length, outputs };
}

function zeros() {
  const feed = {};
  for (const s of inputSpecs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    feed[s.name] = new (typedFor(s.dtype))(size);
  }
  return feed;
}

async function main() {
  const problem = await gpuProblem();
  if (problem) return finish({ available: false, reason: problem });
  const runner = runtime === 'tfjs' ? await tfjsRunner() : await litertRunner();
  // one inference on a feed: its input copied in, run, its outputs read back (first inference, warm-up, parity)
  runner.run = async (feed) => {
    const prepared = runner.prepare(feed);
    try { return await runner.infer(prepared); } finally { prepared.dispose(); }
  };
  const empty = zeros();
  const firstStart = performance.now();
  await runner.run(empty);
  const firstInference = performance.now();
  const bytes = transferred();
  const warmStart = performance.now();
  for (let i = 0; i < warmup && performance.now() - warmStart < maxSeconds * 500; i += 1) await runner.run(empty);
  const samples = await (await fetch(samplesUrl)).json();
  const parity = await check(runner.run, samples);
  // timed runs: the input tensor is made once (LiteRT.js WebGPU still copies it to the GPU in each run)
  const input = runner.prepare(feeds(samples)[0]);
  const times = [];
  const runsStart = performance.now();
  try {
    for (let i = 0; i < runs; i += 1) {
      const t = performance.now();
      await runner.infer(input);
      times.push(performance.now() - t);
      if (times.length >= 3 && performance.now() - runsStart > maxSeconds * 1000) break;
    }
  } finally { input.dispose(); }
  finish({
    available: true, ...stats(times), first_inference_ms: firstInference, first_run_ms: firstInference - firstStart,
    load_ms: runner.loadMs, ...bytes, warmup, runs: times.length, runs_requested: runs, threads: runner.threads, check: parity,
    runtime_version: runner.version, note: runner.note, cross_origin_isolated: self.crossOriginIsolated,
    hardware_concurrency: navigator.hardwareConcurrency, timed: 'inference and output read; input prepared once',
  });
}

main().catch((err) => finish({ available: false, error: true, reason: String((err && err.message) || err).split('\n')[0] }));
