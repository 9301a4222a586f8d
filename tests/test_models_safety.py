"""Model files are programs: edgekit must refuse code-carrying files before deserialising them."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models import load_model


def lambda_model(k):
    return k.Sequential([k.layers.InputLayer(input_shape=(4,)), k.layers.Lambda(lambda t: t * 2.0),
                         k.layers.Dense(3, activation="softmax")])


def test_load_refuses_lambda_layer_in_keras_file(tmp_path, keras_module):
    path = tmp_path / "lambda.keras"
    lambda_model(keras_module).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda"):
        load_model(path)


def test_load_refuses_lambda_layer_in_h5_file_where_keras_safe_mode_does_not_apply(tmp_path, keras_module):
    path = tmp_path / "lambda.h5"
    lambda_model(keras_module).save(path)
    with pytest.raises(UnsafeModelError, match="Lambda"):
        load_model(path)


def test_load_with_allow_unsafe_loads_lambda_and_records_a_note(tmp_path, keras_module):
    path = tmp_path / "lambda.keras"
    lambda_model(keras_module).save(path)
    loaded = load_model(path, allow_unsafe=True)
    assert loaded.params == 15
    assert any("Lambda" in note for note in loaded.notes)


def test_load_refuses_config_that_names_a_non_keras_module(tmp_path, tiny_model_path):
    """The CVE pattern: a serialised 'function' whose module is os and name is system."""
    with zipfile.ZipFile(tiny_model_path) as source:
        files = {name: source.read(name) for name in source.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][-1]["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    files["config.json"] = json.dumps(config).encode()
    evil = tmp_path / "evil.keras"
    with zipfile.ZipFile(evil, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    with pytest.raises(UnsafeModelError, match="module 'os'"):
        load_model(evil)


def test_load_refuses_saved_model_whose_graph_writes_files(tmp_path):
    from edgekit.tfenv import tensorflow

    tf = tensorflow()

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            tf.io.write_file(str(tmp_path / "pwned.txt"), "hello")
            return {"y": x * 2.0}

    module = Writer()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.__call__)
    with pytest.raises(UnsafeModelError, match="WriteFile"):
        load_model(tmp_path / "sm")
    assert not (tmp_path / "pwned.txt").exists()


def test_load_saved_model_predicts_like_the_keras_model(tmp_path, keras_module, tiny_model_path, fashion_subset):
    model = keras_module.models.load_model(tiny_model_path)
    model.save(tmp_path / "sm", save_format="tf")
    loaded = load_model(tmp_path / "sm")
    x = fashion_subset[0][:16]
    assert loaded.format == "savedmodel"
    np.testing.assert_allclose(loaded.predict(x), model.predict(x, verbose=0), atol=1e-5)
    assert loaded.params == model.count_params()


def test_load_rebuilds_keras3_files_as_tf_keras_and_records_parity(tmp_path):
    path = tmp_path / "k3.keras"
    script = ("import keras; m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]); "
              f"m.save({str(path)!r})")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    loaded = load_model(path)
    assert loaded.format == "keras3" and loaded.rebuild["status"] == "passed"
    assert loaded.rebuild["max_abs_error"] <= 1e-5 and loaded.params == 10


@pytest.mark.parametrize("name", ["model.tflite", "model.onnx", "model.bin"])
def test_load_rejects_non_keras_formats_with_a_hint(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00" * 16)
    with pytest.raises(UnsupportedModelError, match="not a Keras model|unknown model format"):
        load_model(tmp_path / name)


def test_load_reports_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="readable"):
        load_model(tmp_path / "broken.keras")


def test_load_rejects_weights_only_h5(tmp_path, keras_module):
    model = keras_module.Sequential([keras_module.layers.InputLayer(input_shape=(4,)), keras_module.layers.Dense(2)])
    model.save_weights(tmp_path / "w.h5")
    with pytest.raises(InputError, match="model_config"):
        load_model(tmp_path / "w.h5")


@pytest.mark.parametrize("obj,expected", [
    ({"module": "builtins", "class_name": "function", "config": "exit", "registered_name": "function"}, "builtins"),
    ({"module": "keras_evil", "class_name": "function", "config": "relu", "registered_name": "function"}, "keras_evil"),
    ({"module": "keras.utils", "class_name": "function", "config": "get_file", "registered_name": "function"},
     "only keras activations"),
    ({"module": "keras.activations", "class_name": "function", "config": "deserialize", "registered_name": "function"},
     "not a tf_keras activation"),
])
def test_scan_refuses_functions_outside_keras_activations_losses_metrics(obj, expected):
    from edgekit.models.safety import scan_config

    config = {"class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2, "activation": obj}}]}}
    problems = scan_config(config).problems
    assert problems and expected in problems[0]


def test_scan_accepts_keras_activation_functions():
    from edgekit.models.safety import scan_config

    relu = {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": "function"}
    config = {"class_name": "Sequential", "config": {"layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2, "activation": relu}}]}}
    assert scan_config(config).problems == []


def test_load_refuses_checkpoint_ops_in_a_serving_function_named_like_the_saver(tmp_path):
    from edgekit.tfenv import tensorflow

    tf = tensorflow()

    def _traced_save(x):  # the traced name becomes __inference__traced_save_<n>, like a real saver's
        tf.raw_ops.SaveV2(prefix=str(tmp_path / "ckpt"), tensor_names=["x"], shape_and_slices=[""], tensors=[x])
        return {"y": x * 2.0}

    module = tf.Module()
    module.serve = tf.function(_traced_save, input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.serve)
    with pytest.raises(UnsafeModelError, match="SaveV2"):
        load_model(tmp_path / "sm")
