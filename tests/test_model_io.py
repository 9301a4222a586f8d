"""Inputs and outputs come from the model: multi-input and multi-output models, logits heads, a
Keras 3 model with Rescaling inside, and a model with no class labels, through every target.

The models are small and built in code, trained for a few steps on real Fashion-MNIST images;
their data are `.npz` files with one array per input (`x_<split>_<input name>`).
"""
import json
import textwrap

import numpy as np
import pytest

from edgekit.config import load_config
from edgekit.pipeline import build
from edgekit.progress import Reporter
from tests.test_web import CHROMIUM_PROBLEM

QUIET = Reporter(quiet=True)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def pixels():
    """Raw 0-255 Fashion-MNIST images (N, 28, 28, 1) and labels: 1,200 to train, 300 to test."""
    from edgekit.config import DatasetSection
    from edgekit.data import load_split

    train = load_split(DatasetSection(kind="fashion_mnist", scale=1.0), "train", limit=1200, seed=3)
    test = load_split(DatasetSection(kind="fashion_mnist", scale=1.0), "test", limit=300, seed=3)
    return train.x.astype(np.uint8), train.y, test.x.astype(np.uint8), test.y


def meta_features(images):
    """Four numbers per image (brightness statistics): a second, non-image input."""
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return np.stack([flat.mean(1), flat.std(1), (flat > 0.5).mean(1), flat.max(1)], axis=1).astype(np.float32)


def config(folder, model, data, *, extra="", targets="all", scale=1 / 255):
    text = textwrap.dedent(f"""
        [model]
        path = "{model}"

        [dataset]
        kind = "npz"
        path = "{data}"
        scale = {scale!r}
        eval_samples = 300
        calibration_samples = 64
        {extra}

        [targets.android]
        precisions = ["fp32", "int8"]
        runs = 10
        warmup = 2
        parity_samples = 300
    """)
    if targets == "all":
        text += textwrap.dedent(f"""
            [targets.ios]
            variants = ["fp16", "int8"]

            [targets.web]
            node_backends = ["wasm", "cpu"]
            parity_samples = 100
            profile_browser = {"false" if CHROMIUM_PROBLEM else "true"}
            browser_backends = ["tfjs-wasm", "litertjs-wasm"]
            runs = 5
            warmup = 1
        """)
    text += '\n[build]\nout = "out"\n'
    path = folder / "edgekit.toml"
    path.write_text(text)
    return load_config(path)


@pytest.fixture(scope="module")
def multi_io_build(tmp_path_factory, pixels):
    """Keras 3: inputs `image` (28x28x1) and `meta` (4); outputs `kind` (softmax, the labels) and
    `brightness` (one regression value)."""
    from edgekit.tfenv import keras3

    k = keras3()
    k.utils.set_random_seed(0)
    image = k.Input((28, 28, 1), name="image")
    meta = k.Input((4,), name="meta")
    x = k.layers.Rescaling(1 / 255)(image)
    x = k.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = k.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = k.layers.Flatten()(x)
    joined = k.layers.Concatenate()([x, k.layers.Dense(8, activation="relu")(meta)])
    kind = k.layers.Dense(10, activation="softmax", name="kind")(joined)
    brightness = k.layers.Dense(1, name="brightness")(joined)
    model = k.Model([image, meta], [kind, brightness])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss=["sparse_categorical_crossentropy", "mse"])
    x_train, y_train, x_test, y_test = pixels
    model.fit([x_train.astype(np.float32), meta_features(x_train)], [y_train, meta_features(x_train)[:, :1]],
              epochs=3, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("multi_io")
    model.save(folder / "multi.keras")
    np.savez(folder / "data.npz", x_train_image=x_train, x_train_meta=meta_features(x_train), y_train=y_train,
             x_test_image=x_test, x_test_meta=meta_features(x_test), y_test=y_test)
    # the image input rescales inside, so pixels go in raw; meta is already in [0, 1]
    cfg = config(folder, folder / "multi.keras", folder / "data.npz", scale=1.0)
    return cfg, build(cfg, target="all", progress=QUIET)


def by_path(report):
    return {a["path"]: a for a in report["artifacts"]}


def test_multi_input_multi_output_model_builds_every_target_with_its_own_names(multi_io_build):
    cfg, report = multi_io_build
    reference = report["reference"]
    assert [i["name"] for i in reference["inputs"]] == ["image", "meta"]
    assert [(o["name"], o["kind"]) for o in reference["outputs"]] == [("kind", "probabilities"), ("brightness", "values")]
    assert reference["label_output"] == "kind" and reference["accuracy"] > 0.6
    assert report["passed"], [(a["path"], a["parity"].get("reason")) for a in report["artifacts"]]
    android = by_path(report)["android/model_int8.tflite"]
    assert [i["name"] for i in android["io"]["inputs"]] == ["image", "meta"]
    assert [o["name"] for o in android["io"]["outputs"]] == ["kind", "brightness"]
    assert android["io"]["inputs"][0]["shape"] == [1, 28, 28, 1]  # batch 1
    assert set(android["parity"]["outputs"]) == {"kind", "brightness"}  # parity per output
    assert android["accuracy"] is not None and abs(android["accuracy_drop"]) < 5


def test_multi_io_core_ml_package_names_inputs_and_outputs_after_the_model(multi_io_build):
    _, report = multi_io_build
    package = by_path(report)["ios/model_fp16.mlpackage"]
    assert [(i["name"], i["kind"]) for i in package["coreml"]["inputs"]] == [("image", "tensor"), ("meta", "tensor")]
    assert sorted(package["coreml"]["outputs"]) == ["brightness", "kind"]
    assert any("several outputs" in note for note in package["notes"])  # coremltools' classifier takes one output
    statuses = {c["name"]: c["status"] for c in package["checks"]}
    assert statuses["input image"] == statuses["input meta"] == statuses["outputs"] == "passed"
    assert package["parity"]["status"] == "not_verified"  # no Core ML prediction off macOS


def test_multi_io_web_artifacts_run_in_node_and_in_the_browser(multi_io_build):
    cfg, report = multi_io_build
    tfjs = by_path(report)["web/tfjs/model.json"]
    assert set(tfjs["parity"]["backends"]) == {"wasm", "cpu"} and tfjs["parity"]["status"] == "passed"
    samples = json.loads((cfg.build.out / "web/samples.json").read_text())
    assert [i["name"] for i in samples["inputs"]] == ["image", "meta"] and samples["label_output"] == "kind"
    assert set(samples["samples"][0]["inputs"]) == {"image", "meta"}
    if CHROMIUM_PROBLEM is None:
        pages = [e for a in report["artifacts"] for e in a["latency"] if e["where"] == "browser"]
        assert {(e["runtime"], e["backend"]) for e in pages} == {("tfjs", "wasm"), ("litertjs", "wasm")}
        for page in pages:
            assert page["available"], page
            assert page["check"]["status"] == "passed", page["check"]


@pytest.fixture(scope="module")
def logits_build(tmp_path_factory, pixels):
    """Keras 3 Sequential with Rescaling(1/255) inside and a logits head (no softmax), input named
    by Keras (`input_layer`), data fed as raw pixels (scale = 1)."""
    from edgekit.tfenv import keras3

    k = keras3()
    k.backend.clear_session()  # default names (input_layer) as in a fresh process
    k.utils.set_random_seed(1)
    model = k.Sequential([k.Input((28, 28, 1)), k.layers.Rescaling(1 / 255), k.layers.Conv2D(8, 3, strides=2),
                          k.layers.BatchNormalization(momentum=0.8), k.layers.ReLU(), k.layers.Flatten(),
                          k.layers.Dense(10)])
    model.compile(optimizer=k.optimizers.Adam(3e-3),
                  loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
    x_train, y_train, x_test, y_test = pixels
    model.fit(x_train.astype(np.float32), y_train, epochs=3, batch_size=64, verbose=0)
    folder = tmp_path_factory.mktemp("logits")
    model.save(folder / "logits.keras")
    np.savez(folder / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    cfg = config(folder, folder / "logits.keras", folder / "data.npz", scale=1.0)
    return cfg, build(cfg, target="all", progress=QUIET)


def test_logits_model_with_rescaling_inside_builds_every_target(logits_build):
    _, report = logits_build
    assert report["reference"]["inputs"][0]["name"] == "input_layer"
    assert report["reference"]["outputs"][0]["kind"] == "logits" and report["reference"]["accuracy"] > 0.6
    assert report["passed"], [(a["path"], a["parity"].get("reason"), a.get("checks")) for a in report["artifacts"]]
    for artifact in report["artifacts"]:
        if artifact["target"] != "ios":
            assert artifact["parity"]["status"] == "passed" and artifact["accuracy"] > 0.6


def test_logits_core_ml_output_keeps_the_models_name_and_is_no_classifier(logits_build):
    _, report = logits_build
    package = by_path(report)["ios/model_fp16.mlpackage"]
    name = report["reference"]["outputs"][0]["name"]
    assert package["coreml"]["outputs"] == [name] and name != "probabilities"
    assert package["coreml"]["classifier_output"] is None
    assert any("logits" in note for note in package["notes"])
    assert package["coreml"]["inputs"][0]["name"] == "input_layer"


def test_model_without_labels_gets_parity_and_no_accuracy(tmp_path, keras_module, pixels):
    """An embedding-style model and data without y: accuracy is not applicable, parity still decides."""
    k = keras_module
    k.utils.set_random_seed(2)
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1), name="image"),
                          k.layers.Conv2D(4, 3, strides=2, activation="relu"), k.layers.Flatten(),
                          k.layers.Dense(16, name="embedding")])
    model.save(tmp_path / "embed.keras")
    x_train, _, x_test, _ = pixels
    np.savez(tmp_path / "data.npz", x_train=x_train, x_test=x_test)
    cfg = config(tmp_path, tmp_path / "embed.keras", tmp_path / "data.npz", targets="android")
    report = build(cfg, target="android", progress=QUIET)
    assert report["reference"]["accuracy"] is None and report["reference"]["label_output"] is None
    for artifact in report["artifacts"]:
        assert artifact["accuracy"] is None and "no class labels" in artifact["accuracy_status"]
        assert artifact["parity"]["status"] == "passed" and artifact["parity"]["relative_error"] is not None
    assert report["passed"]


def test_integer_id_input_builds_for_android_and_web_and_runs_in_the_browser(tmp_path, pixels):
    """A Keras 3 model over integer ids (Embedding): the ids reach every runtime as integers."""
    from edgekit.tfenv import keras3

    k = keras3()
    k.utils.set_random_seed(4)
    x_train, y_train, x_test, y_test = pixels
    ids = lambda images: (images.reshape(len(images), 49, 16).mean(-1) // 16).astype(np.int32)  # noqa: E731
    model = k.Sequential([k.Input((49,), dtype="int32", name="tokens"), k.layers.Embedding(16, 8),
                          k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=k.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(ids(x_train), y_train, epochs=4, batch_size=64, verbose=0)
    model.save(tmp_path / "ids.keras")
    np.savez(tmp_path / "data.npz", x_train=ids(x_train), y_train=y_train, x_test=ids(x_test), y_test=y_test)
    cfg = config(tmp_path, tmp_path / "ids.keras", tmp_path / "data.npz")
    report = build(cfg, target="android", progress=QUIET)
    assert report["reference"]["inputs"][0]["dtype"] == "int32" and report["reference"]["accuracy"] > 0.4
    assert report["passed"], [(a["path"], a["parity"].get("reason")) for a in report["artifacts"]]
    cfg.targets.android = None
    report = build(cfg, target="web", progress=QUIET)
    samples = json.loads((cfg.build.out / "web/samples.json").read_text())
    assert all(isinstance(v, int) for v in samples["samples"][0]["inputs"]["tokens"])
    assert report["passed"], [(a["path"], a["parity"].get("reason"), a["latency"]) for a in report["artifacts"]]


def test_savedmodel_with_a_fixed_batch_signature_builds(tmp_path, keras_module, pixels):
    """A SavedModel whose signature insists on batch 1 (as many serving exports do)."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    model = keras_module.models.Sequential([keras_module.layers.InputLayer(input_shape=(28, 28, 1)),
                                            keras_module.layers.Conv2D(4, 3, strides=2, activation="relu"),
                                            keras_module.layers.Flatten(),
                                            keras_module.layers.Dense(10, activation="softmax")])
    x_train, y_train, x_test, y_test = pixels
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=2, verbose=0)

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32, name="pixels")])
    def serve(pixels):
        return {"scores": model(pixels, training=False)}

    holder = tf.Module()
    holder.model = model
    tf.saved_model.save(holder, str(tmp_path / "exported"), signatures={"serving_default": serve})
    np.savez(tmp_path / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test[:50], y_test=y_test[:50])
    cfg = config(tmp_path, tmp_path / "exported", tmp_path / "data.npz")
    cfg.targets.ios = None
    cfg.targets.web.profile_browser = False
    report = build(cfg, target="all", progress=QUIET)
    assert report["reference"]["inputs"][0]["shape"] == [1, 28, 28, 1]
    assert report["passed"], [(a["path"], a["parity"].get("reason")) for a in report["artifacts"]]


def test_a_model_tfjs_cannot_convert_fails_that_artifact_and_keeps_the_tflite(tmp_path, pixels):
    """An op TF.js has no kernel for (SegmentSum; LiteRT has one): the TF.js artifact fails with the op
    named, the .tflite for LiteRT.js is still built and checked, and the CLI exits 3 (unsupported model)."""
    import subprocess
    import sys

    from edgekit.tfenv import keras3

    k = keras3()
    k.utils.set_random_seed(5)
    x_train, y_train, x_test, y_test = pixels
    inputs = k.Input((28, 28, 1))
    x = k.ops.transpose(k.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs), (1, 0, 2, 3))  # rows first
    x = k.ops.segment_sum(x, np.repeat(np.arange(7), 2)[:13], sorted=True)  # pairs of rows: (7, batch, 13, 16)
    pooled = k.layers.GlobalAveragePooling2D()(k.ops.transpose(x, (1, 0, 2, 3)))
    model = k.Model(inputs, k.layers.Dense(10, activation="softmax")(pooled))
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=4, verbose=0)
    model.save(tmp_path / "grouped.keras")
    np.savez(tmp_path / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    cfg = config(tmp_path, tmp_path / "grouped.keras", tmp_path / "data.npz", targets="all")
    result = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(tmp_path / "edgekit.toml"),
                             "--target", "web", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    report = json.loads((cfg.build.out / "report.json").read_text())
    artifacts = {a["path"]: a for a in report["artifacts"]}
    tfjs = artifacts["web/tfjs/model.json"]
    assert tfjs["status"] == "failed" and "SegmentSum" in tfjs["error"]["reason"] and tfjs["error"]["exit_code"] == 3
    assert artifacts["web/model.tflite"]["parity"]["status"] == "passed"


def test_a_nan_weight_is_named_by_layer_before_anything_is_converted(tmp_path, keras_module):
    from edgekit.errors import InputError
    from edgekit.models import load_model

    model = keras_module.Sequential([keras_module.layers.InputLayer(input_shape=(4,)),
                                     keras_module.layers.Dense(3, name="head")])
    kernel, bias = model.get_layer("head").get_weights()
    kernel[1, 2] = np.nan
    model.get_layer("head").set_weights([kernel, bias])
    model.save(tmp_path / "nan.keras")
    with pytest.raises(InputError, match="layer 'head' holds 1 NaN or Inf value"):
        load_model(tmp_path / "nan.keras")


def test_free_spatial_dimensions_are_fixed_from_the_data_with_a_note(tmp_path):
    from edgekit.models import load_model
    from types import SimpleNamespace

    from edgekit.errors import InputError
    from edgekit.labels import check_inputs
    from edgekit.tfenv import keras3

    k = keras3()
    inputs = k.Input((None, None, 3))
    outputs = k.layers.Dense(2)(k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(4, 3)(inputs)))
    k.Model(inputs, outputs).save(tmp_path / "free.keras")
    model = load_model(tmp_path / "free.keras")
    fixed = check_inputs(model, SimpleNamespace(inputs=[np.zeros((2, 20, 24, 3), np.float32)]))
    assert tuple(fixed.inputs[0].inner) == (20, 24, 3)
    assert any("free dimensions [None, None, 3]" in note for note in fixed.notes)
    with pytest.raises(InputError, match="expects shape"):
        check_inputs(model, SimpleNamespace(inputs=[np.zeros((2, 20, 3), np.float32)]))


@pytest.mark.parametrize("flavor", ["keras3", "tf_keras"])
def test_grouped_and_depthwise_conv2d_build_for_every_target_without_xla_calls(tmp_path, pixels, flavor):
    """ConvNeXt's depthwise Conv2D(groups=C), a grouped conv and an exact GELU: both Kerases run the
    convolutions in a nested XLA call that Core ML cannot read, and GELU's Erfc has no Core ML converter;
    the export writes plain ops, edgekit registers Erfc, and every artifact matches Keras."""
    from edgekit.tfenv import keras, keras3

    k = keras3() if flavor == "keras3" else keras()
    k.utils.set_random_seed(2)
    inputs = k.Input((28, 28, 1))
    x = k.layers.Conv2D(8, 3, strides=2, activation="relu")(k.layers.Rescaling(1 / 255)(inputs))
    x = k.layers.Conv2D(8, 7, padding="same", groups=8)(x)
    x = k.layers.Conv2D(16, 3, strides=2, groups=4, activation="relu")(x)
    x = k.layers.Dense(16, activation="gelu")(k.layers.GlobalAveragePooling2D()(x))  # exact GELU: Erfc in the graph
    model = k.Model(inputs, k.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    x_train, y_train, x_test, y_test = pixels
    model.fit(x_train.astype(np.float32), y_train, epochs=3, batch_size=64, verbose=0)
    model.save(tmp_path / "grouped.keras")
    np.savez(tmp_path / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    report = build(config(tmp_path, tmp_path / "grouped.keras", tmp_path / "data.npz", scale=1.0), target="all",
                   progress=QUIET)
    failed = {name: s for name, s in report["target_status"].items() if s["status"] != "built"}
    assert failed == {} and report["passed"], failed or [(a["path"], a["parity"]) for a in report["artifacts"]]
    assert {a["target"] for a in report["artifacts"]} == {"android", "ios", "web"}
