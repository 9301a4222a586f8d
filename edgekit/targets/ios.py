"""iOS target: Core ML ML Program packages that keep what the recipe learned.

Per variant: convert, store each layer's weight in the format its facts call for (learned
clusters -> a LUT holding exactly those centroids; pruned zeros -> sparse; int8 -> linear), save
the `.mlpackage`, then check it as far as this OS allows: the package reads back, inputs and
outputs are right, weights decompress to the values expected (bit-exact for learned clusters),
sizes. Prediction (parity, accuracy) needs macOS: elsewhere it is `not_verified`, never passed.
"""
from __future__ import annotations

import platform
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit import budgets
from edgekit.config import IosTarget
from edgekit.context import BuildContext
from edgekit.errors import ConfigError
from edgekit.validate import accuracy, not_verified, parity

MACOS_ONLY = "Core ML prediction needs macOS; on this OS the package is checked without running it"
MAX_LUT = 256  # Core ML LUTs hold at most 2^8 entries


def build(ctx: BuildContext, cfg: IosTarget) -> list[dict[str, Any]]:
    from edgekit.converters import coreml
    from edgekit.targets.ios_weights import float_twin, layer_weights

    if ctx.model.keras_model is None:
        from edgekit.errors import UnsupportedModelError

        raise UnsupportedModelError(f"the iOS target converts Keras models; {ctx.model.path.name} is a "
                                    f"{ctx.model.format}", hint="pass the .keras or .h5 file the SavedModel came from")
    keras_model, twin_notes = float_twin(ctx.model.keras_model)
    layers = layer_weights(keras_model, ctx.facts)
    spec = input_spec(ctx, cfg, keras_model)
    labels = list(ctx.eval.class_names) if cfg.class_labels and ctx.eval.class_names else None
    (ctx.stage / "ios").mkdir(exist_ok=True)
    shipped = set(cfg.shipped())
    artifacts = []
    for variant in cfg.variants:
        fp16 = variant != "fp32" and cfg.compute_precision == "fp16"
        relative = f"ios/model_{variant}.mlpackage"
        with ctx.progress.stage(f"ios {variant}: converted to a Core ML ML Program ({cfg.minimum_deployment_target})"):
            model = coreml.convert(keras_model, inputs=spec, output_name=cfg.output_name, class_labels=labels,
                                   fp16=fp16, target=cfg.minimum_deployment_target)
            model, plan, notes, before = compress(model, variant, layers, cfg)
            if cfg.activation_quantization:
                model = _activations(model, ctx, spec)
            _describe(model, variant, cfg)
            model.save(str(ctx.stage / relative))
        with ctx.progress.stage(f"ios {variant}: package read back and checked"):
            from edgekit.targets.ios_weights import check_package

            checks, formats = check_package(ctx.stage / relative, spec=spec, labels=labels, cfg=cfg, layers=layers,
                                            plan=plan, before=before, fp16=fp16)
        outputs = predict_on_mac(ctx.stage / relative, ctx, spec, cfg, labels)
        if outputs is None:
            check, acc = not_verified(MACOS_ONLY), None
        else:
            n = min(500, len(outputs))
            check = parity(ctx.reference[:n], outputs[:n], max_abs_error=0.05 if fp16 else 1e-3,
                           min_top1_agreement=0.98)
            acc = accuracy(outputs, ctx.eval.y)
        artifact = {
            "target": "ios",
            "format": "mlpackage",
            "precision": variant,
            "path": relative,
            **package_sizes(ctx.stage / relative, params=ctx.model.params),
            "accuracy": None if acc is None else round(acc, 6),
            "accuracy_drop": None if acc is None else round(100 * (ctx.reference_accuracy - acc), 4),
            "parity": check.to_dict(),
            "latency": [],
            "checks": checks,
            "coreml": {
                "minimum_deployment_target": cfg.minimum_deployment_target,
                "compute_precision": "fp16" if fp16 else "fp32",
                "compute_units": cfg.compute_units,
                "input": {"name": spec.name, "kind": "image" if spec.image else "tensor", "shape": list(spec.shape),
                          **({"scale": spec.scale, "bias": spec.bias} if spec.image else {})},
                "outputs": [cfg.output_name] + (["classLabel"] if labels else []),
                "layers": formats,
            },
            "notes": twin_notes + notes,
            "shipped": variant in shipped,
        }
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets) if artifact["shipped"] else []
        artifacts.append(artifact)
    return artifacts


def input_spec(ctx: BuildContext, cfg: IosTarget, keras_model: Any) -> Any:
    """Image input (Core ML does the pixel scaling) for image datasets, else a tensor input."""
    from edgekit.converters.coreml import InputSpec
    from edgekit.errors import UnsupportedModelError

    shape = tuple(int(d) if d is not None else 1 for d in keras_model.input_shape)
    if any(d is None for d in keras_model.input_shape[1:]):
        raise UnsupportedModelError(f"the model's input shape {keras_model.input_shape} has unknown dimensions",
                                    hint="give the model a fixed input shape (Input(shape=(28, 28, 1)))")
    data = ctx.dataset
    image_like = len(shape) == 4 and shape[-1] in (1, 3) and data is not None and data.kind in ("fashion_mnist", "image_folder")
    kind = cfg.input if cfg.input != "auto" else ("image" if image_like else "tensor")
    if kind == "image" and not (len(shape) == 4 and shape[-1] in (1, 3)):
        raise ConfigError(f"input = \"image\" needs an NHWC input with 1 or 3 channels; the model takes {shape}",
                          hint='set targets.ios.input = "tensor"')
    if kind == "image" and data is None:
        raise ConfigError("input = \"image\" needs the dataset's pixel scaling", hint='set targets.ios.input = "tensor"')
    if kind == "image":
        # edgekit feeds (pixel * scale - mean) / std; Core ML computes pixel * scale' + bias'
        return InputSpec(name=cfg.input_name, shape=shape, image=True, scale=data.scale / data.std,
                         bias=0.0 - data.mean / data.std + 0.0, rgb=shape[-1] == 3)
    return InputSpec(name=cfg.input_name, shape=shape, image=False)


def compress(model: Any, variant: str, layers: list[Any], cfg: IosTarget) -> tuple[Any, dict[str, dict], list[str], dict]:
    """Apply the variant's weight formats layer by layer.

    Returns the model, the plan per layer, notes, and each weight's values before compression
    (keyed by consuming op) so the saved package can be compared with them.
    """
    from edgekit.converters import coreml

    target = cfg.minimum_deployment_target
    joint_ok = coreml.version(target) >= coreml.version(coreml.NEEDS["joint"])
    from edgekit.targets.ios_weights import op_layers

    consumers = coreml.weight_consumers(model)
    before = {op: value for op, _, value in consumers.values()}
    ops = op_layers(consumers, layers)
    by_name = {layer.name: layer for layer in layers if layer.name in ops}
    plan: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    configs: dict[str, Any] = {}
    clustered = [layer for layer in by_name.values() if layer.clustered]
    if variant == "palettized" and clustered:
        for layer in clustered:
            value = before[ops[layer.name]]  # as converted: a following BatchNorm is folded in, per channel
            per_channel = _lut_per_channel(value, sparse=layer.sparse_candidate(cfg),
                                           allowed=coreml.version(target) >= coreml.version(coreml.NEEDS["lut_per_channel"]))
            if per_channel:
                coreml.require("lut_per_channel", target,
                               f"layer {layer.name!r} holds more than {MAX_LUT} distinct weights as converted (clusters "
                               "per channel, or a BatchNorm folded in per channel); keeping them exactly")
            configs[ops[layer.name]] = coreml.lut_config(per_channel=per_channel)
            plan[layer.name] = {"format": "lut", "source": "learned clusters", "per_channel": per_channel}
    elif variant == "palettized":
        per_channel = cfg.palettize.granularity == "per_channel"
        for layer in by_name.values():
            configs[ops[layer.name]] = coreml.lut_config(per_channel=per_channel, nbits=cfg.palettize.nbits,
                                                         mode=cfg.palettize.mode)
            plan[layer.name] = {"format": "lut", "source": f"{cfg.palettize.mode} {cfg.palettize.nbits}-bit (post-training)",
                                "per_channel": per_channel}
        notes.append("no layer was clustered by the recipe: post-training palettization (lossy)")
    elif variant in ("int8", "int4"):
        bits = 8 if variant == "int8" else 4
        for layer in by_name.values():
            configs[ops[layer.name]] = coreml.linear_config(bits=bits)
            source = "QAT weights (already on the int8 grid)" if layer.quantized and bits == 8 else "post-training"
            plan[layer.name] = {"format": variant, "source": source}
    sparse_ops = []
    sparse_ok = coreml.version(target) >= coreml.version(coreml.NEEDS["sparse"])
    for layer in by_name.values():
        if not layer.sparse_candidate(cfg):
            continue
        if not sparse_ok:
            notes.append(f"{layer.name}: pruned zeros stored densely (sparse weights need iOS16)")
        elif layer.name in plan and not joint_ok:
            notes.append(f"{layer.name}: pruned zeros stored inside the {plan[layer.name]['format']} weights, not "
                         "as a sparse tensor (joint sparse + quantized weights need iOS18)")
        else:
            sparse_ops.append(ops[layer.name])
            plan.setdefault(layer.name, {"format": "dense", "source": "pruning"})["sparse"] = True
    model = coreml.sparsify(model, sparse_ops)
    joint = bool(sparse_ops) and joint_ok
    if variant == "palettized":
        model = coreml.palettize(model, configs, joint=joint)
    elif variant in ("int8", "int4"):
        model = coreml.quantize_linear(model, configs, joint=joint)
    for name, entry in plan.items():
        entry["op"] = ops[name]
    return model, plan, notes, before


def _lut_bits(count: int) -> int:
    """Index width coremltools uses for `count` distinct values (it picks from 1, 2, 4, 6, 8 bits)."""
    return next((bits for bits in (1, 2, 4, 6, 8) if count <= 2 ** bits), 99)


def _lut_per_channel(value: np.ndarray, *, sparse: bool, allowed: bool) -> bool:
    """Per-channel LUTs when one LUT cannot hold every value, or when they need fewer index bits (iOS18)."""
    kept = (lambda v: v[v != 0]) if sparse else (lambda v: v)
    per_tensor = len(np.unique(kept(value)))
    if per_tensor > MAX_LUT:
        return True
    rows = value.reshape(value.shape[0], -1) if value.ndim >= 2 else value.reshape(1, -1)
    per_channel = max(len(np.unique(kept(row))) for row in rows)
    return allowed and _lut_bits(per_channel) < _lut_bits(per_tensor)


def _activations(model: Any, ctx: BuildContext, spec: Any) -> Any:
    from edgekit.converters import coreml
    from edgekit.errors import EnvironmentProblem

    if not can_predict():
        raise EnvironmentProblem("activation_quantization calibrates by running the model, which Core ML does on macOS only",
                                 hint="build on a Mac, or set targets.ios.activation_quantization = false")
    samples = [{spec.name: _input_value(x, spec)} for x in ctx.calibration[:128]]
    return coreml.quantize_activations(model, samples)


def _describe(model: Any, variant: str, cfg: IosTarget) -> None:
    from edgekit import __version__

    model.short_description = f"edgekit {variant} build"
    model.version = __version__
    model.user_defined_metadata["edgekit.variant"] = variant
    model.user_defined_metadata["edgekit.compute_units"] = cfg.compute_units


def package_sizes(path: Path, *, params: int) -> dict[str, Any]:
    """Bytes of every file in the package, and of the package zipped (what an app download adds)."""
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    archive = path.with_name(path.name + ".zip")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as handle:
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(file.relative_to(path.parent).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED  # fixed timestamps: the same package, the same size
            handle.writestr(entry, file.read_bytes(), compresslevel=9)
    zipped = archive.stat().st_size
    archive.unlink()
    return {"bytes": total, "gzip_bytes": zipped, "zip_bytes": zipped, "params": params,
            "bytes_per_param": round(total / params, 3) if params else None,
            "size_note": "bytes: all files in the .mlpackage; gzip_bytes/zip_bytes: the package as a deflate zip"}


def can_predict() -> bool:
    if platform.system() != "Darwin":
        return False
    try:
        import coremltools.libcoremlpython  # noqa: F401
    except ImportError:
        return False
    return True


def _input_value(x: np.ndarray, spec: Any) -> Any:
    if not spec.image:
        return x[None].astype(np.float32)
    from PIL import Image

    pixels = np.clip(np.rint((x - spec.bias) / spec.scale), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, mode="L" if pixels.shape[-1] == 1 else "RGB")


def predict_on_mac(path: Path, ctx: BuildContext, spec: Any, cfg: IosTarget, labels: Optional[list[str]]) -> Optional[np.ndarray]:
    """Outputs on the eval set through Core ML itself, or None where Core ML cannot run."""
    if not can_predict():
        return None
    import coremltools as ct

    model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
    rows = []
    with ctx.progress.bar("Core ML eval", len(ctx.eval.y)) as advance:
        for x in ctx.eval.x:
            out = model.predict({spec.name: _input_value(x, spec)})[cfg.output_name]
            if isinstance(out, dict):  # classifier probabilities come back keyed by label
                out = [out[label] for label in labels]
            rows.append(np.asarray(out, dtype=np.float32).reshape(-1))
            advance(1)
    return np.stack(rows)
