"""`edgekit init --model FILE [--data PATH]`: a config that fits the model, ready to build every target.

The model is loaded safely (the same scan and loader as a build) to read its inputs, outputs and
leading preprocessing; the data (an `.npz`, an image folder `<split>/<class>/*.png`, or the
Fashion-MNIST IDX files) give the splits and class names. The pixel scaling is the one the model
expects: raw pixels when it rescales or normalises its input itself, otherwise the common scaling
(raw, /255, [-1, 1]) under which it classifies a sample of the data best.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.errors import InputError
from edgekit.sanity import CANDIDATES, leading_preprocessing

EVAL_NAMES = ("test", "val", "validation", "eval")
TRIAL = 256


def fitted_config(model_path: Path, data_path: Optional[Path], config_path: Path) -> tuple[str, list[str]]:
    """(TOML text, notes to print) for a config at `config_path` that fits `model_path` and `data_path`."""
    from edgekit.config import DatasetSection
    from edgekit.models import load_model

    model = load_model(model_path.resolve())
    data = describe_data(data_path, model)
    notes: list[str] = list(data.pop("notes", []))
    section = DatasetSection(**{k: v for k, v in data.items() if k in DatasetSection.model_fields})
    scale, mean, std, why = choose_scaling(model, section)
    label = _label_output(model, section)
    base = config_path.resolve().parent
    lines = [f"# edgekit configuration fitted to {model_path.name} by `edgekit init --model`.",
             "# Reference: README.md, \"Config reference\". Paths are relative to this file.",
             f"# Inputs:  {', '.join(f'{i.name} {list(i.inner)} {i.dtype}' for i in model.inputs)}",
             f"# Outputs: {', '.join(f'{o.name} {list(o.inner)}' for o in model.outputs)}", "",
             "[model]", f"path = {_q(_relative(model_path, base))}", "", "[dataset]"]
    for key in ("kind", "path", "eval_split", "calibration_split", "train_split"):
        if data.get(key) is not None:
            value = _relative(Path(data[key]), base) if key == "path" else data[key]
            lines.append(f"{key} = {_q(str(value))}")
    lines += [f"scale = {scale!r}    # {why}", f"mean = {mean!r}", f"std = {std!r}"]
    if data.get("image_size"):
        lines += [f"image_size = {list(data['image_size'])}", f"color_mode = {_q(data['color_mode'])}"]
    if data.get("class_names"):
        lines.append(f"class_names = [{', '.join(_q(n) for n in data['class_names'])}]")
    if label:
        lines.append(f"label_output = {_q(label)}    # the output the labels belong to")
    lines += ["# eval_samples = 2000          # a seeded subset for faster builds", "", TARGETS]
    if data.get("kind") == "npz" and data_path is None:
        notes.append("no --data given: point dataset.path at an .npz with x_<split> and y_<split> arrays")
    return "\n".join(lines) + "\n", notes


def describe_data(path: Optional[Path], model: Any) -> dict[str, Any]:
    """Dataset settings read from what `path` holds (kind, path, splits, class names, image size)."""
    from edgekit.config import DEFAULT_FASHION_MNIST

    image = [i for i in model.inputs if len(i.shape) == 4 and i.inner[-1] in (1, 3)]
    if path is None:
        if len(model.inputs) == 1 and model.inputs[0].inner == (28, 28, 1):
            return {"kind": "fashion_mnist", "eval_split": "test", "calibration_split": "train", "train_split": "train"}
        return {"kind": "npz", "path": "data.npz", "eval_split": "test", "calibration_split": "train",
                "train_split": "train"}
    path = path.resolve()
    if not path.exists():
        raise InputError(f"--data {path} does not exist", hint="pass an .npz file or an image folder <split>/<class>/")
    if path.is_file() and path.suffix == ".npz":
        return _npz(path)
    if path.is_dir() and any((path / name).exists() for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte")):
        found = {"kind": "fashion_mnist", "eval_split": "test", "calibration_split": "train", "train_split": "train"}
        return found if str(path) == DEFAULT_FASHION_MNIST else {**found, "path": str(path)}
    if path.is_dir():
        return _image_folder(path, image[0] if image else None)
    raise InputError(f"--data {path}: not an .npz file, an image folder or Fashion-MNIST IDX files",
                     hint="lay images out as <path>/<split>/<class>/<file>.png, or save x_<split>/y_<split> in an .npz")


def _npz(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.files)
        splits = sorted({key[2:].split("_")[0] for key in keys if key.startswith("x_")})
        labels = [archive[key] for key in keys if key.startswith("y_") and archive[key].dtype.kind in "iu"]
    found = _splits(splits, path)
    found.update(kind="npz", path=str(path))
    tops = [int(y.max()) for y in labels if y.size]
    if tops:
        found["class_names"] = [str(i) for i in range(max(tops) + 1)]
    return found


def _image_folder(path: Path, image: Any) -> dict[str, Any]:
    splits = sorted(p.name for p in path.iterdir() if p.is_dir() and any(c.is_dir() for c in p.iterdir()))
    if not splits:
        raise InputError(f"{path} holds no <split>/<class>/ folders", hint="lay images out as <path>/<split>/<class>/*.png")
    found = _splits(splits, path)
    # every split's class folders: a split that lacks one still numbers the others the same way
    classes = sorted({p.name for split in splits for p in (path / split).iterdir() if p.is_dir()})
    found.update(kind="image_folder", path=str(path), class_names=classes)
    if image is not None and None not in image.inner:
        found.update(image_size=[int(image.inner[0]), int(image.inner[1])],
                     color_mode="rgb" if image.inner[-1] == 3 else "grayscale")
    elif image is not None:
        found["color_mode"] = "rgb" if image.inner[-1] == 3 else "grayscale"
        found["notes"] = found.get("notes", []) + [
            "the model takes any image size: the images are fed at their own size (set dataset.image_size to resize)"]
    return found


def _splits(splits: list[str], path: Path) -> dict[str, Any]:
    if not splits:
        raise InputError(f"{path} holds no splits", hint="name arrays x_<split>/y_<split> (e.g. x_test, y_test)")
    evaluation = next((s for s in EVAL_NAMES if s in splits), splits[-1])
    training = "train" if "train" in splits else evaluation
    return {"eval_split": evaluation, "calibration_split": training, "train_split": training,
            "notes": [] if "train" in splits else [f"no 'train' split in {path}: calibration uses {evaluation!r}"]}


def choose_scaling(model: Any, dataset: Any) -> tuple[float, float, float, str]:
    """(scale, mean, std, why): what the model expects of its input pixels."""
    raw = dataset.model_copy(update={"scale": 1.0, "mean": 0.0, "std": 1.0, "eval_samples": TRIAL})
    try:
        from edgekit.data import load_split

        sample = load_split(raw, raw.eval_split, limit=TRIAL, inputs=model.inputs)
    except InputError:
        sample = None
    own = leading_preprocessing(model, sample) if sample is not None else []
    itself = f"the model scales its input itself (layer {own[0][0].name!r})" if own else ""
    if sample is None or len(sample.inputs) != 1 or sample.inputs[0].dtype.kind != "f":
        return 1.0, 0.0, 1.0, "values as stored (several inputs, integer inputs or no data to look at)"
    if sample.y is None:  # no labels to try scalings on: go by the values' range
        top = float(np.max(sample.inputs[0])) if sample.inputs[0].size else 0.0
        if top <= 1.5:
            return 1.0, 0.0, 1.0, f"values as stored: they are already in [0, {top:.3g}] (no labels to check it on)"
        if own:
            return 1.0, 0.0, 1.0, f"raw pixels: {itself} (no labels to check it on)"
        return 1 / 255, 0.0, 1.0, f"pixels / 255: the data go up to {top:.3g} (no labels to check it on)"
    scores = []
    for label, scale, mean, std in CANDIDATES:
        x = ((sample.inputs[0] * scale - mean) / std).astype(np.float32)
        outputs = model.predict([x])
        index = _labels_index(model, outputs, sample)
        scores.append((float(np.mean(outputs[index].argmax(-1) == sample.y)) if index is not None else 0.0,
                       scale, mean, std, label))
    # several scalings can classify equally well (a ReLU network barely minds a factor of 255): among
    # those within a point of the best, take the usual one: raw when the model rescales itself, else /255
    top = max(s[0] for s in scores)
    preference = [0, 1, 2] if own else [1, 2, 0]
    best = next(scores[i] for i in preference if scores[i][0] >= top - 0.01)
    tried = ", ".join(f"{s[4].split(' (')[-1].rstrip(')')} {100 * s[0]:.0f} %" for s in scores)
    return best[1], best[2], best[3], (f"{itself}; " if itself else "") + f"accuracy on {len(sample)} samples: {tried}"


def _labels_index(model: Any, outputs: list[np.ndarray], sample: Any) -> Optional[int]:
    from edgekit.labels import label_output

    try:
        return label_output(model, sample, None, outputs)
    except Exception:  # noqa: BLE001 - ambiguous outputs: the config will ask for label_output
        return None


def _label_output(model: Any, dataset: Any) -> Optional[str]:
    if len(model.outputs) < 2:
        return None
    from edgekit.data import load_split

    try:
        sample = load_split(dataset, dataset.eval_split, limit=32, inputs=model.inputs)
        index = _labels_index(model, model.predict(sample.inputs), sample)
    except InputError:
        return None
    return None if index is None else model.outputs[index].name


def _relative(path: Path, base: Path) -> str:
    """`path` relative to the config's folder, or absolute when it lies outside the user's tree."""
    path = path.resolve()
    if path.is_relative_to("/usr") or path.is_relative_to("/opt"):
        return str(path)
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


TARGETS = textwrap.dedent("""\
    [targets.android]
    precisions = ["fp32", "fp16", "dynamic", "int8"]   # also "int16x8"
    # ship = ["int8"]                # the artifacts the budgets gate (default: all)

    [targets.android.budgets]        # uncomment to gate CI on them
    # max_size = "4 MB"              # raw .tflite bytes (what an app stores)
    # max_download = "3 MB"          # gzip bytes
    # max_latency_p50 = "20 ms"      # phone numbers when profiled on a device, else host
    # max_accuracy_drop = 1.0        # percentage points below the Keras model
    # min_accuracy = "90 %"

    [targets.ios]                    # Core ML packages; prediction needs macOS (not_verified elsewhere)
    variants = ["fp16", "palettized", "int8"]
    # minimum_deployment_target = "iOS18"

    [targets.web]                    # TF.js + a .tflite for LiteRT.js; Node parity, Chromium latency
    # quantize = "uint8"
    # browser_backends = ["tfjs-wasm", "litertjs-wasm"]

    [build]
    out = "build"
    seed = 0
    """)
