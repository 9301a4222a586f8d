"""Delegate compatibility: ops read from real .tflite files, XNNPACK measured in the real LiteRT
interpreter, GPU/NNAPI rules applied to what the model really contains."""
import pytest

from edgekit.targets.android.delegates import DELEGATES, compatibility, load_rules, read_ops, rule_reason

from conftest import tiny_cnn


def _convert(k, model) -> bytes:
    from edgekit.tfenv import tensorflow

    return tensorflow().lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def cnn_tflite(keras_module) -> bytes:
    return _convert(keras_module, tiny_cnn(keras_module))


@pytest.fixture(scope="module")
def conv3d_tflite(keras_module) -> bytes:
    """CONV_3D on 5-D tensors: the GPU delegate takes neither (max 4-D; no CONV_3D kernel)."""
    k = keras_module
    k.utils.set_random_seed(0)
    model = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Reshape((28, 28, 1, 1)),
                          k.layers.Conv3D(2, (3, 3, 1), strides=(2, 2, 1)), k.layers.Flatten(),
                          k.layers.Dense(10, activation="softmax")])
    return _convert(k, model)


def test_read_ops_gives_each_op_with_dtypes_shapes_and_parameters(cnn_tflite):
    ops = read_ops(cnn_tflite)
    names = [op["op"] for op in ops]
    assert names.count("CONV_2D") == 2 and names[-1] == "SOFTMAX" and "FULLY_CONNECTED" in names
    conv = ops[names.index("CONV_2D")]
    assert conv["params"]["stride_h"] == 2 and conv["params"]["padding"] == "VALID"
    assert conv["inputs"][0]["dtype"] == "float32" and conv["inputs"][0]["shape"][1:] == [28, 28, 1]
    assert conv["inputs"][1]["const"] is True and conv["inputs"][0]["const"] is False
    assert ops[-1]["params"]["beta"] == 1.0


def test_compatibility_of_a_plain_cnn_is_complete_for_every_delegate(cnn_tflite):
    result = compatibility(cnn_tflite)
    for name in DELEGATES:
        assert result[name]["fraction"] == 1.0 and result[name]["fallback"] == []
        assert result[name]["supported_nodes"] == result[name]["total_nodes"] == len(result["ops"])
    assert result["xnnpack"]["method"].startswith("measured") and result["xnnpack"]["partitions"] == 1
    assert "Android 15" in result["nnapi"]["note"]


def test_compatibility_names_the_ops_the_gpu_would_not_take(conv3d_tflite):
    result = compatibility(conv3d_tflite)
    gpu = {f["op"]: f["reason"] for f in result["gpu"]["fallback"]}
    assert "CONV_3D" in gpu and "not in the delegate's supported ops" in gpu["CONV_3D"]
    assert "5-D tensor" in gpu["RESHAPE"]
    assert result["gpu"]["fraction"] < 1.0
    conv3d = next(op for op in result["ops"] if op["op"] == "CONV_3D")
    assert conv3d["supported"] == {"xnnpack": False, "gpu": False, "nnapi": False}
    # XNNPACK is measured: LiteRT's delegate really leaves CONV_3D on the CPU and takes the dense head
    assert "CONV_3D" in {f["op"] for f in result["xnnpack"]["fallback"]}
    assert next(op for op in result["ops"] if op["op"] == "FULLY_CONNECTED")["supported"]["xnnpack"] is True


def _op(name, *, dtype="float32", params=None, const=(False,)):
    inputs = [{"dtype": dtype, "shape": [1, 8], "const": c} for c in const]
    return {"index": 0, "op": name, "version": 1, "inputs": inputs,
            "outputs": [{"dtype": dtype, "shape": [1, 8], "const": False}], "params": params or {}}


def test_rules_check_parameters_dtypes_and_android_api_levels():
    rules = load_rules()
    assert rule_reason(_op("SOFTMAX", params={"beta": 1.0}), rules["gpu"]) is None
    assert "beta=0.5" in rule_reason(_op("SOFTMAX", params={"beta": 0.5}), rules["gpu"])
    int8_conv = _op("CONV_2D", dtype="int8", params={"fused_activation_function": "RELU"}, const=(False, True))
    assert rule_reason(int8_conv, rules["nnapi"], api=30) is None
    assert "needs Android API 30" in rule_reason(int8_conv, rules["nnapi"], api=29)
    assert "needs Android API 31" in rule_reason(_op("BATCH_MATMUL"), rules["nnapi"], api=30)
    fp16_weights = _op("DEQUANTIZE", dtype="float16", const=(True,))
    assert rule_reason(fp16_weights, rules["nnapi"], api=29) is None  # folded into fp32 constants
    assert "must be a constant" in rule_reason(_op("DEQUANTIZE", dtype="float16"), rules["nnapi"], api=29)
    assert "SIGN_BIT" in rule_reason(_op("ADD", params={"fused_activation_function": "SIGN_BIT"}), rules["gpu"])


def test_gpu_rules_check_input_rank_and_input_count():
    rules = load_rules()["gpu"]
    assert "2-D input (supported: 3-D or 4-D)" in rule_reason(_op("STRIDED_SLICE"), rules)  # [1, 8]
    four_d = {**_op("PAD"), "inputs": [{"dtype": "float32", "shape": [1, 4, 4, 3], "const": False},
                                       {"dtype": "int32", "shape": [4, 2], "const": True}]}
    assert rule_reason(four_d, rules) is None
    assert rule_reason(_op("ADD_N", const=(False, False)), rules) is None
    assert "3 inputs (at most 2)" in rule_reason(_op("ADD_N", const=(False, False, False)), rules)


def test_nnapi_below_android_8_1_takes_nothing(cnn_tflite):
    result = compatibility(cnn_tflite, min_sdk=26)
    assert result["nnapi"]["fraction"] == 0.0
    assert "API 27" in result["nnapi"]["fallback"][0]["reason"]


def _convert_fn(fn, *specs) -> bytes:
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    concrete = tf.function(fn).get_concrete_function(*specs)
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()


@pytest.fixture(scope="module")
def int32_ops_tflite(keras_module) -> bytes:
    """CAST int32 -> float32 and GATHER from a constant table with runtime int32 indices."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    table = tf.constant([[float(i)] for i in range(10)])
    return _convert_fn(lambda ids, x: tf.cast(ids, tf.float32) + tf.reshape(tf.gather(table, ids), [4]) * x,
                       tf.TensorSpec([4], tf.int32), tf.TensorSpec([4], tf.float32))


def test_gpu_takes_cast_and_gather_on_runtime_int32_tensors(int32_ops_tflite):
    ops = {op["op"]: op for op in read_ops(int32_ops_tflite)}
    assert ops["CAST"]["inputs"][0] == {"dtype": "int32", "shape": [4], "const": False}
    assert ops["GATHER"]["inputs"][1] == {"dtype": "int32", "shape": [4], "const": False}
    result = compatibility(int32_ops_tflite)
    assert result["gpu"]["fallback"] == [] and result["gpu"]["fraction"] == 1.0
    # the exceptions are per op and per dtype: other int32 runtime tensors still fall back
    rules = load_rules()["gpu"]
    assert "int32 tensors" in rule_reason(_op("ADD", dtype="int32", const=(False, False)), rules)
    cast = {**ops["CAST"], "outputs": [{"dtype": "int8", "shape": [4], "const": False}]}
    assert "CAST from int32 to int8 is not supported" in rule_reason(cast, rules)
    gather_2d = {**ops["GATHER"], "inputs": [ops["GATHER"]["inputs"][0], {"dtype": "int32", "shape": [1, 4], "const": False}]}
    assert "GATHER input 1 is 2-D (supported: 1-D)" in rule_reason(gather_2d, rules)
    int32_table = {**ops["GATHER"], "inputs": [{"dtype": "int32", "shape": [10, 1], "const": True}, ops["GATHER"]["inputs"][1]]}
    assert "GATHER input 0 is int32" in rule_reason(int32_table, rules)


def test_gpu_rejects_fully_connected_on_a_constant_input_hand_built_op():
    rules = load_rules()["gpu"]
    fc = _op("FULLY_CONNECTED", params={"weights_format": "DEFAULT"}, const=(False, True))
    assert rule_reason(fc, rules) is None
    const_input = _op("FULLY_CONNECTED", params={"weights_format": "DEFAULT"}, const=(True, False))
    assert "FULLY_CONNECTED input 0 must be a runtime tensor" in rule_reason(const_input, rules)


def test_gpu_takes_embedding_lookup_dynamic_update_slice_and_clamp_hand_built_ops():
    rules = load_rules()["gpu"]

    def op(name, inputs, output):
        return {"index": 0, "op": name, "version": 1, "params": {},
                "inputs": [{"dtype": d, "shape": s, "const": c} for d, s, c in inputs],
                "outputs": [{"dtype": output[0], "shape": output[1], "const": False}]}

    lookup = op("EMBEDDING_LOOKUP", [("int32", [3], False), ("float32", [10, 4], True)], ("float32", [3, 4]))
    assert rule_reason(lookup, rules) is None
    assert "1-D" in rule_reason(op("EMBEDDING_LOOKUP", [("int32", [1, 3], False), ("float32", [10, 4], True)],
                                   ("float32", [1, 3, 4])), rules)
    update = op("DYNAMIC_UPDATE_SLICE", [("float32", [1, 8, 8, 3], False), ("float32", [1, 2, 2, 3], False),
                                         ("int32", [4], False)], ("float32", [1, 8, 8, 3]))
    assert rule_reason(update, rules) is None
    int64_start = {**update, "inputs": update["inputs"][:2] + [{"dtype": "int64", "shape": [4], "const": False}]}
    assert "input 2 is int64" in rule_reason(int64_start, rules)
    clamp = op("STABLEHLO_CLAMP", [("float32", [1, 8], False)] * 3, ("float32", [1, 8]))
    assert rule_reason(clamp, rules) is None
    const_min = {**clamp, "inputs": [{"dtype": "float32", "shape": [1, 8], "const": True}] + clamp["inputs"][1:]}
    assert "input 0 must be a runtime tensor" in rule_reason(const_min, rules)


@pytest.fixture(scope="module")
def nnapi_api_tflite(keras_module) -> bytes:
    """SOFTMAX on a 3-D input, SQUARED_DIFFERENCE and HARD_SWISH (the converter fuses x*relu6(x+3)/6)."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    return _convert_fn(lambda a, b: tf.math.squared_difference(a, b) + tf.nn.softmax(a, axis=-1)
                       + a * tf.nn.relu6(a + 3.0) / 6.0,
                       tf.TensorSpec([1, 4, 5], tf.float32), tf.TensorSpec([1, 4, 5], tf.float32))


def test_nnapi_api_levels_of_hard_swish_squared_difference_and_3d_softmax(nnapi_api_tflite):
    names = [op["op"] for op in read_ops(nnapi_api_tflite)]
    assert {"SOFTMAX", "SQUARED_DIFFERENCE", "HARD_SWISH"} <= set(names)
    fallback = {sdk: {f["op"]: f["reason"] for f in compatibility(nnapi_api_tflite, min_sdk=sdk)["nnapi"]["fallback"]}
                for sdk in (27, 28, 29)}
    assert "HARD_SWISH" not in fallback[27]  # decomposed into basic NNAPI ops before API 29
    assert "needs Android API 28" in fallback[27]["SQUARED_DIFFERENCE"]
    assert "SQUARED_DIFFERENCE" not in fallback[28]
    assert fallback[28]["SOFTMAX"] == "SOFTMAX on a 3-D input (supported: 2-D or 4-D)"
    assert fallback[29] == {}
    rules = load_rules()["nnapi"]
    softmax_4d = {**_op("SOFTMAX"), "inputs": [{"dtype": "float32", "shape": [1, 2, 2, 5], "const": False}]}
    assert rule_reason(softmax_4d, rules, api=27) is None


def test_nnapi_dequantize_conditions_are_data_hand_built_ops():
    rules = load_rules()["nnapi"]
    assert "when" in rules["ops"]["DEQUANTIZE"]  # no op name is special-cased in delegates.py
    runtime_fp16 = _op("DEQUANTIZE", dtype="float16")
    assert rule_reason(runtime_fp16, rules, api=30) is None  # NNAPI 1.3 dequantizes fp16 itself
    assert rule_reason(_op("DEQUANTIZE", dtype="uint8"), rules, api=27) is None  # uint8 needs no constant
    assert "needs Android API 29" in rule_reason(_op("DEQUANTIZE", dtype="int8", const=(True,)), rules, api=28)


def test_gpu_takes_one_hot_on_runtime_int32_indices_hand_built_op():
    rules = load_rules()["gpu"]
    tensors = [("int32", [1, 4], False), ("int32", [], True), ("float32", [], True), ("float32", [], True)]
    one_hot = {"index": 0, "op": "ONE_HOT", "version": 1, "params": {"axis": -1},
               "inputs": [{"dtype": d, "shape": s, "const": c} for d, s, c in tensors],
               "outputs": [{"dtype": "float32", "shape": [1, 4, 10], "const": False}]}
    assert rule_reason(one_hot, rules) is None
    runtime_on = {**one_hot, "inputs": one_hot["inputs"][:2] + [{"dtype": "float32", "shape": [], "const": False}]
                  + one_hot["inputs"][3:]}
    assert "ONE_HOT input 2 must be a constant" in rule_reason(runtime_on, rules)


def test_gpu_rejects_depth_space_ops_with_block_size_one_hand_built_ops():
    rules = load_rules()["gpu"]
    for name in ("DEPTH_TO_SPACE", "SPACE_TO_DEPTH"):
        assert rule_reason(_op(name, params={"block_size": 2}), rules) is None
        assert "block_size=1 is not supported" in rule_reason(_op(name, params={"block_size": 1}), rules)
