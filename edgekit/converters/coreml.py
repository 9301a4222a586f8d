"""Exported model graph -> Core ML ML Program (.mlpackage), with the weight formats Core ML has.

Conversion starts from the batch-1 SavedModel every target shares (`models/export.py`), whatever
Keras wrote the model: its inputs keep the model's names (an image input where the data are
pictures), its outputs are renamed from TensorFlow's `Identity_<k>` to the model's output names,
and a classifier's label output gets Core ML's classifier outputs. Conversion runs on Linux
(coremltools builds the MIL program and writes the package); only prediction needs macOS. Compression is applied per layer, by the name of the op that consumes
the weight (`op_name_configs`), so each layer gets the format its recipe facts call for:
  lut     palettized weights (constexpr_lut_to_dense), per tensor (iOS16) or per channel (iOS18)
  sparse  exact zeros stored as a bitmask + non-zeros (iOS16), joint with lut/int8 from iOS18
  int8    linear symmetric per-channel weights (iOS16); int4 per block (iOS18)
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np

from edgekit import lazy
from edgekit.errors import ConfigError, ConversionError
from edgekit.lazy import cto
from edgekit.quiet import quiet_native

DEPLOYMENT_TARGETS = ("iOS15", "iOS16", "iOS17", "iOS18")
WEIGHT_OPS = ("conv", "conv_transpose", "linear", "matmul")

# What each weight format needs, as the lowest deployment target (Core ML spec history).
NEEDS = {
    "mlprogram": "iOS15",
    "lut": "iOS16",
    "sparse": "iOS16",
    "int8": "iOS16",
    "lut_per_channel": "iOS18",
    "int4": "iOS18",
    "joint": "iOS18",
    "activations_int8": "iOS17",
}


def version(target: str) -> int:
    return int(target.removeprefix("iOS"))


def require(feature: str, target: str, what: str) -> None:
    """ConfigError naming the lowest deployment target that supports `feature`."""
    needed = NEEDS[feature]
    if version(target) < version(needed):
        raise ConfigError(f"{what} needs minimum_deployment_target = \"{needed}\" or later (configured: {target})",
                          hint=f"set targets.ios.minimum_deployment_target = \"{needed}\" or drop the option")


def coremltools() -> Any:
    """Import coremltools quietly (it prints warnings about TF versions and missing macOS libraries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = lazy.coremltools.load()
        cto.load()
    _register_erfc()
    return ct


def _register_erfc() -> None:
    """TensorFlow's exact GELU (Keras 3 `gelu`, ConvNeXt) computes erfc; coremltools 9 converts `Erf`
    but not `Erfc`. Register erfc(x) = 1 - erf(x) (registering twice is ignored: strict=False)."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.tensorflow.tf_op_registry import register_tf_op

    @register_tf_op(strict=False)
    def Erfc(context: Any, node: Any) -> None:  # noqa: N802 - the TF op's name
        x = context[node.inputs[0]]
        context.add(node.name, mb.sub(x=1.0, y=mb.erf(x=x), name=node.name))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with quiet_native(), warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@dataclass
class InputSpec:
    name: str
    shape: tuple[int, ...]  # with the batch dimension
    image: bool
    scale: float = 1.0  # model input = pixel * scale + bias
    bias: float = 0.0
    rgb: bool = False
    graph_name: str = ""  # the exported graph's input name, when `name` renames it


def convert(saved_model: Any, *, inputs: list[InputSpec], outputs: list[OutputSpec],
            class_labels: Optional[list[str]], fp16: bool, target: str) -> Any:
    """Return an in-memory `ct.models.MLModel` (ML Program) of the exported graph in `saved_model`.

    `outputs` are the model's outputs in its own order (`name` is the Core ML name to give each);
    the one marked `classifier` gets Core ML's classifier outputs (`classLabel` + per-label scores)."""
    from edgekit.tfenv import tensorflow

    ct = coremltools()
    tf = tensorflow()
    specs = [_input_type(ct, spec) for spec in inputs]
    try:
        loaded = tf.saved_model.load(str(saved_model))
        function = loaded.signatures["serving_default"]
        graph_names = output_nodes(tf, function)  # Core ML names its outputs after these graph nodes
        classifier = None
        chosen = next((o for o in outputs if o.classifier), None)
        if chosen is not None and class_labels:
            classifier = ct.ClassifierConfig(class_labels, predicted_probabilities_output=graph_names[chosen.key])
        with _quiet():
            model = ct.convert([function], source="tensorflow", convert_to="mlprogram",
                               minimum_deployment_target=getattr(ct.target, target),
                               compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
                               inputs=specs, classifier_config=classifier)
    except Exception as err:  # noqa: BLE001 - coremltools raises many types; keep one line
        from edgekit.models.export import one_line

        raise ConversionError(f"Core ML conversion failed: {type(err).__name__}: {one_line(err)}",
                              hint="set EDGEKIT_DEBUG=1 for the converter's output") from None
    return _rename(ct, model, {graph_names[o.key]: o for o in outputs},
                   {spec.graph_name: spec.name for spec in inputs if spec.graph_name and spec.graph_name != spec.name})


def output_nodes(tf: Any, function: Any) -> dict[str, str]:
    """{signature output key: the graph node that computes it}, read from the function itself: its
    flat outputs come in the order its structured outputs flatten in (a dict: sorted keys)."""
    structured = function.structured_outputs
    if not isinstance(structured, dict):
        raise ConversionError("the exported signature's outputs are not a dict of named outputs")
    keys = sorted(structured)
    nodes = [tensor.name.split(":")[0] for tensor in function.outputs]
    if len(keys) != len(nodes):
        raise ConversionError(f"the exported signature has {len(keys)} named outputs but {len(nodes)} graph outputs")
    return dict(zip(keys, nodes))


@dataclass
class OutputSpec:
    key: str  # the exported signature's output key (the model's output name)
    name: str  # the Core ML feature name to give it
    shape: tuple[int, ...]  # with the batch dimension
    classifier: bool = False  # the output that gets Core ML's classifier outputs


def _input_type(ct: Any, spec: "InputSpec") -> Any:
    name = spec.graph_name or spec.name
    if not spec.image:
        return ct.TensorType(name=name, shape=spec.shape)
    layout = ct.colorlayout.RGB if spec.rgb else ct.colorlayout.GRAYSCALE
    bias = [spec.bias] * 3 if spec.rgb else [spec.bias]
    return ct.ImageType(name=name, shape=spec.shape, scale=spec.scale, bias=bias, color_layout=layout)


def _rename(ct: Any, model: Any, wanted: dict[str, OutputSpec], inputs: dict[str, str]) -> Any:
    """TensorFlow's `Identity_<k>` outputs renamed to the model's names (each shape checked on the way),
    and inputs renamed where the config asks for another name."""
    spec = model.get_spec()
    changed = bool(inputs)
    for old, new in inputs.items():
        with _quiet():
            ct.utils.rename_feature(spec, old, new)
    probabilities = spec.description.predictedProbabilitiesName  # a classifier renames its scores output
    if probabilities and probabilities not in wanted:
        wanted = {**wanted, probabilities: next(o for o in wanted.values() if o.classifier)}
    for output in spec.description.output:
        target = wanted.get(output.name)
        if target is None:
            continue  # classLabel
        shape = tuple(output.type.multiArrayType.shape) if output.type.WhichOneof("Type") == "multiArrayType" else None
        if target.classifier and probabilities:
            spec.description.predictedProbabilitiesName = target.name
        if shape and tuple(int(d) for d in shape) != tuple(target.shape):
            raise ConversionError(f"Core ML output {output.name} has shape {shape}, expected {target.shape} for "
                                  f"{target.key!r}", hint="report the model: its outputs could not be told apart")
        if output.name != target.name:
            with _quiet():
                ct.utils.rename_feature(spec, output.name, target.name)
            changed = True
    if changed:
        with _quiet():
            model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
    return model


# --------------------------------------------------------------------------- weights


def weight_consumers(model: Any) -> dict[str, tuple[str, str, np.ndarray]]:
    """{weight name: (consumer op name, consumer op type, dense value)} for conv/linear/matmul weights."""
    with _quiet():
        metadata = cto.get_weights_metadata(model, weight_threshold=0)
    found = {}
    for name, meta in metadata.items():
        consumers = [c for c in meta.child_ops if c.op_type in WEIGHT_OPS]
        if consumers and np.ndim(meta.val) >= 2:
            found[name] = (consumers[0].name, consumers[0].op_type, np.asarray(meta.val))
    return found


def layer_of(op_name: str, layer_names: list[str]) -> Optional[str]:
    """The Keras layer an op belongs to: the longest layer name that appears as a name segment."""
    wrapped = f"_{op_name}_"
    matches = [n for n in layer_names if f"_{n}_" in wrapped]
    return max(matches, key=len) if matches else None


def dense_weights(model: Any) -> dict[str, tuple[str, np.ndarray]]:
    """{consumer op name: (op type, weight values)} after decompressing every compressed weight."""
    with _quiet():
        plain = cto.decompress_weights(model)
    return {op: (kind, value) for op, kind, value in weight_consumers(plain).values()}


def keras_layout(kernel: np.ndarray, layer_type: str, op_type: str, shape: tuple[int, ...]) -> Optional[np.ndarray]:
    """`kernel` (Keras layout) rearranged the way Core ML stores it for this op, or None."""
    candidates = []
    if kernel.ndim == 4 and layer_type == "DepthwiseConv2D":
        h, w, c, m = kernel.shape
        candidates.append(kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, h, w))
    elif kernel.ndim == 4:
        candidates.append(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
    elif kernel.ndim == 2:
        candidates += [kernel.T, kernel] if op_type == "linear" else [kernel, kernel.T]
    for candidate in candidates:
        if candidate.shape == tuple(shape):
            return candidate
    return None


# --------------------------------------------------------------------------- compression


@dataclass
class LayerFormat:
    """How one layer's weight is stored in one variant."""

    layer: str
    op: str  # consumer op name in the Core ML program
    format: str  # "fp16" / "fp32" / "lut" / "int8" / "int4", with "+sparse" when zeros are stored sparsely
    nbits: Optional[int] = None
    per_channel: bool = False
    source: str = ""  # "learned clusters", "k-means (post-training)", "QAT weights", ...


def palettize(model: Any, configs: dict[str, Any], *, joint: bool) -> Any:
    if not configs:
        return model
    with _quiet():
        return cto.palettize_weights(model, cto.OptimizationConfig(op_name_configs=configs), joint_compression=joint)


def sparsify(model: Any, ops: list[str]) -> Any:
    """Store exact zeros of these ops' weights as Core ML sparse tensors (lossless)."""
    if not ops:
        return model
    config = cto.OpThresholdPrunerConfig(threshold=1e-30, minimum_sparsity_percentile=0.0, weight_threshold=0)
    with _quiet():
        return cto.prune_weights(model, cto.OptimizationConfig(op_name_configs={op: config for op in ops}))


def quantize_linear(model: Any, configs: dict[str, Any], *, joint: bool) -> Any:
    if not configs:
        return model
    with _quiet():
        return cto.linear_quantize_weights(model, cto.OptimizationConfig(op_name_configs=configs),
                                           joint_compression=joint)


def lut_config(*, per_channel: bool, nbits: Optional[int] = None, mode: str = "unique") -> Any:
    kwargs: dict[str, Any] = {"mode": mode, "weight_threshold": 0}
    if nbits is not None:
        kwargs["nbits"] = nbits
    if per_channel:
        kwargs.update(granularity="per_grouped_channel", group_size=1)
    return cto.OpPalettizerConfig(**kwargs)


def linear_config(*, bits: int) -> Any:
    if bits == 4:
        return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int4", granularity="per_block",
                                           block_size=32, weight_threshold=0)
    return cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                       weight_threshold=0)


def quantize_activations(model: Any, samples: list[dict[str, Any]]) -> Any:
    """8-bit activations calibrated by running the model: coremltools needs Core ML prediction (macOS)."""
    with _quiet():
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
        return cto.linear_quantize_activations(model, config, sample_data=samples)


def program(model: Any) -> Any:
    """The MIL program inside an ML Program package (read back from its spec and weight file)."""
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load
    from coremltools.models import utils as model_utils

    with _quiet():
        return model_utils._convert_model_spec_to_pymil_prog(model, model.get_spec().specificationVersion,
                                                             milproto_load)


def storage(model: Any) -> dict[str, dict[str, Any]]:
    """{consumer op name: how its weight is stored}, read from the program's constexpr ops.

    e.g. {"format": "lut+sparse", "nbits": 4, "per_channel": True, "chain": ["constexpr_lut_to_sparse", ...]}.
    """
    found: dict[str, dict[str, Any]] = {}
    for function in program(model).functions.values():
        for op in function.operations:
            if op.op_type not in WEIGHT_OPS:
                continue
            for key in ("weight", "y", "x"):
                var = op.inputs.get(key)
                if var is not None and var.op is not None and _is_constant(var.op):
                    found[op.name] = _describe_chain(var.op)
                    break
    return found


def _is_constant(op: Any) -> bool:
    if op.op_type == "const" or op.op_type.startswith("constexpr_"):
        return True
    return op.op_type == "cast" and op.inputs["x"].op is not None and _is_constant(op.inputs["x"].op)


def _is_linear(op_type: str) -> bool:
    return op_type == "constexpr_affine_dequantize" or op_type.endswith("blockwise_shift_scale")


def _type_name(dtype: Any) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(dtype)


def _describe_chain(op: Any) -> dict[str, Any]:
    chain, nbits, per_channel, dtype = [], None, False, None
    stack = [op]
    while stack:
        current = stack.pop()
        chain.append(current.op_type)
        if current.op_type.startswith("constexpr_lut"):
            lut = current.inputs["lut"].val
            # iOS18 LUTs: shape (groups..., entries, vector); iOS16: (entries,)
            entries = lut.shape[-2] if lut.ndim >= 2 else lut.shape[0]
            nbits = int(np.ceil(np.log2(max(entries, 2))))
            per_channel = lut.ndim >= 2 and int(np.prod(lut.shape[:-2])) > 1
        if _is_linear(current.op_type):
            data = next((current.inputs[k] for k in ("quantized_data", "data", "nonzero_data") if k in current.inputs), None)
            dtype = _type_name(data.dtype) if data is not None else None
        for value in current.inputs.values():
            if getattr(value, "op", None) is not None and _is_constant(value.op):
                stack.append(value.op)
    kinds = []
    if any(c.startswith("constexpr_lut") for c in chain):
        kinds.append("lut")
    if any(_is_linear(c) for c in chain):
        kinds.append("int4" if dtype in ("int4", "uint4") else "int8")
    if any("sparse" in c for c in chain):
        kinds.append("sparse")
    return {"format": "+".join(kinds) or "dense", "nbits": nbits, "per_channel": per_channel, "dtype": dtype,
            "chain": chain}
