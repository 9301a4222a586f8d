// Run a TF.js model (graph or layers format) in Node with @tensorflow/tfjs on given backends.
//
//   node edgekit/web/node_eval.mjs SPEC.json
//
// SPEC: {"model": "/abs/model.json", "count": N, "batch": 64, "pad": false (true: every batch must be full),
//        "inputs": [{"name": "input_layer", "file": "/abs/x0.bin", "shape": [N, ...], "dtype": "float32"|"int32"}],
//        "outputs": ["predictions", ...],
//        "backends": [{"name": "wasm", "samples": N}, {"name": "cpu", "samples": 500}],
//        "out_dir": "/abs/dir"}
// Feeds the inputs by name, reads the outputs by name (graph models: the graph nodes the model.json
// signature names; layers models: in order), writes <out_dir>/<backend>.<k>.f32 per output and prints
// one JSON line on stdout:
//   {"tfjs": version, "backends": {"wasm": {"samples", "seconds", "outputs": [{"file", "shape"}]}
//                                  | {"error": "..."}}}
// A backend that cannot run the model (a missing kernel, say) gets an error entry; the others run.
// Progress goes to stderr as lines `progress <backend> <done> <total>`.
// Errors that stop everything: one JSON line {"error": "..."} on stdout and exit code 1.
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
  if (handler.format === 'layers-model') return { model: await tf.loadLayersModel(handler), layers: true };
  return { model: await tf.loadGraphModel(handler), layers: false };
}

function readInput(spec, count) {
  const bytes = readFileSync(spec.file);
  const Typed = spec.dtype === 'int32' ? Int32Array : Float32Array;
  const values = new Typed(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const per = spec.shape.slice(1).reduce((a, b) => a * b, 1);
  if (values.length !== spec.shape[0] * per) fail(`input ${spec.name} holds ${values.length} values, expected ${spec.shape[0]} x ${per}`);
  if (spec.shape[0] < count) fail(`input ${spec.name} has ${spec.shape[0]} rows, fewer than ${count}`);
  return { ...spec, values, per };
}

// The graph nodes of the named outputs, from the model.json signature.
function outputNodes(model, names) {
  const outputs = (model.modelSignature && model.modelSignature.outputs) || {};
  return names.map((n) => {
    if (!outputs[n]) throw new Error(`the model has no output named ${n} (it has ${Object.keys(outputs).join(', ')})`);
    return outputs[n].name;
  });
}

// The model's outputs on `feed`, in the order of `names` (graph models run the named nodes).
async function infer(model, layers, feed, tensors, names) {
  if (layers) {
    const result = model.predict(tensors.length === 1 ? tensors[0] : tensors);
    return result instanceof tf.Tensor ? [result] : result;
  }
  const nodes = outputNodes(model, names);
  let result;
  try {
    result = model.execute(feed, nodes);
  } catch (err) {
    if (!/executeAsync/.test(String(err && err.message))) throw err;
    result = await model.executeAsync(feed, nodes);  // graphs with control flow
  }
  return result instanceof tf.Tensor ? [result] : result;
}

async function runBackend(entry, model, layers, inputs, spec) {
  const count = Math.min(entry.samples, spec.count);
  const chunks = spec.outputs.map(() => []);
  const shapes = spec.outputs.map(() => null);
  const start = performance.now();
  for (let i = 0; i < count; i += spec.batch) {
    const rows = Math.min(spec.batch, count - i);
    const size = spec.pad ? spec.batch : rows;  // a fixed-batch signature: pad with the last row, drop it after
    const feed = {};
    const tensors = inputs.map((input) => {
      let values = input.values.subarray(i * input.per, (i + rows) * input.per);
      if (size > rows) {
        const padded = new values.constructor(size * input.per);
        padded.set(values);
        for (let r = rows; r < size; r += 1) padded.set(values.subarray((rows - 1) * input.per), r * input.per);
        values = padded;
      }
      const t = tf.tensor(values, [size, ...input.shape.slice(1)], input.dtype === 'int32' ? 'int32' : 'float32');
      feed[input.name] = t;
      return t;
    });
    const outs = await infer(model, layers, feed, tensors, spec.outputs);
    for (const [k, out] of outs.entries()) {
      shapes[k] = out.shape.slice(1);
      const data = await out.data();
      chunks[k].push(size > rows ? data.subarray(0, rows * (data.length / size)) : data);
    }
    tf.dispose([...tensors, ...outs]);
    process.stderr.write(`progress ${entry.name} ${i + rows} ${count}\n`);
  }
  const seconds = (performance.now() - start) / 1000;
  const files = chunks.map((parts, k) => {
    const size = parts.reduce((a, c) => a + c.length, 0);
    const flat = new Float32Array(size);
    let offset = 0;
    for (const c of parts) { flat.set(c, offset); offset += c.length; }
    const file = path.join(spec.out_dir, `${entry.name}.${k}.f32`);
    writeFileSync(file, Buffer.from(flat.buffer, flat.byteOffset, flat.byteLength));
    return { file, shape: shapes[k] };
  });
  return { samples: count, seconds, outputs: files };
}

async function run(spec) {
  const inputs = spec.inputs.map((input) => readInput(input, spec.count));
  setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep);
  const result = { tfjs: tf.version.tfjs, backends: {} };
  for (const entry of spec.backends) {
    let loaded = null;
    try {
      if (!(await tf.setBackend(entry.name))) throw new Error(`tfjs backend ${entry.name} could not be initialised in Node`);
      await tf.ready();
      loaded = await loadModel(spec.model);
      result.backends[entry.name] = await runBackend(entry, loaded.model, loaded.layers, inputs, spec);
    } catch (err) {
      result.backends[entry.name] = { error: String((err && err.message) || err).split('\n')[0].slice(0, 400) };
    } finally {
      if (loaded) loaded.model.dispose();
    }
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

const specPath = process.argv[2];
if (!specPath) fail('usage: node node_eval.mjs SPEC.json');
run(JSON.parse(readFileSync(specPath, 'utf8'))).catch((err) => fail(String(err && err.stack || err).split('\n')[0]));
