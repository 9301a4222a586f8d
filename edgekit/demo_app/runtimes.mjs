// The runtimes the demo can run the model on. Each `open` loads its runtime from /vendor/ (the
// pinned npm packages `edgekit serve` maps there), loads the model and returns
// {run(Float32Array) -> Float32Array, note}; one that cannot load here throws with the reason.
// The model's input is fed by its own name and the class scores read from the output the labels
// belong to (samples.json: `inputs`, `label_output`), as the build named them.
const VENDOR = '/vendor';

export const RUNTIMES = [
  { id: 'tfjs-wasm', label: 'TF.js · wasm', artifact: 'tfjs', open: (build, io) => openTfjs('wasm', build.tfjs, io) },
  { id: 'tfjs-webgl', label: 'TF.js · WebGL', artifact: 'tfjs', open: (build, io) => openTfjs('webgl', build.tfjs, io) },
  { id: 'litertjs-wasm', label: 'LiteRT.js · wasm', artifact: 'tflite', open: (build, io) => openLitert(build.tflite, io) },
];

// What the runtimes need from samples.json: the input's name and shape, the labels output's name.
export function modelIo(samples) {
  const input = samples.inputs[0];
  return { input: input.name, shape: input.shape, output: samples.label_output, outputs: samples.outputs.map((o) => o.name) };
}

// The class scores among a model's outputs: a tensor, a list (in output order) or a map by name.
function scores(result, io, names) {
  if (Array.isArray(result)) return result[Math.max(0, names.indexOf(io.output))];
  if (result && typeof result === 'object' && !('dataSync' in result) && !('toTypedArray' in result)) return result[io.output];
  return result;
}

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

async function openTfjs(backend, url, io) {
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
  const layers = manifest.format === 'layers-model';
  const node = layers ? null : (manifest.signature?.outputs?.[io.output]?.name ?? null);  // the scores' graph node
  const run = async (input) => {
    if (tf.getBackend() !== backend) await tf.setBackend(backend);  // one TF.js, several backends
    const x = tf.tensor(input, [1, ...io.shape], 'float32');
    const y = layers ? model.predict(x) : (node ? model.execute({ [io.input]: x }, node) : model.predict({ [io.input]: x }));
    const out = await scores(y, io, io.outputs).data();
    tf.dispose([x, ...(y instanceof tf.Tensor ? [y] : Object.values(y))]);
    return Float32Array.from(out);
  };
  return { run, note };
}

let litertLoaded;
async function openLitert(url, io) {
  litertLoaded ??= (async () => {
    const litert = await import(`${VENDOR}/@litertjs/core/dist/index.js`);
    await litert.loadLiteRt(`${VENDOR}/@litertjs/core/wasm/`);
    return litert;
  })();
  const litert = await litertLoaded;
  const model = await litert.loadAndCompile(url, { accelerator: 'wasm' });
  const run = async (input) => {
    const tensor = new litert.Tensor(input, [1, ...io.shape]);
    const outputs = await model.run({ [io.input]: tensor });
    tensor.delete();
    const out = scores(outputs, io, io.outputs).toTypedArray().slice();
    for (const t of Object.values(outputs)) if (!t.deleted) t.delete();
    return Float32Array.from(out);
  };
  return { run, note: undefined };
}
