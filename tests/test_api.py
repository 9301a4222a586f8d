"""The Python API (`edgekit.build`, `edgekit.check`, `Report`) and the report's JSON Schema."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import ConfigError, InputError
from edgekit.report.model import Report, json_schema

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "python_api" / "build_in_memory.py"
SCHEMA = ROOT / "docs" / "report.schema.json"


@pytest.fixture(scope="module")
def keras3_model_and_data(fashion_subset):
    from edgekit.tfenv import keras3

    k = keras3()
    k.utils.set_random_seed(0)
    x, y = fashion_subset
    model = k.Sequential([k.Input((28, 28, 1)), k.layers.Conv2D(8, 3, strides=2, activation="relu"),
                          k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    return model, (x[:1500], y[:1500]), (x[1500:], y[1500:])


@pytest.fixture(scope="module")
def api_build(keras3_model_and_data, tmp_path_factory):
    model, train, test = keras3_model_and_data
    out = tmp_path_factory.mktemp("api") / "build"
    config = {"targets": {"android": {"precisions": ["fp32", "int8"], "budgets": {"max_size": "200 KB"}}}}
    return edgekit.build(config, model=model, data=(train, test), out=out), out


def test_build_from_memory_returns_the_report_it_wrote(api_build):
    report, out = api_build
    assert isinstance(report, Report) and report.passed and report.exit_code == 0
    assert report.to_dict() == json.loads((out / "report.json").read_text())
    assert report.reference.path == "<in-memory Keras model>" and report.reference.accuracy > 0.6
    int8 = report.artifact("android/model_int8.tflite")
    assert int8.bytes == (out / "android" / "model_int8.tflite").stat().st_size and int8.parity.status == "passed"
    assert "PASSED" in str(report) and "android/model_int8.tflite" in report._repr_markdown_()
    with pytest.raises(KeyError, match="model_fp32.tflite"):
        report.artifact("ios/model.mlpackage")


def test_check_reapplies_budgets_to_a_report_object_dict_or_file(api_build):
    report, out = api_build
    strict = edgekit.check(report, budgets={"android": {"max_size": "1 KB"}})
    assert not strict.passed and strict.exit_code == 1 and report.passed  # the original is untouched
    assert edgekit.check(out).passed and edgekit.check(out / "report.json").passed
    assert not edgekit.check(out, budgets={"android": {"max_size": "1 KB"}}).passed
    plain = report.to_dict()
    assert not edgekit.check(plain, budgets={"android": {"max_size": "1 KB"}}).passed
    assert plain == report.to_dict()  # a dict report is not changed either
    with pytest.raises(ConfigError, match="andriod"):
        edgekit.check(report, budgets={"andriod": {"max_size": "1 KB"}})
    with pytest.raises(ConfigError, match="max_size"):
        edgekit.check(report, budgets={"android": {"max_size": "lots"}})


@pytest.mark.parametrize("batch", [32, None])
def test_build_takes_a_tf_data_dataset_batched_or_not(keras3_model_and_data, tmp_path, batch):
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    model, _, (x, y) = keras3_model_and_data
    dataset = tf.data.Dataset.from_tensor_slices((x[:200], y[:200]))
    report = edgekit.build({"targets": {"android": {"precisions": ["fp32"]}}}, model=model,
                           data=dataset.batch(batch) if batch else dataset, out=tmp_path / "build")
    assert report.passed and report.reference.eval_samples == 200


def test_build_takes_a_config_object_with_edits_and_test_arrays_only(keras3_model_and_data, tmp_path):
    from edgekit.config import parse_config

    model, _, (x, y) = keras3_model_and_data
    config = parse_config({"model": {"path": "unused.keras"}, "dataset": {"kind": "fashion_mnist"},
                           "targets": {"android": {"precisions": ["fp32"]}}})
    config.targets.android.budgets.max_size = 1000  # an edit after parsing must count
    report = edgekit.build(config, model=model, data={"x_test": x[:100], "y_test": y[:100]}, out=tmp_path / "b")
    assert not report.passed and report.exit_code == 1
    assert report.artifacts[0].budgets[0].name == "max_size" and not report.artifacts[0].budgets[0].passed


def test_api_errors_are_the_typed_cli_errors(keras3_model_and_data, tmp_path):
    model, train, _ = keras3_model_and_data
    with pytest.raises(InputError, match="data must be"):
        edgekit.build(model=model, data="images/", out=tmp_path / "a")
    with pytest.raises(ConfigError, match="needs a model"):
        edgekit.build(data=train, out=tmp_path / "b")
    with pytest.raises(InputError, match="must be a Keras model"):
        edgekit.build(model=object(), data=train, out=tmp_path / "c")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_readme_python_api_example_runs_as_written(tmp_path):
    code = EXAMPLE.read_text()
    assert code.split('"""', 2)[2].strip() in (ROOT / "README.md").read_text()  # the README shows this file
    result = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "edgekit report: PASSED" in result.stdout and "with a 10 KB budget: failed (exit 1)" in result.stdout
    assert (tmp_path / "build" / "python_api" / "report.json").is_file()


def test_published_json_schema_is_generated_from_the_report_model():
    assert json.loads(SCHEMA.read_text()) == json_schema(), "run: python -m edgekit.report.model"


def test_a_built_report_validates_against_the_published_json_schema(api_build):
    import jsonschema

    _, out = api_build
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))
    report["artifacts"][0]["parity"] = "ok"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, json.loads(SCHEMA.read_text()))


def test_reading_a_report_that_does_not_fit_the_model_is_a_one_line_input_error(api_build, tmp_path):
    from edgekit.report import load_report

    _, out = api_build
    report = json.loads((out / "report.json").read_text())
    report["artifacts"][0]["parity"] = "passed"  # an edit: parity is an object
    (tmp_path / "edited.json").write_text(json.dumps(report))  # not report.json: the session check skips it
    with pytest.raises(InputError, match=r"not a report edgekit wrote \(artifacts.0.parity: "):
        load_report(tmp_path / "edited.json")
    del report["reference"]["inputs"]  # what reports before edgekit 0.3 lacked: still read
    report["artifacts"][0]["parity"] = {"status": "passed"}
    (tmp_path / "older.json").write_text(json.dumps(report))
    assert load_report(tmp_path / "older.json")["reference"]["path"]
