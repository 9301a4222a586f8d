"""Load the user's model safely: tf_keras `.keras` / `.h5`, Keras 3 `.keras`, SavedModel directories.

Every file is scanned before it is deserialised (see `safety`). tf_keras files load with
tf_keras, Keras 3 files with Keras 3 itself (safe mode), SavedModels with TensorFlow. Whatever the
source, a `LoadedModel` knows its inputs and outputs by the model's own names, predicts on lists
of arrays (one per input, one per output) and exports the one graph every converter reads
(`export.py`).
"""
from __future__ import annotations

import dataclasses
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models import safety
from edgekit.models.signature import TensorInfo, keras_signature, safe_names

UNSAFE_HINT = "set model.allow_unsafe = true only if you trust this file and wrote its code"


@dataclass
class LoadedModel:
    path: Path
    format: str  # "keras" | "h5" | "keras3" | "savedmodel": what the file is
    params: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    keras_model: Any = None  # tf_keras or Keras 3 model (see `flavor`)
    flavor: str = "tf_keras"  # "tf_keras" | "keras3" | "savedmodel": what runs it here
    notes: list[str] = field(default_factory=list)
    rebuild: Optional[dict] = None  # Keras 3 files turned into tf_keras for a recipe: how that was checked
    loaded: Any = None  # tf.saved_model object (SavedModel directories)
    _exports: dict = field(default_factory=dict, repr=False)

    @property
    def fixed_batch(self) -> Optional[int]:
        """The batch size a SavedModel's signature insists on (None: free, as Keras models have it)."""
        batches = {info.shape[0] for info in self.inputs if info.shape}
        return next(iter(batches)) if len(batches) == 1 and None not in batches else None

    @property
    def input_names(self) -> list[str]:
        return [info.name for info in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [info.name for info in self.outputs]

    def predict(self, xs: Sequence[np.ndarray] | np.ndarray, *, batch_size: int = 256,
                progress: Optional[Callable[[int], None]] = None) -> list[np.ndarray]:
        """Outputs (one float32 array per model output) for inputs (one array per model input);
        `progress(n)` is called after each batch with the samples it held."""
        from edgekit.models.export import keras_inputs, keras_outputs

        xs = [xs] if isinstance(xs, np.ndarray) else list(xs)
        rows: list[list[np.ndarray]] = [[] for _ in self.outputs]
        step = self.fixed_batch or batch_size
        for start in range(0, len(xs[0]), step):
            batch = [x[start:start + step] for x in xs]
            real = len(batch[0])
            if real < step and self.fixed_batch:  # pad the last batch to the signature's size
                batch = [np.concatenate([b, np.repeat(b[-1:], step - real, axis=0)]) for b in batch]
            if self.keras_model is not None:
                result = keras_outputs(self, self.keras_model(keras_inputs(batch), training=False))
            else:
                result = self._call_saved_model(batch)
            for store, value in zip(rows, result):
                store.append(np.asarray(value, dtype=np.float32)[:real])
            if progress is not None:
                progress(real)
        return [np.concatenate(store) for store in rows]

    def _call_saved_model(self, batch: list[np.ndarray]) -> list[Any]:
        from edgekit.tfenv import tensorflow

        tf = tensorflow()
        _, function = self.saved_model_signature()
        feed = {info.source_name or info.name: tf.constant(x, dtype=info.dtype) for info, x in zip(self.inputs, batch)}
        result = function(**feed)
        return [result[info.source_name or info.name].numpy() for info in self.outputs]

    def saved_model_signature(self) -> tuple[Any, Any]:
        return self.loaded, self.loaded.signatures["serving_default"]

    def saved_model(self, *, batch: Optional[int]) -> Path:
        """The exported graph (see `export.py`), written once per batch setting into a temp folder."""
        from edgekit.models.export import export_saved_model

        if self.fixed_batch is not None and batch != self.fixed_batch:
            batch = self.fixed_batch  # the signature allows no other batch size
        if batch not in self._exports:
            if "workdir" not in self._exports:
                self._exports["workdir"] = tempfile.TemporaryDirectory(prefix="edgekit-export-")
            folder = Path(self._exports["workdir"].name) / f"batch_{batch or 'free'}"
            self._exports[batch] = export_saved_model(self, folder, batch=batch)
        return self._exports[batch]

    def replaced(self, **changes: Any) -> "LoadedModel":
        """A copy with some fields changed (a recipe's result, fixed input shapes); exports are not shared."""
        return dataclasses.replace(self, _exports={}, **changes)

    def with_input_shapes(self, shapes: Sequence[tuple[int, ...]]) -> "LoadedModel":
        """Free (None) dimensions besides the batch filled from the data's shapes; noted when any was free."""
        fixed, notes = [], []
        for info, shape in zip(self.inputs, shapes):
            inner = tuple(s if d is None else d for d, s in zip(info.inner, shape))
            if inner != info.inner:
                notes.append(f"input {info.name!r} has free dimensions {list(info.inner)}: "
                             f"artifacts are built for the data's {list(inner)}")
            fixed.append(dataclasses.replace(info, shape=(info.shape[0] if info.shape else None, *inner)))
        return self if not notes else self.replaced(inputs=fixed, notes=self.notes + notes)


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
        model = _load_saved_model(path, allow_unsafe=allow_unsafe)
    else:
        model = _load_keras(path, kind, allow_unsafe=allow_unsafe)
    check_weights(model)
    return model


def check_weights(model: LoadedModel) -> None:
    """A NaN or Inf weight makes every artifact wrong: name the layer before anything is converted."""
    if model.keras_model is not None:
        owners = [(layer.name, w) for layer in _all_layers(model.keras_model) for w in layer.weights]
    else:
        owners = [(getattr(v, "name", "?"), v) for v in getattr(model.loaded, "variables", [])]
    for owner, weight in owners:
        value = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(np.size(value) - np.isfinite(value).sum())
            name = str(getattr(weight, "name", "?")).split("/")[-1]
            raise InputError(f"{model.path.name}: layer {owner!r} holds {bad:,} NaN or Inf value(s) in {name}",
                             hint="retrain or repair the model: every artifact converted from it would be wrong")


def _all_layers(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found += _all_layers(layer) if hasattr(layer, "layers") and getattr(layer, "layer", None) is None else [layer]
    return found


def _refuse(path: Path, problems: list[str]) -> None:
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    raise UnsafeModelError(f"{path.name}: refused to load: {problems[0]}{more}", hint=UNSAFE_HINT)


def _load_keras(path: Path, kind: str, *, allow_unsafe: bool) -> LoadedModel:
    try:
        _, findings = safety.scan_keras_zip(path) if kind == "keras" else safety.scan_h5(path)
    except ValueError as err:
        raise InputError(f"{path.name}: {err}", hint="re-save the model with model.save('model.keras')") from None
    version = findings.keras_version or ""
    if version.startswith("3"):  # `.keras` or legacy `.h5` written by Keras 3: Keras 3 reads it
        return _load_keras3(path, findings, allow_unsafe=allow_unsafe)
    if findings.problems and not allow_unsafe:
        _refuse(path, findings.problems)
    from edgekit.tfenv import keras

    k = keras()
    # keras.applications' own layers (ConvNeXt's LayerScale...) that tf_keras cannot resolve by itself
    known = safety.tf_keras_application_objects(findings.class_names)
    try:
        if kind == "keras":
            model = k.models.load_model(path, compile=False, safe_mode=not allow_unsafe, custom_objects=known)
        else:
            model = k.models.load_model(path, compile=False, custom_objects=known)
    except Exception as err:  # noqa: BLE001 - a loader can fail in many ways; report one line
        raise UnsupportedModelError(f"{path.name}: tf_keras could not load it: {_first_line(err)}",
                                    hint="check that it was saved by tf_keras 2.x with built-in layers") from None
    notes = [f"loaded with unsafe content allowed: {p}" for p in findings.problems]
    return keras_loaded(path, kind, model, flavor="tf_keras", notes=notes)


def _load_keras3(path: Path, findings: safety.Findings, *, allow_unsafe: bool) -> LoadedModel:
    """Keras 3 file: scanned (Keras 3 allowlist) before Keras 3 itself loads it in safe mode."""
    if findings.problems and not allow_unsafe:
        _refuse(path, findings.problems)
    from edgekit.tfenv import keras3

    k3 = keras3()
    try:
        model = k3.saving.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except Exception as err:  # noqa: BLE001
        raise UnsupportedModelError(f"{path.name}: Keras 3 could not load it: {_first_line(err)}",
                                    hint="check that it loads with keras.saving.load_model(path)") from None
    notes = [f"Keras {findings.keras_version} file, loaded with Keras {k3.__version__}"]
    notes += [f"loaded with unsafe content allowed: {p}" for p in findings.problems]
    return keras_loaded(path, "keras3", model, flavor="keras3", notes=notes)


def keras_loaded(path: Path, kind: str, model: Any, *, flavor: str = "tf_keras", notes: Optional[list[str]] = None) -> LoadedModel:
    """A `LoadedModel` around an in-memory Keras model (its inputs and outputs read from it)."""
    if not hasattr(model, "inputs") or not model.inputs:
        raise UnsupportedModelError(f"{path.name}: the model has no defined inputs (a subclassed model?)",
                                    hint="save a Sequential or functional model built on keras.Input(...)")
    inputs, outputs = keras_signature(model)
    return LoadedModel(path=path, format=kind, params=int(model.count_params()), inputs=inputs, outputs=outputs,
                       keras_model=model, flavor=flavor, notes=list(notes or []))


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
    outs = fn.structured_outputs
    if not args or not isinstance(outs, dict) or not outs:
        raise UnsupportedModelError(f"{path.name}: the serving signature has no named inputs or outputs",
                                    hint="export with model.export('dir') (Keras 3) or tf.saved_model.save")
    in_keys, out_keys = sorted(args), sorted(outs)
    inputs = [TensorInfo(name, _dims(args[key].shape), args[key].dtype.name, key)
              for name, key in zip(safe_names(in_keys, fallback="input"), in_keys)]
    outputs = [TensorInfo(name, _dims(outs[key].shape), outs[key].dtype.name, key)
               for name, key in zip(safe_names(out_keys, fallback="output"), out_keys)]
    params = int(sum(np.prod(v.shape) for v in getattr(loaded, "variables", [])))
    notes = [f"SavedModel graph scanned: {len(ops)} op types"] + [f"loaded with unsafe ops allowed: {r}" for r in risky]
    return LoadedModel(path=path, format="savedmodel", params=params, inputs=inputs, outputs=outputs,
                       flavor="savedmodel", loaded=loaded, notes=notes)


def _dims(shape: Any) -> tuple[Optional[int], ...]:
    if shape.rank is None:  # unknown rank: known once the model has run (the reference outputs)
        return (None,)
    return tuple(None if d is None else int(d) for d in shape.as_list())


def _first_line(err: BaseException) -> str:
    if isinstance(err, MemoryError) or "OOM when allocating" in str(err):
        shape = re.search(r"tensor with shape\s*(\[[^\]]*\])", str(err))
        return f"its weights{' (' + shape.group(1) + ')' if shape else ''} do not fit in this machine's memory"
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
