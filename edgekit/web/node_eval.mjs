// Run a TF.js model (graph or layers format) in Node with @tensorflow/tfjs on given backends.
//
//   node edgekit/web/node_eval.mjs SPEC.json
//
// SPEC: {"model": "/abs/model.json", "input": "/abs/x.f32", "shape": [N, ...], "batch": 256,
//        "backends": [{"name": "wasm", "samples": N}, {"name": "cpu", "samples": 500}],
//        "out_dir": "/abs/dir"}
// Writes <out_dir>/<backend>.f32 (float32 outputs, row-major) and prints one JSON line on stdout:
// {"tfjs": version, "backends": {"wasm": {"samples", "seconds", "outputs", "output_shape"}}}.
// Errors: one JSON line {"error": "..."} on stdout and exit code 1.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

function fail(message) {
  process.stdout.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

function loader(modelJsonPath) {
  const dir = path.dirname(modelJsonPath);
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8'));
  return {
    load: async () => tf.io.getModelArtifactsForJSON(json, async (manifest) => {
      const specs = [];
      const buffers = [];
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const file of group.paths) buffers.push(readFileSync(path.join(dir, file)));
      }
      const all = Buffer.concat(buffers);
      return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
    }),
    format: json.format,
  };
}

async function loadModel(modelJsonPath) {
  const handler = loader(modelJsonPath);
  if (handler.format === 'layers-model') return tf.loadLayersModel(handler);
  return tf.loadGraphModel(handler);
}

async function run(spec) {
  const input = readFileSync(spec.input);
  const all = new Float32Array(input.buffer, input.byteOffset, input.byteLength / 4);
  const [n, ...inner] = spec.shape;
  const per = inner.reduce((a, b) => a * b, 1);
  if (all.length !== n * per) fail(`input holds ${all.length} floats, expected ${n} x ${per}`);
  setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
  const result = { tfjs: tf.version.tfjs, backends: {} };
  for (const { name, samples } of spec.backends) {
    if (!(await tf.setBackend(name))) fail(`tfjs backend ${name} could not be initialised in Node`);
    await tf.ready();
    const model = await loadModel(spec.model);
    const count = Math.min(samples, n);
    const start = performance.now();
    const chunks = [];
    let outShape = null;
    for (let i = 0; i < count; i += spec.batch) {
      const rows = Math.min(spec.batch, count - i);
      const x = tf.tensor(all.subarray(i * per, (i + rows) * per), [rows, ...inner], 'float32');
      const y = model.predict(x);
      const out = Array.isArray(y) ? y[0] : y;
      outShape = out.shape.slice(1);
      chunks.push(await out.data());
      tf.dispose([x, y]);
    }
    const seconds = (performance.now() - start) / 1000;
    const size = chunks.reduce((a, c) => a + c.length, 0);
    const flat = new Float32Array(size);
    let offset = 0;
    for (const c of chunks) { flat.set(c, offset); offset += c.length; }
    const outPath = path.join(spec.out_dir, `${name}.f32`);
    writeFileSync(outPath, Buffer.from(flat.buffer));
    result.backends[name] = { samples: count, seconds, outputs: outPath, output_shape: outShape };
    model.dispose();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

const specPath = process.argv[2];
if (!specPath) fail('usage: node node_eval.mjs SPEC.json');
run(JSON.parse(readFileSync(specPath, 'utf8'))).catch((err) => fail(String(err && err.stack || err).split('\n')[0]));
