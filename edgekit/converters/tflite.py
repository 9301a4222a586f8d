"""Keras / SavedModel -> TFLite flatbuffer, one precision at a time.

Precisions:
  fp32     plain float model
  fp16     float16 weights, float compute (dequantised at load on CPU; native on GPU delegate)
  dynamic  int8 weights, float activations (dynamic-range quantisation)
  int8     full-integer: int8 weights and activations, int8 input and output (calibrated)
  int16x8  int16 activations, int8 weights (calibrated), float input and output
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from edgekit.errors import ConfigError, ConversionError
from edgekit.models import LoadedModel
from edgekit.models.export import one_line
from edgekit.quiet import quiet_native
from edgekit.tfenv import tensorflow

PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
CALIBRATED = ("int8", "int16x8")


def convert(model: LoadedModel, precision: str, *, calibration: list[np.ndarray] | None = None,
            sparse: bool = False) -> bytes:
    """Return the `.tflite` bytes of `model` at `precision`, from its batch-1 exported graph.

    The file carries one `serving_default` signature whose inputs and outputs have the model's names.
    `sparse`: the converter's sparsity optimisation stores weights with many zeros in a sparse format
    (whether the runtime can then run it is the caller's to check)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown TFLite precision {precision!r}; supported: {', '.join(PRECISIONS)}")
    if precision in CALIBRATED and (not calibration or len(calibration[0]) == 0):
        raise ConfigError(f"precision {precision!r} needs calibration data",
                          hint="set dataset.calibration_samples (e.g. 256)")
    tf = tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(model.saved_model(batch=1)))
    _configure(tf, converter, precision, calibration, names=[info.name for info in model.inputs])
    if sparse:
        converter.optimizations = list(converter.optimizations or []) + [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    try:
        with quiet_native():
            return bytes(converter.convert())
    except Exception as err:  # noqa: BLE001 - the converter raises many types; keep one line
        raise ConversionError(f"TFLite conversion to {precision} failed: {one_line(err)}",
                              hint="try another precision, or exclude the layer it names from the recipe") from None


def _configure(tf: Any, converter: Any, precision: str, calibration: list[np.ndarray] | None, *,
               names: list[str]) -> None:
    if precision == "fp32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.representative_dataset = _representative(calibration, names)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision == "int16x8":
        converter.representative_dataset = _representative(calibration, names)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]


def _representative(arrays: list[np.ndarray], names: list[str]):
    """Calibration samples one at a time, keyed by the signature's input names."""
    def generate() -> Iterator[dict[str, np.ndarray]]:
        for i in range(len(arrays[0])):
            yield {name: array[i:i + 1] for name, array in zip(names, arrays)}

    return generate
