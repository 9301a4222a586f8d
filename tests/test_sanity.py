"""Never PASS on nonsense: a model at chance accuracy stops the build with the likely cause."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgekit.config import parse_config
from edgekit.errors import ConfigError
from edgekit.sanity import chance_level
from tests.backbones import fashion_rgb

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def rescaling_model(tmp_path_factory):
    """A Keras 3 model with Rescaling(1/255) inside, as the Keras tutorials build them, trained on raw
    0-255 pixels of three classes (32x32 RGB), and the data as an .npz of raw pixels."""
    from edgekit.tfenv import keras3

    k = keras3()
    k.backend.clear_session()  # default layer names (rescaling) as in a fresh process
    k.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("rescaling")
    x_train, y_train = fashion_rgb("train", count=900, size=32)
    x_test, y_test = fashion_rgb("test", count=300, size=32)
    model = k.Sequential([k.Input((32, 32, 3)), k.layers.Rescaling(1 / 255), k.layers.Conv2D(8, 3, strides=2,
                          activation="relu"), k.layers.Conv2D(16, 3, strides=2, activation="relu"),
                          k.layers.GlobalAveragePooling2D(), k.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train.astype(np.float32), y_train, epochs=4, batch_size=32, verbose=0)
    model.save(folder / "tutorial.keras")
    np.savez(folder / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return folder


def write(folder: Path, *, scale: float, extra: str = "") -> Path:
    path = folder / f"edgekit_{scale:.4f}.toml"
    path.write_text(textwrap.dedent(f"""
        [model]
        path = "tutorial.keras"
        [dataset]
        kind = "npz"
        path = "data.npz"
        scale = {scale!r}
        calibration_samples = 32
        [targets.android]
        precisions = ["fp32"]
        runs = 5
        warmup = 1
        [build]
        out = "out_{scale:.4f}"
        {extra}
        """))
    return path


def cli(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(config), "--quiet"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_rescaling_inside_with_scale_1_255_exits_2_naming_the_double_scaling(rescaling_model):
    result = cli(write(rescaling_model, scale=1 / 255))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "reference model at chance" in line and "scaled twice" in line and "'rescaling'" in line
    assert "with scale = 1, mean = 0, std = 1 (raw pixels) it reaches" in line  # tried on the data
    assert "set dataset scale = 1, mean = 0, std = 1" in line
    assert not (rescaling_model / "out_0.0039").exists()  # stopped before anything was written


def test_the_same_model_with_scale_1_builds_and_passes(rescaling_model):
    result = cli(write(rescaling_model, scale=1.0))
    assert result.returncode == 0, result.stderr
    report = json.loads((rescaling_model / "out_1.0000" / "report.json").read_text())
    assert report["reference"]["sanity"]["status"] == "passed" and report["reference"]["accuracy"] > 0.8


def test_sanity_checks_false_builds_at_chance_with_a_note(rescaling_model):
    config = write(rescaling_model, scale=1 / 255, extra="sanity_checks = false")
    result = cli(config)
    assert result.returncode == 0, result.stderr
    report = json.loads((rescaling_model / "out_0.0039" / "report.json").read_text())
    assert report["reference"]["sanity"]["status"] == "failed"
    assert any("at chance" in note for note in report["notes"])
    assert any("scaled twice" in note for note in report["notes"])


def test_balanced_accuracy_judges_skewed_labels_and_small_sets_fairly():
    """A constant predictor scores 1/classes balanced, however skewed the labels; a model that finds part
    of the minority class passes; small sets have a wider margin."""
    from edgekit.sanity import balanced_accuracy

    labels = np.array([0] * 900 + [1] * 100)
    chance, threshold = chance_level(labels)
    assert chance == 0.5 and threshold < 0.6
    assert balanced_accuracy(np.zeros(1000, dtype=int), labels) == 0.5  # 90 % accurate, no better than blind
    finds_some = np.concatenate([np.zeros(900, dtype=int), np.ones(40, dtype=int), np.zeros(60, dtype=int)])
    assert balanced_accuracy(finds_some, labels) == pytest.approx(0.7) and 0.7 > threshold
    small = np.array([0, 1] * 25)
    assert chance_level(small)[1] < 0.75  # a real 85 % binary model passes on 50 samples
    assert chance_level(np.zeros(10, dtype=int)) == (1.0, 1.0)  # one class: nothing to judge


def test_tutorial_layout_with_augmentation_before_rescaling_is_seen(tmp_path):
    """inputs -> data_augmentation (a nested Sequential) -> Rescaling, as the Keras tutorials write it."""
    from types import SimpleNamespace

    from edgekit.models import keras_loaded
    from edgekit.sanity import leading_preprocessing_problems
    from edgekit.tfenv import keras3

    k = keras3()
    augment = k.Sequential([k.layers.RandomFlip("horizontal"), k.layers.RandomRotation(0.1)])
    inputs = k.Input((16, 16, 3))
    x = k.layers.Rescaling(1 / 127.5, offset=-1)(augment(inputs))
    model = k.Model(inputs, k.layers.Dense(2, activation="softmax")(k.layers.Flatten()(x)))
    loaded = keras_loaded(tmp_path / "m.keras", "keras3", model, flavor="keras3")
    data = SimpleNamespace(inputs=[np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)])
    problems = leading_preprocessing_problems(loaded, data, SimpleNamespace(scale=1 / 255))
    assert problems and "scaled twice" in problems[0]  # [0, 1] data through x/127.5 - 1 barely varies


def test_min_accuracy_budget_reads_percent():
    base = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"}}
    config = parse_config({**base, "targets": {"android": {"budgets": {"min_accuracy": "92.5 %"}}}})
    assert config.targets.android.budgets.min_accuracy == 92.5
    from edgekit.budgets import evaluate

    (entry,) = evaluate({"accuracy": 0.93}, config.targets.android.budgets)
    assert entry["passed"] and entry["actual"] == pytest.approx(93.0)
    (entry,) = evaluate({"accuracy": 0.92}, config.targets.android.budgets)
    assert not entry["passed"]
    with pytest.raises(ConfigError, match="not a percentage"):
        parse_config({**base, "targets": {"android": {"budgets": {"min_accuracy": "lots"}}}})
    with pytest.raises(ConfigError, match='ambiguous.*"90 %"'):  # a fraction where percent is meant
        parse_config({**base, "targets": {"android": {"budgets": {"min_accuracy": 0.9}}}})
