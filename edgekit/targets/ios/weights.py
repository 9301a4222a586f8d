"""The Keras side of the iOS target: per-layer weights and facts, and the checks of a saved package.

`check_package` reads the `.mlpackage` back from disk (never trusting the in-memory object),
and compares every weight it decompresses with the Keras kernel it came from: learned clusters
must come back bit-exact (at the package's storage precision), pruned zeros must stay zeros.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.compress.facts import kernels

SPEC_VERSION = {"iOS15": 6, "iOS16": 7, "iOS17": 8, "iOS18": 9}


@dataclass
class LayerWeights:
    name: str
    type: str
    kernel: Optional[np.ndarray]  # None: a weight op no Keras layer was matched to (post-training formats only)
    clustered: bool = False
    pruned: bool = False
    quantized: bool = False
    folded_into: Optional[str] = None  # a BatchNormalization the converter folds into this kernel
    fold_scale: Optional[np.ndarray] = None  # gamma / sqrt(var + eps), per output channel

    @property
    def effective(self) -> Optional[np.ndarray]:
        """The kernel as the converter sees it: with a following BatchNorm folded in."""
        if self.kernel is None or self.fold_scale is None:
            return self.kernel
        if self.type == "DepthwiseConv2D" and self.kernel.ndim == 4:  # (h, w, in, multiplier): out = in * multiplier
            return self.kernel * self.fold_scale.reshape(self.kernel.shape[2], self.kernel.shape[3])
        return self.kernel * self.fold_scale

    @property
    def sparsity(self) -> float:
        return 0.0 if self.kernel is None else float(np.mean(self.kernel == 0))

    @property
    def unique(self) -> int:
        return 0 if self.kernel is None else int(len(np.unique(self.kernel)))

    @property
    def unique_nonzero(self) -> int:
        return 0 if self.kernel is None else int(len(np.unique(self.kernel[self.kernel != 0])))

    def sparse_candidate(self, cfg: Any) -> bool:
        return bool(cfg.sparse and self.pruned and self.sparsity > 0)


def layer_weights(model: Any, facts: list[dict[str, Any]]) -> list[LayerWeights]:
    """Every layer with a kernel (nested models included), tf_keras or Keras 3, with its recipe facts
    and the inference BatchNorm the converter folds into it."""
    by_name = {fact["layer"]: fact for fact in facts}
    found: dict[str, LayerWeights] = {}
    layers = flat_layers(model)
    for layer in layers:
        weights = kernels(layer)
        if not weights:
            continue
        fact = by_name.get(layer.name, {})
        found[layer.name] = LayerWeights(name=layer.name, type=type(layer).__name__,
                                         kernel=np.asarray(weights[0].numpy()), clustered=bool(fact.get("clustered")),
                                         pruned=bool(fact.get("pruned")), quantized=bool(fact.get("quantized")))
    for layer in layers:  # Core ML (like TFLite) folds an inference BatchNorm into the kernel before it
        if type(layer).__name__ != "BatchNormalization":
            continue
        parents = inbound_layers(layer)
        source = found.get(parents[0].name) if len(parents) == 1 else None
        if source is None:
            continue
        gamma = np.asarray(layer.gamma.numpy()) if getattr(layer, "scale", False) else 1.0
        scale = gamma / np.sqrt(np.asarray(layer.moving_variance.numpy()) + layer.epsilon)
        if np.ndim(scale) != 1 or source.kernel is None or source.kernel.shape[-1] * (
                source.kernel.shape[-2] if source.type == "DepthwiseConv2D" else 1) != len(scale):
            continue
        source.folded_into, source.fold_scale = layer.name, scale.astype(np.float32)
    return list(found.values())


def flat_layers(model: Any) -> list[Any]:
    """The model's layers, with the layers of nested models in place of the nested model."""
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", None)  # QAT / pruning wrappers are layers, not nested models
        if hasattr(layer, "layers") and inner is None and type(layer).__name__ in ("Functional", "Sequential", "Model"):
            found += flat_layers(layer)
        else:
            found.append(layer)
    return found


def inbound_layers(layer: Any) -> list[Any]:
    """The layers feeding `layer`'s first call (tf_keras and Keras 3 keep this differently)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    node = nodes[0]
    if hasattr(node, "inbound_layers"):  # tf_keras
        inbound = node.inbound_layers
        return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]
    parents = getattr(node, "parent_nodes", None) or []  # Keras 3
    return [parent.operation for parent in parents if getattr(parent, "operation", None) is not None]


def op_layers(consumers: dict[str, tuple[str, str, np.ndarray]], layers: list[LayerWeights]) -> dict[str, str]:
    """{Keras layer name: Core ML op consuming its (possibly BatchNorm-folded) kernel}.

    Matched by values first (a trained kernel is its own fingerprint; op names follow TensorFlow's
    graph, which renames, fuses and prefixes them with the model's name), then by name."""
    from edgekit.converters.coreml import keras_layout, layer_of

    pairs = []
    for layer in layers:
        if layer.kernel is None:
            continue
        for op, kind, value in consumers.values():
            for kernel in (layer.kernel, layer.effective):
                expected = keras_layout(kernel, layer.type, kind, value.shape)
                if expected is None or not value.size:
                    continue
                scale = float(np.max(np.abs(expected))) or 1.0
                error = float(np.max(np.abs(expected - value.astype(np.float32)))) / scale
                if error <= 0.1:
                    pairs.append((error, layer.name, op))
    ops: dict[str, str] = {}
    for _, name, op in sorted(pairs):
        if name not in ops and op not in ops.values():
            ops[name] = op
    names = [layer.name for layer in layers if layer.name not in ops] + \
        [layer.folded_into for layer in layers if layer.folded_into and layer.name not in ops]
    owner = {layer.folded_into: layer.name for layer in layers if layer.folded_into}
    for op, _, _ in consumers.values():
        if op in ops.values():
            continue
        name = layer_of(op, names)
        if name is not None:
            ops.setdefault(owner.get(name, name), op)
    return ops


def unmatched_ops(consumers: dict[str, tuple[str, str, np.ndarray]], ops: dict[str, str]) -> list[LayerWeights]:
    """Weight ops no Keras layer was matched to (a SavedModel has no layers): post-training formats apply."""
    used = set(ops.values())
    return [LayerWeights(name=op, type=kind, kernel=None) for op, kind, _ in consumers.values() if op not in used]


def check_package(path: Path, *, specs: list[Any], outputs: list[Any], classify: Optional[str],
                  labels: Optional[list[str]], cfg: Any, layers: list[LayerWeights], plan: dict[str, dict[str, Any]],
                  before: dict[str, np.ndarray], fp16: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Checks on the saved package, and the per-layer weight formats as stored."""
    from edgekit.converters import coreml

    ct = coreml.coremltools()
    checks: list[dict[str, Any]] = []
    try:
        with coreml._quiet():
            model = ct.models.MLModel(str(path), skip_model_load=True)
    except Exception as err:  # noqa: BLE001 - any failure to read back is the finding
        return [_check("package reads back", False, f"{type(err).__name__}: {str(err)[:200]}")], {}
    checks.append(_check("package reads back", True, f"{path.name}: ML Program, spec version "
                         f"{model.get_spec().specificationVersion}"))
    checks += _interface_checks(model, specs=specs, outputs=outputs, classify=classify, labels=labels, cfg=cfg)
    stored = coreml.storage(model)
    values = coreml.dense_weights(model)
    ops = op_layers({op: (op, kind, value) for op, (kind, value) in values.items()}, layers)
    formats: dict[str, Any] = {}
    for layer in layers:
        entry = plan.get(layer.name, {"format": "fp16" if fp16 else "fp32", "source": "none"})
        op = entry.get("op") or ops.get(layer.name)
        if op is None or op not in values:
            if layer.name in plan or layer.clustered or layer.pruned:  # the recipe's structure had to land somewhere
                checks.append(_check(f"weights of {layer.name}", False, "no Core ML op consumes this layer's kernel"))
            continue
        op_type, value = values[op]
        got = value.astype(np.float32)
        expected, folded = _closest([] if layer.kernel is None else [
            (coreml.keras_layout(layer.kernel, layer.type, op_type, value.shape), False),
            (coreml.keras_layout(layer.effective, layer.type, op_type, value.shape), True)], got)
        found = stored.get(op, {})
        record = {
            "op": op, "planned": entry["format"] + ("+sparse" if entry.get("sparse") else ""),
            "stored": found.get("format", "dense"), "nbits": found.get("nbits"),
            "per_channel": found.get("per_channel", False), "source": entry.get("source"),
            "batchnorm_folded": layer.folded_into if folded else None, "sparsity": round(float(np.mean(got == 0)), 4),
            "unique_values": int(len(np.unique(got))), "unique_per_channel_max": _unique_per_channel(got),
            "max_abs_error_vs_keras": None if expected is None else float(np.max(np.abs(got - expected))),
            "lossless": bool(op in before and np.array_equal(got, before[op].astype(np.float32))),
        }
        formats[layer.name] = record
        planned = set(record["planned"].split("+")) - {"dense", "fp16", "fp32"}
        missing = planned - set(record["stored"].split("+"))
        if missing:
            checks.append(_check(f"format of {layer.name}", False,
                                 f"planned {record['planned']}, stored {record['stored']}"))
        if entry.get("source") == "learned clusters":
            precision = "fp16" if fp16 else "fp32"
            detail = (f"decompressed weights equal the clustered kernel as converted ({precision}"
                      f"{', BatchNorm folded' if folded else ''}): {record['unique_per_channel_max']} "
                      "values per channel at most" if record["lossless"] else
                      "decompressed weights differ from the clustered kernel as converted")
            checks.append(_check(f"clusters of {layer.name} carried losslessly", record["lossless"], detail))
        if entry.get("sparse"):
            same = bool(op in before and np.array_equal(got == 0, before[op] == 0))
            checks.append(_check(f"pruned zeros of {layer.name} kept", same,
                                 f"sparsity {record['sparsity']:.1%} (Keras {layer.sparsity:.1%})"))
    checks.append({"name": "prediction (parity, accuracy)", "status": "not_verified",
                   "detail": "Core ML runs models on macOS only"})
    return checks, formats


def _closest(candidates: list[tuple[Optional[np.ndarray], bool]], got: np.ndarray) -> tuple[Optional[np.ndarray], bool]:
    """The Keras-side candidate (plain or BatchNorm-folded kernel) nearest to what the package stores."""
    usable = [(c, folded) for c, folded in candidates if c is not None]
    if not usable:
        return None, False
    return min(usable, key=lambda item: float(np.max(np.abs(item[0] - got))) if got.size else 0.0)


def _unique_per_channel(value: np.ndarray) -> int:
    """Most distinct values in one output channel (axis 0 of Core ML's conv/linear layouts)."""
    if value.ndim < 2 or value.shape[0] == 0:
        return int(len(np.unique(value)))
    return int(max(len(np.unique(row)) for row in value.reshape(value.shape[0], -1)))


def _interface_checks(model: Any, *, specs: list[Any], outputs: list[Any], classify: Optional[str],
                      labels: Optional[list[str]], cfg: Any) -> list[dict[str, Any]]:
    """Deployment target, each input's name/kind/shape, the outputs and the class labels, read from the spec."""
    from edgekit.converters import coreml

    model_spec = model.get_spec()
    checks = []
    want = SPEC_VERSION[cfg.minimum_deployment_target]
    got = model_spec.specificationVersion
    checks.append(_check("deployment target", got <= want,
                         f"spec version {got} runs on {cfg.minimum_deployment_target} (spec {want}) and later"))
    inputs = {item.name: item.type for item in model_spec.description.input}
    for spec in specs:
        kind = inputs[spec.name].WhichOneof("Type") if spec.name in inputs else None
        if spec.image:
            image = inputs[spec.name].imageType if kind == "imageType" else None
            space = "RGB" if spec.rgb else "GRAYSCALE"
            ok = image is not None and (image.height, image.width) == tuple(spec.shape[1:3]) and \
                type(image).ColorSpace.Name(image.colorSpace) == space
            detail = f"image {spec.name!r} {spec.shape[2]}x{spec.shape[1]} {space}, pixel * {spec.scale:.6g} + {spec.bias:.6g}"
        else:
            shape = list(inputs[spec.name].multiArrayType.shape) if kind == "multiArrayType" else None
            ok = shape == list(spec.shape)
            detail = f"tensor {spec.name!r} shape {list(spec.shape)} (found {shape})"
        label = "input" if len(specs) == 1 else f"input {spec.name}"
        checks.append(_check(label, ok, detail if ok else f"expected {detail}; inputs are {sorted(inputs)}"))
    found = [item.name for item in model_spec.description.output]
    wanted = [o.name for o in outputs] + (["classLabel"] if classify else [])
    ok = sorted(found) == sorted(wanted) and (not classify or model_spec.description.predictedFeatureName in found)
    checks.append(_check("outputs", ok, ", ".join(found) if ok else f"expected {', '.join(wanted)}; found {', '.join(found)}"))
    if labels and classify:
        stored = _class_labels(model, coreml)
        checks.append(_check("class labels", stored == labels,
                             f"{len(stored or [])} labels" + ("" if stored == labels else f" (expected {len(labels)})")))
    return checks


def _class_labels(model: Any, coreml: Any) -> Optional[list[str]]:
    """The classifier's labels as stored in the package: the classes of the program's `classify` op."""
    for function in coreml.program(model).functions.values():
        for op in function.operations:
            if op.op_type == "classify":
                classes = op.inputs["classes"]
                values = getattr(classes, "val", None)
                return [str(v) for v in values] if values is not None else None
    return None


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "status": "passed" if passed else "failed", "detail": detail}
