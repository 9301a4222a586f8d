"""TF.js graph rewrites (`edgekit/converters/tfjs_graph.py`): what grappler fuses for oneDNN, split back
into ops TF.js runs, checked on hand-built graphs and on real backbones run in Node (wasm and cpu)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import UnsupportedModelError

# Fused activations TF.js 4.22 applies (tfjs-backend-wasm FusableActivation, tfjs-backend-cpu applyActivation).
TFJS_FUSED = {"BiasAdd", "NoOp", "Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Prelu"}


def _calibrate_batch_norms(model, x: np.ndarray, seed: int = 0) -> None:
    """Random BatchNorm scale/offset and statistics of `x` (one training-mode pass): with weights=None the
    offsets fold away (grappler then fuses nothing) and a deep net's outputs hardly depend on its input."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.momentum = 0.0
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0, 0.2, beta.shape).astype(np.float32), mean, variance])
    model(x, training=True)


def _loaded(model, flavor: str):
    from edgekit.models import keras_loaded

    return keras_loaded(Path(f"{model.name}.keras"), "keras3" if flavor == "keras3" else "keras", model, flavor=flavor)


def _fused_ops(manifest: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    nodes = json.loads(manifest.read_text())["modelTopology"]["node"]
    return [(n["op"], n["name"], tuple(base64.b64decode(s).decode() for s in n["attr"]["fused_ops"]["list"].get("s", [])))
            for n in nodes if "fused_ops" in n.get("attr", {})]


def _convert_and_run(model, tmp_path: Path, x: np.ndarray) -> tuple[Path, dict[str, np.ndarray], np.ndarray]:
    """Convert (float32 weights), run in Node on wasm and cpu; (model.json, outputs per backend, Keras outputs)."""
    from edgekit import node
    from edgekit.converters import tfjs

    files = tfjs.convert(model, tmp_path / "tfjs", quantize="none")
    x.tofile(tmp_path / "x.bin")
    spec = {"model": str(files[0]), "count": len(x), "batch": 8, "outputs": model.output_names,
            "inputs": [{"name": model.inputs[0].name, "file": str(tmp_path / "x.bin"), "shape": list(x.shape),
                        "dtype": "float32"}],
            "backends": [{"name": "wasm", "samples": len(x)}, {"name": "cpu", "samples": len(x)}],
            "out_dir": str(tmp_path)}
    result = node.run_script("node_eval.mjs", spec, workdir=tmp_path, timeout=300)
    expected = model.predict([x])[0]
    outputs = {}
    for backend, entry in result["backends"].items():
        assert "error" not in entry, f"{backend}: {entry.get('error')}"
        outputs[backend] = np.fromfile(entry["outputs"][0]["file"], dtype=np.float32).reshape(expected.shape)
    return files[0], outputs, expected


def _assert_matches(outputs: dict[str, np.ndarray], expected: np.ndarray, tolerance: float = 1e-4) -> dict[str, float]:
    """Every backend within `tolerance` of the largest Keras output (float32 through a deep net); errors back."""
    assert set(outputs) == {"wasm", "cpu"}
    scale = float(np.abs(expected).max())
    assert float(np.ptp(expected, axis=0).max()) > 0.1 * scale > 0  # outputs differ between inputs: a real check
    errors = {backend: float(np.abs(got - expected).max()) for backend, got in outputs.items()}
    for backend, error in errors.items():
        assert error <= tolerance * scale, f"{backend}: max error {error:.3g} for outputs up to {scale:.3g}"
    print(f"max error vs Keras: {errors} (outputs up to {scale:.3g})")
    return errors


def _only_tfjs_fusions(manifest: Path) -> None:
    leftover = [(op, name, fused) for op, name, fused in _fused_ops(manifest) if not set(fused) <= TFJS_FUSED]
    assert not leftover, leftover[:3]
    assert not any(n["op"] in ("_FusedBatchNormEx", "Erfc", "StatefulPartitionedCall", "PartitionedCall")
                   for n in json.loads(manifest.read_text())["modelTopology"]["node"])


# ---------------------------------------------------------------------------------------------- unit


def _node(graph_def, op: str, name: str, inputs=(), **attrs):
    from tensorflow.core.framework import attr_value_pb2

    node = graph_def.node.add(op=op, name=name, input=list(inputs))
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value if isinstance(value, attr_value_pb2.AttrValue) else attr_value_pb2.AttrValue(**value))
    return node


def _const(graph_def, name: str, value: np.ndarray):
    import tensorflow as tf

    return _node(graph_def, "Const", name, dtype={"type": 1}, value={"tensor": tf.make_tensor_proto(value)})


def _hand_built(rng):
    """What grappler's remap writes: conv+bias+hard-swish, BatchNorm+side input+ReLU, matmul+scalar bias+GELU."""
    import tensorflow as tf
    from tensorflow.core.framework import attr_value_pb2

    F32 = {"type": 1}
    graph_def = tf.compat.v1.GraphDef()
    _node(graph_def, "Placeholder", "x", dtype=F32)
    _node(graph_def, "Placeholder", "y", dtype=F32)
    values = {"filter": rng.normal(0, 0.5, (3, 3, 2, 4)), "bias": rng.normal(0, 1, 4), "scale": rng.uniform(0.5, 2, 2),
              "offset": rng.normal(0, 1, 2), "mean": rng.normal(0, 1, 2), "variance": rng.uniform(0.5, 2, 2),
              "w": rng.normal(0, 1, (4, 5)), "b": np.array(0.7)}
    for name, value in values.items():
        _const(graph_def, name, value.astype(np.float32))
    ints = lambda *v: attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(i=list(v)))  # noqa: E731
    strs = lambda *v: attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(s=[s.encode() for s in v]))  # noqa: E731
    types = attr_value_pb2.AttrValue(list=attr_value_pb2.AttrValue.ListValue(type=[1]))
    _node(graph_def, "_FusedConv2D", "conv", ["x", "filter", "bias"], T=F32, TArgs=types, num_args={"i": 1},
          strides=ints(1, 1, 1, 1), dilations=ints(1, 1, 1, 1), padding={"s": b"SAME"}, data_format={"s": b"NHWC"},
          fused_ops=strs("BiasAdd", "_FusedHardSwish"), epsilon={"f": 0.0}, leakyrelu_alpha={"f": 0.2})
    _node(graph_def, "_FusedBatchNormEx", "bn", ["x", "scale", "offset", "mean", "variance", "x"], T=F32, U=F32,
          epsilon={"f": 0.001}, num_side_inputs={"i": 1}, activation_mode={"s": b"Relu"}, is_training={"b": False},
          data_format={"s": b"NHWC"}, exponential_avg_factor={"f": 1.0})
    _node(graph_def, "_FusedMatMul", "mm", ["y", "w", "b"], T=F32, num_args={"i": 1}, transpose_a={"b": False},
          transpose_b={"b": False}, fused_ops=strs("BiasAdd", "GeluExact"), epsilon={"f": 0.0})
    for name in ("conv", "bn", "mm"):
        _node(graph_def, "Identity", f"{name}_out", [name], T=F32)
    return graph_def, {k: v.astype(np.float32) for k, v in values.items()}


def test_rewrite_splits_fusions_tfjs_lacks_and_keeps_the_numbers():
    import math

    import tensorflow as tf

    from edgekit.converters.tfjs_graph import after_grappler

    erf = np.vectorize(math.erf)

    rng = np.random.default_rng(0)
    graph_def, v = _hand_built(rng)
    after_grappler(graph_def)
    nodes = {n.name: n for n in graph_def.node}
    fused = {name: [s.decode() for s in n.attr["fused_ops"].list.s] for name, n in nodes.items() if "fused_ops" in n.attr}
    assert fused == {"conv/pre_activation": ["BiasAdd"], "mm/pre_activation": ["BiasAdd"]}
    assert nodes["conv/pre_activation"].attr["num_args"].i == 1 and len(nodes["conv/pre_activation"].attr["TArgs"].list.type) == 1
    assert (nodes["conv"].op, nodes["bn"].op, nodes["mm"].op) == ("Mul", "Relu", "Mul")  # consumers keep their inputs
    assert nodes["bn/pre_activation"].op == "FusedBatchNormV3" and "activation_mode" not in nodes["bn/pre_activation"].attr
    assert tf.make_ndarray(nodes[nodes["mm/pre_activation"].input[2]].attr["value"].tensor).shape == (5,)  # rank-1 bias
    assert "b" not in nodes  # the scalar it replaced is gone (no unused weight in model.json)

    x = rng.normal(0, 2, (2, 5, 5, 2)).astype(np.float32)
    y = rng.normal(0, 2, (3, 4)).astype(np.float32)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            conv, bn, mm = session.run(["conv_out:0", "bn_out:0", "mm_out:0"], {"x:0": x, "y:0": y})
    pre = tf.nn.conv2d(x, v["filter"], 1, "SAME").numpy() + v["bias"]
    np.testing.assert_allclose(conv, pre * np.clip(pre + 3, 0, 6) / 6, atol=1e-5)
    normed = (x - v["mean"]) / np.sqrt(v["variance"] + 0.001) * v["scale"] + v["offset"]
    np.testing.assert_allclose(bn, np.maximum(normed + x, 0), atol=1e-5)
    h = y @ v["w"] + 0.7
    np.testing.assert_allclose(mm, h / 2 * (1 + erf(h / np.sqrt(2))), atol=1e-5)


def test_rewrite_names_what_it_cannot_split_and_restores_the_converter(monkeypatch):
    monkeypatch.setenv("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # tensorflowjs imports TF decision forests
    from tensorflowjs.converters import tf_saved_model_conversion_v2 as conversion

    from edgekit.converters.tfjs_graph import after_grappler, tfjs_rewrites

    graph_def, _ = _hand_built(np.random.default_rng(0))
    conv = next(n for n in graph_def.node if n.name == "conv")
    conv.attr["fused_ops"].list.s[1] = b"FusedBatchNorm"
    with pytest.raises(ValueError, match="Unsupported Ops in the model after optimization\n_FusedConv2D with fused FusedBatchNorm"):
        after_grappler(graph_def)
    originals = conversion.optimize_graph, conversion._run_grappler
    with pytest.raises(RuntimeError):
        with tfjs_rewrites():
            assert conversion._run_grappler is not originals[1]
            raise RuntimeError("converter failed")
    assert (conversion.optimize_graph, conversion._run_grappler) == originals


# ------------------------------------------------------------------------------------- real models in Node


def test_mobilenetv3small_hard_swish_runs_in_tfjs_wasm_and_cpu(tmp_path):
    from edgekit.tfenv import keras3

    k3 = keras3()
    k3.utils.set_random_seed(0)
    net = k3.applications.MobileNetV3Small(input_shape=(64, 64, 3), weights=None, classes=3, classifier_activation=None)
    x = np.random.default_rng(1).uniform(0, 255, (16, 64, 64, 3)).astype(np.float32)
    _calibrate_batch_norms(net, x)
    model = _loaded(net, "keras3")
    manifest, outputs, expected = _convert_and_run(model, tmp_path, x)
    _assert_matches(outputs, expected)
    _only_tfjs_fusions(manifest)
    split = [name for _, name, fused in _fused_ops(manifest) if name.endswith("/pre_activation")]
    assert len(split) >= 5  # grappler's _FusedHardSwish convolutions, now conv+bias then hard-swish nodes


def test_grouped_depthwise_conv_and_exact_gelu_run_in_tfjs(tmp_path):
    """Keras 3 runs Conv2D(groups=C) in an XLA function and exact GELU uses Erfc (both rewritten before
    grappler); grappler fuses Dense+tanh into a _FusedMatMul TF.js cannot run (split after it)."""
    from edgekit.tfenv import keras3

    k3 = keras3()
    k3.utils.set_random_seed(0)
    inputs = k3.Input((16, 16, 3), name="image")
    h = k3.layers.Conv2D(8, 3, strides=2)(inputs)
    h = k3.layers.Conv2D(8, 5, padding="same", groups=8)(h)  # ConvNeXt's depthwise convolution
    h = k3.layers.LayerNormalization(epsilon=1e-6)(h)
    h = k3.layers.Dense(16, activation=lambda t: k3.activations.gelu(t, approximate=False))(h)
    h = k3.layers.Conv2D(16, 3, padding="same", groups=16, activation="gelu")(h)
    h = k3.layers.Dense(8, activation="tanh", bias_initializer="random_normal")(k3.layers.GlobalAveragePooling2D()(h))
    outputs = k3.layers.Dense(3, name="logits")(h)  # grappler: _FusedMatMul [BiasAdd, Tanh] just above
    model = _loaded(k3.Model(inputs, outputs), "keras3")
    x = np.random.default_rng(2).normal(0, 2, (16, 16, 16, 3)).astype(np.float32)
    manifest, outputs, expected = _convert_and_run(model, tmp_path, x)
    _assert_matches(outputs, expected)
    _only_tfjs_fusions(manifest)
    ops = [n["op"] for n in json.loads(manifest.read_text())["modelTopology"]["node"]]
    assert ops.count("DepthwiseConv2dNative") + ops.count("FusedDepthwiseConv2dNative") == 2 and "Erf" in ops
    assert [(op, fused) for op, name, fused in _fused_ops(manifest) if name.endswith("/pre_activation")] == \
        [("_FusedMatMul", ("BiasAdd",))] and "Tanh" in ops


def test_what_tfjs_cannot_run_still_fails_naming_the_op(tmp_path):
    from edgekit.converters import tfjs
    from edgekit.tfenv import keras3

    k3 = keras3()
    inputs = k3.Input((8, 8, 4), name="image")
    grouped = k3.Model(inputs, k3.layers.Conv2D(8, 3, groups=2)(inputs))  # exported as split/conv/concat: converts
    tfjs.convert(_loaded(grouped, "keras3"), tmp_path / "grouped", quantize="none")
    erfinv = k3.Model(inputs, k3.layers.Lambda(lambda t: k3.ops.erfinv(k3.ops.tanh(t)), output_shape=(8, 8, 4))(inputs))
    with pytest.raises(UnsupportedModelError, match="Erfinv"):  # no TF.js kernel, no rewrite: the converter's check
        tfjs.convert(_loaded(erfinv, "keras3"), tmp_path / "erfinv", quantize="none")


@pytest.mark.slow
def test_densenet121_tf_keras_batchnorm_relu_runs_in_tfjs(tmp_path, keras_module):
    """tf_keras DenseNet's BatchNorm -> ReLU becomes grappler's _FusedBatchNormEx (Keras 3's does not)."""
    keras_module.utils.set_random_seed(0)
    net = keras_module.applications.DenseNet121(input_shape=(32, 32, 3), weights=None, classes=3,
                                                classifier_activation=None)
    x = np.random.default_rng(3).uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    _calibrate_batch_norms(net, x)
    manifest, outputs, expected = _convert_and_run(_loaded(net, "tf_keras"), tmp_path, x)
    _assert_matches(outputs, expected)
    _only_tfjs_fusions(manifest)
    ops = [n["op"] for n in json.loads(manifest.read_text())["modelTopology"]["node"]]
    assert ops.count("FusedBatchNormV3") >= 50


@pytest.mark.slow
def test_convnext_tiny_keras3_runs_in_tfjs(tmp_path):
    from edgekit.tfenv import keras3

    k3 = keras3()
    k3.utils.set_random_seed(0)
    net = k3.applications.ConvNeXtTiny(input_shape=(32, 32, 3), weights=None, classes=3, classifier_activation=None)
    x = np.random.default_rng(4).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    manifest, outputs, expected = _convert_and_run(_loaded(net, "keras3"), tmp_path, x)
    _assert_matches(outputs, expected)
    _only_tfjs_fusions(manifest)


def test_onednn_layer_norm_is_split_into_ops_that_compute_the_same_hand_built():
    """oneDNN's grappler writes `_MklLayerNorm` for tf_keras LayerNormalization (seen in ConvNeXtTiny's
    TF.js conversion on this CPU); after the rewrite the graph computes layer norm with plain ops."""
    import tensorflow as tf

    from edgekit.converters.tfjs_graph import after_grappler

    rng = np.random.default_rng(6)
    scale, offset = rng.uniform(0.5, 1.5, 5).astype("float32"), rng.normal(0, 0.3, 5).astype("float32")
    graph_def = tf.compat.v1.GraphDef()
    _node(graph_def, "Placeholder", "x", dtype={"type": 1})
    _const(graph_def, "scale", scale)
    _const(graph_def, "offset", offset)
    _node(graph_def, "_MklLayerNorm", "ln", ["x", "scale", "offset"], T={"type": 1}, epsilon={"f": 1e-6})
    _node(graph_def, "Identity", "out", ["ln"], T={"type": 1})
    after_grappler(graph_def)
    assert "_MklLayerNorm" not in {node.op for node in graph_def.node}
    x = rng.normal(0, 2, (2, 3, 4, 5)).astype("float32")
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        got = session.run("out:0", {"x:0": x})
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 1e-6) * scale + offset, rtol=1e-5, atol=1e-5)
