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
    assert "\n" not in caught.value.one_line() and caught.value.hint and "SavedModel" not in caught.value.one_line()


def test_rebuild_keras3_translates_hard_sigmoid_exactly_as_built_in_layers(tmp_path, rng):
    """Keras 3 hard_sigmoid is relu6(x + 3) / 6 (tf_keras': clip(0.2x + 0.5)): rebuilt from Rescaling and ReLU."""
    model = keras3.Sequential([keras3.Input((4,)), L.Dense(6, activation="hard_sigmoid", name="gate"), L.Dense(2)])
    model.layers[0].set_weights([rng.normal(0, 3, (4, 6)), rng.normal(size=6)])
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "hard_sigmoid"))
    assert record["translations"] == {"activation hard_sigmoid as Rescaling/ReLU/Rescaling": 1}
    assert rebuilt.get_layer("gate").get_config()["activation"] == "linear"
    assert_same_outputs(model, rebuilt, (4,), rng)
    x = rng.normal(0, 4, size=(64, 4)).astype(np.float32)
    assert np.max(np.abs(np.asarray(model(x)) - np.asarray(rebuilt(x)))) <= 1e-6  # within a float32 ulp or two


def test_rebuild_keras3_refuses_activation_without_tf_keras_formula_by_layer_name(tmp_path):
    model = keras3.Sequential([keras3.Input((4,)), L.Dense(2, activation="hard_tanh", name="clip")])
    with pytest.raises(UnsupportedModelError, match="'clip' is a Dense.*'hard_tanh'") as caught:
        rebuild_keras3(save(model, tmp_path, "hard_tanh"))
    assert "SavedModel" not in caught.value.one_line() and "without a recipe" in caught.value.hint


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


# -- coverage of Keras 3 built-ins (issue #12) --------------------------------------------------

A = keras3.applications
BACKBONES = {  # weights=None as users build them; random statistics below make the comparison meaningful
    "MobileNetV3Small": lambda: A.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=5,
                                                   classifier_activation=None),
    "EfficientNetB0": lambda: A.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=5,
                                               classifier_activation=None),
    "MobileNetV2": lambda: A.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=5,
                                         classifier_activation=None),
    "ResNet50": lambda: A.ResNet50(weights=None, input_shape=(64, 64, 3), classes=5, classifier_activation=None),
    "DenseNet121": lambda: A.DenseNet121(weights=None, input_shape=(64, 64, 3), classes=5, classifier_activation=None),
    "NASNetMobile": lambda: A.NASNetMobile(weights=None, input_shape=(32, 32, 3), classes=5,
                                           classifier_activation=None),
    "EfficientNetV2B0": lambda: A.EfficientNetV2B0(weights=None, input_shape=(64, 64, 3), classes=5,
                                                   classifier_activation=None),
    "ConvNeXtTiny": lambda: A.ConvNeXtTiny(weights=None, input_shape=(64, 64, 3), classes=5,
                                           classifier_activation=None),
}
# What each backbone needs beyond plain Conv/BN/ReLU, checked in its rebuild record.
EXPECTED_TRANSLATIONS = {
    "MobileNetV3Small": {"activation hard_silu as Rescaling/ReLU/Rescaling/Multiply": 19,
                         "ops.add with a constant as Rescaling": 9, "ops.multiply with a constant as Rescaling": 9},
    "ConvNeXtTiny": {"LayerScale": 18, "ops.add as Add layer": 18},
}
SLOW = pytest.mark.slow


def randomise_statistics(model, rng):
    """Non-trivial BatchNorm/LayerNorm/Normalization statistics and LayerScale gammas, nested models too."""
    for layer in model.layers:
        if isinstance(layer, keras3.Model):
            randomise_statistics(layer, rng)
        elif isinstance(layer, (L.BatchNormalization, L.LayerNormalization, L.Normalization)) or \
                type(layer).__name__ == "LayerScale":
            values = [np.asarray(w) if w.dtype == "int64" else
                      rng.uniform(0.5, 1.5, w.shape) if any(k in w.path for k in ("variance", "gamma")) else
                      rng.normal(0, 0.5, w.shape) for w in layer.weights]
            layer.set_weights(values)
            if isinstance(layer, L.Normalization):
                layer.finalize_state()


def assert_close_to_scale(original, rebuilt, x):
    """The rebuild's own criterion: max abs error <= 1e-5 * max(1, max |output|)."""
    expected, actual = np.asarray(original(x, training=False)), np.asarray(rebuilt(x, training=False))
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= 1e-5 * max(1.0, float(np.max(np.abs(expected))))


@pytest.mark.parametrize("name", [
    "MobileNetV3Small", "EfficientNetB0", "MobileNetV2",
    pytest.param("ResNet50", marks=SLOW), pytest.param("DenseNet121", marks=SLOW),
    pytest.param("NASNetMobile", marks=SLOW), pytest.param("EfficientNetV2B0", marks=SLOW),
    pytest.param("ConvNeXtTiny", marks=SLOW),
])
def test_rebuild_keras3_application_backbone_matches_outputs(tmp_path, rng, name):
    keras3.utils.set_random_seed(0)
    model = BACKBONES[name]()
    randomise_statistics(model, rng)
    rebuilt, record = rebuild_keras3(save(model, tmp_path, name))
    assert record["status"] == "passed" and record["max_abs_error"] <= record["limit"]
    assert record["identities"] == []
    assert record["translations"] == EXPECTED_TRANSLATIONS.get(name, {})
    for original in (layer for layer in model.layers if isinstance(layer, L.Normalization)):  # EfficientNets
        twin = rebuilt.get_layer(original.name)
        np.testing.assert_array_equal(np.ravel(twin.mean), np.ravel(original.mean))
        np.testing.assert_array_equal(np.ravel(twin.variance), np.ravel(original.variance))
    shape = tuple(model.input_shape[1:])
    assert_close_to_scale(model, rebuilt, rng.uniform(0, 255, size=(2, *shape)).astype(np.float32))  # raw pixels


def test_rebuild_keras3_common_layers_match_outputs(tmp_path, rng):
    keras3.utils.set_random_seed(3)
    image = keras3.Input((16, 16, 3), name="image")
    x = L.Normalization(axis=-1, mean=[1.0, 2.0, 3.0], variance=[4.0, 5.0, 6.0])(image)
    x = L.Normalization(axis=(1, 3))(x)
    x = L.Cropping2D(((1, 2), (3, 0)))(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(x)
    x = L.UpSampling2D((1, 2), interpolation="bilinear")(L.LayerNormalization()(x))
    x = L.PReLU(shared_axes=[1, 2])(L.LeakyReLU(0.1)(x))
    x = L.ELU(0.7)(L.Resizing(12, 10, interpolation="bicubic")(x))
    x = L.Resizing(14, 14, interpolation="nearest")(x)
    x = L.Resizing(9, 9, interpolation="area", crop_to_aspect_ratio=True)(x)
    a, b = L.Conv2D(4, 1)(x), L.Conv2D(4, 1, activation="gelu")(x)
    x = L.Average()([L.Maximum()([a, b]), L.Minimum()([a, b]), L.Subtract()([a, b])])
    seq = L.Reshape((81, 4))(x)
    seq = L.Conv1D(6, 3, padding="causal", activation="selu")(L.Cropping1D((1, 2))(seq))
    seq = L.Permute((2, 1))(seq)
    pooled = L.GlobalAveragePooling1D()(seq)
    repeated = L.RepeatVector(3)(pooled)
    dotted = L.Dot(axes=(2, 2))([repeated, repeated])
    output = L.Dense(3)(L.Concatenate()([L.Flatten()(dotted), pooled]))
    model = keras3.Model(image, output)
    for layer in model.layers:
        if isinstance(layer, (L.Normalization, L.LayerNormalization, L.PReLU)) and layer.weights:
            layer.set_weights([np.asarray(w) if w.dtype == "int64" else rng.uniform(0.5, 1.5, w.shape)
                               for w in layer.weights])
            if isinstance(layer, L.Normalization):
                layer.finalize_state()
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "common"))
    assert record["status"] == "passed" and record["translations"] == {}
    assert_close_to_scale(model, rebuilt, rng.normal(size=(4, 16, 16, 3)).astype(np.float32))


def test_rebuild_keras3_embedding_gets_valid_integer_inputs(tmp_path, rng):
    tokens = keras3.Input((7,), dtype="int32")
    model = keras3.Model(tokens, L.Dense(2)(L.GlobalAveragePooling1D()(L.Embedding(11, 4)(tokens))))
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "embedding"))
    assert record["status"] == "passed"
    x = rng.integers(0, 11, size=(4, 7)).astype(np.int32)
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), atol=1e-6, rtol=0)


SAME_FORMULA = ["linear", "relu", "relu6", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "swish", "silu",
                "gelu", "mish", "leaky_relu", "log_softmax", "softmax", "exponential"]


def test_rebuild_keras3_activations_same_or_translated(tmp_path, rng):
    inputs = keras3.Input((6,))
    x = inputs
    for name in SAME_FORMULA + ["hard_sigmoid", "hard_silu"]:
        x = L.Dense(6, activation=name if name != "exponential" else "tanh")(x)
        x = L.Activation(name)(x) if name != "exponential" else x
    model = keras3.Model(inputs, L.Activation("exponential")(x))
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "activations"))
    assert record["status"] == "passed"
    assert record["translations"] == {"activation hard_sigmoid as Rescaling/ReLU/Rescaling": 2,
                                      "activation hard_silu as Rescaling/ReLU/Rescaling/Multiply": 2,
                                      "relu6 as ReLU(6)": 1, "leaky_relu as LeakyReLU": 1}
    assert_close_to_scale(model, rebuilt, rng.normal(0, 3, size=(16, 6)).astype(np.float32))


def test_rebuild_keras3_augmentation_and_noise_become_recorded_identities(tmp_path, rng, keras_module):
    augment = [L.RandomFlip(), L.RandomRotation(0.2), L.RandomTranslation(0.1, 0.1), L.RandomZoom(0.2),
               L.RandomContrast(0.3), L.RandomBrightness(0.2), L.RandomCrop(16, 16), L.GaussianNoise(0.2),
               L.GaussianDropout(0.2), L.AlphaDropout(0.1)]
    model = keras3.Sequential([keras3.Input((16, 16, 3)), *augment, L.Dropout(0.5, name="drop"),
                               L.SpatialDropout2D(0.3), L.Conv2D(2, 3)])
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "augment"))
    assert record["identities"] == [layer.name for layer in augment]
    for layer in augment:
        twin = rebuilt.get_layer(layer.name)
        assert isinstance(twin, keras_module.layers.Activation) and twin.get_config()["activation"] == "linear"
    assert type(rebuilt.get_layer("drop")) is keras_module.layers.Dropout  # kept: TFMOT fine-tunes with it
    assert_same_outputs(model, rebuilt, (16, 16, 3), rng)


def test_rebuild_keras3_refuses_augmentation_that_is_no_identity_at_inference(tmp_path):
    model = keras3.Sequential([keras3.Input((16, 16, 3)), L.RandomCrop(8, 8, name="crop"), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedModelError, match="'crop' is a RandomCrop.*uncropped at inference"):
        rebuild_keras3(save(model, tmp_path, "random_crop"))
    image = keras3.Input((8, 8, 3))
    always = keras3.Model(image, L.Conv2D(2, 3)(L.RandomFlip(name="flip")(image, training=True)))
    with pytest.raises(UnsupportedModelError, match="'flip' is a RandomFlip.*training=True"):
        rebuild_keras3(save(always, tmp_path, "always_flip"))


def test_rebuild_keras3_operations_multi_input_multi_output_and_nested_translations(tmp_path, rng):
    keras3.utils.set_random_seed(4)
    block = keras3.Sequential([keras3.Input((6,)), L.Dense(5, activation="hard_silu", name="hs"),
                               L.BatchNormalization()], name="block")
    randomise_batch_norm(block, rng)
    a, b = keras3.Input((6,), name="a"), keras3.Input((6,), name="b")
    left, right = block(a), block(b)  # the nested model (and its translated activation) is shared
    mixed = (left - 3.0) * 2.0 + (1.5 - right) / 4.0 - (-left) + left * right - right
    relu = keras3.ops.relu6(mixed) + keras3.ops.leaky_relu(mixed, 0.1)
    model = keras3.Model([a, b], [relu, L.Dense(2, activation="hard_silu", name="head")(mixed)])
    rebuilt, record = rebuild_keras3(save(model, tmp_path, "operations"))
    assert record["status"] == "passed" and len(rebuilt.inputs) == 2 and len(rebuilt.outputs) == 2
    assert record["translations"]["activation hard_silu as Rescaling/ReLU/Rescaling/Multiply"] == 2
    assert record["translations"]["ops.subtract with a constant as Rescaling"] == 2
    x = [rng.normal(size=(4, 6)).astype(np.float32) for _ in range(2)]
    for expected, actual in zip(model(x), rebuilt(x)):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5, rtol=0)


def test_rebuild_keras3_refuses_layers_and_operations_without_counterpart_by_name(tmp_path):
    rms = keras3.Sequential([keras3.Input((4,)), L.RMSNormalization(name="rms")])
    with pytest.raises(UnsupportedModelError, match="'rms' is a RMSNormalization.*no RMS normalisation") as caught:
        rebuild_keras3(save(rms, tmp_path, "rms"))
    assert "SavedModel" not in caught.value.one_line()
    inputs = keras3.Input((4,))
    approximate = keras3.Model(inputs, keras3.ops.gelu(inputs))  # ops.gelu defaults to the tanh approximation
    with pytest.raises(UnsupportedModelError, match="Gelu.*approximate=True"):
        rebuild_keras3(save(approximate, tmp_path, "gelu"))
    a, b = keras3.Input((3,), name="a"), keras3.Input((3,), name="b")
    keyed = keras3.Model({"a": a, "b": b}, L.Add()([a, b]))
    with pytest.raises(UnsupportedModelError, match="dict"):
        rebuild_keras3(save(keyed, tmp_path, "dict_inputs"))


def test_verify_rebuild_limit_scales_with_the_output_size(tmp_path):
    model = keras3.Sequential([keras3.Input((3,)), L.Dense(2, name="head")])
    model.layers[0].set_weights([np.full((3, 2), 400.0), np.zeros(2)])
    path = save(model, tmp_path, "large")
    rebuilt, record = rebuild_keras3(path)
    assert record["max_abs_output"] > 100 and record["limit"] == pytest.approx(1e-5 * record["max_abs_output"])
