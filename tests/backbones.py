"""keras.applications backbones as users bring them, for the model matrix (tests and benchmarks).

Each backbone is built with `weights=None` at a small input, trained for a few steps on real
Fashion-MNIST images (three classes that differ: trouser, sneaker, bag; resized to RGB) so its
outputs mean something, and saved by Keras 3 (`.keras`) or tf_keras (`.keras` / `.h5`). Nothing is
downloaded. The config written beside it tells the data's scaling the way the model expects it:
raw 0-255 pixels for models that rescale inside (MobileNetV3, EfficientNet, ConvNeXt), [-1, 1]
for the others.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Optional

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = {1: "trouser", 7: "sneaker", 8: "bag"}
BACKBONES = ["MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50", "DenseNet121", "NASNetMobile",
             "EfficientNetV2B0", "ConvNeXtTiny"]
RESCALES_INSIDE = {"MobileNetV3Small", "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny"}
OPTIONS = {"MobileNetV2": {"alpha": 0.35}}
EPOCHS = {"MobileNetV2": 4}  # the thin MobileNetV2 stays at chance for two epochs on 900 images


def fashion_rgb(split: str, *, count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` images of the three classes as uint8 (N, size, size, 3) and labels 0..2."""
    from PIL import Image

    from edgekit.config import DatasetSection
    from edgekit.data import load_split

    data = load_split(DatasetSection(kind="fashion_mnist", scale=1.0), split)
    keep = np.flatnonzero(np.isin(data.y, list(CLASSES)))
    keep = np.random.default_rng(seed).permutation(keep)[:count]
    remap = {original: new for new, original in enumerate(CLASSES)}
    images = [np.asarray(Image.fromarray(data.x[i, ..., 0].astype(np.uint8)).resize((size, size), Image.BILINEAR))
              for i in keep]
    x = np.repeat(np.stack(images)[..., None], 3, axis=-1).astype(np.uint8)
    return x, np.asarray([remap[int(data.y[i])] for i in keep], dtype=np.int64)


def write_data(path: Path, *, size: int, train: int = 900, test: int = 300) -> Path:
    x_train, y_train = fashion_rgb("train", count=train, size=size)
    x_test, y_test = fashion_rgb("test", count=test, size=size)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def scaling(name: str) -> tuple[float, float]:
    """(scale, mean) of the dataset section: raw pixels for models that rescale inside, else [-1, 1]."""
    return (1.0, 0.0) if name in RESCALES_INSIDE else (1 / 127.5, 1.0)


def backbone(keras_module: Any, name: str, *, size: int, classes: int = 3, seed: int = 0) -> Any:
    keras_module.utils.set_random_seed(seed)
    return getattr(keras_module.applications, name)(input_shape=(size, size, 3), weights=None, classes=classes,
                                                      **OPTIONS.get(name, {}))


def train(keras_module: Any, model: Any, data: Path, name: str, *, epochs: int = 2, batch: int = 32) -> Any:
    """A few epochs on the training split; BatchNorm statistics follow quickly (momentum 0.9)."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.9
    scale, mean = scaling(name)
    with np.load(data) as arrays:
        x = arrays["x_train"].astype(np.float32) * scale - mean
        y = arrays["y_train"]
    model.compile(optimizer=keras_module.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    return model


def save(model: Any, folder: Path, name: str, flavor: str, *, suffix: str = ".keras") -> Path:
    path = folder / f"{name}_{flavor}{suffix}"
    model.save(path)
    return path


def config_text(model: Path, data: Path, name: str, *, precisions: tuple[str, ...] = ("fp32", "fp16", "dynamic", "int8"),
                ios_variants: tuple[str, ...] = ("fp16", "palettized", "int8"), node_backends: tuple[str, ...] = ("wasm",),
                browser_backends: tuple[str, ...] = ("tfjs-wasm", "litertjs-wasm"), eval_samples: int = 300,
                recipe: str = "", out: str = "out") -> str:
    scale, mean = scaling(name)
    return recipe + textwrap.dedent(f"""
        [model]
        path = "{model}"

        [dataset]
        kind = "npz"
        path = "{data}"
        scale = {scale!r}
        mean = {mean!r}
        class_names = {list(CLASSES.values())!r}
        eval_samples = {eval_samples}
        calibration_samples = 64

        [targets.android]
        precisions = {list(precisions)!r}
        runs = 20
        warmup = 3
        parity_samples = 300

        [targets.ios]
        variants = {list(ios_variants)!r}

        [targets.web]
        node_backends = {list(node_backends)!r}
        browser_backends = {list(browser_backends)!r}
        parity_samples = 100
        runs = 10
        warmup = 2
        browser_max_seconds = 10

        [build]
        out = "{out}"
        """)


FAST = {"precisions": ("fp32", "int8"), "ios_variants": ("fp16", "palettized")}


def run_case(name: str, flavor: str, folder: Path, *, size: int = 64, fast: bool = False, epochs: Optional[int] = None,
             train_images: int = 900, recipe: str = "") -> dict:
    """Train and save one backbone, then `edgekit build --target all` through the CLI; one matrix row.

    The row holds what the CLI said (exit code, its one-line error) and, from report.json, per
    target whether it built, each artifact's parity, accuracy drop, bytes and gzip bytes (and the
    recipe's coverage when `recipe` is given: TOML `[[recipe]]` steps)."""
    import json
    import subprocess
    import sys
    import time

    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.npz"
    if not data.exists():
        write_data(data, size=size, train=train_images)
    if flavor == "keras3":
        from edgekit.tfenv import keras3 as loader
    else:
        from edgekit.tfenv import keras as loader
    keras_module = loader()
    started = time.perf_counter()
    model = train(keras_module, backbone(keras_module, name, size=size), data, name,
                  epochs=epochs or EPOCHS.get(name, 2))
    path = save(model, folder, name, flavor)
    trained = time.perf_counter() - started
    options = dict(FAST if fast else {}, **({"precisions": ("int8",), "recipe": recipe} if recipe else {}))
    (folder / "edgekit.toml").write_text(config_text(path, data, name, **options))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(folder / "edgekit.toml"),
                             "--target", "all", "--quiet"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    row = {"model": name, "keras": flavor, "input": size, "params": int(model.count_params()),
           "train_seconds": round(trained, 1), "build_seconds": round(time.perf_counter() - started, 1),
           "exit": result.returncode, "stderr": result.stderr.strip()}
    report_path = folder / "out" / "report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        row["reference_accuracy"] = report["reference"]["accuracy"]
        row["failed_targets"] = {name: status.get("reason", "")[:200] for name, status in
                                 (report.get("target_status") or {}).items() if status.get("status") == "failed"}
        row["artifacts"] = [{"path": a["path"], "target": a["target"], "precision": a["precision"],
                             "parity": a["parity"]["status"], "parity_reason": a["parity"].get("reason"),
                             "relative_error": a["parity"].get("relative_error"),
                             "confident_top1_agreement": a["parity"].get("confident_top1_agreement"),
                             "accuracy_drop": a.get("accuracy_drop"), "bytes": a["bytes"], "gzip_bytes": a["gzip_bytes"],
                             "checks_failed": [c["name"] for c in a.get("checks", []) if c["status"] == "failed"]}
                            for a in report["artifacts"]]
        if report.get("recipe"):
            row["recipe"] = {"keras_accuracy": report["recipe"]["keras_accuracy"],
                             "coverage": {step: _coverage_counts(entries)
                                          for step, entries in report["recipe"]["coverage"].items()}}
    return row


def _coverage_counts(entries: list[dict]) -> dict:
    """{status: count} plus the reasons layers were left as they are ({reason: [types]})."""
    counts: dict = {}
    reasons: dict = {}
    for entry in entries:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        if entry["status"] == "skipped":
            reasons.setdefault(entry["reason"], set()).add(entry["type"])
    return {**counts, "reasons": {reason: sorted(types) for reason, types in reasons.items()}}


RECIPE = """
[[recipe]]
step = "prune"
final_sparsity = 0.5
epochs = 2
learning_rate = 1e-4
batch_size = 32

[[recipe]]
step = "cluster"
clusters = 16
epochs = 2
learning_rate = 1e-5
batch_size = 32

[[recipe]]
step = "qat"
epochs = 2
learning_rate = 1e-5
batch_size = 32
"""
