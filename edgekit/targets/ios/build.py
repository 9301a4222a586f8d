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
from edgekit.lazy import coremltools as ct
from edgekit.validate import not_verified

MACOS_ONLY = "Core ML prediction needs macOS; on this OS the package is checked without running it"
MAX_LUT = 256  # Core ML LUTs hold at most 2^8 entries


def build(ctx: BuildContext, cfg: IosTarget) -> list[dict[str, Any]]:
    from edgekit.converters import coreml
    from edgekit.targets.ios.weights import layer_weights

    model, reference = ctx.float_source()
    layers = layer_weights(model.keras_model, ctx.facts) if model.keras_model is not None else []
    specs = input_specs(ctx, cfg, model)
    outputs, classify, labels, io_notes = output_specs(ctx, cfg, model, reference)
    (ctx.stage / "ios").mkdir(exist_ok=True)
    shipped = set(cfg.shipped())
    artifacts = []
    for variant in cfg.variants:
        fp16 = variant != "fp32" and cfg.compute_precision == "fp16"
        relative = f"ios/model_{variant}.mlpackage"
        with ctx.progress.stage(f"ios {variant}: converted to a Core ML ML Program ({cfg.minimum_deployment_target})"):
            mlmodel = coreml.convert(model.saved_model(batch=1), inputs=specs, outputs=outputs, class_labels=labels,
                                     fp16=fp16, target=cfg.minimum_deployment_target)
            mlmodel, plan, notes, before, planned = compress(mlmodel, variant, layers, cfg)
            if cfg.activation_quantization:
                mlmodel = _activations(mlmodel, ctx, specs)
            _describe(mlmodel, variant, cfg, class_names=ctx.eval.class_names if ctx.label_index is not None else None)
            mlmodel.save(str(ctx.stage / relative))
        with ctx.progress.stage(f"ios {variant}: package read back and checked"):
            from edgekit.targets.ios.weights import check_package

            checks, formats = check_package(ctx.stage / relative, specs=specs, outputs=outputs, classify=classify,
                                            labels=labels, cfg=cfg, layers=planned, plan=plan, before=before, fp16=fp16)
        predicted = predict_on_mac(ctx.stage / relative, ctx, specs, outputs, classify, labels)
        if predicted is None:
            check, accuracy_fields = not_verified(MACOS_ONLY), ctx.accuracy_fields(None)
        else:
            tolerance = {"max_relative_error": 0.02 if fp16 else 1e-3, "min_confident_agreement": 0.995 if fp16 else 0.999}
            check = ctx.parity(predicted, tolerance, samples=500, reference=reference)
            accuracy_fields = ctx.accuracy_fields(predicted)
        artifact = {
            "target": "ios",
            "format": "mlpackage",
            "precision": variant,
            "path": relative,
            **package_sizes(ctx.stage / relative, params=model.params),
            **accuracy_fields,
            "parity": check.to_dict(),
            "latency": [],
            "checks": checks,
            "coreml": {
                "minimum_deployment_target": cfg.minimum_deployment_target,
                "compute_precision": "fp16" if fp16 else "fp32",
                "compute_units": cfg.compute_units,
                "input": _describe_input(specs[0]),
                "inputs": [_describe_input(spec) for spec in specs],
                "outputs": [o.name for o in outputs] + (["classLabel"] if classify else []),
                "classifier_output": classify,
                "layers": formats,
            },
            "notes": io_notes + notes + ([f"{ctx.quantization} model: converted from its float twin (weights on the "
                                          "int8 grid; the learned activation ranges are not carried)"]
                                         if ctx.quantization else []),
            "shipped": variant in shipped,
        }
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets) if artifact["shipped"] else []
        artifacts.append(artifact)
    return artifacts


def _describe_input(spec: Any) -> dict[str, Any]:
    return {"name": spec.name, "kind": "image" if spec.image else "tensor", "shape": list(spec.shape),
            **({"scale": spec.scale, "bias": spec.bias} if spec.image else {})}


def input_specs(ctx: BuildContext, cfg: IosTarget, model: Any) -> list[Any]:
    """One Core ML input per model input, named after it: an image (Core ML applies the dataset's
    scaling) for the one input of an image dataset, else tensors. `input_name` renames a single input."""
    from edgekit.converters.coreml import InputSpec

    data = ctx.dataset
    specs = []
    single = len(model.inputs) == 1
    for info in model.inputs:
        shape = (1, *(int(d) for d in info.inner))
        image_like = len(shape) == 4 and shape[-1] in (1, 3)
        image_data = single and data is not None and data.kind in ("fashion_mnist", "image_folder")
        kind = cfg.input if cfg.input != "auto" else ("image" if image_like and image_data else "tensor")
        if kind == "image" and not image_like:
            raise ConfigError(f"input = \"image\" needs an NHWC input with 1 or 3 channels; {info.name!r} takes {shape}",
                              hint='set targets.ios.input = "tensor"')
        if kind == "image" and data is None:
            raise ConfigError("input = \"image\" needs the dataset's pixel scaling", hint='set targets.ios.input = "tensor"')
        name = cfg.input_name if cfg.input_name != "auto" and single else info.name
        if kind == "image":
            # edgekit feeds (pixel * scale - mean) / std; Core ML computes pixel * scale' + bias'
            specs.append(InputSpec(name=name, shape=shape, image=True, scale=data.scale / data.std,
                                   bias=0.0 - data.mean / data.std + 0.0, rgb=shape[-1] == 3, graph_name=info.name))
        else:
            specs.append(InputSpec(name=name, shape=shape, image=False, graph_name=info.name))
    if cfg.input_name != "auto" and not single:
        raise ConfigError(f"targets.ios.input_name renames a single input; the model has {len(model.inputs)}",
                          hint='leave input_name = "auto" (the model\'s own names)')
    return specs


def output_specs(ctx: BuildContext, cfg: IosTarget, model: Any, reference: list[np.ndarray]
                 ) -> tuple[list[Any], Optional[str], Optional[list[str]], list[str]]:
    """Core ML outputs named after the model's, the one that gets classifier outputs, its labels, notes.

    Only a label output holding probabilities becomes a classifier: Core ML presents a classifier's
    scores as probabilities, which logits are not."""
    from edgekit.converters.coreml import OutputSpec
    from edgekit.labels import output_kind

    notes: list[str] = []
    outputs = []
    for index, (info, values) in enumerate(zip(model.outputs, reference)):
        name = info.name
        if index == ctx.label_index and cfg.output_name != "auto":
            name = cfg.output_name
        outputs.append(OutputSpec(key=info.name, name=name, shape=(1, *(int(d) for d in values.shape[1:]))))
    classify, labels = None, None
    if cfg.class_labels and ctx.label_index is not None and ctx.eval.class_names:
        kind = output_kind(reference[ctx.label_index], True)
        if kind == "probabilities" and len(outputs) > 1:
            notes.append(f"no classifier outputs: coremltools cannot attach them to a model with several outputs; "
                         f"{outputs[ctx.label_index].name!r} holds the class probabilities and the package metadata "
                         "lists the class labels (edgekit.class_labels)")
        elif kind == "probabilities":
            classify, labels = outputs[ctx.label_index].name, list(ctx.eval.class_names)
            outputs[ctx.label_index].classifier = True
        else:
            notes.append(f"output {outputs[ctx.label_index].name!r} holds logits: no classifier outputs (Core ML would "
                         "present them as probabilities); apply a softmax in the app")
    return outputs, classify, labels, notes


def compress(model: Any, variant: str, layers: list[Any], cfg: IosTarget
             ) -> tuple[Any, dict[str, dict], list[str], dict, list[Any]]:
    """Apply the variant's weight formats layer by layer.

    Returns the model, the plan per layer, notes, each weight's values before compression (keyed by
    consuming op) so the saved package can be compared with them, and the layers planned: the
    Keras layers, plus weight ops no layer was matched to (they get the post-training formats).
    """
    from edgekit.converters import coreml

    target = cfg.minimum_deployment_target
    joint_ok = coreml.version(target) >= coreml.version(coreml.NEEDS["joint"])
    from edgekit.targets.ios.weights import op_layers, unmatched_ops

    consumers = coreml.weight_consumers(model)
    before = {op: value for op, _, value in consumers.values()}
    ops = op_layers(consumers, layers)
    extra = unmatched_ops(consumers, ops)
    ops.update({layer.name: layer.name for layer in extra})
    layers = [*layers, *extra]
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
    return model, plan, notes, before, layers


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


def _activations(model: Any, ctx: BuildContext, specs: list[Any]) -> Any:
    from edgekit.converters import coreml
    from edgekit.errors import EnvironmentProblem

    if not can_predict():
        raise EnvironmentProblem("activation_quantization calibrates by running the model, which Core ML does on macOS only",
                                 hint="build on a Mac, or set targets.ios.activation_quantization = false")
    samples = [{spec.name: _input_value(x[i], spec) for spec, x in zip(specs, ctx.calibration)}
               for i in range(min(128, len(ctx.calibration[0])))]
    return coreml.quantize_activations(model, samples)


def _describe(model: Any, variant: str, cfg: IosTarget, *, class_names: Optional[list[str]]) -> None:
    import json

    from edgekit import __version__

    model.short_description = f"edgekit {variant} build"
    model.version = __version__
    model.user_defined_metadata["edgekit.variant"] = variant
    model.user_defined_metadata["edgekit.compute_units"] = cfg.compute_units
    if class_names:
        model.user_defined_metadata["edgekit.class_labels"] = json.dumps(list(class_names))


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


def predict_on_mac(path: Path, ctx: BuildContext, specs: list[Any], outputs: list[Any], classify: Optional[str],
                   labels: Optional[list[str]]) -> Optional[list[np.ndarray]]:
    """Outputs (one array per model output) on the eval set through Core ML itself, or None where
    Core ML cannot run."""
    if not can_predict():
        return None
    model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
    rows: list[list[np.ndarray]] = [[] for _ in outputs]
    with ctx.progress.bar("Core ML eval", len(ctx.eval)) as advance:
        for i in range(len(ctx.eval)):
            result = model.predict({spec.name: _input_value(x[i], spec) for spec, x in zip(specs, ctx.eval.inputs)})
            for store, output in zip(rows, outputs):
                out = result[output.name]
                if isinstance(out, dict):  # classifier probabilities come back keyed by label
                    out = [out[label] for label in labels or []]
                store.append(np.asarray(out, dtype=np.float32).reshape(output.shape[1:]))
            advance(1)
    return [np.stack(store) for store in rows]
