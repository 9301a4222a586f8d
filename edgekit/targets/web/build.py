"""Web target: a TF.js model and a `.tflite` for LiteRT.js, checked in Node, timed in Chromium.

Layout of `<out>/web/` (what a web app downloads; documented in README):
  tfjs/model.json + tfjs/group1-shard*.bin   TF.js graph (or layers) model: inputs and outputs by the model's names
  model.tflite                               for @litertjs/core (batch 1, float inputs and outputs, named signature)
  samples.json                               a few eval samples (raw pixels for an image input, else the
                                             values), labels, class names, preprocessing, the model's
                                             inputs/outputs and the Keras outputs for them
A QAT-trained model: the `.tflite` is converted from the QAT model itself (int8 inside, float
input and output, the learned ranges kept) and compared with it; TF.js cannot carry
fake-quantization, so the TF.js model comes from the float twin (weights on the int8 grid) and is
compared with that twin.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit import budgets, measure
from edgekit.config import DatasetSection, WebTarget
from edgekit.context import BuildContext
from edgekit.errors import ConversionError, UnsupportedModelError
from edgekit.labels import output_kind
from edgekit.validate import FAILED, Parity, combine, tolerance_dict

SAMPLES_SCHEMA = "edgekit.samples/v2"
NODE_BATCH_ELEMENTS = 1 << 20  # about 4 MB of float inputs per TF.js batch in Node


def preflight(config: Any) -> None:
    """Node.js and the pinned npm packages, and Chromium when the browser is profiled: before any work."""
    from edgekit import node

    node.node_binary()
    node.node_modules()
    if config.targets.web.profile_browser:
        node.chromium_binary()


def build(ctx: BuildContext, cfg: WebTarget) -> list[dict[str, Any]]:
    folder = ctx.stage / "web"
    folder.mkdir(exist_ok=True)
    model, reference = ctx.float_source()
    # each artifact's exported-sample outputs come from the Keras model it was converted from
    own = {"web/model.tflite": ctx.reference} if ctx.quantization and cfg.litertjs else {}
    export_samples(ctx, cfg, ctx.dataset, folder / "samples.json", reference=reference, by_artifact=own)
    try:
        artifacts = [_tfjs_artifact(ctx, cfg, model, reference)]
    except (UnsupportedModelError, ConversionError) as err:  # the .tflite for LiteRT.js may still take the model
        from rich.markup import escape

        ctx.progress.say(f"[red]✗[/] web tfjs: {escape(err.one_line())}")
        artifacts = [failed_artifact("web", "tfjs", "web/tfjs/model.json", cfg.quantize, err)]
    if cfg.litertjs:
        artifacts.append(_tflite_artifact(ctx, cfg, ctx.model, ctx.reference))
    if ctx.quantization:
        artifacts[0]["notes"] = [f"{ctx.quantization} model: TF.js takes its float twin (weights on the int8 grid, "
                                 "float activations); parity compares with that twin"]
        if cfg.litertjs:
            artifacts[1]["notes"] = [f"{ctx.quantization} model: int8 inside with the ranges it learned, float input "
                                     "and output; parity compares with the QAT model"]
    if cfg.profile_browser:
        from edgekit.targets.web.harness import profile_folder

        built = [a for a in artifacts if a.get("status") != "failed"]
        for result in profile_folder(ctx.stage, built, cfg, progress=ctx.progress):
            artifact = next(a for a in artifacts if a["path"] == result["path"])
            artifact["latency"] += result["latency"]
    for artifact in artifacts:
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets)
    return artifacts


def failed_artifact(target: str, fmt: str, path: str, precision: str, err: Any) -> dict[str, Any]:
    """An artifact that could not be built: recorded with the one-line reason and its exit code."""
    reason = err.one_line() if hasattr(err, "one_line") else str(err)
    return {"target": target, "format": fmt, "precision": precision, "path": path, "status": "failed",
            "error": {"reason": reason, "exit_code": getattr(err, "exit_code", 5)},
            "bytes": None, "gzip_bytes": None, "accuracy": None, "accuracy_drop": None,
            "parity": {"status": "failed", "reason": f"not built: {reason}"}, "latency": [], "shipped": True}


def export_samples(ctx: BuildContext, cfg: WebTarget, dataset: DatasetSection, path: Path, *,
                   reference: list[np.ndarray], by_artifact: Optional[dict[str, list[np.ndarray]]] = None) -> None:
    """`cfg.samples` eval samples spread over the classes, with labels and the Keras outputs for them.

    The samples are taken round-robin over the label values in eval order (the first of each class,
    then the second of each, ...; without labels the first N), so a class-sorted image folder gives
    every class. An input that holds whole 0-255 pixels after undoing the dataset's normalisation is
    written as `pixels` (what the demo app draws and the benchmark page normalises); any other input
    as its values (integers stay integers). `outputs` are `reference`'s; an artifact converted from
    another Keras model (a QAT model's .tflite) has that model's outputs in `outputs_by_artifact`.
    `app` (title, description) and `background` (of the pixel images: "dark", "light" or "mixed")
    tell the demo app how to present the model and whether pictures must be inverted to match."""
    chosen = _spread(ctx.eval.y, min(cfg.samples, len(ctx.eval)))
    names = ctx.eval.class_names
    inputs = ctx.model.inputs
    pixel_inputs = {info.name: raw for info, x in zip(inputs, ctx.eval.inputs)
                    if (raw := _as_pixels(x[chosen], dataset)) is not None}
    label = ctx.label_index
    described_inputs = [{"name": info.name, "shape": [int(d) for d in x.shape[1:]], "dtype": str(x.dtype),
                         "pixels": info.name in pixel_inputs} for info, x in zip(inputs, ctx.eval.inputs)]
    described_outputs = [{"name": info.name, "shape": [int(d) for d in values.shape[1:]],
                          "kind": output_kind(values, i == label)}
                         for i, (info, values) in enumerate(zip(ctx.model.outputs, reference))]
    image = pixel_inputs[inputs[0].name] if len(inputs) == 1 and inputs[0].name in pixel_inputs else None
    samples = []
    for row, i in enumerate(chosen):
        entry: dict[str, Any] = {}
        if ctx.eval.y is not None:
            y = int(ctx.eval.y[i])
            entry.update(label=y, label_name=names[y] if y < len(names) else str(y))
        if image is not None:
            entry["pixels"] = [int(v) for v in image[row].ravel()]
        else:
            entry["inputs"] = {info.name: _values(pixel_inputs[info.name][row] if info.name in pixel_inputs else x[i])
                               for info, x in zip(inputs, ctx.eval.inputs)}
        entry["reference"] = _flat(reference[label if label is not None else 0][i])
        entry["outputs"] = {info.name: _flat(values[i]) for info, values in zip(ctx.model.outputs, reference)}
        if by_artifact:
            entry["outputs_by_artifact"] = {artifact: {info.name: _flat(values[i])
                                                       for info, values in zip(ctx.model.outputs, outputs)}
                                            for artifact, outputs in by_artifact.items()}
        samples.append(entry)
    payload = {
        "schema": SAMPLES_SCHEMA,
        "input_shape": described_inputs[0]["shape"],
        "inputs": described_inputs,
        "outputs": described_outputs,
        "label_output": None if label is None else ctx.model.outputs[label].name,
        "preprocess": {"scale": dataset.scale, "mean": dataset.mean, "std": dataset.std,
                       "formula": "(pixel * scale - mean) / std"},
        "class_names": names,
        "app": _app_text(cfg, dataset, names, described_inputs[0]["shape"] if image is not None else None),
        "background": None if image is None else _background(image),
        "samples": samples,
    }
    path.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


def _spread(labels: Optional[np.ndarray], n: int) -> list[int]:
    """`n` sample indices round-robin over the classes (label values ascending, each class in eval
    order); without labels the first `n`."""
    if labels is None:
        return list(range(n))
    queues = [list(np.flatnonzero(labels == value)) for value in np.unique(labels)]
    chosen: list[int] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        chosen += [int(q[depth]) for q in queues if depth < len(q)]
        if len(chosen) >= n:
            break
    return chosen[:n]


def _background(pixels: np.ndarray) -> str:
    """How the images' borders look (median over the samples of each one's mean border brightness):
    "dark" (light objects on dark, like Fashion-MNIST), "light" (dark on light) or "mixed" (photos)."""
    height, width = pixels.shape[1:3]
    ring = max(1, round(min(height, width) / 20))
    gray = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if pixels.shape[-1] == 3 else pixels[..., 0]
    inner = np.zeros((height, width), dtype=bool)
    inner[ring:height - ring, ring:width - ring] = True
    brightness = float(np.median(gray[:, ~inner].mean(axis=1)))
    return "dark" if brightness < 85 else "light" if brightness > 170 else "mixed"


def _app_text(cfg: WebTarget, dataset: DatasetSection, names: list[str], shape: Optional[list[int]]) -> dict[str, str]:
    """The demo app's title (`targets.web.app_title`, else from the class names) and a one-line description."""
    from edgekit.data import FASHION_MNIST_CLASSES

    fashion = dataset.kind == "fashion_mnist" and list(names) == FASHION_MNIST_CLASSES
    named = bool(names) and not all(name.isdigit() for name in names)
    if fashion:
        title = "Clothing classifier"
    elif named and len(names) <= 3:
        joined = " / ".join(names)
        title = f"{joined[:1].upper()}{joined[1:]} classifier"
    else:
        title = "Image classifier" if shape else "Classifier"
    listed = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
    what = f"{shape[1]}×{shape[0]} {'grayscale' if shape[2] == 1 else 'RGB'} images" if shape else "inputs"
    description = (f"{'Fashion-MNIST: ' if fashion else ''}{what} in {len(names)} classes" + (f": {listed}" if named else "")
                   if names else what)
    return {"title": cfg.app_title or title, "description": description}


def _as_pixels(x: np.ndarray, dataset: DatasetSection) -> Optional[np.ndarray]:
    if x.dtype.kind not in "f" or x.ndim != 4 or x.shape[-1] not in (1, 3):
        return None
    raw = (x.astype(np.float64) * dataset.std + dataset.mean) / dataset.scale
    pixels = np.rint(raw)
    if raw.size and (np.max(np.abs(raw - pixels)) > 1e-3 or pixels.min() < 0 or pixels.max() > 255):
        return None
    return pixels.astype(np.int64)


def _flat(values: np.ndarray) -> list[float]:
    return [round(float(v), 7) for v in np.asarray(values).ravel()]


def _values(values: np.ndarray) -> list:
    """An input's values for JSON: integers exactly, floats to 7 significant digits."""
    if values.dtype.kind in "biu":
        return [int(v) for v in values.ravel()]
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def _tfjs_artifact(ctx: BuildContext, cfg: WebTarget, model: Any, reference: list[np.ndarray]) -> dict[str, Any]:
    from edgekit.converters import tfjs

    relative = "web/tfjs/model.json"
    with ctx.progress.stage(f"web tfjs {cfg.model_format} model ({cfg.quantize}): converted"):
        files = tfjs.convert(model, ctx.stage / "web" / "tfjs", quantize=cfg.quantize, nodes=cfg.quantize_nodes,
                             shard_size=cfg.shard_size, model_format=cfg.model_format)
    outputs = node_outputs(ctx, cfg, files[0])
    tolerance = _loosest(cfg)
    checks: dict[str, Parity] = {}
    for backend, out in outputs.items():
        if isinstance(out, str):
            checks[backend] = Parity(FAILED, None, None, 0, tolerance=tolerance_dict(tolerance),
                                     reason=f"TF.js {backend} backend cannot run the model: {out}")
        else:
            checks[backend] = ctx.parity(out, tolerance, samples=cfg.parity_samples, reference=reference)
    measured = next(((name, out) for name, out in outputs.items() if not isinstance(out, str)), None)
    return {
        "target": "web", "format": "tfjs", "precision": cfg.quantize, "model_format": cfg.model_format,
        "path": relative,
        **measure.download_sizes(files, params=model.params),
        **ctx.accuracy_fields(None if measured is None else measured[1]),
        **({"accuracy_runtime": f"tfjs {measured[0]} in Node on {len(measured[1][0]):,} samples"} if measured else {}),
        "parity": {**combine(checks), "runtime": "tfjs in Node"},
        "latency": [],
        "shipped": True,
    }


def node_outputs(ctx: BuildContext, cfg: WebTarget, model_json: Path) -> dict[str, Any]:
    """Outputs of the TF.js model in Node per backend (the first on all eval data, the rest on
    parity_samples): a list of arrays per output, or the error text when the backend cannot run it."""
    from edgekit import node

    total = len(ctx.eval)
    backends = [{"name": name, "samples": total if i == 0 else min(cfg.parity_samples, total)}
                for i, name in enumerate(cfg.node_backends)]
    label = ", ".join(f"{b['name']} ({b['samples']:,})" for b in backends)
    per_sample = sum(int(np.prod(x.shape[1:])) for x in ctx.eval.inputs)
    fixed = ctx.model.fixed_batch  # a SavedModel whose signature insists on a batch size
    batch = fixed or int(max(1, min(256, NODE_BATCH_ELEMENTS // max(per_sample, 1))))
    with ctx.progress.stage(f"web tfjs: run in Node with @tensorflow/tfjs on {label}"), \
            tempfile.TemporaryDirectory(prefix="edgekit-node-") as work, \
            ctx.progress.bar("tfjs in Node", sum(b["samples"] for b in backends)) as advance:
        inputs = []
        for index, (info, x) in enumerate(zip(ctx.model.inputs, ctx.eval.inputs)):
            dtype = np.int32 if x.dtype.kind in "biu" else np.float32  # TF.js tensors: int32 or float32
            file = Path(work) / f"x{index}.bin"
            np.ascontiguousarray(x, dtype=dtype).tofile(file)
            inputs.append({"name": info.name, "file": str(file), "shape": list(x.shape), "dtype": np.dtype(dtype).name})
        spec = {"model": str(model_json), "count": total, "batch": batch, "pad": fixed is not None, "inputs": inputs,
                "outputs": ctx.model.output_names, "backends": backends, "out_dir": work}
        done: dict[str, int] = {}

        def on_progress(line: str) -> None:
            name, count, _ = line.split()
            advance(int(count) - done.get(name, 0))
            done[name] = int(count)

        result = node.run_script("node_eval.mjs", spec, workdir=Path(work), timeout=cfg.node_timeout_s,
                                 stall=cfg.node_stall_s, on_progress=on_progress)
        outputs: dict[str, Any] = {}
        for name, info in result["backends"].items():
            if "error" in info:
                from rich.markup import escape

                ctx.progress.say(f"[yellow]warning:[/] TF.js {name} backend in Node: {escape(info['error'])}")
                outputs[name] = info["error"]
                continue
            outputs[name] = [np.fromfile(o["file"], dtype=np.float32).reshape(info["samples"], *o["shape"])
                             for o in info["outputs"]]
    return outputs


def _tflite_artifact(ctx: BuildContext, cfg: WebTarget, model: Any, reference: list[np.ndarray]) -> dict[str, Any]:
    from edgekit.converters import tflite
    from edgekit.litert import run
    from edgekit.profile.host import profile_tflite

    relative = "web/model.tflite"
    precision = "int8" if ctx.quantization else cfg.tflite_precision  # a QAT model converts to int8 inside
    names = {"input_names": model.input_names, "output_names": model.output_names}
    with ctx.progress.stage(f"web tflite {precision} (batch 1, for LiteRT.js): converted"):
        data = tflite.convert(model, cfg.tflite_precision, calibration=ctx.calibration)
        (ctx.stage / relative).write_bytes(data)
    with ctx.progress.stage(f"web tflite {precision}: validated on {len(ctx.eval):,} samples in LiteRT"), \
            ctx.progress.bar(f"{precision} eval", len(ctx.eval)) as advance:
        _, outputs = run(data, ctx.eval.inputs, progress=advance, **names)
    check = ctx.parity(outputs, cfg.parity[precision], samples=cfg.parity_samples, reference=reference)
    with ctx.progress.stage(f"web tflite {precision}: native LiteRT reference timing on host ({cfg.runs} runs)"):
        host = profile_tflite(data, ctx.eval.inputs, threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs,
                              input_names=model.input_names)
    paths = [ctx.stage / relative]
    return {
        "target": "web", "format": "tflite", "precision": precision, "path": relative,
        **measure.download_sizes(paths, params=model.params),
        **ctx.accuracy_fields(outputs),
        "accuracy_runtime": f"LiteRT (Python, same kernels as LiteRT.js) on {len(outputs[0]):,} samples",
        "parity": {**check.to_dict(), "runtime": "LiteRT"},
        "latency": [host],
        "shipped": True,
    }


def _loosest(cfg: WebTarget) -> Any:
    """The parity tolerance of the coarsest weight dtype in use (quantize, or any quantize_nodes dtype)."""
    used = [cfg.quantize, *cfg.quantize_nodes]
    return max((cfg.parity[d] for d in used if d in cfg.parity), key=lambda t: t.max_relative_error or 0.0)

