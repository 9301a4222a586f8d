"""Every TFLite precision converts, runs in the real LiteRT interpreter and matches Keras."""
import numpy as np
import pytest

from edgekit.converters import tflite
from edgekit.litert import TFLiteRunner
from edgekit.models import load_model
from edgekit.validate import accuracy, parity

TOLERANCE = {"fp32": (1e-4, 0.999), "fp16": (1e-2, 0.99), "dynamic": (0.1, 0.95),
             "int8": (0.35, 0.9), "int16x8": (0.1, 0.95)}


@pytest.fixture(scope="module")
def loaded(tiny_model_path):
    return load_model(tiny_model_path)


@pytest.mark.parametrize("precision", tflite.PRECISIONS)
def test_tflite_precision_runs_in_litert_and_matches_keras(loaded, fashion_subset, precision):
    x, y = fashion_subset
    data = tflite.convert(loaded, precision, calibration=x[:64])
    runner = TFLiteRunner(data, batch=32)
    outputs = runner.predict(x[:400])
    reference = loaded.predict(x[:400])
    max_err, min_agree = TOLERANCE[precision]
    check = parity(reference, outputs, max_abs_error=max_err, min_top1_agreement=min_agree)
    assert check.status == "passed", check.reason
    assert abs(accuracy(outputs, y[:400]) - accuracy(reference, y[:400])) < 0.05
    assert np.allclose(outputs.sum(-1), 1.0, atol=0.05)  # still a softmax after (de)quantisation


def test_int8_artifact_has_int8_io_and_is_smaller(loaded, fashion_subset):
    x, _ = fashion_subset
    fp32 = tflite.convert(loaded, "fp32")
    int8 = tflite.convert(loaded, "int8", calibration=x[:64])
    runner = TFLiteRunner(int8)
    assert runner.input_dtype == np.int8 and np.dtype(runner.output["dtype"]) == np.int8
    assert len(int8) < len(fp32)


def test_int8_runner_quantises_with_the_models_scale_and_zero_point(loaded, fashion_subset):
    x, _ = fashion_subset
    runner = TFLiteRunner(tflite.convert(loaded, "int8", calibration=x[:64]))
    scale, zero_point = runner.input["quantization"]
    q = runner.quantize_input(x[:2])
    np.testing.assert_allclose((q.astype(np.float32) - zero_point) * scale, x[:2], atol=scale / 2 + 1e-6)


def test_batch_prediction_equals_single_sample_prediction(loaded, fashion_subset):
    x, _ = fashion_subset
    data = tflite.convert(loaded, "fp32")
    runner = TFLiteRunner(data, batch=16)
    assert runner.batch == 16  # resized, so the padded-batch path really runs
    batched = runner.predict(x[:37])  # 37: the last batch is padded
    single = TFLiteRunner(data, batch=1).predict(x[:37])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_parity_fails_on_disagreeing_outputs_and_names_why(rng):
    reference = rng.random((50, 10)).astype(np.float32)
    shuffled = reference[:, ::-1]
    check = parity(reference, shuffled, max_abs_error=0.01, min_top1_agreement=0.99)
    assert check.status == "failed" and "top-1 agreement" in check.reason
    assert parity(reference, reference[:, :5], max_abs_error=1, min_top1_agreement=0).status == "failed"


def test_calibrated_precisions_require_calibration_data(loaded):
    from edgekit.errors import ConfigError

    with pytest.raises(ConfigError, match="calibration"):
        tflite.convert(loaded, "int8", calibration=None)
