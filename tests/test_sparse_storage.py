"""Sparse `.tflite` storage (issue #18): raw bytes follow the zeros when LiteRT's default path runs the file."""
from __future__ import annotations


import numpy as np
import pytest
from conftest import build_report, write_config

pytestmark = pytest.mark.slow


def _dense_model(k, tmp_path, *, zeros: str):
    """A small MLP whose big kernel is 75 % zeros: unstructured, or in blocks of 16 inputs per output."""
    k.utils.set_random_seed(0)
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1), name="image"), k.layers.Flatten(),
                          k.layers.Dense(256, activation="relu"), k.layers.Dense(10, activation="softmax")])
    kernel, bias = model.layers[1].get_weights()  # (784, 256): inputs x outputs
    rng = np.random.default_rng(0)
    if zeros == "blocks":
        keep = rng.random((784 // 16, 256)) >= 0.75
        kernel = kernel * np.repeat(keep, 16, axis=0)
    else:
        kernel = kernel * (rng.random(kernel.shape) >= 0.75)
    model.layers[1].set_weights([kernel.astype(np.float32), bias])
    path = tmp_path / f"{zeros}.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("zeros", ["blocks", "unstructured"])
def test_mostly_zero_weights_are_stored_sparse_only_where_litert_runs_them(tmp_path, keras_module, fashion_subset,
                                                                            zeros):
    from edgekit.converters import tflite
    from edgekit.litert import run
    from edgekit.models import load_model
    from edgekit.targets.android.sparse import choose

    model = load_model(_dense_model(keras_module, tmp_path, zeros=zeros))
    x = fashion_subset[0][:64]
    names = {"input_names": model.input_names, "output_names": model.output_names}
    results = {}
    for precision in ("fp32", "int8"):
        dense = tflite.convert(model, precision, calibration=[x])
        data, record = choose(dense, lambda p=precision: tflite.convert(model, p, calibration=[x], sparse=True),
                              precision=precision, names=names, samples=[x])
        assert record is not None and record["zeros"] > 0.6
        assert record["dense_bytes"] == len(dense) and record["kept"] in ("sparse", "dense") and record["reason"]
        assert (data is dense) == (record["kept"] == "dense")
        _, outputs = run(data, [x], **names)  # whatever ships runs on the default path
        _, reference = run(dense, [x], **names)
        assert np.abs(outputs[0].astype(float) - reference[0].astype(float)).max() <= 0.02
        results[precision] = record
    assert results["fp32"]["kept"] == "sparse" and results["fp32"]["ratio"] <= 0.4  # float stores sparse either way
    if zeros == "blocks":  # int8 with 1x16 blocks: small and runnable
        assert results["int8"]["kept"] == "sparse" and results["int8"]["ratio"] <= 0.55
        assert results["int8"]["sparse_load_ms"] > 0
        # which kernels run it is recorded: XNNPACK leaves the block-sparse FULLY_CONNECTED to LiteRT's own
        assert results["int8"]["xnnpack_fraction_sparse"] < results["int8"]["xnnpack_fraction_dense"]
        assert "LiteRT's built-in kernels" in results["int8"]["reason"]
    else:  # int8 unstructured: an index per weight, and XNNPACK refuses it — stays dense, says why
        assert results["int8"]["kept"] == "dense"
        assert "block = [16, 1]" in results["int8"]["reason"]


def test_block_pruned_recipe_builds_a_sparse_int8_artifact_checked_like_any_other(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path, precisions=("int8",), train_samples=1024, recipe="""
        [[recipe]]
        step = "prune"
        final_sparsity = 0.75
        block = [16, 1]
        epochs = 2
        learning_rate = 1e-3
    """)
    report = build_report(config)
    [artifact] = report["artifacts"]
    coverage = {e["layer"]: e for e in report["recipe"]["coverage"]["prune"] if e["status"] == "applied"}
    assert any(e.get("block") == [16, 1] for e in coverage.values())  # the Dense kernel, in blocks
    assert any(e.get("block") is None for e in coverage.values())  # convolutions: weight by weight
    storage = artifact["sparse_storage"]
    assert storage["kept"] == "sparse" and artifact["bytes"] == storage["sparse_bytes"] < storage["dense_bytes"]
    assert artifact["parity"]["status"] == "passed" and artifact["accuracy"] is not None
    assert any(t["stored"] == "sparse" for t in artifact["size_breakdown"])
    # the structure is read from the same weights stored dense: the pruning shows (a sparse tensor's raw
    # values would read as almost no zeros)
    biggest = max(artifact["structure"]["weights"], key=lambda w: w["elements"])
    assert biggest["sparsity"] > 0.6 and len(biggest["shape"]) == 2
    assert "## Sparse storage (Android)" in (tmp_path / "out" / "report.md").read_text()
