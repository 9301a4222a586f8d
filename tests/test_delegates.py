"""Delegate compatibility: ops read from real .tflite files, XNNPACK measured in the real LiteRT
interpreter, GPU/NNAPI rules applied to what the model really contains."""
import pytest

from edgekit.delegates import DELEGATES, compatibility, load_rules, read_ops, rule_reason

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
    assert rule_reason(fp16_weights, rules["nnapi"], api=30) is None  # folded into fp32 constants
    assert "must be a constant" in rule_reason(_op("DEQUANTIZE", dtype="float16"), rules["nnapi"], api=30)
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
