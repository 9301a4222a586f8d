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


def test_load_refuses_saved_model_ops_off_the_allowlist_whatever_their_name(tmp_path):
    """String formatting is no file op, but it is not pure compute on tensors either: an allowlist
    refuses it without anyone having thought of it."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()

    class Strings(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return {"y": tf.cast(tf.strings.length(tf.strings.as_string(x)), tf.float32)}

    module = Strings()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.__call__)
    with pytest.raises(UnsafeModelError, match="AsString in function .*StringLength|StringLength in function"):
        load_model(tmp_path / "sm")


def test_tf_keras_rnn_saved_model_with_cudnn_and_backward_functions_passes_the_op_allowlist(tmp_path, keras_module):
    from edgekit.models.safety import scan_saved_model_ops

    k = keras_module
    inputs = k.Input((6,), dtype="int32")
    x = k.layers.GRU(4)(k.layers.LSTM(4, return_sequences=True)(k.layers.Embedding(20, 4)(inputs)))
    k.Model(inputs, k.layers.Dense(2, activation="softmax")(x)).save(tmp_path / "rnn", save_format="tf")
    ops, risky = scan_saved_model_ops(tmp_path / "rnn")
    assert risky == [] and "CudnnRNNV3" in ops and "ReadVariableOp" in ops


def test_saved_model_op_allowlist_names_ops_that_exist_in_the_installed_tensorflow():
    from edgekit.models.graph_ops import ALLOWED, SAVER_ONLY
    from edgekit.tfenv import tensorflow

    tensorflow()
    from tensorflow.python.framework import op_def_registry

    assert sorted(op for op in ALLOWED | SAVER_ONLY if op_def_registry.get(op) is None) == []
    assert not ALLOWED & SAVER_ONLY and not {"WriteFile", "ReadFile", "PyFunc", "PrintV2"} & ALLOWED


def test_load_saved_model_predicts_like_the_keras_model(tmp_path, keras_module, tiny_model_path, fashion_subset):
    model = keras_module.models.load_model(tiny_model_path)
    model.save(tmp_path / "sm", save_format="tf")
    loaded = load_model(tmp_path / "sm")
    x = fashion_subset[0][:16]
    assert loaded.format == "savedmodel"
    np.testing.assert_allclose(loaded.predict(x)[0], model.predict(x, verbose=0), atol=1e-5)
    assert loaded.params == model.count_params()


def test_load_reads_keras3_files_with_keras3_once_they_pass_the_keras3_scan(tmp_path):
    path = tmp_path / "k3.keras"
    script = ("import keras; m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]); "
              f"m.save({str(path)!r})")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    loaded = load_model(path)
    assert loaded.format == "keras3" and loaded.flavor == "keras3" and loaded.params == 10


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
    ({"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": "exec"},
     "registered as 'exec'"),
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


# --- Allowlists: keras.applications backbones pass, anything off the lists stays refused (issue #12) ---

TF_KERAS_BACKBONES = ["MobileNetV3Small", "ConvNeXtTiny", "EfficientNetV2B0"]
KERAS3_BACKBONES = ["MobileNetV3Small", "EfficientNetB0", "ConvNeXtTiny", "NASNetMobile"]


def _edit_keras_archive(source, target, edit):
    """Copy a `.keras` archive with its config.json changed by `edit(config)`: a crafted file."""
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


def _objects(value):
    if isinstance(value, dict):
        if "class_name" in value:
            yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _first(config, class_name):
    return next(node for node in _objects(config) if node["class_name"] == class_name)


@pytest.fixture(scope="module")
def tf_keras_backbones(tmp_path_factory, keras_module):
    """tf_keras keras.applications backbones (weights=None, 32x32, 3 classes) saved as .keras and .h5,
    with the outputs of the in-memory model on two fixed inputs."""
    folder = tmp_path_factory.mktemp("tf_keras_backbones")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    built = {}
    for name in TF_KERAS_BACKBONES:
        model = getattr(keras_module.applications, name)(weights=None, input_shape=(32, 32, 3), classes=3)
        paths = {fmt: folder / f"{name}.{fmt}" for fmt in ("keras", "h5")}
        for path in paths.values():
            model.save(path)
        built[name] = {**paths, "x": x, "y": np.asarray(model(x, training=False)), "params": model.count_params()}
    return built


@pytest.fixture(scope="module")
def keras3_backbones(tmp_path_factory):
    """Keras 3 keras.applications backbones saved by Keras 3 itself (in a subprocess)."""
    folder = tmp_path_factory.mktemp("keras3_backbones")
    script = ("import sys, keras\n"
              "for name in sys.argv[2:]:\n"
              "    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=3)\n"
              "    model.save(f'{sys.argv[1]}/{name}.keras')\n")
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", script, str(folder), *KERAS3_BACKBONES], check=True, env=env,
                   capture_output=True)
    return {name: folder / f"{name}.keras" for name in KERAS3_BACKBONES}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", TF_KERAS_BACKBONES)
def test_tf_keras_backbones_with_op_layers_layer_scale_and_tf_initializers_pass_the_scan(tf_keras_backbones, name, fmt):
    from edgekit.models.safety import scan_h5, scan_keras_zip

    config, findings = (scan_keras_zip if fmt == "keras" else scan_h5)(tf_keras_backbones[name][fmt])
    assert findings.problems == []
    assert findings.keras_version.startswith("2")
    expected = {"MobileNetV3Small": "TFOpLambda", "ConvNeXtTiny": "LayerScale", "EfficientNetV2B0": "Constant"}[name]
    assert expected in findings.class_names  # the very class that used to be refused


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", TF_KERAS_BACKBONES)
def test_tf_keras_backbones_load_with_edgekit_and_predict_like_the_saved_model(tf_keras_backbones, name, fmt):
    backbone = tf_keras_backbones[name]
    loaded = load_model(backbone[fmt])
    assert loaded.format == fmt and loaded.params == backbone["params"]
    assert not any("unsafe" in note for note in loaded.notes)
    np.testing.assert_allclose(loaded.predict(backbone["x"])[0], backbone["y"], atol=1e-5)


@pytest.mark.slow
def test_load_refuses_tfoplambda_that_calls_io_write_file_naming_layer_and_function(tf_keras_backbones, tmp_path):
    edited = []

    def edit(config):
        layer = _first(config, "TFOpLambda")
        edited.append(layer["name"])  # Keras numbers names per process (tf.__operators__.add_3)
        layer["config"]["function"] = "io.write_file"
        layer["inbound_nodes"] = [["input_1", 0, 0, {"contents": "pwned", "filename": str(tmp_path / "pwned.txt")}]]

    evil = _edit_keras_archive(tf_keras_backbones["MobileNetV3Small"]["keras"], tmp_path / "evil.keras", edit)
    from edgekit.models.safety import scan_keras_zip

    problems = scan_keras_zip(evil)[1].problems
    assert len(problems) == 1 and "\n" not in problems[0]
    assert problems[0].startswith(f"layer {edited[0]!r}: ") and "tf.io.write_file" in problems[0]
    with pytest.raises(UnsafeModelError, match="io.write_file"):
        load_model(evil)
    assert not (tmp_path / "pwned.txt").exists()


def _op_layer_config(function, *, extra=None, kwargs=None):
    layer = {"class_name": "TFOpLambda", "name": "op",
             "config": {"name": "op", "trainable": True, "dtype": "float32", "function": function, **(extra or {})},
             "inbound_nodes": [["input_1", 0, 0, kwargs or {}]]}
    return {"class_name": "Functional", "config": {"name": "m", "layers": [layer]}}


@pytest.mark.parametrize("function", [
    "io.write_file", "io.read_file", "io.gfile.GFile", "py_function", "numpy_function", "compat.v1.py_func",
    "print", "debugging.assert_equal", "data.Dataset", "saved_model.load", "summary.write", "raw_ops.WriteFile",
    "load_op_library", "load_library", "while_loop", "map_fn", "Variable", "keras.layers.Lambda", None, 3])
def test_scan_refuses_op_layers_naming_tf_symbols_off_the_pure_op_allowlist(function):
    from edgekit.models.safety import scan_config

    problems = scan_config(_op_layer_config(function)).problems
    assert problems == [f"layer 'op': TFOpLambda calls tf.{function}, which is not on edgekit's allowlist "
                        "of pure TensorFlow ops"]


@pytest.mark.parametrize("function", ["math.multiply", "__operators__.add", "__operators__.getitem", "nn.relu6",
                                      "compat.v1.transpose", "reshape", "concat", "math.reduce_mean",
                                      "nn.softmax", "image.resize", "cast"])
def test_scan_accepts_op_layers_calling_pure_tf_ops(function):
    from edgekit.models.safety import scan_config

    assert scan_config(_op_layer_config(function, kwargs={"y": 3.0, "name": None})).problems == []


@pytest.mark.parametrize("class_name,config", [
    ("InstanceMethod", {"attr_name": "numpy"}), ("InstanceProperty", {"attr_name": "device"}),
    ("ClassMethod", {"cls_symbol": "io.gfile.GFile", "method_name": "write"})])
def test_scan_refuses_tf_keras_op_layers_that_call_methods_by_name(class_name, config):
    from edgekit.models.safety import scan_config

    layer = {"module": "tf_keras.src.layers.core.tf_op_layer", "class_name": class_name, "registered_name": class_name,
             "config": {"name": "op", "trainable": True, "dtype": "float32", **config}}
    problems = scan_config({"class_name": "Functional", "config": {"name": "m", "layers": [layer]}}).problems
    assert problems == [f"layer 'op': class {class_name!r} is not a built-in Keras class (custom code)"]


@pytest.mark.parametrize("extra,kwargs,expected", [
    ({"symbol": "io.write_file"}, None, "unexpected keys ['symbol']"),
    ({"cls_symbol": "io.gfile.GFile"}, None, "unexpected keys ['cls_symbol']"),
    (None, {"y": {"module": "keras.activations", "class_name": "function", "config": "relu",
                  "registered_name": "function"}}, "call argument is an object 'function'"),
    (None, {"y": {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1}}},
     "call argument is an object 'Dense'"),
])
def test_scan_refuses_op_layer_config_keys_and_call_arguments_that_could_carry_code(extra, kwargs, expected):
    from edgekit.models.safety import scan_config

    problems = scan_config(_op_layer_config("math.add", extra=extra, kwargs=kwargs)).problems
    assert problems and expected in problems[0] and problems[0].startswith("layer 'op': ")


@pytest.mark.slow
@pytest.mark.parametrize("module,class_name,expected", [
    ("tensorflow.python.ops.gen_io_ops", "Constant", "names module 'tensorflow.python.ops.gen_io_ops'"),
    ("tensorflow.python.ops.init_ops_v2", "_RandomGenerator", "names module 'tensorflow.python.ops.init_ops_v2'"),
    ("os", "Constant", "names module 'os'"),
])
def test_load_refuses_initializer_from_a_module_or_class_off_the_allowlist(tf_keras_backbones, tmp_path, module,
                                                                          class_name, expected):
    def edit(config):
        initializer = _first(config, "Constant")
        initializer.update(module=module, class_name=class_name, registered_name=class_name)

    evil = _edit_keras_archive(tf_keras_backbones["EfficientNetV2B0"]["keras"], tmp_path / "evil.keras", edit)
    with pytest.raises(UnsafeModelError, match=expected):
        load_model(evil)


@pytest.mark.parametrize("module,registered", [("evil.convnext", "LayerScale"),
                                               ("tf_keras.src.applications.convnext", "Custom>LayerScale")])
def test_scan_refuses_layer_scale_that_is_not_keras_applications_own(module, registered):
    from edgekit.models.safety import scan_config

    layer = {"module": module, "class_name": "LayerScale", "registered_name": registered,
             "config": {"name": "scale", "trainable": True, "init_values": 1e-6, "projection_dim": 4}}
    problems = scan_config({"class_name": "Functional", "config": {"name": "m", "layers": [layer]}}).problems
    assert len(problems) == 1 and problems[0].startswith("layer 'scale': ")


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS3_BACKBONES)
def test_keras3_backbones_pass_the_keras3_allowlist_scan(keras3_backbones, name):
    from edgekit.models.safety import scan_keras_zip

    config, findings = scan_keras_zip(keras3_backbones[name])
    assert findings.keras_version.startswith("3") and findings.problems == []


def _keras3_layer(class_name, config, module="keras.layers"):
    return {"module": module, "class_name": class_name, "registered_name": None,
            "config": {"name": "suspect", "trainable": True, **config}, "name": "suspect",
            "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [None, 32, 32, 3], "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}],
                "kwargs": {}}]}


@pytest.mark.slow
@pytest.mark.parametrize("class_name,config,expected", [
    ("TFSMLayer", {"filepath": "/tmp/some_saved_model", "call_endpoint": "serve"}, "TFSMLayer loads"),
    ("StringLookup", {"vocabulary": "/etc/passwd", "output_mode": "int"}, "reads its vocabulary from the file"),
    ("TextVectorization", {"vocabulary": "/etc/passwd"}, "reads its vocabulary from the file"),
    ("TorchModuleWrapper", {"module": "gASVAAAA"}, "unpickles"),
    ("Lambda", {"function": {"class_name": "__lambda__", "config": {"value": "4wAAAA"}}}, "Lambda layers"),
])
def test_keras3_scan_refuses_builtin_layers_that_load_files_or_code(keras3_backbones, tmp_path, class_name, config,
                                                                   expected):
    def edit(model_config):
        layers = model_config["config"]["layers"]
        index = next(i for i, layer in enumerate(layers) if layer["class_name"] == "Rescaling")
        layers[index] = {**_keras3_layer(class_name, config), "name": layers[index]["name"]}

    evil = _edit_keras_archive(keras3_backbones["MobileNetV3Small"], tmp_path / "evil.keras", edit)
    from edgekit.models.safety import scan_keras_zip

    problems = scan_keras_zip(evil)[1].problems
    assert problems and problems[0].startswith("layer 'rescaling': ") and expected in problems[0]


def _keras3_model(*layers):
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": list(layers)}}


def test_keras3_scan_accepts_inline_vocabularies_and_keras3_activation_functions():
    from edgekit.models.safety import scan_config

    lookup = _keras3_layer("StringLookup", {"vocabulary": ["cat", "dog"], "output_mode": "int"})
    hard_silu = {"module": "keras.activations", "class_name": "function", "config": "hard_silu",
                 "registered_name": "hard_silu"}
    dense = _keras3_layer("Dense", {"units": 2, "activation": hard_silu})
    gelu = _keras3_layer("Activation", {"activation": {
        "module": "builtins", "class_name": "function", "config": "gelu", "registered_name": "function"}})
    ops = [{"module": "keras.src.ops.numpy", "class_name": "Add", "registered_name": "Add", "config": {"name": "add"},
            "name": "add", "inbound_nodes": [{"args": [{"class_name": "__numpy__", "config": {
                "value": [1.0, 2.0], "dtype": "float32"}}, 3.0], "kwargs": {}}]}]
    assert scan_config(_keras3_model(lookup, dense, gelu, *ops), keras3=True).problems == []


@pytest.mark.parametrize("node,expected", [
    ({"module": "keras.src.ops.core", "class_name": "WhileLoop", "registered_name": "WhileLoop", "config": {}},
     "not on edgekit's allowlist of pure Keras 3 ops"),
    ({"module": "keras.layers", "class_name": "Layer", "registered_name": None, "config": {}},
     "not on edgekit's allowlist of Keras 3 built-ins"),
    ({"module": "keras.layers", "class_name": "TFOpLambda", "registered_name": None, "config": {}},
     "not on edgekit's allowlist of Keras 3 built-ins"),
    ({"module": "keras.layers", "class_name": "Dense", "registered_name": "my_pkg>Dense", "config": {}},
     "custom registered object 'my_pkg>Dense'"),
    ({"module": "__main__", "class_name": "MyLayer", "registered_name": None, "config": {}}, "module '__main__'"),
    ({"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"},
     "is not a Keras 3 activation, loss or metric"),
    ({"module": "keras.activations", "class_name": "function", "config": "get", "registered_name": "function"},
     "is not a Keras 3 activation"),
])
def test_keras3_scan_refuses_objects_off_the_keras3_allowlist(node, expected):
    from edgekit.models.safety import scan_config

    problems = scan_config(_keras3_model(_keras3_layer("Dense", {"units": 1, "bias_initializer": node})),
                           keras3=True).problems
    assert len(problems) == 1 and problems[0].startswith("layer 'suspect': ") and expected in problems[0]


def test_allowlists_name_symbols_that_exist_in_the_installed_tensorflow_and_keras():
    import importlib
    import inspect

    from edgekit.models import allowlist as allow
    from edgekit.tfenv import keras3, tensorflow

    tensorflow()
    from tensorflow.python.util import tf_decorator, tf_export

    for name in allow.TF_OPS:
        symbol = tf_export.get_symbol_from_name(name)
        assert symbol is not None, name
        function = tf_decorator.unwrap(symbol)[1]
        assert inspect.isfunction(function) and function.__module__.startswith(
            ("tensorflow.python.ops.", "tensorflow.python.framework.constant_op",
             "tensorflow.python.framework.tensor_conversion")), name
    for module, name, _ in allow.EXTERNAL_CLASSES:
        assert inspect.isclass(getattr(importlib.import_module(module), name))
    for name, (module, _) in allow.TF_KERAS_APPLICATION_LAYERS.items():
        assert inspect.isclass(getattr(importlib.import_module(module), name))
    k3 = keras3()
    from keras.src.ops.operation import Operation

    for module, names in allow.KERAS3_OPS.items():
        assert all(issubclass(getattr(importlib.import_module(module), n), Operation) for n in names), module
    for module, name, _ in allow.KERAS3_APPLICATION_LAYERS:
        assert issubclass(getattr(importlib.import_module(module), name), k3.layers.Layer)
    for modules, names in allow.KERAS3_CLASSES:
        exact = [importlib.import_module(m) for m in modules if not m.endswith(".")]
        exact.append(importlib.import_module("keras.src.models.functional"))
        assert all(any(inspect.isclass(getattr(m, n, None)) for m in exact) for n in names), modules
    assert all(issubclass(getattr(k3.layers, n), k3.layers.Layer) for n in allow.KERAS3_LAYERS)
    for kind, names in allow.KERAS3_FUNCTIONS.items():
        assert all(inspect.isfunction(getattr(getattr(k3, kind), n)) for n in names), kind
