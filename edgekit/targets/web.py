"""Web target: a TF.js model and a `.tflite` for LiteRT.js, checked in Node, timed in Chromium.

Layout of `<out>/web/` (what a web app downloads; documented in README):
  tfjs/model.json + tfjs/group1-shard*.bin   TF.js graph (or layers) model
  model.tflite                               for @litertjs/core (batch 1, float input and output)
  samples.json                               a few eval images (raw pixels), labels, class names,
                                             preprocessing and the Keras outputs for them
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import budgets, measure
from edgekit.config import DatasetSection, WebTarget
from edgekit.context import BuildContext
from edgekit.validate import FAILED, PASSED, Parity, accuracy, parity_within

SAMPLES_SCHEMA = "edgekit.samples/v1"


def build(ctx: BuildContext, cfg: WebTarget, *, dataset: DatasetSection) -> list[dict[str, Any]]:
    folder = ctx.stage / "web"
    folder.mkdir(exist_ok=True)
    export_samples(ctx, cfg, dataset, folder / "samples.json")
    artifacts = [_tfjs_artifact(ctx, cfg)]
    if cfg.litertjs:
        artifacts.append(_tflite_artifact(ctx, cfg))
    if cfg.profile_browser:
        from edgekit.profile.web import profile_folder

        for result in profile_folder(ctx.stage, artifacts, cfg, progress=ctx.progress):
            artifact = next(a for a in artifacts if a["path"] == result["path"])
            artifact["latency"] += result["latency"]
    for artifact in artifacts:
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets)
    return artifacts


def export_samples(ctx: BuildContext, cfg: WebTarget, dataset: DatasetSection, path: Path) -> None:
    """The first `cfg.samples` eval images as raw pixels, with labels and the Keras outputs for them."""
    n = min(cfg.samples, len(ctx.eval.y))
    raw = np.rint((ctx.eval.x[:n] * dataset.std + dataset.mean) / dataset.scale)
    names = ctx.eval.class_names
    payload = {
        "schema": SAMPLES_SCHEMA,
        "input_shape": [int(d) for d in ctx.eval.x.shape[1:]],
        "preprocess": {"scale": dataset.scale, "mean": dataset.mean, "std": dataset.std,
                       "formula": "(pixel * scale - mean) / std"},
        "class_names": names,
        "samples": [{"label": int(y), "label_name": names[int(y)] if int(y) < len(names) else str(int(y)),
                     "pixels": [int(v) for v in raw[i].ravel()],
                     "reference": [round(float(v), 7) for v in ctx.reference[i]]}
                    for i, y in enumerate(ctx.eval.y[:n])],
    }
    path.write_text(json.dumps(payload, separators=(",", ":")), encoding="utf-8")


def _tfjs_artifact(ctx: BuildContext, cfg: WebTarget) -> dict[str, Any]:
    from edgekit.converters import tfjs

    relative = "web/tfjs/model.json"
    with ctx.progress.stage(f"web tfjs {cfg.model_format} model ({cfg.quantize}): converted"):
        files = tfjs.convert(ctx.model, ctx.stage / "web" / "tfjs", quantize=cfg.quantize, nodes=cfg.quantize_nodes,
                             shard_size=cfg.shard_size, model_format=cfg.model_format)
    outputs = node_outputs(ctx, cfg, files[0])
    first = cfg.node_backends[0]
    tolerance = _loosest(cfg)
    checks = {backend: parity_within(ctx.reference, out, tolerance, samples=cfg.parity_samples)
              for backend, out in outputs.items()}
    acc = accuracy(outputs[first], ctx.eval.y[:len(outputs[first])])
    return {
        "target": "web", "format": "tfjs", "precision": cfg.quantize, "model_format": cfg.model_format,
        "path": relative,
        **measure.download_sizes(files, params=ctx.model.params),
        "accuracy": round(acc, 6),
        "accuracy_drop": round(100 * (ctx.reference_accuracy - acc), 4),
        "accuracy_runtime": f"tfjs {first} in Node on {len(outputs[first]):,} samples",
        "parity": combine(checks),
        "latency": [],
        "shipped": True,
    }


def node_outputs(ctx: BuildContext, cfg: WebTarget, model_json: Path) -> dict[str, np.ndarray]:
    """Outputs of the TF.js model in Node per backend: the first on all eval data, the rest on parity_samples."""
    from edgekit import node

    total = len(ctx.eval.y)
    backends = [{"name": name, "samples": total if i == 0 else min(cfg.parity_samples, total)}
                for i, name in enumerate(cfg.node_backends)]
    label = ", ".join(f"{b['name']} ({b['samples']:,})" for b in backends)
    with ctx.progress.stage(f"web tfjs: run in Node with @tensorflow/tfjs on {label}"), \
            tempfile.TemporaryDirectory(prefix="edgekit-node-") as work:
        x_path = Path(work) / "x.f32"
        np.ascontiguousarray(ctx.eval.x, dtype=np.float32).tofile(x_path)
        spec = {"model": str(model_json), "input": str(x_path), "shape": list(ctx.eval.x.shape), "batch": 256,
                "backends": backends, "out_dir": work}
        result = node.run_script("node_eval.mjs", spec, workdir=Path(work), timeout=120 + total * 0.05)
        outputs = {}
        for name, info in result["backends"].items():
            flat = np.fromfile(info["outputs"], dtype=np.float32)
            outputs[name] = flat.reshape(info["samples"], *info["output_shape"])
    return outputs


def combine(checks: dict[str, Parity]) -> dict[str, Any]:
    """One parity for the artifact: failed if any backend failed; the worst error and agreement."""
    failed = [name for name, c in checks.items() if c.status == FAILED]
    errors = [c.max_abs_error for c in checks.values() if c.max_abs_error is not None]
    agreements = [c.top1_agreement for c in checks.values() if c.top1_agreement is not None]
    first = next(iter(checks.values()))
    result = {
        "status": FAILED if failed else PASSED,
        "max_abs_error": max(errors) if errors else None,
        "top1_agreement": min(agreements) if agreements else None,
        "samples": first.samples,
        "tolerance": first.tolerance,
        "runtime": "tfjs in Node",
        "backends": {name: c.to_dict() for name, c in checks.items()},
    }
    if failed:
        result["reason"] = "; ".join(f"{name}: {checks[name].reason}" for name in failed)
    return result


def _tflite_artifact(ctx: BuildContext, cfg: WebTarget) -> dict[str, Any]:
    from edgekit.converters import tflite
    from edgekit.litert import TFLiteRunner
    from edgekit.profile.host import profile_tflite

    relative = "web/model.tflite"
    precision = cfg.tflite_precision
    with ctx.progress.stage(f"web tflite {precision} (batch 1, for LiteRT.js): converted"):
        data = tflite.convert(batch_one(ctx.model), precision, calibration=ctx.calibration)
        (ctx.stage / relative).write_bytes(data)
    with ctx.progress.stage(f"web tflite {precision}: validated on {len(ctx.eval.y):,} samples in LiteRT"):
        outputs = TFLiteRunner(data, batch=64).predict(ctx.eval.x)
    check = parity_within(ctx.reference, outputs, cfg.parity[precision], samples=cfg.parity_samples)
    acc = accuracy(outputs, ctx.eval.y)
    with ctx.progress.stage(f"web tflite {precision}: native LiteRT reference timing on host ({cfg.runs} runs)"):
        host = profile_tflite(data, ctx.eval.x, threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs)
    paths = [ctx.stage / relative]
    return {
        "target": "web", "format": "tflite", "precision": precision, "path": relative,
        **measure.download_sizes(paths, params=ctx.model.params),
        "accuracy": round(acc, 6),
        "accuracy_drop": round(100 * (ctx.reference_accuracy - acc), 4),
        "accuracy_runtime": f"LiteRT (Python, same kernels as LiteRT.js) on {len(outputs):,} samples",
        "parity": {**check.to_dict(), "runtime": "LiteRT"},
        "latency": [host],
        "shipped": True,
    }


def batch_one(model: Any) -> Any:
    """A twin of the Keras model with a fixed batch of 1: LiteRT.js rejects a dynamic batch dimension."""
    from edgekit.models import LoadedModel
    from edgekit.tfenv import keras

    k = keras()
    inputs = k.Input(batch_shape=(1, *model.input_shape[1:]), name="image")
    fixed = k.Model(inputs, model.keras_model(inputs), name="batch1")
    return LoadedModel(path=model.path, format=model.format, params=model.params, input_shape=model.input_shape,
                       output_shape=model.output_shape, keras_model=fixed, notes=model.notes)


def _loosest(cfg: WebTarget) -> Any:
    """The parity tolerance of the coarsest weight dtype in use (quantize, or any quantize_nodes dtype)."""
    used = [cfg.quantize, *cfg.quantize_nodes]
    return max((cfg.parity[d] for d in used if d in cfg.parity), key=lambda t: t.max_abs_error)
