"""Rebuild a Keras 3 `.keras` file as an equivalent tf_keras (Keras 2) model with the same weights.

tf_keras cannot read Keras 3 archives, and edgekit's pipeline needs tf_keras. This module reads
config.json and model.weights.h5 from the archive as plain JSON / HDF5, translates the config
to tf_keras' format, builds the model with tf_keras and copies the variables in. Keras 3 is only
imported by `verify_rebuild`, which compares the two models' outputs on random inputs.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models.safety import _names_keras_builtin, scan_config

TOLERANCE = 1e-5
SUPPORTED = {
    "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization",
    "Activation", "ReLU", "Softmax", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "GlobalMaxPooling2D", "Add", "Concatenate", "Multiply", "Dropout", "Flatten", "Reshape",
    "ZeroPadding2D", "Rescaling",
}
MODELS = {"Sequential", "Functional"}
# Activations whose Keras 3 and tf_keras definitions agree (hard_sigmoid, for one, does not).
ACTIVATIONS = {"linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
               "swish", "silu", "gelu", "exponential", "mish"}
# Keras 3 config keys tf_keras does not know, with the value that makes dropping them harmless.
KERAS3_ONLY = {"optional": False, "quantization_config": None, "lora_rank": None, "lora_alpha": None}
UNSAFE_HINT = "set model.allow_unsafe = true only if you trust this file and wrote its code"
REBUILD_HINT = ("use only built-in Conv/Dense/BatchNorm/pooling/merge layers, or export a SavedModel "
                "with model.export('dir')")


def is_keras3_file(path: Path) -> bool:
    """True for a `.keras` archive whose metadata.json says it was saved by Keras 3."""
    if path.suffix.lower() != ".keras":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return str(metadata.get("keras_version", "")).startswith("3")


def rebuild_keras3(path: Path, *, allow_unsafe: bool = False) -> tuple[Any, dict]:
    """The tf_keras twin of a Keras 3 `.keras` file and its rebuild record (parity checked)."""
    from edgekit.tfenv import keras

    config, metadata, weights = _read_archive(path)
    _check_safety(config, path, allow_unsafe)
    try:
        translated = _translate_model(config, path)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise InputError(f"{path.name}: malformed Keras 3 config ({type(err).__name__}: {_first_line(err)})",
                         hint="re-save the model with model.save('model.keras')") from None
    k = keras()
    try:
        model = k.models.model_from_json(json.dumps(translated))
    except Exception as err:  # noqa: BLE001 - tf_keras fails in many ways; report one line
        raise UnsupportedModelError(f"{path.name}: tf_keras could not build the translated model: {_first_line(err)}",
                                    hint=REBUILD_HINT) from None
    try:
        with h5py.File(io.BytesIO(weights), "r") as store:
            _load_weights(model, config, store, path)
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path.name}: unreadable model.weights.h5 ({_first_line(err)})",
                         hint="re-save the model with model.save('model.keras')") from None
    check = verify_rebuild(path, model)
    record = {"source_keras_version": str(metadata.get("keras_version")), "layers": _count_layers(model), **check}
    if record["status"] != "passed":
        raise UnsupportedModelError(
            f"{path.name}: the tf_keras rebuild differs from the Keras 3 model by {check['max_abs_error']:.3g} "
            f"(limit {TOLERANCE:g})", hint="export a SavedModel with model.export('dir') and point model.path at it")
    return model, record


def verify_rebuild(path: Path, rebuilt: Any, *, samples: int = 8, seed: int = 0) -> dict:
    """Max abs difference between the Keras 3 original and `rebuilt` on random inputs."""
    import keras as keras3

    try:
        original = keras3.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001
        raise UnsupportedModelError(f"{path.name}: Keras 3 could not load it for the parity check: {_first_line(err)}",
                                    hint="check that the file loads with keras.saving.load_model") from None
    rng = np.random.default_rng(seed)
    inputs = [rng.normal(size=(samples, *_fixed_shape(t.shape, path))).astype(np.float32) for t in rebuilt.inputs]
    feed = inputs[0] if len(inputs) == 1 else inputs
    expected = _flat_outputs(original(feed, training=False))
    actual = _flat_outputs(rebuilt(feed, training=False))
    if len(expected) != len(actual):
        error = float("inf")
    else:
        error = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(expected, actual))
    status = "passed" if error <= TOLERANCE else "failed"
    return {"max_abs_error": error, "samples": samples, "status": status}


def _read_archive(path: Path) -> tuple[dict, dict, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
            weights = archive.read("model.weights.h5")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path.name}: not a readable Keras 3 archive ({_first_line(err)})",
                         hint="re-save the model with model.save('model.keras')") from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise InputError(f"{path.name}: config.json or metadata.json is not a JSON object",
                         hint="re-save the model with model.save('model.keras')")
    return config, metadata, weights


def _check_safety(config: dict, path: Path, allow_unsafe: bool) -> None:
    """Run the shared scan; Keras 3 built-ins that tf_keras lacks are not unsafe, only unsupported."""
    problems = scan_config(_without_tensors(config), keras_builtins_unknown_to_tf_keras=True).problems
    if problems and not allow_unsafe:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsafeModelError(f"{path.name}: refused to load: {problems[0]}{more}", hint=UNSAFE_HINT)


def _without_tensors(value: Any) -> Any:
    """A copy with each `__keras_tensor__` replaced by its plain [layer, node, tensor] history."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return list(value.get("config", {}).get("keras_history", []))
        return {key: _without_tensors(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_tensors(item) for item in value]
    return value


def _translate_model(config: dict, path: Path) -> dict:
    kind, inner = config.get("class_name"), config.get("config", {})
    if kind not in MODELS:
        raise UnsupportedModelError(f"{path.name}: top-level class {kind!r} is not Sequential or Functional",
                                    hint="save a Sequential or functional keras.Model, not a subclassed model")
    layers = inner.get("layers", [])
    # tf_keras counts a nested model's construction as node 0, so its calls start at node 1.
    nested = {_layer_name(layer) for layer in layers if layer.get("class_name") in MODELS}
    out = {"name": inner.get("name"), "layers": [_translate_layer(layer, path, kind, nested) for layer in layers]}
    if kind == "Functional":
        out["input_layers"] = _endpoints(inner["input_layers"], nested, path)
        out["output_layers"] = _endpoints(inner["output_layers"], nested, path)
        _check_graph(out, path)
    elif not layers or layers[0].get("class_name") != "InputLayer":
        if inner.get("build_input_shape") is None:
            raise UnsupportedModelError(f"{path.name}: Sequential {inner.get('name')!r} has no input shape",
                                        hint="start the model with keras.Input(shape=...)")
        shape = inner["build_input_shape"]
        out["layers"].insert(0, {"class_name": "InputLayer", "config": {"batch_input_shape": shape}})
    return {"class_name": kind, "config": out}


def _translate_layer(layer: dict, path: Path, parent: str, nested: set[str]) -> dict:
    kind, name = layer.get("class_name"), _layer_name(layer)
    if kind in MODELS:
        out = _translate_model(layer, path)
    elif kind == "Activation" and layer.get("config", {}).get("activation") == "relu6":
        config = {key: value for key, value in layer["config"].items() if key != "activation"}
        out = {"class_name": "ReLU", "config": _layer_config(kind, name, {**config, "max_value": 6.0}, path)}
    elif kind in SUPPORTED:
        out = {"class_name": kind, "config": _layer_config(kind, name, layer.get("config", {}), path)}
    else:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} is a {kind}, which edgekit cannot rebuild for tf_keras",
                                    hint=REBUILD_HINT)
    if parent == "Functional":
        out["name"] = name
        out["inbound_nodes"] = [_inbound(node, name, nested, path) for node in layer.get("inbound_nodes", [])]
    return out


def _check_graph(config: dict, path: Path) -> None:
    """Refuse calls on missing or circular inputs: tf_keras would wait for them forever."""
    done = {(layer["name"], 0) for layer in config["layers"] if layer["class_name"] == "InputLayer"}
    pending = {(layer["name"], index + (layer["class_name"] in MODELS)): [(ref[0], ref[1]) for ref in node]
               for layer in config["layers"] for index, node in enumerate(layer["inbound_nodes"])}
    while pending:
        ready = [key for key, refs in pending.items() if all(ref in done for ref in refs)]
        if not ready:
            raise UnsupportedModelError(f"{path.name}: layer {min(pending)[0]!r} is called on tensors no layer produces",
                                        hint="re-save the model with model.save('model.keras')")
        done.update(ready)
        for key in ready:
            del pending[key]
    missing = [ref for ref in config["input_layers"] + config["output_layers"] if (ref[0], ref[1]) not in done]
    if missing:
        raise UnsupportedModelError(f"{path.name}: model input/output {missing[0][0]!r} is not produced by any layer",
                                    hint="re-save the model with model.save('model.keras')")


def _layer_name(layer: dict) -> str:
    return layer.get("config", {}).get("name", layer.get("name"))


def _layer_config(kind: str, name: str, config: dict, path: Path) -> dict:
    out = {}
    for key, value in config.items():
        if key in KERAS3_ONLY:
            if value != KERAS3_ONLY[key]:
                raise UnsupportedModelError(f"{path.name}: layer {name!r} ({kind}) sets {key}={value!r}, "
                                            "which tf_keras has no equivalent for", hint=REBUILD_HINT)
        elif key == "dtype":
            out[key] = value.get("config", {}).get("name", "float32") if isinstance(value, dict) else value
        elif key == "batch_shape":
            out["batch_input_shape"] = value
        elif key == "activation":
            out[key] = _activation(value, kind, name, path)
        elif key.endswith("_initializer"):
            continue  # the saved weights replace whatever an initializer would draw
        elif isinstance(value, dict) and "class_name" in value:
            out[key] = {"class_name": value["class_name"], "config": value.get("config", {})}  # tf_keras built-ins only
        else:
            out[key] = value
    return out


def _activation(value: Any, kind: str, name: str, path: Path) -> str:
    if isinstance(value, dict) and value.get("class_name") == "function" and _names_keras_builtin(value):
        value = value.get("config")
    if value not in ACTIVATIONS:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} ({kind}) uses activation {value!r}, "
                                    "which tf_keras does not compute the same way", hint=REBUILD_HINT)
    return value


def _inbound(node: Any, name: str, nested: set[str], path: Path) -> list:
    """Keras 3 {"args": [...], "kwargs": {...}} call record -> tf_keras [[layer, node, tensor, kwargs], ...]."""
    args = node.get("args", []) if isinstance(node, dict) else None
    kwargs = node.get("kwargs", {}) if isinstance(node, dict) else None
    if not isinstance(args, list) or len(args) != 1 or _without_tensors(kwargs) != kwargs:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} is called with arguments tf_keras cannot replay",
                                    hint="call each layer on one tensor or one list of tensors")
    first = args[0]
    if isinstance(first, dict) and first.get("class_name") == "__tuple__":
        first = first.get("config", {}).get("value", [])
    tensors = first if isinstance(first, list) else [first]
    history = [_history(tensor, name, nested, path) for tensor in tensors]
    return [[*item, kwargs] for item in history]


def _history(tensor: Any, name: str, nested: set[str], path: Path) -> list:
    if not (isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__"):
        raise UnsupportedModelError(f"{path.name}: layer {name!r} takes a constant where a tensor was expected",
                                    hint="feed every layer input from another layer")
    return _shift(list(tensor["config"]["keras_history"]), nested)


def _shift(history: list, nested: set[str]) -> list:
    layer, node, index = history
    return [layer, node + 1 if layer in nested else node, index]


def _endpoints(value: Any, nested: set[str], path: Path) -> list:
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]  # a single [layer, node, tensor] triple
    if isinstance(value, list) and all(isinstance(item, list) and len(item) == 3 for item in value):
        return [_shift(item, nested) for item in value]
    raise UnsupportedModelError(f"{path.name}: model inputs/outputs are a dict or nested structure",
                                hint="use a list of inputs and outputs")


def _load_weights(model: Any, config: dict, group: Any, path: Path) -> None:
    """Copy each layer's Keras 3 `vars/0..n` from the HDF5 group into the matching tf_keras layer."""
    layers = config["config"]["layers"]
    if config["class_name"] == "Sequential":
        layers = [layer for layer in layers if layer.get("class_name") != "InputLayer"]
    stored = group["layers"] if "layers" in group else {}
    for layer, key in zip(layers, _store_keys(layers)):
        name = _layer_name(layer)
        target = model.get_layer(name)
        if key not in stored:
            if target.weights:
                raise InputError(f"{path.name}: no saved weights for layer {name!r}",
                                 hint="re-save the model with model.save('model.keras')")
            continue
        if layer["class_name"] in MODELS:
            _load_weights(target, layer, stored[key], path)
        else:
            _assign(target, stored[key], path)


def _assign(layer: Any, group: Any, path: Path) -> None:
    variables = group.get("vars")
    values = [np.asarray(variables[str(i)]) for i in range(len(variables))] if variables is not None else []
    expected = [tuple(w.shape) for w in layer.weights]
    if [v.shape for v in values] != expected:
        raise UnsupportedModelError(f"{path.name}: layer {layer.name!r} saved variables {[v.shape for v in values]} "
                                    f"do not match tf_keras' {expected}", hint=REBUILD_HINT)
    if values:
        layer.set_weights(values)


def _store_keys(layers: list) -> list[str]:
    """Keras 3 names each layer's weights group after its class in snake_case, numbered on repeats."""
    seen: dict[str, int] = {}
    keys = []
    for layer in layers:
        base = _snake_case(layer.get("class_name", ""))
        keys.append(f"{base}_{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return keys


def _snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _fixed_shape(shape: Any, path: Path) -> tuple[int, ...]:
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        raise UnsupportedModelError(f"{path.name}: input shape {tuple(shape)} has free dimensions besides the batch",
                                    hint="give the model a fixed input shape, e.g. keras.Input((224, 224, 3))")
    return tuple(int(d) for d in dims)


def _flat_outputs(value: Any) -> list[np.ndarray]:
    if isinstance(value, dict):
        return [np.asarray(value[key], dtype=np.float64) for key in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [np.asarray(item, dtype=np.float64) for item in value]
    return [np.asarray(value, dtype=np.float64)]


def _count_layers(model: Any) -> int:
    """Layers other than inputs, nested models counted by their own layers."""
    return sum(_count_layers(layer) if hasattr(layer, "layers") else type(layer).__name__ != "InputLayer"
               for layer in model.layers)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
