"""The float twin of a QAT-trained model: the same layers without fake-quantization, the weights
on the int8 grid QAT trained them on.

TF.js and Core ML cannot take TensorFlow's fake-quant ops; the twin is what they convert (Core ML
then stores int8 weights itself and reproduces that grid). Learned activation ranges are not carried.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def float_twin(model: Any) -> tuple[Any, list[str]]:
    """A QAT-wrapped model as a plain float model whose kernels are the fake-quantized (int8-grid) values.

    Core ML stores int8 weights itself; giving it the exact grid QAT trained on makes the int8
    variant reproduce those weights. Learned activation ranges are not carried (noted).
    """
    from edgekit.tfenv import keras, tensorflow

    tf = tensorflow()
    wrapped = [layer for layer in model.layers if hasattr(layer, "quantize_config")]
    if not wrapped:
        return model, []
    k = keras()

    def clone(layer: Any) -> Any:
        if hasattr(layer, "quantize_config"):
            inner = layer.layer
            return inner.__class__.from_config(_plain_config(inner.get_config()))
        if type(layer).__name__ == "QuantizeLayer":
            return k.layers.Activation("linear", name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    twin = k.models.clone_model(model, clone_function=clone)
    by_name = {layer.name: layer for layer in model.layers}
    for layer in twin.layers:
        source = by_name.get(layer.name) or next((w for w in wrapped if w.layer.name == layer.name), None)
        if source is None:
            continue
        if hasattr(source, "quantize_config"):
            quantized = {w.name.split("/")[-1]: q for w, q, v in _weight_quantizers(source, tf)}
            held = {w.name.split("/")[-1]: w for w in source.weights}  # kernel:0, bias:0, ... (+ quantizer vars)
            layer.set_weights([quantized[key] if key in quantized else held[key].numpy()
                               for key in (w.name.split("/")[-1] for w in layer.weights)])
        elif source.get_weights() and layer.weights:
            layer.set_weights(source.get_weights())
    return twin, ["quantization-aware training: weights carried on their int8 grid; the learned activation "
                  "ranges are not carried (Core ML calibrates activations by running the model, on macOS)"]


def _plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """A wrapped layer's config with QAT's activation stand-ins replaced by the activation they wrap."""
    activation = config.get("activation")
    if isinstance(activation, dict) and activation.get("class_name") == "QuantizeAwareActivation":
        inner = activation.get("config", {}).get("activation")
        if isinstance(inner, dict):
            inner = "linear" if inner.get("class_name") == "NoOpActivation" else inner.get("config", {}).get("name", inner)
        config = {**config, "activation": inner or "linear"}
    return config


def _weight_quantizers(wrapper: Any, tf: Any) -> list[tuple[Any, np.ndarray, Any]]:
    """(weight variable, fake-quantized value, quantizer vars) for each quantized weight of a QuantizeWrapper."""
    found = []
    for weight, quantizer, quantizer_vars in getattr(wrapper, "_weight_vars", []):
        value = quantizer(weight, training=False, weights=quantizer_vars)
        found.append((weight, np.asarray(tf.convert_to_tensor(value)), quantizer_vars))
    return found
