"""Rebuild a Keras 3 `.keras` file as an equivalent tf_keras (Keras 2) model with the same weights.

The rebuild exists for recipe steps that need tf_keras (TFMOT pruning, clustering, QAT): it gives
them a faithful tf_keras twin. It reads config.json and model.weights.h5 from the archive as plain
JSON / HDF5 (nothing is deserialised), translates the graph layer by layer (`keras3_layers`),
builds it with tf_keras, copies the variables in (shapes checked) and compares the twin with the
Keras 3 original on random inputs. Every model comes out as a tf_keras functional model.

Parity criterion: max |twin - original| <= 1e-5 * max(1, max |original|) over all outputs. For
outputs within [-1, 1] (softmax, sigmoid) that is the plain 1e-5 absolute limit; larger outputs
(logits, regressions) carry float32 rounding proportional to their size, which a fixed absolute
limit would misread as a difference in the model.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models import keras3_layers as tables
from edgekit.models.safety import scan_config

TOLERANCE = 1e-5
MODELS = {"Sequential", "Functional"}
UNSAFE_HINT = "set model.allow_unsafe = true only if you trust this file and wrote its code"
REBUILD_HINT = ("converting this model without a recipe works; only recipe steps that need tf_keras "
                "(pruning, clustering, QAT) are blocked by the layer named here")


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
    notes: dict = {"identities": [], "translations": Counter()}
    try:
        translated = _translate_model(config, path, notes)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise InputError(f"{path.name}: malformed Keras 3 config ({type(err).__name__}: {_first_line(err)})",
                         hint="re-save the model with model.save('model.keras')") from None
    k = keras()
    try:
        model = k.models.model_from_json(json.dumps(translated),
                                         custom_objects={"LayerScale": tables.tf_keras_class("LayerScale", k)})
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
    record = {"source_keras_version": str(metadata.get("keras_version")), "layers": _count_layers(model), **check,
              "identities": notes["identities"], "translations": dict(notes["translations"])}
    if record["status"] != "passed":
        raise UnsupportedModelError(
            f"{path.name}: the tf_keras rebuild differs from the Keras 3 model by {check['max_abs_error']:.3g} "
            f"(limit {check['limit']:.3g})", hint=REBUILD_HINT)
    return model, record


def verify_rebuild(path: Path, rebuilt: Any, *, samples: int = 8, seed: int = 0) -> dict:
    """Max abs difference between the Keras 3 original and `rebuilt` on random inputs (see module doc)."""
    import keras as keras3

    try:
        original = keras3.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001
        raise UnsupportedModelError(f"{path.name}: Keras 3 could not load it for the parity check: {_first_line(err)}",
                                    hint="check that the file loads with keras.saving.load_model") from None
    rng = np.random.default_rng(seed)
    inputs = [_random_input(t, rebuilt, samples, rng, path) for t in rebuilt.inputs]
    feed = inputs[0] if len(inputs) == 1 else inputs
    expected = _flat_outputs(original(feed, training=False))
    actual = _flat_outputs(rebuilt(feed, training=False))
    if len(expected) != len(actual) or any(a.shape != b.shape for a, b in zip(expected, actual)):
        error, scale = float("inf"), 0.0
    else:
        error = max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(expected, actual))
        scale = max(float(np.max(np.abs(b), initial=0.0)) for b in expected)
    limit = TOLERANCE * max(1.0, scale)
    status = "passed" if error <= limit else "failed"
    return {"max_abs_error": error, "max_abs_output": scale, "limit": limit, "samples": samples, "status": status}


def _random_input(tensor: Any, rebuilt: Any, samples: int, rng: Any, path: Path) -> np.ndarray:
    """Normal floats, or for integer inputs indices valid for every Embedding of the model."""
    shape = (samples, *_fixed_shape(tensor.shape, path))
    if not tensor.dtype.is_integer:
        return rng.normal(size=shape).astype(np.float32)
    sizes = [layer.input_dim for layer in _all_layers(rebuilt) if type(layer).__name__ == "Embedding"]
    return rng.integers(0, min(sizes, default=2), size=shape).astype(tensor.dtype.as_numpy_dtype)


def _all_layers(model: Any) -> list:
    return [inner for layer in model.layers
            for inner in (_all_layers(layer) if hasattr(layer, "layers") else [layer])]


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
    """The Keras 3 allowlist scan (the same as when loading), before anything is rebuilt."""
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


def _translate_model(config: dict, path: Path, notes: dict) -> dict:
    """A Keras 3 Sequential or functional config as a tf_keras functional config."""
    kind, inner = config.get("class_name"), config.get("config", {})
    if kind not in MODELS:
        raise UnsupportedModelError(f"{path.name}: top-level class {kind!r} is not Sequential or Functional",
                                    hint="save a Sequential or functional keras.Model, not a subclassed model")
    if kind == "Sequential":
        inner = _sequential_as_functional(inner, path)
    layers = inner.get("layers", [])
    taken = {_layer_name(layer) for layer in layers}
    # tf_keras counts a nested model's construction as node 0, so its calls start at node 1.
    nested = {_layer_name(layer) for layer in layers if layer.get("class_name") in MODELS}
    plans = [(layer, _plan(layer, path, notes, taken)) for layer in layers]
    output_of = {_layer_name(layer): pieces[-1]["name"] for layer, pieces in plans}

    def ref(history: list) -> list:
        layer, node, index = history
        return [output_of[layer], node + (layer in nested), index]

    out_layers = []
    for layer, pieces in plans:
        calls = [_call(node, _layer_name(layer), path, tables.is_operation(layer))
                 for node in layer.get("inbound_nodes", [])]
        for piece in pieces:
            nodes = []
            for k, (tensors, kwargs) in enumerate(calls):
                node: list = []
                for source in piece["sources"]:
                    node += ([[*ref(t), kwargs if piece is pieces[0] else {}] for t in tensors] if source is None
                             else [[source, k, 0, {}]])
                nodes.append(node)
            out_layers.append({"class_name": piece["class_name"], "config": piece["config"], "name": piece["name"],
                               "inbound_nodes": nodes})
    out = {"name": inner.get("name"), "layers": out_layers,
           "input_layers": [ref(item) for item in _endpoints(inner["input_layers"], path)],
           "output_layers": [ref(item) for item in _endpoints(inner["output_layers"], path)]}
    _check_graph(out, path)
    return {"class_name": "Functional", "config": out}


def _sequential_as_functional(inner: dict, path: Path) -> dict:
    """Keras 3 Sequential layers chained into a functional config (an InputLayer first)."""
    layers = list(inner.get("layers", []))
    if not layers or layers[0].get("class_name") != "InputLayer":
        if inner.get("build_input_shape") is None:
            raise UnsupportedModelError(f"{path.name}: Sequential {inner.get('name')!r} has no input shape",
                                        hint="start the model with keras.Input(shape=...)")
        names = {_layer_name(layer) for layer in layers}
        name = next(n for n in (f"{inner.get('name')}_input_{i}" for i in range(len(names) + 1)) if n not in names)
        layers.insert(0, {"class_name": "InputLayer", "module": "keras.layers",
                          "config": {"name": name, "batch_shape": inner["build_input_shape"]}})
    chained = [layers[0]]
    for previous, layer in zip(layers, layers[1:]):
        tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": [_layer_name(previous), 0, 0]}}
        chained.append({**layer, "inbound_nodes": [{"args": [tensor], "kwargs": {}}]})
    first, last = _layer_name(layers[0]), _layer_name(layers[-1])
    return {"name": inner.get("name"), "layers": chained, "input_layers": [[first, 0, 0]],
            "output_layers": [[last, 0, 0]]}


def _plan(layer: dict, path: Path, notes: dict, taken: set[str]) -> list[dict]:
    """The tf_keras pieces of one Keras 3 layer; refusals name the layer, its class and the reason."""
    kind, name = layer.get("class_name"), _layer_name(layer)
    if kind in MODELS:
        return [{"class_name": "Functional", "config": _translate_model(layer, path, notes)["config"],
                 "name": name, "sources": [None]}]
    try:
        pieces, how = tables.translate(layer, taken)
    except tables.Refused as refusal:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} is a {kind}, which the tf_keras rebuild cannot "
                                    f"reproduce: {refusal}", hint=REBUILD_HINT) from None
    if how == "identity":
        notes["identities"].append(name)
    elif how != "same":
        notes["translations"][how] += 1
    return pieces


def _call(node: Any, name: str, path: Path, operation: bool) -> tuple[list, dict]:
    """Keras 3 {"args": [...], "kwargs": {...}} call record -> (tensor histories, kwargs)."""
    args = node.get("args", []) if isinstance(node, dict) else None
    kwargs = node.get("kwargs", {}) if isinstance(node, dict) else None
    if not isinstance(args, list) or not args or _without_tensors(kwargs) != kwargs:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} is called with arguments tf_keras cannot replay",
                                    hint="call each layer on one tensor or one list of tensors")
    first = args[0]
    if isinstance(first, dict) and first.get("class_name") == "__tuple__":
        first = first.get("config", {}).get("value", [])
    if operation:  # such as x + 3.0: its tensors, in order (the constants went into the layer's config)
        tensors = [arg for arg in args if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"]
    elif len(args) == 1:
        tensors = first if isinstance(first, list) else [first]
    else:
        raise UnsupportedModelError(f"{path.name}: layer {name!r} is called with {len(args)} positional arguments, "
                                    "which tf_keras cannot replay", hint=REBUILD_HINT)
    return [_history(tensor, name, path) for tensor in tensors], kwargs


def _history(tensor: Any, name: str, path: Path) -> list:
    if not (isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__"):
        raise UnsupportedModelError(f"{path.name}: layer {name!r} takes a constant where a tensor was expected",
                                    hint="feed every layer input from another layer")
    return list(tensor["config"]["keras_history"])


def _check_graph(config: dict, path: Path) -> None:
    """Refuse calls on missing or circular inputs: tf_keras would wait for them forever."""
    done = {(layer["name"], 0) for layer in config["layers"] if layer["class_name"] == "InputLayer"}
    pending = {(layer["name"], index + (layer["class_name"] in MODELS)): [(ref[0], ref[1]) for ref in node]
               for layer in config["layers"] for index, node in enumerate(layer["inbound_nodes"])}
    while pending:
        ready = [key for key, refs in pending.items() if all(ref in done for ref in refs)]
        if not ready:
            raise UnsupportedModelError(f"{path.name}: layer {min(pending)[0]!r} is called on tensors no layer "
                                        "produces",
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


def _endpoints(value: Any, path: Path) -> list:
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]  # a single [layer, node, tensor] triple
    if isinstance(value, list) and all(isinstance(item, list) and len(item) == 3 for item in value):
        return value
    raise UnsupportedModelError(f"{path.name}: model inputs/outputs are a dict or nested structure",
                                hint="use a list of inputs and outputs")


def _load_weights(model: Any, config: dict, group: Any, path: Path) -> None:
    """Copy each Keras 3 layer's `vars/0..n` from the HDF5 group into the tf_keras layer of that name.

    Keras 3 stores a model's layers under `layers/<snake_case class>[_n]`, numbered per class in
    `model.layers` order: operations (x + 3.0) are not layers, and a Sequential's InputLayer is not
    listed. Nested models hold their own `layers` group.
    """
    layers = [layer for layer in config["config"]["layers"] if not tables.is_operation(layer)]
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
        if hasattr(layer, "adapt_mean"):  # Normalization: recompute the mean/variance it divides by
            layer.finalize_state()


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
