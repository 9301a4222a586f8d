"""`edgekit why` (issue #16): bytes per tensor of real .tflite and TF.js artifacts, with hints."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.cli import main
from edgekit.why import breakdown

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, keras_module):
    """A model whose dense kernel is 75 % zeros and one whose kernel holds 8 values, converted for real."""
    from edgekit.converters import tflite
    from edgekit.models import keras_loaded

    k = keras_module
    folder = tmp_path_factory.mktemp("why")
    k.utils.set_random_seed(0)
    model = k.Sequential([k.layers.InputLayer(input_shape=(64,)), k.layers.Dense(256, name="big"),
                          k.layers.Dense(10, name="small")])
    kernel = np.random.default_rng(0).normal(size=(64, 256)).astype(np.float32)
    kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.75)] = 0.0
    model.get_layer("big").kernel.assign(kernel)
    fp32 = folder / "fp32.tflite"
    fp32.write_bytes(tflite.convert(keras_loaded(folder / "model.keras", "keras", model), "fp32"))
    return {"fp32": fp32}


def test_why_names_the_largest_tensor_with_its_layer_sparsity_and_a_hint(artifacts, capsys):
    result = breakdown(artifacts["fp32"], top=3)
    first = result["top"][0]
    assert first["dtype"] == "float32" and first["bytes"] == 64 * 256 * 4
    assert "big" in first["used_by"] and first["used_by"].startswith("FULLY_CONNECTED")
    assert first["sparsity"] == pytest.approx(0.75, abs=0.01)
    assert first["share_of_bytes"] > 0.8 and "int8" in first["hint"]
    assert first["gzip_bytes"] < first["bytes"]  # the zeros compress
    assert main(["why", str(artifacts["fp32"]), "--format", "json", "--top", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["top"]) == 1


def test_why_refuses_what_it_cannot_read_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    assert main(["why", str(broken)]) == 2
    assert "not a readable .tflite" in capsys.readouterr().err
    assert main(["why", str(tmp_path / "model.mlpackage")]) == 2


def test_why_reads_a_tfjs_manifest_with_quantized_weights_and_names_clustering(tmp_path):
    """A hand-written TF.js graph model: a uint8 kernel holding 16 values per output channel, and a bias."""
    kernel = np.repeat(np.arange(16, dtype=np.uint8)[None, :] * 7, 64 * 128 // 16, axis=0).reshape(64, 128)
    bias = np.arange(128, dtype=np.float32)
    (tmp_path / "group1-shard1of1.bin").write_bytes(kernel.tobytes() + bias.tobytes())
    manifest = {"format": "graph-model", "modelTopology": {}, "weightsManifest": [{
        "paths": ["group1-shard1of1.bin"],
        "weights": [{"name": "dense/MatMul", "shape": [64, 128], "dtype": "float32",
                     "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.01, "original_dtype": "float32"}},
                    {"name": "dense/BiasAdd", "shape": [128], "dtype": "float32"}]}]}
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    result = breakdown(tmp_path, top=2)
    first = next(e for e in result["top"] if e["tensor"] == "dense/MatMul")  # top is ordered by gzip bytes
    assert first["bytes"] == 64 * 128 and first["dtype"] == "uint8"
    assert first["max_unique_per_channel"] <= 16 and "clustered" in first["hint"]
    assert result["weight_bytes"] == 64 * 128 + 128 * 4


def test_why_refuses_a_manifest_whose_shard_leaves_the_folder(tmp_path, capsys):
    (tmp_path / "model.json").write_text(json.dumps({"weightsManifest": [{"paths": ["../secret.bin"], "weights": []}]}))
    assert main(["why", str(tmp_path / "model.json")]) == 2
    assert "outside the folder" in capsys.readouterr().err
