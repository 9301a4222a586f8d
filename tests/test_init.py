"""`edgekit init --model FILE --data PATH` writes a config that fits the model and builds every
target without edits: a Keras 3 model with Rescaling inside and .npz data, a tf_keras model that
expects [0, 1] pixels and an image folder."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.backbones import CLASSES, fashion_rgb

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def light_targets(config: Path) -> None:
    """Keep the builds short: fewer precisions, one Node backend, two browser runtimes."""
    text = config.read_text().replace('precisions = ["fp32", "fp16", "dynamic", "int8"]', 'precisions = ["fp32", "int8"]')
    text = text.replace('variants = ["fp16", "palettized", "int8"]', 'variants = ["fp16"]')
    text = text.replace("# quantize = \"uint8\"", 'node_backends = ["wasm"]\nparity_samples = 100\nruns = 5\nwarmup = 1')
    text = text.replace('# browser_backends = ["tfjs-wasm", "litertjs-wasm"]', 'browser_backends = ["tfjs-wasm", "litertjs-wasm"]')
    config.write_text(text)


def test_init_fits_a_keras3_model_with_rescaling_inside_and_npz_data(tmp_path):
    from edgekit.tfenv import keras3

    k = keras3()
    k.backend.clear_session()  # default layer names (rescaling) as in a fresh process
    k.utils.set_random_seed(0)
    x_train, y_train = fashion_rgb("train", count=600, size=32)
    x_test, y_test = fashion_rgb("test", count=200, size=32)
    model = k.Sequential([k.Input((32, 32, 3)), k.layers.Rescaling(1 / 255),
                          k.layers.Conv2D(8, 3, strides=2, activation="relu"), k.layers.GlobalAveragePooling2D(),
                          k.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x_train.astype(np.float32), y_train, epochs=5, batch_size=32, verbose=0)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    result = cli("init", "--model", "model.keras", "--data", "data.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = tomllib.loads((tmp_path / "edgekit.toml").read_text())
    assert config["dataset"]["kind"] == "npz" and config["dataset"]["scale"] == 1.0  # raw pixels: it rescales itself
    assert set(config["targets"]) == {"android", "ios", "web"}
    assert "layer 'rescaling'" in (tmp_path / "edgekit.toml").read_text()
    build = cli("build", "--target", "all", cwd=tmp_path)  # the config as written, no edits
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]


def test_init_fits_a_tf_keras_model_and_an_image_folder(tmp_path, keras_module):
    k = keras_module
    k.utils.set_random_seed(1)
    names = [f"{i}_{name}" for i, name in enumerate(CLASSES.values())]  # folder order = label order
    for split, count in (("train", 300), ("test", 90)):
        x, y = fashion_rgb(split, count=count, size=24)
        for i, (image, label) in enumerate(zip(x, y)):
            folder = tmp_path / "images" / split / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i}.png")
    x_train, y_train = fashion_rgb("train", count=300, size=24)
    model = k.Sequential([k.layers.InputLayer(input_shape=(24, 24, 3)), k.layers.Conv2D(8, 3, strides=2, activation="relu"),
                          k.layers.Flatten(), k.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=5, batch_size=32, verbose=0)  # trained on [0, 1] pixels
    model.save(tmp_path / "model.h5")
    result = cli("init", "setup/edgekit.toml", "--model", "model.h5", "--data", "images", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config = tomllib.loads((tmp_path / "setup/edgekit.toml").read_text())
    dataset = config["dataset"]
    assert dataset["kind"] == "image_folder" and dataset["path"] == "../images"  # relative to the config
    assert dataset["image_size"] == [24, 24] and dataset["color_mode"] == "rgb"
    assert dataset["class_names"] == names and abs(dataset["scale"] - 1 / 255) < 1e-9
    light_targets(tmp_path / "setup/edgekit.toml")
    build = cli("build", "--config", "setup/edgekit.toml", "--target", "all", cwd=tmp_path)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]


def test_init_refuses_an_unsafe_model_and_data_without_model(tmp_path, keras_module):
    k = keras_module
    model = k.Sequential([k.layers.InputLayer(input_shape=(4,)), k.layers.Lambda(lambda t: t * 2.0)])
    model.save(tmp_path / "lambda.keras")
    result = cli("init", "--model", "lambda.keras", cwd=tmp_path)
    assert result.returncode == 3 and "Lambda" in result.stderr and not (tmp_path / "edgekit.toml").exists()
    result = cli("init", "--data", "x.npz", cwd=tmp_path)
    assert result.returncode == 2 and "--data needs --model" in result.stderr
