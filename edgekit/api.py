"""The Python API: the engine the CLI runs, callable from a notebook or a training script.

    import edgekit
    report = edgekit.build({"targets": {"android": {"precisions": ["int8"]}}},
                           model=keras_model, data=(x_test, y_test), out="build")
    print(report)                      # a summary; in a notebook the Markdown report
    report.artifact("android/model_int8.tflite").bytes
    edgekit.check(report, budgets={"android": {"max_size": "300 KB"}}).passed

An in-memory model is saved into a private temporary folder and goes through exactly what a file
does (the safety scan, the loaders, every converter); arrays or a `tf.data.Dataset` become an
`.npz` there. Errors are the CLI's typed errors (`edgekit.errors`), with the same exit codes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from edgekit.errors import ConfigError, InputError
from edgekit.report.model import Report

MAX_DATASET_SAMPLES = 100_000  # a tf.data.Dataset is read up to this many samples…
MAX_DATASET_BYTES = 1 << 30  # …or this many bytes of inputs
IN_MEMORY_MODEL = "<in-memory Keras model>"
IN_MEMORY_DATA = "<in-memory arrays>"


def build(config: Union[str, Path, dict[str, Any], Any, None] = None, *, model: Any = None, data: Any = None,
          targets: str = "all", out: Union[str, Path, None] = None, quiet: bool = True) -> Optional[Report]:
    """Build every configured target (or `targets`: "android", "ios", "web", "all") and return the Report.

    `config` is an `edgekit.toml` path, a dict with the same sections, a `Config`, or None (then
    `model` and `data` are required and the Android target is built with its defaults). `model` is
    a Keras model (Keras 3 or tf_keras) in memory; `data` is `(x, y)` (used to evaluate and to
    calibrate), `{"x_train", "y_train", "x_test", "y_test"}` arrays, or a `tf.data.Dataset` of
    `(x, y)` batches. In-memory data is used as given (dataset scale 1, mean 0, std 1) unless the
    config's `[dataset]` says otherwise. The build's exit status is `report.exit_code`. In a
    multi-worker run (`TF_CONFIG`), a worker other than the chief trains with the others and returns
    None: the chief returns the Report.
    """
    from edgekit.config import Config, load_config, parse_config, resolve_paths
    from edgekit.pipeline import WORKER_SCHEMA
    from edgekit.pipeline import build as run_build
    from edgekit.progress import Reporter

    with tempfile.TemporaryDirectory(prefix="edgekit-api-") as scratch:
        folder = Path(scratch)
        if isinstance(config, (str, Path)):
            config, base = load_config(config), Path(config).resolve().parent
        else:
            base = Path.cwd()
        if isinstance(config, Config):
            raw = config.model_dump(mode="json")
            # what the user set in [dataset] (in-memory data is taken as given unless they said otherwise)
            raw["dataset"] = {key: raw["dataset"][key] for key in config.dataset.model_fields_set}
        elif isinstance(config, dict) or config is None:
            raw = dict(config or {})
        else:
            raise ConfigError(f"config must be a path, a dict or an edgekit Config, not {type(config).__name__}")
        raw.setdefault("targets", {"android": {}})
        if model is not None:
            raw["model"] = {**raw.get("model", {}), "path": str(_save_model(model, folder))}
        if data is not None:
            dataset = {"scale": 1.0, "mean": 0.0, "std": 1.0, **raw.get("dataset", {})}
            rank = len(model.inputs[0].shape) if model is not None and getattr(model, "inputs", None) else None
            dataset.update(kind="npz", path=str(_save_data(data, folder, rank=rank)))
            raw["dataset"] = dataset
        if "model" not in raw or "dataset" not in raw:
            missing = "model" if "model" not in raw else "data"
            raise ConfigError(f"edgekit.build needs a {missing}: pass {missing}=… or a config with "
                              f"[{'model' if missing == 'model' else 'dataset'}]")
        parsed = resolve_paths(parse_config(raw, source="edgekit.build config"), base=base)
        if out is not None:
            parsed.build.out = Path(out).resolve()
        report = run_build(parsed, target=targets, progress=Reporter(quiet=quiet))
    if report.get("schema") == WORKER_SCHEMA:
        return None
    if model is not None or data is not None:
        _name_in_memory_sources(report, parsed.build.out, model=model is not None, data=data is not None)
    return Report.from_dict(report)


def _name_in_memory_sources(report: dict[str, Any], out: Path, *, model: bool, data: bool) -> None:
    """The report names the in-memory model/data instead of the temporary files they went through."""
    from edgekit.report import write_reports

    if model:
        report["reference"]["path"] = report["config"]["model"]["path"] = IN_MEMORY_MODEL
    if data:
        report["config"]["dataset"]["path"] = IN_MEMORY_DATA
    write_reports(report, out)


def check(report: Union[Report, dict[str, Any], str, Path], *, budgets: Optional[dict[str, Any]] = None) -> Report:
    """Re-apply budgets to a report, like `edgekit check`: its recorded limits, or `budgets` per target
    ({"android": {"max_size": "300 KB"}}) for that target's shipped artifacts. The input is not changed."""
    import copy

    from edgekit.report import load_report
    from edgekit.report_check import apply_budgets, parse_budgets

    overrides = parse_budgets(budgets or {}, source="edgekit.check budgets")
    if isinstance(report, (str, Path)):
        path = Path(report)
        path = path / "report.json" if path.is_dir() else path
        data, source = load_report(path), str(path)
    else:
        data, source = copy.deepcopy(report.to_dict() if isinstance(report, Report) else dict(report)), "report"
    return Report.from_dict(apply_budgets(data, overrides, source=source))


def _save_model(model: Any, folder: Path) -> Path:
    if not hasattr(model, "save") or not hasattr(model, "inputs"):
        raise InputError(f"model must be a Keras model, not {type(model).__name__}",
                         hint="pass a keras.Model, or a config whose [model] path names a file")
    path = folder / "model.keras"
    try:
        model.save(path)
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for models it cannot save
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise InputError(f"the in-memory model could not be saved as .keras ({first})",
                         hint="save it yourself with model.save('model.keras') and pass the file") from None
    return path


def _save_data(data: Any, folder: Path, *, rank: Optional[int] = None) -> Path:
    if isinstance(data, dict):
        arrays = _both_splits({str(key): np.asarray(value) for key, value in data.items()})
    elif isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, (tuple, list)) for d in data):
        (x_train, y_train), (x_test, y_test) = data
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (np.asarray(d) for d in data)
        arrays = {"x_train": x, "y_train": y, "x_test": x, "y_test": y}
    elif hasattr(data, "as_numpy_iterator"):
        x, y = _from_dataset(data, rank)
        arrays = {"x_train": x, "y_train": y, "x_test": x, "y_test": y}
    else:
        raise InputError(f"data must be (x, y), ((x_train, y_train), (x_test, y_test)), a dict of arrays or a "
                         f"tf.data.Dataset, not {type(data).__name__}")
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise InputError(f"data {key} is an object array", hint="pass numeric numpy arrays")
    path = folder / "data.npz"
    np.savez(path, **{key: np.asarray(value) for key, value in arrays.items()})
    return path


def _both_splits(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A dict with only x_test/y_test (or only x_train/y_train) uses the same arrays for both splits."""
    has = {split: any(k.startswith(f"x_{split}") for k in arrays) for split in ("train", "test")}
    if not any(has.values()):
        raise InputError(f"data has no x_train or x_test array (found: {', '.join(sorted(arrays)) or 'nothing'})",
                         hint="pass {'x_test': …, 'y_test': …} (and x_train/y_train for calibration), or (x, y)")
    source, missing = ("test", "train") if has["test"] and not has["train"] else ("train", "test")
    if has[missing]:
        return arrays
    copied = {key.replace(f"_{source}", f"_{missing}", 1): value for key, value in arrays.items()
              if key.startswith((f"x_{source}", f"y_{source}"))}
    return {**arrays, **copied}


def _from_dataset(dataset: Any, rank: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) arrays from a dataset of (x, y) elements or batches, up to MAX_DATASET_SAMPLES samples and
    MAX_DATASET_BYTES. `rank` (the model input's, batch included) tells a batch from one element."""
    xs, ys, count, size = [], [], 0, 0
    for element in dataset.as_numpy_iterator():
        if not (isinstance(element, tuple) and len(element) == 2):
            raise InputError("the tf.data.Dataset must yield (x, y) pairs", hint="map it to (image, label)")
        x, y = (np.asarray(part) for part in element)
        batched = x.ndim == rank if rank is not None else (y.ndim >= 1 and x.ndim >= 1 and len(x) == len(y))
        if not batched:  # one (x, label) element
            x, y = x[None], y[None]
        xs.append(x)
        ys.append(y)
        count, size = count + len(x), size + x.nbytes
        if count >= MAX_DATASET_SAMPLES or size >= MAX_DATASET_BYTES:
            break
    if not xs:
        raise InputError("the tf.data.Dataset is empty")
    return np.concatenate(xs)[:MAX_DATASET_SAMPLES], np.concatenate(ys)[:MAX_DATASET_SAMPLES]
