"""Graph rewrites that let TF.js 4.22 run what the tensorflowjs converter makes of Keras models.

`tfjs_rewrites()` patches the converter (`tf_saved_model_conversion_v2`) inside a `with` block only.
Before grappler (on the frozen graph, which the converter checks first):
- `(Stateful)PartitionedCall` are inlined: Keras 3 and tf_keras run grouped convolutions (ConvNeXt's
  depthwise 7x7) in XLA-compiled functions that freezing keeps as calls.
- `Conv2D` with one input channel per group -> `DepthwiseConv2dNative` (filter [h, w, 1, C*m] reshaped
  to [h, w, C, m]: the same sums); TF.js has no grouped convolution, so other groupings fail, named.
- `Erfc(x)` (exact GELU since TF 2.16) -> `1 - Erf(x)`: TF.js has Erf (to ~1.5e-7), no Erfc.
After each grappler pass (its `remap` optimizer fuses, for oneDNN, what TF.js cannot run):
- `_FusedConv2D` / `FusedDepthwiseConv2dNative` / `_FusedMatMul` keep `BiasAdd` and one activation
  TF.js fuses (Relu, Relu6, Elu, LeakyRelu, Sigmoid, Prelu); the rest of `fused_ops` (MobileNetV3's
  `_FusedHardSwish`, Dense's Tanh, swish, GELU, a residual Add) becomes separate nodes. A fused bias
  that is a scalar or [1, 1, 1, C] (grappler fuses such adds too) is made rank 1: wasm takes no other.
- `_FusedBatchNormEx` (BatchNorm -> ReLU, tf_keras DenseNet) -> `FusedBatchNormV3` (+ side input) + ReLU.
- `_MklLayerNorm` (tf_keras LayerNormalization, ConvNeXt) -> mean, variance, rsqrt, scale and offset.
A split node is renamed `<name>/pre_activation` and the last new node takes its name, so consumers
read the same tensor. Ops with no faithful rewrite are left to the converter's op check, or raise
its "Unsupported Ops" error naming them here.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Optional

from edgekit.lazy import tfjs_saved_model

UNSUPPORTED = "Unsupported Ops in the model"
FUSED = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative", "_FusedMatMul": "MatMul"}
# Activations the fused kernels of tfjs-core / tfjs-backend-cpu / tfjs-backend-wasm apply. TF.js maps
# no leakyrelu_alpha for FusedDepthwiseConv2dNative, so LeakyRelu is split off there.
FUSABLE = {"Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Prelu"}
UNARY = {"Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus"}
ACTIVATIONS = UNARY | {"LeakyRelu", "_FusedHardSwish", "_MklSwish", "GeluExact", "GeluApproximate"}
CALLS = {"PartitionedCall", "StatefulPartitionedCall"}
INT32 = 3  # DataType enum


@contextlib.contextmanager
def tfjs_rewrites() -> Iterator[None]:
    """Within the block, the converter rewrites graphs before and after grappler (see the module doc)."""
    conversion = tfjs_saved_model.load()  # the module itself: its functions are patched
    optimize, grappler = conversion.optimize_graph, conversion._run_grappler

    def optimize_graph(graph: Any, *args: Any, **kwargs: Any) -> Any:
        return optimize(before_grappler(graph), *args, **kwargs)

    def run_grappler(*args: Any, **kwargs: Any) -> Any:
        return after_grappler(grappler(*args, **kwargs))

    conversion.optimize_graph, conversion._run_grappler = optimize_graph, run_grappler
    try:
        yield
    finally:
        conversion.optimize_graph, conversion._run_grappler = optimize, grappler


class _Nodes:
    """Adds nodes with unique names to a GraphDef; finds its Const nodes."""

    def __init__(self, graph_def: Any):
        self.graph_def = graph_def
        self.names = {node.name for node in graph_def.node}
        self.consts = {node.name: node for node in graph_def.node if node.op == "Const"}
        self.added: dict[str, Any] = {}
        self.replaced: set[str] = set()  # Const nodes no longer read by the node that read them

    def unique(self, name: str) -> str:
        base, k = name, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def add(self, op: str, name: str, inputs: list[str], dtype: int, **attrs: Any) -> str:
        node = self.graph_def.node.add(op=op, name=self.unique(name), input=inputs)
        node.attr["T"].type = dtype
        for key, value in attrs.items():
            setattr(node.attr[key], "f" if isinstance(value, float) else "type", value)
        self.added[node.name] = node
        return node.name

    def const(self, name: str, value: Any, dtype: int, shape: Optional[list[int]] = None) -> str:
        import tensorflow as tf

        node = self.graph_def.node.add(op="Const", name=self.unique(name))
        node.attr["dtype"].type = dtype
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=tf.as_dtype(dtype), shape=shape))
        return node.name

    def value(self, tensor: str) -> Any:
        """The numpy value of a Const input (None when it is not one)."""
        import tensorflow as tf

        node = self.consts.get(tensor[:-2] if tensor.endswith(":0") else tensor)
        return None if node is None else tf.make_ndarray(node.attr["value"].tensor)

    def finish(self, node: Any, pre: str, last: str) -> None:
        """`node` becomes `pre`; `last` (the end of its new chain) takes its name."""
        name, node.name = node.name, pre
        self.names.discard(name)
        self.added[last].name = name


def _activation(nodes: _Nodes, kind: str, x: str, base: str, dtype: int, alpha: float) -> str:
    """Nodes computing activation `kind` (one of ACTIVATIONS) of `x` the way the Keras graph does."""
    def op(name: str, *inputs: str, **attrs: Any) -> str:
        return nodes.add(name, f"{base}/{name}", list(inputs), dtype, **attrs)

    def c(value: float) -> str:
        return nodes.const(f"{base}/const", value, dtype)

    if kind in UNARY:
        return op(kind, x)
    if kind == "LeakyRelu":
        return op("LeakyRelu", x, alpha=alpha)
    if kind == "_FusedHardSwish":  # x / 6 * relu6(x + 3)
        return op("Mul", op("Mul", x, c(1 / 6)), op("Relu6", op("AddV2", x, c(3.0))))
    if kind == "_MklSwish":  # x * sigmoid(x)
        return op("Mul", x, op("Sigmoid", x))
    if kind == "GeluExact":  # x / 2 * (1 + erf(x / sqrt(2)))
        return op("Mul", op("Mul", x, c(0.5)), op("AddV2", c(1.0), op("Erf", op("Mul", x, c(math.sqrt(0.5))))))
    # GeluApproximate: x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))
    inner = op("AddV2", x, op("Mul", op("Mul", op("Mul", x, x), x), c(0.044715)))
    return op("Mul", op("Mul", x, c(0.5)), op("AddV2", c(1.0), op("Tanh", op("Mul", inner, c(math.sqrt(2 / math.pi))))))


def _become(node: Any, op: str) -> None:
    """Turn `node` into `op`, dropping the attributes `op` does not declare."""
    from tensorflow.python.framework import op_def_registry

    declared = {attr.name for attr in op_def_registry.get(op).attr}
    for key in [key for key in node.attr if key not in declared and not key.startswith("_")]:
        del node.attr[key]
    node.op = op


def _rank1_bias(nodes: _Nodes, node: Any, data: list[str]) -> bool:
    """Make a Const fused bias rank 1 (the wasm kernels take no other): grappler also fuses adds of a
    scalar (hard-sigmoid's x + 3) or of a [1, 1, 1, C] tensor (Keras 3 BatchNorm) as BiasAdd. False if it cannot."""
    bias, weights = nodes.value(data[2]), nodes.value(data[1])
    if bias is None or bias.ndim == 1:
        return True
    if bias.size > 1:
        if any(size != 1 for size in bias.shape[:-1]) or node.attr["data_format"].s == b"NCHW":
            return False
        values = bias.reshape(-1)
    elif weights is not None and weights.ndim in (2, 4):
        if node.op == "_FusedMatMul":
            channels = weights.shape[0 if node.attr["transpose_b"].b else 1]
        else:
            channels = weights.shape[3] * (weights.shape[2] if node.op == "FusedDepthwiseConv2dNative" else 1)
        values = bias.reshape(-1).repeat(channels)
    else:
        return False
    nodes.replaced.add(data[2].split(":")[0])
    node.input[2] = nodes.const(f"{node.name}/bias", values, node.attr["T"].type, [len(values)])
    return True


def _split_contraction(nodes: _Nodes, node: Any, problems: list[str]) -> None:
    fused = [s.decode() for s in node.attr["fused_ops"].list.s]
    data = [i for i in node.input if not i.startswith("^")]
    supported = FUSABLE - ({"LeakyRelu"} if node.op == "FusedDepthwiseConv2dNative" else set())
    keep = 1 if fused[:1] == ["BiasAdd"] and _rank1_bias(nodes, node, data) else 0
    keep += int(keep == 1 and len(fused) > 1 and fused[1] in supported)
    if keep == len(fused):
        return
    data = [i for i in node.input if not i.startswith("^")]  # the bias may have changed
    kept_args = (1 + int(fused[1:2] == ["Prelu"])) if keep else 0
    args = data[2 + kept_args:2 + node.attr["num_args"].i]
    adds = [step for step in fused[keep:] if step in ("BiasAdd", "Add", "AddV2")]
    unknown = [step for step in fused[keep:] if step not in ACTIVATIONS and step not in adds]
    if unknown or len(adds) != len(args):
        problems.append(f"{node.op} with fused {'+'.join(unknown or fused)}")
        return
    dtype, alpha = node.attr["T"].type, node.attr["leakyrelu_alpha"].f if "leakyrelu_alpha" in node.attr else 0.2
    pre = x = nodes.unique(f"{node.name}/pre_activation")
    for step in fused[keep:]:
        base = f"{node.name}/{step.strip('_')}"
        if step in adds:  # AddV2 broadcasts a scalar bias too
            x = nodes.add("AddV2", base, [x, args.pop(0)], dtype)
        else:
            x = _activation(nodes, step, x, base, dtype, alpha)
    node.input[:] = data[:2 + kept_args] + [i for i in node.input if i.startswith("^")]
    if keep:
        del node.attr["fused_ops"].list.s[keep:]
        node.attr["num_args"].i = kept_args
        if "TArgs" in node.attr:
            node.attr["TArgs"].list.type[:] = [dtype] * kept_args
    else:
        _become(node, FUSED[node.op])
    nodes.finish(node, pre, x)


def _split_batch_norm(nodes: _Nodes, node: Any, redirect: dict[str, str], problems: list[str]) -> None:
    mode = node.attr["activation_mode"].s.decode()
    if mode not in ACTIVATIONS and mode != "Identity":
        problems.append(f"_FusedBatchNormEx with {mode}")
        return
    data = [i for i in node.input if not i.startswith("^")]
    dtype, name = node.attr["T"].type, node.name
    alpha = node.attr["leakyrelu_alpha"].f if "leakyrelu_alpha" in node.attr else 0.2
    pre = x = nodes.unique(f"{name}/pre_activation")
    for side in data[5:5 + node.attr["num_side_inputs"].i]:
        x = nodes.add("AddV2", f"{name}/side_input", [x, side], dtype)
    if mode != "Identity":
        x = _activation(nodes, mode, x, f"{name}/{mode}", dtype, alpha)
    if x == pre:
        x = nodes.add("Identity", f"{name}/identity", [pre], dtype)
    node.input[:] = data[:5] + [i for i in node.input if i.startswith("^")]
    _become(node, "FusedBatchNormV3")
    nodes.finish(node, pre, x)
    redirect.update({f"{name}:{k}": f"{pre}:{k}" for k in range(1, 6)})  # the batch statistics outputs


def _split_layer_norm(nodes: _Nodes, node: Any) -> None:
    """oneDNN's `_MklLayerNorm` (last-axis layer norm: x, scale, offset) as the ops it stands for."""
    x, scale, offset = [i for i in node.input if not i.startswith("^")][:3]
    dtype, name = node.attr["T"].type, node.name
    axis = nodes.const(f"{name}/axis", [-1], INT32)

    def op(kind: str, tag: str, *inputs: str) -> str:
        return nodes.add(kind, f"{name}/{tag}", list(inputs), dtype)

    def mean(tag: str, tensor: str) -> str:
        created = op("Mean", tag, tensor, axis)
        nodes.added[created].attr["Tidx"].type = INT32
        nodes.added[created].attr["keep_dims"].b = True
        return created

    centred = op("Sub", "centred", x, mean("mean", x))
    variance = mean("variance", op("Square", "square", centred))
    epsilon = nodes.const(f"{name}/epsilon", node.attr["epsilon"].f, dtype)
    normed = op("Mul", "normed", centred, op("Rsqrt", "rsqrt", op("AddV2", "add_epsilon", variance, epsilon)))
    node.input[:] = [op("Mul", "scaled", normed, scale), offset] + [i for i in node.input if i.startswith("^")]
    _become(node, "AddV2")


def after_grappler(graph_def: Any) -> Any:
    """Split what grappler fused into ops or attributes TF.js lacks (in place; returns `graph_def`)."""
    nodes, redirect, problems = _Nodes(graph_def), {}, []
    for node in list(graph_def.node):
        if node.op in FUSED and "fused_ops" in node.attr:
            _split_contraction(nodes, node, problems)
        elif node.op == "_FusedBatchNormEx":
            _split_batch_norm(nodes, node, redirect, problems)
        elif node.op == "_MklLayerNorm":
            _split_layer_norm(nodes, node)
    if redirect:
        for node in graph_def.node:
            node.input[:] = [redirect.get(i, i) for i in node.input]
    read = {i.lstrip("^").split(":")[0] for node in graph_def.node for i in node.input}
    for unread in [node for node in graph_def.node if node.name in nodes.replaced - read]:
        graph_def.node.remove(unread)
    if problems:
        raise ValueError(f"{UNSUPPORTED} after optimization\n{', '.join(sorted(set(problems)))}")
    return graph_def


def _inline_calls(graph_def: Any) -> bool:
    """Function-call nodes -> the function's body; the call's name stays, on an Identity(N) of its results."""
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    library = {f.signature.name: f for f in graph_def.library.function}
    nodes, inlined = _Nodes(graph_def), set()
    for _ in range(8):  # calls inside inlined bodies come back here
        calls = [n for n in graph_def.node if n.op in CALLS and n.attr["f"].func.name in library]
        for call in calls:
            fdef = library[call.attr["f"].func.name]
            inlined.add(fdef.signature.name)
            body, flat = function_def_to_graph_def(fdef)
            args = {arg.name: i for i, arg in enumerate(fdef.signature.input_arg)}
            data = [i for i in call.input if not i.startswith("^")]
            controls = [i for i in call.input if i.startswith("^")]
            names = {n.name: nodes.unique(f"{call.name}/{n.name}") for n in body.node if n.name not in args}

            def outer(tensor: str) -> str:
                control, (op, _, index) = tensor.startswith("^"), tensor.lstrip("^").partition(":")
                if op in args:
                    source = data[args[op]]
                    return "^" + source.split(":")[0] if control else source
                return ("^" if control else "") + names[op] + (f":{index}" if index else "")

            for inner in body.node:
                if inner.name in names:
                    copy = graph_def.node.add()
                    copy.CopyFrom(inner)
                    copy.name = names[inner.name]
                    copy.input[:] = [outer(i) for i in inner.input] + controls
            types = [arg.type for arg in fdef.signature.output_arg]
            call.ClearField("attr")
            call.input[:] = [outer(flat[fdef.ret[arg.name]]) for arg in fdef.signature.output_arg]
            call.op = "Identity" if len(types) == 1 else "IdentityN"
            if len(types) == 1:
                call.attr["T"].type = types[0]
            else:
                call.attr["T"].list.type.extend(types)
        if not calls:
            break
    kept = [f for f in graph_def.library.function if f.signature.name not in inlined]
    used = {f.name for node in [*graph_def.node, *(n for f in kept for n in f.node_def)] for value in node.attr.values()
            for f in ([value.func] if value.HasField("func") else value.list.func)}  # still called: keep
    functions = [f for f in graph_def.library.function if f.signature.name not in inlined or f.signature.name in used]
    graph_def.library.ClearField("function")
    graph_def.library.function.extend(functions)
    return bool(inlined)


def _erfc(graph_def: Any) -> bool:
    """Erfc(x) -> 1 - Erf(x)."""
    nodes = _Nodes(graph_def)
    found = [node for node in graph_def.node if node.op == "Erfc"]
    for node in found:
        dtype, name = node.attr["T"].type, node.name
        pre = nodes.unique(f"{name}/erf")
        last = nodes.add("Sub", f"{name}/sub", [nodes.const(f"{name}/one", 1.0, dtype), pre], dtype)
        node.op = "Erf"
        nodes.finish(node, pre, last)
    return bool(found)


def _grouped_convs(graph: Any, graph_def: Any) -> bool:
    """Conv2D with one input channel per group -> DepthwiseConv2dNative; other grouped Conv2D fail here."""
    nodes, problems, found = _Nodes(graph_def), [], False
    by_name = {node.name: node for node in graph_def.node}
    for op in graph.get_operations():
        if op.type != "Conv2D":
            continue
        x, kernel = op.inputs[0].shape, op.inputs[1].shape
        channels = x[1 if op.get_attr("data_format") == b"NCHW" else 3] if x.rank == 4 else None
        if channels is None or kernel.rank != 4 or kernel[2] is None or kernel[2] == channels:
            continue
        if kernel[2] != 1:
            problems.append(f"Conv2D with {channels // kernel[2]} groups")
            continue
        node, found = by_name[op.name], True
        shape = nodes.const(f"{op.name}/depthwise_shape", [*kernel[:2], channels, kernel[3] // channels], INT32, [4])
        node.input[1] = nodes.add("Reshape", f"{op.name}/depthwise_filter", [node.input[1], shape],
                                  node.attr["T"].type, Tshape=INT32)
        _become(node, "DepthwiseConv2dNative")
    if problems:
        raise ValueError(f"{UNSUPPORTED} before optimization\n{', '.join(sorted(set(problems)))}")
    return found


def before_grappler(graph: Any) -> Any:
    """The frozen graph with calls inlined, Erfc and grouped convolutions rewritten (`graph` itself if untouched)."""
    import tensorflow as tf

    def _graph(graph_def: Any) -> Any:
        with tf.Graph().as_default() as imported:
            tf.import_graph_def(graph_def, name="")
        return imported

    graph_def = graph.as_graph_def()
    changed = _inline_calls(graph_def)
    changed = _erfc(graph_def) or changed
    if _grouped_convs(_graph(graph_def) if changed else graph, graph_def) or changed:
        return _graph(graph_def)
    return graph
