"""Keras 3 `.keras` files are rebuilt as tf_keras models with the same weights and outputs."""
import numpy as np
import pytest

from edgekit.errors import InputError, UnsafeModelError, UnsupportedModelError
from edgekit.models.keras3 import is_keras3_file, rebuild_keras3, verify_rebuild

keras3 = pytest.importorskip("keras")
if not keras3.__version__.startswith("3"):
    pytest.skip("these tests need Keras 3 as the `keras` package", allow_module_level=True)
L = keras3.layers
# Keras 3's own model.save() trips a NumPy 2 deprecation inside its TF backend; not edgekit's code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def randomise_batch_norm(model, rng):
    """Give every BatchNormalization layer non-trivial gamma, beta and moving statistics."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2.0, n)])


def save(model, tmp_path, name):
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def assert_same_outputs(original, rebuilt, shape, rng):
    x = rng.normal(size=(4, *shape)).astype(np.float32)
    expected = np.asarray(original(x, training=False))
    actual = np.asarray(rebuilt(x, training=False))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)


def test_rebuild_keras3_sequential_cnn_matches_outputs_and_weights(tmp_path, rng):
    keras3.utils.set_random_seed(0)
    model = keras3.Sequential([
        keras3.Input((16, 16, 3)), L.Rescaling(1 / 127.5, offset=-1.0), L.Conv2D(8, 3, use_bias=False),
        L.BatchNormalization(), L.ReLU(max_value=6), L.DepthwiseConv2D(3, padding="same"),
        L.SeparableConv2D(6, 3, activation="relu"), L.MaxPooling2D(), L.ZeroPadding2D(1),
        L.GlobalAveragePooling2D(), L.Dropout(0.3), L.Dense(4, activation="softmax"),
    ])
    randomise_batch_norm(model, rng)
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "cnn"))
    assert record["status"] == "passed" and record["max_abs_error"] <= 1e-5
    assert record["source_keras_version"].startswith("3") and record["layers"] == 11 and record["samples"] == 8
    bn = rebuilt.get_layer(model.layers[2].name)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), model.layers[2].moving_variance.numpy())
    assert_same_outputs(model, rebuilt, (16, 16, 3), rng)


def test_rebuild_keras3_functional_merges_match_outputs(tmp_path, rng):
    keras3.utils.set_random_seed(1)
    inputs = keras3.Input((8, 8, 4), name="pixels")
    x = L.Conv2D(4, 3, padding="same")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Add()([inputs, x])  # residual
    y = L.Conv2D(2, 1, activation="sigmoid")(x)
    x = L.Concatenate()([x, y])
    x = L.Multiply()([x, L.Activation("relu6")(x)])
    x = L.Reshape((8, 8 * 6))(L.Flatten()(x))
    x = L.AveragePooling2D(2)(L.Reshape((8, 8, 6))(x))
    outputs = L.Softmax()(L.Dense(3)(L.GlobalMaxPooling2D()(x)))
    model = keras3.Model(inputs, outputs)
    randomise_batch_norm(model, rng)
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "functional"))
    assert record["status"] == "passed"
    assert_same_outputs(model, rebuilt, (8, 8, 4), rng)


def test_rebuild_keras3_nested_model_and_shared_layer_match_outputs(tmp_path, rng):
    keras3.utils.set_random_seed(2)
    backbone = keras3.Sequential([keras3.Input((6, 6, 2)), L.Conv2D(4, 3), L.BatchNormalization()], name="backbone")
    randomise_batch_norm(backbone, rng)
    inputs = keras3.Input((6, 6, 2))
    shared = L.Dense(2, name="shared")
    x = L.Add()([backbone(shared(inputs)), backbone(shared(L.ReLU()(inputs)))])
    model = keras3.Model(inputs, L.Dense(3)(L.Flatten()(x)))
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "nested"))
    assert record["status"] == "passed" and record["layers"] == 7
    assert_same_outputs(model, rebuilt, (6, 6, 2), rng)


def test_rebuild_keras3_refuses_lambda_layer_as_unsafe(tmp_path):
    model = keras3.Sequential([keras3.Input((4,)), L.Lambda(lambda t: t * 2.0), L.Dense(2)])
    path = save(model, tmp_path, "lambda")
    with pytest.raises(UnsafeModelError, match="Lambda"):
        rebuild_keras3(path)
    with pytest.raises(UnsupportedModelError, match="Lambda"):  # allowed, yet tf_keras cannot replay its bytecode
        rebuild_keras3(path, allow_unsafe=True)


def test_rebuild_keras3_refuses_unsupported_layer_naming_class_and_layer(tmp_path):
    model = keras3.Sequential([keras3.Input((5, 3)), L.LSTM(4, name="memory"), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="'memory' is a LSTM") as caught:
        rebuild_keras3(save(model, tmp_path, "lstm"))
    assert "\n" not in caught.value.one_line() and caught.value.hint


def test_rebuild_keras3_refuses_activation_whose_math_differs_in_tf_keras(tmp_path):
    model = keras3.Sequential([keras3.Input((4,)), L.Dense(2, activation="hard_sigmoid", name="gate")])
    with pytest.raises(UnsupportedModelError, match="'gate'.*hard_sigmoid"):
        rebuild_keras3(save(model, tmp_path, "hard_sigmoid"))


def test_rebuild_keras3_unreadable_archive_is_input_error(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InputError):
        rebuild_keras3(path)


def test_verify_rebuild_reports_failure_when_weights_differ(tmp_path):
    model = keras3.Sequential([keras3.Input((3,)), L.Dense(2, name="head")])
    path = save(model, tmp_path, "dense")
    rebuilt, _ = rebuild_keras3(path)
    kernel, bias = rebuilt.get_layer("head").get_weights()
    rebuilt.get_layer("head").set_weights([kernel + 0.1, bias])
    check = verify_rebuild(path, rebuilt, samples=4)
    assert check["status"] == "failed" and check["max_abs_error"] > 1e-3 and check["samples"] == 4


def test_is_keras3_file_tells_keras3_from_tf_keras_archives(tmp_path, keras_module):
    k3_path = save(keras3.Sequential([keras3.Input((3,)), L.Dense(2)]), tmp_path, "k3")
    k2_path = tmp_path / "k2.keras"
    keras_module.Sequential([keras_module.layers.InputLayer(input_shape=(3,)), keras_module.layers.Dense(2)]).save(k2_path)
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert is_keras3_file(k3_path)
    assert not is_keras3_file(k2_path)
    assert not is_keras3_file(tmp_path / "junk.keras")
