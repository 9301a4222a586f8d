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
    kernel: np.ndarray
    clustered: bool = False
    pruned: bool = False
    quantized: bool = False
    folded_into: Optional[str] = None  # a BatchNormalization the converter folds into this kernel
    fold_scale: Optional[np.ndarray] = None  # gamma / sqrt(var + eps), per output channel

    @property
    def effective(self) -> np.ndarray:
        """The kernel as the converter sees it: with a following BatchNorm folded in."""
        return self.kernel if self.fold_scale is None else self.kernel * self.fold_scale

    @property
    def sparsity(self) -> float:
        return float(np.mean(self.kernel == 0))

    @property
    def unique(self) -> int:
        return int(len(np.unique(self.kernel)))

    @property
    def unique_nonzero(self) -> int:
        return int(len(np.unique(self.kernel[self.kernel != 0])))

    def sparse_candidate(self, cfg: Any) -> bool:
        return bool(cfg.sparse and self.pruned and self.sparsity > 0)


def float_twin(model: Any) -> tuple[Any, list[str]]:
    """A QAT-wrapped model as a plain float model whose kernels are the fake-quantized (int8-grid) values.

    Core ML stores int8 weights itself; giving it the exact grid QAT trained on makes the int8
    variant reproduce those weights. Learned activation ranges are not carried (noted).
    """
    from edgekit.tfenv import keras, tensorflow

    tf = tensorflow()
    wrapped = [layer for layer in model.layers if hasattr(layer, "quantize_config")]
    if not wrapped:
        return model, []
    k = keras()

    def clone(layer: Any) -> Any:
        if hasattr(layer, "quantize_config"):
            inner = layer.layer
            return inner.__class__.from_config(_plain_config(inner.get_config()))
        if type(layer).__name__ == "QuantizeLayer":
            return k.layers.Activation("linear", name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = k.models.clone_model(model, clone_function=clone)
    by_name = {layer.name: layer for layer in model.layers}
    for layer in twin.layers:
        source = by_name.get(layer.name) or next((w for w in wrapped if w.layer.name == layer.name), None)
        if source is None:
            continue
        if hasattr(source, "quantize_config"):
            quantized = {w.name.split("/")[-1]: q for w, q, v in _weight_quantizers(source, tf)}
            held = {w.name.split("/")[-1]: w for w in source.weights}  # kernel:0, bias:0, ... (+ quantizer vars)
            layer.set_weights([quantized[key] if key in quantized else held[key].numpy()
                               for key in (w.name.split("/")[-1] for w in layer.weights)])
        elif source.get_weights() and layer.weights:
            layer.set_weights(source.get_weights())
    return twin, ["quantization-aware training: weights carried on their int8 grid; the learned activation "
                  "ranges are not carried (Core ML calibrates activations by running the model, on macOS)"]


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """A wrapped layer's config with QAT's activation stand-ins replaced by the activation they wrap."""
    activation = config.get("activation")
    if isinstance(activation, dict) and activation.get("class_name") == "QuantizeAwareActivation":
        inner = activation.get("config", {}).get("activation")
        if isinstance(inner, dict):
            inner = "linear" if inner.get("class_name") == "NoOpActivation" else inner.get("config", {}).get("name", inner)
        config = {**config, "activation": inner or "linear"}
    return config


def _weight_quantizers(wrapper: Any, tf: Any) -> list[tuple[Any, np.ndarray, Any]]:
    """(weight variable, fake-quantized value, quantizer vars) for each quantized weight of a QuantizeWrapper."""
    found = []
    for weight, quantizer, quantizer_vars in getattr(wrapper, "_weight_vars", []):
        value = quantizer(weight, training=False, weights=quantizer_vars)
        found.append((weight, np.asarray(tf.convert_to_tensor(value)), quantizer_vars))
    return found


def layer_weights(model: Any, facts: list[dict[str, Any]]) -> list[LayerWeights]:
    by_name = {fact["layer"]: fact for fact in facts}
    found = {}
    for layer in model.layers:
        weights = kernels(layer)
        if not weights:
            continue
        fact = by_name.get(layer.name, {})
        found[layer.name] = LayerWeights(name=layer.name, type=type(layer).__name__,
                                         kernel=np.asarray(weights[0].numpy()), clustered=bool(fact.get("clustered")),
                                         pruned=bool(fact.get("pruned")), quantized=bool(fact.get("quantized")))
    for layer in model.layers:  # Core ML (like TFLite) folds an inference BatchNorm into the kernel before it
        if type(layer).__name__ != "BatchNormalization" or not layer._inbound_nodes:
            continue
        inbound = layer._inbound_nodes[0].inbound_layers
        source = found.get(getattr(inbound, "name", None)) if not isinstance(inbound, list) else None
        if source is None or source.type == "DepthwiseConv2D":
            continue
        gamma = layer.gamma.numpy() if layer.scale else 1.0
        scale = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
        source.folded_into, source.fold_scale = layer.name, scale.astype(np.float32)
    return list(found.values())


def op_layers(consumers: dict[str, tuple[str, str, np.ndarray]], layers: list[LayerWeights]) -> dict[str, str]:
    """{Keras layer name: Core ML op consuming its (possibly BatchNorm-folded) kernel}."""
    from edgekit.converters.coreml import keras_layout, layer_of

    names = [layer.name for layer in layers] + [layer.folded_into for layer in layers if layer.folded_into]
    owner = {layer.folded_into: layer.name for layer in layers if layer.folded_into}
    ops: dict[str, str] = {}
    for op, _, _ in consumers.values():
        name = layer_of(op, names)
        if name is not None:
            ops.setdefault(owner.get(name, name), op)
    # Some ops lose the layer's name in conversion (e.g. "conv_0"): match those by shape and values.
    free = {op: (kind, value) for op, kind, value in consumers.values() if op not in ops.values()}
    for layer in layers:
        if layer.name in ops:
            continue
        best = None
        for op, (kind, value) in free.items():
            for kernel in (layer.kernel, layer.effective):
                expected = keras_layout(kernel, layer.type, kind, value.shape)
                if expected is not None:
                    error = float(np.max(np.abs(expected - value.astype(np.float32)))) if value.size else 0.0
                    if best is None or error < best[0]:
                        best = (error, op)
        if best is not None:
            ops[layer.name] = best[1]
            free.pop(best[1])
    return ops


def check_package(path: Path, *, spec: Any, labels: Optional[list[str]], cfg: Any, layers: list[LayerWeights],
                  plan: dict[str, dict[str, Any]], before: dict[str, np.ndarray], fp16: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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
    checks += _interface_checks(model, spec=spec, labels=labels, cfg=cfg)
    stored = coreml.storage(model)
    values = coreml.dense_weights(model)
    ops = op_layers({op: (op, kind, value) for op, (kind, value) in values.items()}, layers)
    formats: dict[str, Any] = {}
    for layer in layers:
        entry = plan.get(layer.name, {"format": "fp16" if fp16 else "fp32", "source": "none"})
        op = entry.get("op") or ops.get(layer.name)
        if op is None or op not in values:
            checks.append(_check(f"weights of {layer.name}", False, "no Core ML op consumes this layer's kernel"))
            continue
        op_type, value = values[op]
        got = value.astype(np.float32)
        expected, folded = _closest([(coreml.keras_layout(layer.kernel, layer.type, op_type, value.shape), False),
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


def _interface_checks(model: Any, *, spec: Any, labels: Optional[list[str]], cfg: Any) -> list[dict[str, Any]]:
    """Deployment target, the input's name/kind/shape, the outputs and the class labels, read from the spec."""
    from edgekit.converters import coreml

    model_spec = model.get_spec()
    checks = []
    want = SPEC_VERSION[cfg.minimum_deployment_target]
    got = model_spec.specificationVersion
    checks.append(_check("deployment target", got <= want,
                         f"spec version {got} runs on {cfg.minimum_deployment_target} (spec {want}) and later"))
    inputs = {item.name: item.type for item in model_spec.description.input}
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
    checks.append(_check("input", ok, detail if ok else f"expected {detail}; inputs are {sorted(inputs)}"))
    outputs = [item.name for item in model_spec.description.output]
    ok = cfg.output_name in outputs and (not labels or model_spec.description.predictedFeatureName in outputs)
    checks.append(_check("outputs", ok, f"{', '.join(outputs)}"))
    if labels:
        found = _class_labels(model, coreml)
        checks.append(_check("class labels", found == labels,
                             f"{len(found or [])} labels" + ("" if found == labels else f" (expected {len(labels)})")))
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
