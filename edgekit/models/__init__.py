"""Load the user's model safely: `.keras` / `.h5` (tf_keras) and SavedModel directories.

Every file is scanned before it is deserialised (see `safety`). Keras 3 `.keras` files are
detected and explained: tf_keras cannot read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models import safety

UNSAFE_HINT = "set model.allow_unsafe = true only if you trust this file and wrote its code"


@dataclass
class LoadedModel:
    path: Path
    format: str  # "keras" | "h5" | "savedmodel"
    params: int
    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    keras_model: Any = None  # tf_keras model, when the file is Keras
    call: Callable[[np.ndarray], np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)
    rebuild: dict | None = None  # Keras 3 files: how the tf_keras twin was checked against the original

    def predict(self, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        outputs = []
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            if self.keras_model is not None:
                outputs.append(np.asarray(self.keras_model(batch, training=False)))
            else:
                outputs.append(np.asarray(self.call(batch)))
        return np.concatenate(outputs).astype(np.float32)


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise UnsupportedModelError(f"{path} is a directory without saved_model.pb",
                                    hint="point model.path at a .keras or .h5 file or a SavedModel directory")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        return "keras"
    if suffix in (".h5", ".hdf5"):
        return "h5"
    if suffix in (".tflite", ".onnx", ".pt", ".pth", ".mlpackage", ".mlmodel", ".pb"):
        raise UnsupportedModelError(f"{path.name}: {suffix} is not a Keras model",
                                    hint="edgekit starts from a Keras model: .keras, .h5 or a SavedModel directory")
    raise UnsupportedModelError(f"{path.name}: unknown model format {suffix or '(no suffix)'}",
                                hint="use a .keras or .h5 file or a SavedModel directory")


def load_model(path: Path, *, allow_unsafe: bool = False) -> LoadedModel:
    if not path.exists():
        raise InputError(f"model file not found: {path}", hint="check model.path in the config")
    kind = detect_format(path)
    if kind == "savedmodel":
        return _load_saved_model(path, allow_unsafe=allow_unsafe)
    return _load_keras(path, kind, allow_unsafe=allow_unsafe)


def _load_keras(path: Path, kind: str, *, allow_unsafe: bool) -> LoadedModel:
    try:
        _, findings = safety.scan_keras_zip(path) if kind == "keras" else safety.scan_h5(path)
    except ValueError as err:
        raise InputError(f"{path.name}: {err}", hint="re-save the model with model.save('model.keras')") from None
    version = findings.keras_version or ""
    if kind == "keras" and version.startswith("3"):
        return _load_keras3(path, allow_unsafe=allow_unsafe)
    if findings.problems and not allow_unsafe:
        raise UnsafeModelError(f"{path.name}: refused to load: {findings.problems[0]}"
                               + (f" (+{len(findings.problems) - 1} more)" if len(findings.problems) > 1 else ""),
                               hint=UNSAFE_HINT)
    from edgekit.tfenv import keras

    k = keras()
    try:
        if kind == "keras":
            model = k.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
        else:
            model = k.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - a loader can fail in many ways; report one line
        raise UnsupportedModelError(f"{path.name}: tf_keras could not load it: {_first_line(err)}",
                                    hint="check that it was saved by tf_keras 2.x with built-in layers") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(f"{path.name}: {len(model.inputs)} inputs / {len(model.outputs)} outputs",
                                    hint="edgekit handles single-input, single-output classifiers")
    notes = [f"loaded with unsafe content allowed: {p}" for p in findings.problems]
    return LoadedModel(path=path, format=kind, params=int(model.count_params()),
                       input_shape=tuple(model.inputs[0].shape), output_shape=tuple(model.outputs[0].shape),
                       keras_model=model, notes=notes)


def _load_keras3(path: Path, *, allow_unsafe: bool) -> LoadedModel:
    """Keras 3 file: rebuilt as an equivalent tf_keras model (outputs checked to 1e-5)."""
    from edgekit.models.keras3 import rebuild_keras3

    model, record = rebuild_keras3(path, allow_unsafe=allow_unsafe)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedModelError(f"{path.name}: {len(model.inputs)} inputs / {len(model.outputs)} outputs",
                                    hint="edgekit handles single-input, single-output classifiers")
    note = (f"Keras {record['source_keras_version']} file rebuilt as tf_keras: max abs output difference "
            f"{record['max_abs_error']:.2e} on {record['samples']} random inputs")
    return LoadedModel(path=path, format="keras3", params=int(model.count_params()),
                       input_shape=tuple(model.inputs[0].shape), output_shape=tuple(model.outputs[0].shape),
                       keras_model=model, notes=[note], rebuild=record)


def _load_saved_model(path: Path, *, allow_unsafe: bool) -> LoadedModel:
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    try:
        ops, risky = safety.scan_saved_model_ops(path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path}: saved_model.pb is unreadable ({_first_line(err)})") from None
    if risky and not allow_unsafe:
        raise UnsafeModelError(f"{path.name}: refused to load: graph uses {'; '.join(risky[:3])}"
                               + (f" (+{len(risky) - 3} more)" if len(risky) > 3 else ""), hint=UNSAFE_HINT)
    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["serving_default"]
    except KeyError:
        raise UnsupportedModelError(f"{path.name}: no 'serving_default' signature",
                                    hint="export with model.export() or tf.saved_model.save(..., signatures=...)") from None
    except Exception as err:  # noqa: BLE001
        raise UnsupportedModelError(f"{path.name}: TensorFlow could not load it: {_first_line(err)}") from None
    args = fn.structured_input_signature[1]
    if len(args) != 1 or len(fn.structured_outputs) != 1:
        raise UnsupportedModelError(f"{path.name}: signature has {len(args)} inputs / {len(fn.structured_outputs)} outputs",
                                    hint="edgekit handles single-input, single-output classifiers")
    (in_name, in_spec), = args.items()
    (out_name, out_spec), = fn.structured_outputs.items()

    def call(batch: np.ndarray) -> np.ndarray:
        return fn(**{in_name: tf.constant(batch, dtype=in_spec.dtype)})[out_name].numpy()

    params = int(sum(np.prod(v.shape) for v in getattr(loaded, "variables", [])))
    return LoadedModel(path=path, format="savedmodel", params=params, input_shape=tuple(in_spec.shape),
                       output_shape=tuple(out_spec.shape), call=call, keras_model=None,
                       notes=[f"SavedModel graph scanned: {len(ops)} op types"] + [f"loaded with unsafe ops allowed: {r}" for r in risky])


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
