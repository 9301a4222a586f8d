"""min_delegated_fraction: config validation, evaluation (pure Python, as `edgekit check` does it)
and a real build that fails because the GPU delegate would fall back."""
import json

import pytest

from edgekit.budgets import evaluate
from edgekit.report_check import check_report
from edgekit.cli import main
from edgekit.config import Budgets, parse_config
from edgekit.errors import ConfigError

from conftest import full_report, write_config


def _artifact(gpu_fraction=0.75):
    fallback = [{"index": 1, "op": "CONV_3D", "reason": "CONV_3D is not in the delegate's supported ops"},
                {"index": 2, "op": "RESHAPE", "reason": "RESHAPE on a 5-D tensor (max 4-D)"}] if gpu_fraction < 1 else []
    return {"path": "android/model_fp32.tflite", "delegates": {
        "xnnpack": {"fraction": 1.0, "fallback": []},
        "gpu": {"fraction": gpu_fraction, "fallback": fallback}}}


def test_delegated_fraction_budget_fails_naming_the_fallback_ops():
    [entry] = evaluate(_artifact(), Budgets(min_delegated_fraction={"gpu": 1.0, "xnnpack": 1.0}))
    assert entry["passed"] is False and entry["actual"] == {"gpu": 0.75, "xnnpack": 1.0}
    assert entry["note"] == "gpu falls back on CONV_3D, RESHAPE"
    [ok] = evaluate(_artifact(), Budgets(min_delegated_fraction={"gpu": 0.7}))
    assert ok["passed"] is True and "note" not in ok


def test_delegated_fraction_budget_without_a_measurement_fails_as_not_measured():
    [entry] = evaluate({"path": "x"}, Budgets(min_delegated_fraction={"nnapi": 0.5}))
    assert entry["passed"] is False and entry["note"] == "nnapi: not measured"


@pytest.mark.parametrize("table, message", [
    ("{ gpuu = 1.0 }", "unknown delegate 'gpuu' — did you mean 'gpu'?"),
    ("{ gpu = 1.5 }", "gpu = 1.5: a fraction of the graph's nodes, 0 to 1"),
])
def test_delegated_fraction_config_errors_name_the_key(table, message):
    raw = {"model": {"path": "m.keras"}, "dataset": {"kind": "fashion_mnist"},
           "targets": {"android": {"precisions": ["fp32"], "budgets": {"min_delegated_fraction": {}}}}}
    import tomllib

    raw["targets"]["android"]["budgets"]["min_delegated_fraction"] = tomllib.loads(f"x = {table}")["x"]
    with pytest.raises(ConfigError, match="targets.android.budgets.min_delegated_fraction") as err:
        parse_config(raw)
    assert message in str(err.value)


def test_check_reevaluates_a_recorded_delegated_fraction_budget(tmp_path):
    artifact = {**_artifact(gpu_fraction=1.0), "target": "android", "precision": "fp32", "bytes": 1, "gzip_bytes": 1}
    artifact["budgets"] = evaluate(artifact, Budgets(min_delegated_fraction={"gpu": 1.0}))
    artifact["delegates"]["gpu"] = _artifact()["delegates"]["gpu"]  # edited after the build
    path = tmp_path / "report.json"
    path.write_text(json.dumps(full_report([{"path": "android/model_fp32.tflite", **artifact}])))
    report = check_report(path)
    assert report["passed"] is False and "CONV_3D" in report["artifacts"][0]["budgets"][0]["note"]


def test_build_fails_on_a_gpu_fallback_budget_and_names_the_ops(tmp_path, keras_module, fashion_subset, capsys):
    k = keras_module
    k.utils.set_random_seed(0)
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1), name="image"), k.layers.Reshape((28, 28, 1, 1)),
                          k.layers.Conv3D(2, (3, 3, 1), strides=(2, 2, 1)), k.layers.Flatten(),
                          k.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(*fashion_subset, epochs=1, batch_size=64, verbose=0)  # above chance, or the sanity gate stops it
    model.save(tmp_path / "conv3d.keras")
    config = write_config(tmp_path, tmp_path / "conv3d.keras", precisions=("fp32",), eval_samples=100,
                          budgets="min_delegated_fraction = { xnnpack = 0.2, gpu = 1.0 }")
    assert main(["build", "--config", str(config), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "min_delegated_fraction" in out and "gpu falls back on" in out and "CONV_3D" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    [artifact] = report["artifacts"]
    assert artifact["parity"]["status"] == "passed"  # the budget, not parity, fails the build
    [budget] = artifact["budgets"]
    assert budget["passed"] is False and budget["actual"]["gpu"] < 1.0 and budget["actual"]["xnnpack"] >= 0.2
    assert "## Delegate compatibility (Android)" in (tmp_path / "out" / "report.md").read_text()
