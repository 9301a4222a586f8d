// The runtimes the demo can run the model on. Each `open` loads its runtime from /vendor/ (the
// pinned npm packages `edgekit serve` maps there), loads the model and returns
// {run(Float32Array) -> Float32Array, note}; one that cannot load here throws with the reason.
const VENDOR = '/vendor';

export const RUNTIMES = [
  { id: 'tfjs-wasm', label: 'TF.js · wasm', artifact: 'tfjs', open: (build, shape) => openTfjs('wasm', build.tfjs, shape) },
  { id: 'tfjs-webgl', label: 'TF.js · WebGL', artifact: 'tfjs', open: (build, shape) => openTfjs('webgl', build.tfjs, shape) },
  { id: 'litertjs-wasm', label: 'LiteRT.js · wasm', artifact: 'tflite', open: (build, shape) => openLitert(build.tflite, shape) },
];

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(script);
  });
}

let tfjsLoaded;
function tfjs() {
  tfjsLoaded ??= (async () => {
    await loadScript(`${VENDOR}/@tensorflow/tfjs/dist/tf.min.js`);
    await loadScript(`${VENDOR}/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js`);
    window.tf.wasm.setWasmPaths(`${VENDOR}/@tensorflow/tfjs-backend-wasm/dist/`);
    return window.tf;
  })();
  return tfjsLoaded;
}

function webglRenderer() {
  const gl = document.createElement('canvas').getContext('webgl2') || document.createElement('canvas').getContext('webgl');
  if (!gl) return null;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
}

async function openTfjs(backend, url, shape) {
  let note;
  if (backend === 'webgl') {
    const renderer = webglRenderer();
    if (!renderer) throw new Error('no WebGL in this browser');
    if (/swiftshader|llvmpipe|software/i.test(renderer)) note = `software WebGL (${renderer}), not a GPU`;
  }
  const tf = await tfjs();
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} did not initialise`);
  await tf.ready();
  const manifest = await (await fetch(url)).json();
  const model = manifest.format === 'layers-model' ? await tf.loadLayersModel(url) : await tf.loadGraphModel(url);
  const run = async (input) => {
    if (tf.getBackend() !== backend) await tf.setBackend(backend);  // one TF.js, several backends
    const x = tf.tensor(input, [1, ...shape], 'float32');
    const y = model.predict(x);
    const out = await y.data();
    tf.dispose([x, y]);
    return Float32Array.from(out);
  };
  return { run, note };
}

let litertLoaded;
async function openLitert(url, shape) {
  litertLoaded ??= (async () => {
    const litert = await import(`${VENDOR}/@litertjs/core/dist/index.js`);
    await litert.loadLiteRt(`${VENDOR}/@litertjs/core/wasm/`);
    return litert;
  })();
  const litert = await litertLoaded;
  const model = await litert.loadAndCompile(url, { accelerator: 'wasm' });
  const run = async (input) => {
    const tensor = new litert.Tensor(input, [1, ...shape]);
    const outputs = await model.run(tensor);
    tensor.delete();
    const out = outputs[0].toTypedArray().slice();
    for (const t of outputs) if (!t.deleted) t.delete();
    return Float32Array.from(out);
  };
  return { run, note: undefined };
}
