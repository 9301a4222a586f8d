"""Per-layer translation of Keras 3 layer configs into tf_keras layer configs ("pieces").

Each Keras 3 layer becomes one or more tf_keras layers. A piece is a dict with the tf_keras
`class_name` and `config` (its `name` inside) and `sources`: what it is called on, in order; each
is the name of an earlier piece of the same translation, or None for the Keras 3 layer's own
call inputs. The last piece
produces the layer's output; a piece that keeps the Keras 3 name holds the layer's weights.

Only what tf_keras computes the same way is translated (the caller's parity check confirms it on
the whole model); anything else raises `Refused` with the reason.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

# Same class in tf_keras, same call semantics, config keys that agree (checked against tf_keras'
# constructor signatures at translation time; unknown keys are refused, never silently dropped).
SAME_CLASS = {
    "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
    "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "Normalization",
    "Rescaling", "Resizing", "CenterCrop", "Embedding", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
    "Softmax", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "Concatenate", "Dot", "Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D",
    "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D",
    "UpSampling2D", "UpSampling3D", "Identity", "Masking",
    # Training-only layers (identities at inference in both Keras versions) that TFMOT's QAT and
    # pruning registries accept: kept as themselves so that fine-tuning keeps their regularisation.
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "ActivityRegularization",
}
# Layers that return their input unchanged at inference in Keras 3 (checked in its source: every
# `transform_images`/`call` returns the input when training is False). The twin gets a
# linear Activation under the same name; rebuild records list them.
IDENTITY = {
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
    "RandomCrop", "RandomShear", "RandomPerspective", "RandomElasticTransform", "RandomErasing",
    "RandomGaussianBlur", "RandomGrayscale", "RandomHue", "RandomSaturation", "RandomSharpness", "RandomInvert",
    "RandomPosterization", "RandomColorDegeneration", "RandomColorJitter", "AugMix", "RandAugment", "CutMix",
    "MixUp", "Solarization",
    # Noise layers: identities at inference; not in TFMOT's QAT registry, so not kept as themselves.
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
}
# Keras 3 config keys tf_keras lacks, with the only value under which dropping them is harmless.
DROPPABLE = {"optional": False, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
             "lora_enabled": False, "rms_scaling": False, "pad_to_aspect_ratio": False, "antialias": False,
             "fill_mode": "constant", "data_format": "channels_last"}
IGNORED = {"fill_value"}  # only read when pad_to_aspect_ratio is True, which is refused
BASE_KEYS = {"name", "trainable", "dtype", "batch_input_shape", "input_shape", "batch_size", "activity_regularizer",
             "autocast", "dynamic"}
RENAMED_KEYS = {"LeakyReLU": {"negative_slope": "alpha"}}
# Activation names tf_keras resolves to the very same TF op (max abs difference 0 on 30,000 points
# over [-12, 12]); `silu` is named `swish` so that tf_keras serialises its own function.
SAME_ACTIVATIONS = {"linear": "linear", "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh",
                    "softmax": "softmax", "elu": "elu", "selu": "selu", "softplus": "softplus", "softsign": "softsign",
                    "swish": "swish", "silu": "swish", "gelu": "gelu", "exponential": "exponential", "mish": "mish",
                    "leaky_relu": "leaky_relu", "log_softmax": "log_softmax"}
# Keras 3 formulas with no tf_keras activation but an exact construction from built-in layers.
EXPANDED_ACTIVATIONS = {"hard_sigmoid", "hard_silu", "hard_swish"}
NO_COUNTERPART = {
    "RMSNormalization": "tf_keras has no RMS normalisation layer",
    "AutoContrast": "it changes images at inference and tf_keras has no such layer",
    "Equalization": "it changes images at inference and tf_keras has no such layer",
    "ContrastLimitedAdaptiveHistogramEqualization": "it changes images at inference and tf_keras has no such layer",
    "MelSpectrogram": "tf_keras has no spectrogram layer", "STFTSpectrogram": "tf_keras has no spectrogram layer",
    "Lambda": "its Python bytecode cannot be replayed safely",
    "TFSMLayer": "it wraps a SavedModel, not layers", "JaxLayer": "it wraps JAX code",
    "FlaxLayer": "it wraps Flax code",
    "TorchModuleWrapper": "it wraps PyTorch code",
}
OPS_MODULE = "keras.src.ops."  # keras.src.ops.numpy, keras.src.ops.nn, ...
LAYER_SCALE_MODULE = "keras.src.applications.convnext"


class Refused(Exception):
    """This layer has no faithful tf_keras translation; the message says why."""


def translate(layer: dict, taken: set[str]) -> tuple[list[dict], str]:
    """(pieces, how) for one Keras 3 layer; `how` is "same", "identity" or a translation summary."""
    kind, module, config = layer.get("class_name"), layer.get("module"), layer.get("config", {})
    name = config.get("name", layer.get("name"))
    if is_operation(layer):
        return _operation(kind, name, layer, taken)
    if kind == "LayerScale" and module == LAYER_SCALE_MODULE:
        return [_piece("LayerScale", _clean(kind, config, keys={"init_values", "projection_dim"}))], "LayerScale"
    if module not in (None, "keras.layers") or layer.get("registered_name") not in (None, kind):
        raise Refused(f"module {module!r} is not one of Keras' built-in layers")
    if kind in NO_COUNTERPART:
        raise Refused(NO_COUNTERPART[kind])
    if kind in IDENTITY:
        _check_identity(kind, config, layer)
        return [_piece("Activation", {"name": name, "activation": "linear"})], "identity"
    if kind not in SAME_CLASS:
        raise Refused("the tf_keras rebuild has no translation for this layer type")
    config = _clean(kind, config)
    if kind == "Activation":
        return _activation_layer(config, taken)
    if kind == "Resizing" and config.get("interpolation") not in {"bilinear", "nearest", "bicubic", "area",
                                                                    "lanczos3", "lanczos5"}:
        raise Refused(f"interpolation {config.get('interpolation')!r} is not one tf_keras resizes the same way")
    if kind == "BatchNormalization":
        config["fused"] = False  # Keras 3's formula: bit-identical outputs (the fused kernel rounds differently)
    activation = config.get("activation")
    if activation in EXPANDED_ACTIVATIONS:
        main = _piece(kind, {**config, "activation": "linear"})
        tail = _expand(activation, main["name"], _unique(f"{name}_{activation}", taken), taken)
        return [main, *tail], _expanded(activation)
    return [_piece(kind, config)], "same"


def is_operation(layer: dict) -> bool:
    """A Keras 3 operation (ops.add, x * 2...) in a functional graph: not a layer, holds no weights."""
    module = layer.get("module")
    return isinstance(module, str) and module.startswith(OPS_MODULE)


def tf_keras_class(kind: str, keras: Any) -> Any:
    if kind == "LayerScale":
        from tf_keras.src.applications.convnext import LayerScale

        return LayerScale
    return getattr(keras.layers, kind, None)


def activation_name(value: Any, names_builtin: Callable[[dict], bool]) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "function" and names_builtin(value):
        return value.get("config")
    return value


# -- helpers ----------------------------------------------------------------------------------


def _piece(kind: str, config: dict, sources: list[str | None] | None = None) -> dict:
    return {"class_name": kind, "config": config, "name": config["name"], "sources": sources or [None]}


def _clean(kind: str, config: dict, keys: set[str] | None = None) -> dict:
    """tf_keras form of a layer config; Keras 3-only keys are dropped when harmless, else refused."""
    from edgekit.models.safety import _names_keras_builtin
    from edgekit.tfenv import keras

    accepted = keys if keys is not None else _init_keys(tf_keras_class(kind, keras()))
    out = {}
    for key, value in config.items():
        key = RENAMED_KEYS.get(kind, {}).get(key, key)
        if key.endswith("_initializer"):
            continue  # the saved weights replace whatever an initializer would draw
        if key == "dtype":
            out[key] = value.get("config", {}).get("name", "float32") if isinstance(value, dict) else value
        elif key == "batch_shape" and kind == "InputLayer":
            out["batch_input_shape"] = value
        elif key == "activation":
            activation = activation_name(value, _names_keras_builtin) or "linear"
            activation = "hard_silu" if activation == "hard_swish" else activation  # Keras 3 alias
            if activation not in SAME_ACTIVATIONS and activation not in EXPANDED_ACTIVATIONS:
                raise Refused(f"activation {activation!r} has no tf_keras activation computing the same formula")
            out[key] = SAME_ACTIVATIONS.get(activation, activation)
        elif key in accepted or key in BASE_KEYS:
            out[key] = _plain(value)
        elif key in IGNORED:
            continue
        elif key in DROPPABLE and (value == DROPPABLE[key] or (key == "data_format" and value is None)):
            continue  # tf_keras lacks the key and behaves as Keras 3 does with this value
        else:
            raise Refused(f"it sets {key}={value!r}, which tf_keras has no equivalent for")
    return out


def _plain(value: Any) -> Any:
    """Serialised numpy arrays become lists; other objects keep only class_name and config."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        return value.get("config", {}).get("value")
    if isinstance(value, dict) and "class_name" in value:
        return {"class_name": value["class_name"], "config": value.get("config", {})}
    return value


_INIT_KEYS: dict[Any, set[str]] = {}


def _init_keys(cls: Any) -> set[str]:
    if cls is None:
        raise Refused("tf_keras has no layer of this class")
    if cls not in _INIT_KEYS:
        keys: set[str] = set()
        for klass in cls.__mro__:
            if klass.__name__ == "Layer":
                break
            try:
                keys |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs", "args"}
            except (TypeError, ValueError):
                continue
        _INIT_KEYS[cls] = keys
    return _INIT_KEYS[cls]


def _activation_layer(config: dict, taken: set[str]) -> tuple[list[dict], str]:
    name, activation = config["name"], config.get("activation")
    if activation == "relu6":  # a ReLU layer: TFMOT quantises it, not Activation("relu6")
        return [_piece("ReLU", {"name": name, "dtype": config.get("dtype"), "max_value": 6.0})], "relu6 as ReLU(6)"
    if activation == "leaky_relu":  # Keras 3's default slope, as a layer TFMOT knows
        leaky = _piece("LeakyReLU", {"name": name, "dtype": config.get("dtype"), "alpha": 0.2})
        return [leaky], "leaky_relu as LeakyReLU"
    if activation in EXPANDED_ACTIVATIONS:
        return _expand(activation, None, name, taken), _expanded(activation)
    return [_piece("Activation", config)], "same"


def _expand(activation: str, source: str | None, out_name: str, taken: set[str]) -> list[dict]:
    """Keras 3 hard_sigmoid(x) = relu6(x + 3) / 6 and hard_silu(x) = x * hard_sigmoid(x), from layers.

    x + 3 and relu6 are exact; / 6 becomes * (1/6) (within one float32 ulp), the product is exact.
    """
    src: list[str | None] = [source]
    gate = out_name if activation == "hard_sigmoid" else _unique(f"{out_name}_gate", taken)
    shift, clip = _unique(f"{gate}_shift", taken), _unique(f"{gate}_relu6", taken)
    pieces = [_piece("Rescaling", {"name": shift, "scale": 1.0, "offset": 3.0}, src),
              _piece("ReLU", {"name": clip, "max_value": 6.0}, [shift]),
              _piece("Rescaling", {"name": gate, "scale": 1.0 / 6.0, "offset": 0.0}, [clip])]
    if activation != "hard_sigmoid":
        pieces.append(_piece("Multiply", {"name": out_name}, [source, gate]))
    return pieces


def _expanded(activation: str) -> str:
    tail = "" if activation == "hard_sigmoid" else "/Multiply"
    return f"activation {activation} as Rescaling/ReLU/Rescaling{tail}"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _check_identity(kind: str, config: dict, layer: dict) -> None:
    """Refuse where the layer is not an identity at inference after all."""
    if any(isinstance(node, dict) and (node.get("kwargs") or {}).get("training")
           for node in layer.get("inbound_nodes", [])):
        raise Refused("it is called with training=True, so it changes its input at inference too")
    if kind != "RandomCrop":
        return
    shape = (layer.get("build_config") or {}).get("input_shape") or []
    channels_last = config.get("data_format", "channels_last") == "channels_last"
    spatial = list(shape[1:3] if channels_last else shape[2:4])
    if spatial != [config.get("height"), config.get("width")]:
        raise Refused(f"Keras 3 passes {spatial} images through uncropped at inference while its graph assumes "
                      f"{config.get('height')}x{config.get('width')}")


def _operation(kind: str, name: str, layer: dict, taken: set[str]) -> tuple[list[dict], str]:
    """Keras 3 operations recorded in a functional graph (`x + 3.0`, `ops.relu(x)`...) as built-in layers."""
    nodes, config = layer.get("inbound_nodes", []), layer.get("config", {})
    if len(nodes) != 1 or not isinstance(nodes[0], dict) or nodes[0].get("kwargs"):
        raise Refused("this operation is called in a way the rebuild cannot replay")
    args = nodes[0].get("args", [])
    tensor = [isinstance(a, dict) and a.get("class_name") == "__keras_tensor__" for a in args]
    if tensor == [True] and kind in UNARY_OPS:
        return _unary(kind, name, config, taken)
    if kind not in BINARY_OPS:
        raise Refused(f"the Keras operation {kind} has no tf_keras layer")
    scalars = [a for a, t in zip(args, tensor) if not t]
    numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in scalars)
    if len(args) != 2 or not any(tensor) or not numbers:
        raise Refused(f"operation {kind} is applied to something other than tensors and Python numbers")
    if all(tensor) and kind in {"Add", "Subtract", "Multiply"}:
        return [_piece(kind, {"name": name})], f"ops.{kind.lower()} as {kind} layer"
    c, first = (float(scalars[0]) if scalars else 0.0), tensor[0]
    scale, offset = {  # x * scale + offset: exact for + - * (the 0 offset adds nothing); x / c is x * (1/c)
        "Add": (1.0, c), "Multiply": (c, 0.0), "Subtract": (1.0, -c) if first else (-1.0, c),
        "TrueDivide": (1.0 / c, 0.0) if first and c != 0 else (None, None),
        "Divide": (1.0 / c, 0.0) if first and c != 0 else (None, None),
    }[kind]
    if all(tensor) or scale is None:
        raise Refused(f"operation {kind} of two tensors or by a tensor has no tf_keras layer")
    rescaling = _piece("Rescaling", {"name": name, "scale": scale, "offset": offset})
    return [rescaling], f"ops.{kind.lower()} with a constant as Rescaling"


BINARY_OPS = {"Add", "Subtract", "Multiply", "TrueDivide", "Divide"}
# One-tensor operations and the activation each computes (Keras 3 ops -> same TF op as tf_keras').
UNARY_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Silu": "silu", "Selu": "selu",
             "Softplus": "softplus", "Softsign": "softsign", "Tanh": "tanh", "Exp": "exponential",
             "HardSigmoid": "hard_sigmoid", "HardSilu": "hard_silu", "Gelu": "gelu", "Softmax": "softmax",
             "LogSoftmax": "log_softmax", "LeakyRelu": "leaky_relu", "Elu": "elu", "Negative": None}


def _unary(kind: str, name: str, config: dict, taken: set[str]) -> tuple[list[dict], str]:
    how = f"ops.{UNARY_OPS[kind] or 'negative'} as a layer"
    if kind == "Negative":
        return [_piece("Rescaling", {"name": name, "scale": -1.0, "offset": 0.0})], how
    if kind == "Gelu" and config.get("approximate", True):  # ops.gelu defaults to the tanh approximation
        raise Refused("ops.gelu(approximate=True) has no tf_keras activation (tf_keras' gelu is the exact form)")
    if kind == "LeakyRelu":
        return [_piece("LeakyReLU", {"name": name, "alpha": float(config.get("negative_slope", 0.2))})], how
    if kind == "Elu":
        return [_piece("ELU", {"name": name, "alpha": float(config.get("alpha", 1.0))})], how
    if kind == "Softmax":
        return [_piece("Softmax", {"name": name, "axis": config.get("axis", -1)})], how
    if kind == "LogSoftmax" and config.get("axis", -1) != -1:
        raise Refused("log_softmax over an axis other than the last has no tf_keras activation")
    activation = SAME_ACTIVATIONS.get(UNARY_OPS[kind], UNARY_OPS[kind])
    return _activation_layer({"name": name, "activation": activation}, taken)[0], how
