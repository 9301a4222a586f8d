"""Shared fixtures: tiny models built in code, saved in the formats edgekit loads."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
FASHION = Path("/usr/share/datasets/fashion-mnist")


def tiny_cnn(k, *, seed: int = 0):
    k.utils.set_random_seed(seed)
    return k.Sequential([
        k.layers.InputLayer(input_shape=(28, 28, 1), name="image"),
        k.layers.Conv2D(8, 3, strides=2, use_bias=False),
        k.layers.BatchNormalization(momentum=0.8),  # few steps: let moving stats converge
        k.layers.ReLU(),
        k.layers.Conv2D(16, 3, strides=2, activation="relu"),
        k.layers.Flatten(),
        k.layers.Dense(10, activation="softmax"),
    ])


@pytest.fixture(scope="session")
def keras_module():
    from edgekit.tfenv import keras

    return keras()


@pytest.fixture(scope="session")
def fashion_subset():
    """2,000 real Fashion-MNIST training images in [0, 1]."""
    from edgekit.config import DatasetSection
    from edgekit.data import load_split

    split = load_split(DatasetSection(kind="fashion_mnist"), "train", limit=2000, seed=1)
    return split.x, split.y


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, keras_module, fashion_subset) -> Path:
    """A small CNN trained for three quick epochs on real data (well above chance), saved as .keras."""
    k = keras_module
    model = tiny_cnn(k)
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    x, y = fashion_subset
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(path)
    return path


def write_config(folder: Path, model: Path, *, precisions=("fp32", "int8"), budgets: str = "",
                 extra: str = "", eval_samples: int = 300, recipe: str = "", train_samples: int | None = None) -> Path:
    """edgekit.toml for `model` (Android only); `recipe`: [[recipe]] tables put first."""
    train = f"train_samples = {train_samples}" if train_samples else ""
    text = textwrap.dedent(f"""
        [model]
        path = "{model}"

        [dataset]
        kind = "fashion_mnist"
        eval_samples = {eval_samples}
        calibration_samples = 64
        {train}

        [targets.android]
        precisions = {list(precisions)!r}
        runs = 20
        warmup = 2
        parity_samples = 200
        {extra}

        [targets.android.budgets]
        {budgets}

        [build]
        out = "out"
    """).replace("'", '"')
    path = folder / "edgekit.toml"
    path.write_text((textwrap.dedent(recipe).strip() + "\n\n" + text) if recipe else text)
    return path


def build_report(config: Path) -> dict:
    """`edgekit build --config CONFIG --quiet` in a subprocess, which must pass; the report.json it wrote."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(config), "--quiet"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((config.parent / "out" / "report.json").read_text())


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def full_report(artifacts: list, **extra) -> dict:
    """A report with every required section around hand-made `artifacts` (what `edgekit build` writes)."""
    reference = {"path": "model.keras", "format": "keras", "params": 1000, "accuracy": 0.9, "eval_split": "test",
                 "eval_samples": 10, "inputs": [{"name": "image", "shape": [None, 28, 28, 1], "dtype": "float32"}],
                 "outputs": [{"name": "probs", "shape": [None, 10], "dtype": "float32", "kind": "probabilities"}]}
    return {"schema": "edgekit.report/v1", "edgekit_version": "0.3.0", "created": "2026-12-01T00:00:00+00:00",
            "passed": True, "reference": reference,
            "artifacts": [{"format": "tflite", **artifact} for artifact in artifacts], **extra}


@pytest.fixture(scope="session", autouse=True)
def every_report_fits_the_published_schema(tmp_path_factory):
    """After the session: every report.json any test wrote validates against docs/report.schema.json."""
    yield
    import json

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "report.schema.json").read_text())
    checked = 0
    for path in tmp_path_factory.getbasetemp().rglob("report.json"):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a test's deliberately broken file
        if isinstance(report, dict) and report.get("schema") == "edgekit.report/v1" and "edgekit_version" in report:
            jsonschema.validate(report, schema)
            checked += 1
    print(f"\n{checked} report.json files validated against docs/report.schema.json")
