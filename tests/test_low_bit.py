"""4-bit `.tflite` storage of clustered filters (issue #18): raw bytes follow the clusters where LiteRT runs them."""
from __future__ import annotations


import numpy as np
import pytest
from conftest import build_report, tiny_cnn, write_config

ALL_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")


def test_nibbles_round_trip_in_litert_layout(rng):
    from edgekit.targets.android.lowbit import _pack_nibbles, unpack_nibbles

    values = rng.integers(-8, 8, size=1001).astype(np.int8)
    packed = _pack_nibbles(values)
    assert len(packed) == 501
    assert packed[0] & 0x0F == values[0] & 0x0F and packed[0] >> 4 == values[1] & 0x0F  # first value: low nibble
    assert np.array_equal(unpack_nibbles(packed.tobytes(), values.size), values)


def _clustered(k, tmp_path, x, y, *, clusters: int | None):
    """A small CNN with a depthwise convolution, trained briefly on real data; every kernel then snapped
    to `clusters` values (None: left as trained)."""
    k.utils.set_random_seed(0)
    model = k.Sequential([
        k.layers.InputLayer(input_shape=(28, 28, 1), name="image"),
        k.layers.Conv2D(8, 3, strides=2, activation="relu"),
        k.layers.DepthwiseConv2D(3, depth_multiplier=16, activation="relu"),  # 1,152 weights
        k.layers.Conv2D(16, 3, strides=2, activation="relu"),
        k.layers.Flatten(),
        k.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if clusters and weights and weights[0].ndim >= 2:
            kernel = weights[0]
            centres = np.quantile(kernel, np.sort(rng.random(clusters)))
            weights[0] = centres[np.abs(kernel[..., None] - centres).argmin(-1)].astype(np.float32)
            layer.set_weights(weights)
    path = tmp_path / f"clustered-{clusters}.keras"
    model.save(path)
    return path


def _choose(model, x, precision, *, ops, tolerance=None, max_accuracy_loss=100.0):
    from edgekit.converters import tflite
    from edgekit.litert import TFLiteRunner, run
    from edgekit.targets.android.lowbit import choose
    from edgekit.validate import compare

    names = {"input_names": model.input_names, "output_names": model.output_names}
    reference = model.predict([x])
    data = tflite.convert(model, precision, calibration=[x[:64]])
    judge = (lambda outs: compare(reference, outs, tolerance or {"max_relative_error": 0.3},
                                  names=model.output_names, samples=len(x)))
    shipped, record = choose(data, precision=precision, ops=ops, max_accuracy_loss=max_accuracy_loss,
                             evaluate=lambda d: run(d, [x], **names)[1], judge=judge, accuracy=lambda outs: None,
                             load_ms=lambda d: TFLiteRunner(d, **names).load_ms)
    return data, shipped, record, names


@pytest.mark.parametrize("precision", ["int8", "dynamic"])
def test_clustered_filters_are_stored_4bit_and_run_in_litert(tmp_path, keras_module, fashion_subset, precision):
    from edgekit.litert import run
    from edgekit.models import load_model
    from edgekit.why import breakdown

    model = load_model(_clustered(keras_module, tmp_path, *fashion_subset, clusters=16))
    x = fashion_subset[0][:200]
    data, shipped, record, names = _choose(model, x, precision, ops=ALL_OPS)
    assert record["kept"] == "4-bit" and shipped is not data, record["reason"]
    assert record["bytes_8bit"] == len(data) and record["bytes_4bit"] == len(shipped) and record["ratio"] < 0.8
    four = {t["op"] for t in record["tensors"] if t["bits"] == 4}
    assert {"FULLY_CONNECTED", "CONV_2D"} <= four  # every clustered filter of the listed ops
    [depthwise] = [t for t in record["tensors"] if t["op"] == "DEPTHWISE_CONV_2D"]  # 9 weights per channel
    assert depthwise["bits"] == 8 and not depthwise["clustered"] and "too few" in depthwise["reason"]
    assert all(0 <= t["max_rounding"] < 0.5 for t in record["tensors"] if t["bits"] == 4)
    # the file itself holds INT4 tensors, and LiteRT's default path runs it close to the 8-bit file
    path = tmp_path / "model.tflite"
    path.write_bytes(shipped)
    dtypes = {t["dtype"] for t in breakdown(path, top=100)["top"]}
    assert "int4" in dtypes
    _, got = run(shipped, [x], **names)
    _, expected = run(data, [x], **names)
    assert np.mean(got[0].argmax(1) == expected[0].argmax(1)) >= 0.8  # three layers re-rounded; chance is 0.1
    assert 0 <= record["xnnpack_fraction_4bit"] <= record["xnnpack_fraction_8bit"] <= 1


def test_default_ops_leave_convolutions_8bit_and_say_why(tmp_path, keras_module, fashion_subset):
    from edgekit.models import load_model

    model = load_model(_clustered(keras_module, tmp_path, *fashion_subset, clusters=16))
    _, _, record, _ = _choose(model, fashion_subset[0][:100], "int8", ops=["FULLY_CONNECTED"])
    by_op = {t["op"]: t for t in record["tensors"]}
    assert by_op["FULLY_CONNECTED"]["bits"] == 4
    assert by_op["CONV_2D"]["bits"] == 8 and "not in low_bit" in by_op["CONV_2D"]["reason"]


def test_unclustered_weights_get_no_record_and_a_failing_check_keeps_8bit(tmp_path, keras_module, fashion_subset):
    from edgekit.models import load_model

    x = fashion_subset[0][:100]
    plain = load_model(_clustered(keras_module, tmp_path, *fashion_subset, clusters=None))
    data, shipped, record, _ = _choose(plain, x, "int8", ops=ALL_OPS)
    assert record is None and shipped is data  # no filter has <= 16 values per channel: nothing to store 4-bit
    clustered = load_model(_clustered(keras_module, tmp_path, *fashion_subset, clusters=16))
    data, shipped, record, _ = _choose(clustered, x, "int8", ops=ALL_OPS, tolerance={"max_relative_error": 1e-9})
    assert shipped is data and record["kept"] == "8-bit" and "fails the parity check" in record["reason"]
    assert record["bytes_4bit"] < record["bytes_8bit"]  # it was built and measured, then refused
    data, shipped, record, _ = _choose(clustered, x, "fp32", ops=ALL_OPS)
    assert record is None and shipped is data  # float files are left alone


@pytest.mark.slow
def test_cluster_recipe_builds_a_4bit_artifact_checked_like_any_other(tmp_path, tiny_model_path):
    config = write_config(tmp_path, tiny_model_path, precisions=("int8",), train_samples=1024, recipe="""
        [[recipe]]
        step = "cluster"
        clusters = 16
        epochs = 1
        learning_rate = 1e-4
    """)
    report = build_report(config)
    [artifact] = report["artifacts"]
    storage = artifact["low_bit_storage"]
    assert storage["kept"] == "4-bit" and artifact["bytes"] == storage["bytes_4bit"] < storage["bytes_8bit"]
    assert artifact["parity"]["status"] == "passed" and artifact["accuracy"] > 0.5  # well above chance (10 classes)
    assert abs(storage["accuracy_4bit"] - artifact["accuracy"]) < 1e-6  # the record describes what shipped
    assert any(t["dtype"] == "int4" for t in artifact["size_breakdown"])
    biggest = max(artifact["structure"]["weights"], key=lambda w: w["elements"])
    assert biggest["unique_values"] <= 16 * 10  # read from the 8-bit twin: the clusters show
    assert "## 4-bit storage of clustered weights (Android)" in (tmp_path / "out" / "report.md").read_text()


def _int8_file(k, *, shared: bool, per_tensor: bool) -> tuple[bytes, object, np.ndarray]:
    """A 64-wide Dense layer clustered to 16 values (used twice when `shared`), converted int8 by TF directly."""
    import tensorflow as tf

    k.utils.set_random_seed(0)
    inputs = k.Input((64,), name="x")
    dense = k.layers.Dense(64, activation="relu")
    hidden = dense(dense(inputs)) if shared else dense(inputs)
    model = k.Model(inputs, k.layers.Dense(4)(hidden))
    kernel, bias = dense.get_weights()
    centres = np.linspace(-0.3, 0.3, 16)
    rng = np.random.default_rng(0)
    dense.set_weights([centres[rng.integers(0, 16, kernel.shape)].astype(np.float32),
                       rng.normal(0, 0.1, bias.shape).astype(np.float32)])  # a bias the converter keeps
    x = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter._experimental_disable_per_channel = per_tensor
    return converter.convert(), model, x


def test_a_filter_read_by_two_ops_stays_8bit(keras_module):
    from edgekit.targets.android.lowbit import plan

    data, _, _ = _int8_file(keras_module, shared=True, per_tensor=False)
    _, tensors = plan(data, ALL_OPS, precision="int8")
    [shared] = [t for t in tensors if t["shape"] == [64, 64]]
    assert shared["clustered"] and shared["bits"] == 8 and "several ops" in shared["reason"]


def test_a_per_tensor_filter_is_stored_4bit_with_its_bias_rescaled(keras_module):
    from edgekit.lazy import litert_schema
    from edgekit.litert import run
    from edgekit.targets.android.lowbit import pack, plan

    data, model, x = _int8_file(keras_module, shared=False, per_tensor=True)
    schema = litert_schema.load()

    def dense_op(flat: bytes):
        m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flat, 0))
        graph = m.subgraphs[0]
        op = next(o for o in graph.operators if len(o.inputs) > 2 and list(graph.tensors[o.inputs[1]].shape) == [64, 64])
        weight, bias = graph.tensors[op.inputs[1]], graph.tensors[op.inputs[2]]
        values = np.asarray(m.buffers[bias.buffer].data, dtype=np.uint8).view(np.int32)
        return weight, bias, values

    weight8, bias8, values8 = dense_op(data)
    assert len(weight8.quantization.scale) == 1 and np.abs(values8).max() > 0  # per-tensor, with a real bias
    packed_model, tensors = plan(data, ALL_OPS, precision="int8")
    [dense] = [t for t in tensors if t["shape"] == [64, 64]]
    assert dense["bits"] == 4, dense["reason"]
    packed = pack(packed_model)
    weight4, bias4, values4 = dense_op(packed)
    step = weight4.quantization.scale[0] / weight8.quantization.scale[0]
    assert weight4.type == schema.TensorType.INT4 and len(bias4.quantization.scale) == 1
    assert bias4.quantization.scale[0] == pytest.approx(bias8.quantization.scale[0] * step)  # input scale x filter scale
    assert np.abs(values4 - values8 / step).max() <= 0.5 + 1e-6
    _, got = run(packed, [x], input_names=["x"], output_names=None)
    _, expected = run(data, [x], input_names=["x"], output_names=None)
    spread = float(np.abs(expected[0]).max())
    # 16 evenly spaced centres lie on a half-step grid: re-rounded onto 4 bits, the outputs stay close
    assert np.abs(got[0] - expected[0]).max() <= 0.08 * spread


def test_a_bias_that_cannot_follow_keeps_the_filter_8bit():
    from types import SimpleNamespace

    from edgekit.lazy import litert_schema
    from edgekit.targets.android.lowbit import _Filter, _new_bias

    schema = litert_schema.load()

    def graph_with(bias_type, values, scales):
        bias = SimpleNamespace(type=bias_type, buffer=1, quantization=SimpleNamespace(scale=scales))
        model = SimpleNamespace(buffers=[None, SimpleNamespace(data=np.asarray(values, dtype=np.int32).view(np.uint8))])
        return model, SimpleNamespace(tensors=[None, None, bias])

    f = _Filter(0, 1, "FULLY_CONNECTED", 2)
    steps = np.array([0.5, 2.0])
    cases = {
        "mismatched channels": graph_with(schema.TensorType.INT32, [10, 20, 30], [1.0, 1.0, 1.0]),
        "fewer values than scales": graph_with(schema.TensorType.INT32, [10], [1.0, 1.0]),
        "empty": graph_with(schema.TensorType.INT32, [], [1.0]),
        "int64": graph_with(schema.TensorType.INT64, [10, 20], [1.0, 1.0]),
        "overflow": graph_with(schema.TensorType.INT32, [2_000_000_000, 1], [1.0, 1.0]),
    }
    for name, (model, graph) in cases.items():
        result, why = _new_bias(model, graph, f, steps, schema)
        assert result is None and why and why.endswith("left 8-bit"), name
    model, graph = graph_with(schema.TensorType.INT32, [10, 20], [1.0, 3.0])
    (values, scales), why = _new_bias(model, graph, f, steps, schema)
    assert why is None and values.tolist() == [20, 10] and scales == [0.5, 6.0]


def test_choose_refuses_on_accuracy_loss_and_delegate_budgets_with_stand_in_evaluation(keras_module):
    """The packed file and XNNPACK shares are real; evaluation, parity and accuracy are stand-ins that name
    which file ran, so each refusal rule is exercised on its own."""
    from types import SimpleNamespace

    from edgekit.targets.android.lowbit import choose

    data, _, _ = _int8_file(keras_module, shared=False, per_tensor=False)
    common = dict(precision="int8", ops=ALL_OPS, evaluate=lambda d: "8-bit" if d is data else "4-bit",
                  judge=lambda outs: SimpleNamespace(status="passed", reason=None), load_ms=lambda d: 1.0)
    accuracy = {"8-bit": 0.90, "4-bit": 0.88}.get
    shipped, record = choose(data, accuracy=accuracy, max_accuracy_loss=0.5, **common)
    assert shipped is data and record["kept"] == "8-bit" and "loses 2.00 pp" in record["reason"]
    assert record["filters_4bit"] == 0 and record["filters_tried_4bit"] >= 1
    assert all(t["bits"] == 8 for t in record["tensors"])  # the record describes what shipped
    shipped, record = choose(data, accuracy=accuracy, max_accuracy_loss=5.0, delegate_problem=lambda d: "gpu 80 %",
                             **common)
    assert "gpu 80 %" in record["reason"]
    assert shipped is data and "delegate budget" in record["reason"]
    shipped, record = choose(data, accuracy=accuracy, max_accuracy_loss=5.0, **common)
    assert shipped is not data and record["kept"] == "4-bit" and record["bytes_4bit"] == len(shipped)
    assert record["accuracy_8bit"] == 0.90 and record["accuracy_4bit"] == 0.88
