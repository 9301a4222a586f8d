"""4-bit storage for clustered weights: the raw `.tflite` bytes follow the clusters the recipe trained.

A weight tensor clustered to at most 16 values per output channel still costs one byte per weight in
an int8 file; LiteRT's FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D kernels also take INT4 filters
(two weights per byte, unpacked to int8 when the interpreter prepares the op). This pass rewrites those
filters of an int8 or dynamic-range file: each output channel gets the symmetric 4-bit grid
(levels -8..7 times a per-channel scale) that best fits its values (least squares, weighted by how
often each value occurs), the channel scales change accordingly and an int32 bias is rescaled with them.
Sixteen cluster centres rarely lie exactly on an evenly spaced grid, so this re-rounds the weights
(`max_rounding` records the largest change, as a share of the channel's largest weight); the 4-bit
file therefore ships only when LiteRT's default interpreter runs it and it passes the same parity
check (against the Keras model) the 8-bit file must pass. Otherwise the 8-bit file ships and the
record says why.

Which kernels run the 4-bit ops is measured per file (`xnnpack_fraction_*`). On the example (BENCHMARKS.md)
XNNPACK took the 4-bit FULLY_CONNECTED (smaller and no slower), but refused 4-bit convolutions, which
then ran on LiteRT's built-in kernels at 3-5× the 8-bit file's latency, hence the default
`low_bit = ["FULLY_CONNECTED"]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgekit.lazy import litert_schema

LOW_BIT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")  # LiteRT kernels that take INT4 filters...
KERNELS = {"int8": LOW_BIT_OPS, "dynamic": ("FULLY_CONNECTED", "CONV_2D")}  # ...per precision (measured: the
# hybrid DEPTHWISE_CONV_2D refuses them: "Type FLOAT32 with filter type INT4 not currently supported")
PRECISIONS = tuple(KERNELS)  # int8 filters; int16x8 and float files are left alone
LEVELS = 16  # values a 4-bit channel can hold
MIN_BYTES = 1024  # smaller tensors are not worth a record
EVIDENCE = 4 * LEVELS  # weights per channel needed before "≤ 16 values" means clustered rather than few weights
MIN_SAVING = 0.05  # of the file's raw bytes
MAX_RECORDED = 64  # tensors listed per artifact, the largest first
_STEPS = np.geomspace(1 / 9, 1 / 4, 96)  # candidate grid steps, as a share of the channel's largest |value|


@dataclass
class _Filter:
    subgraph: int
    tensor: int
    op: str
    bias: Optional[int]


def choose(data: bytes, *, precision: str, ops: Sequence[str], evaluate: Callable[[bytes], Any],
           judge: Callable[[Any], Any], accuracy: Callable[[Any], Optional[float]],
           load_ms: Callable[[bytes], float], max_accuracy_loss: float,
           delegate_problem: Callable[[bytes], Optional[str]] = lambda data: None) -> tuple[bytes, Optional[dict[str, Any]]]:
    """The bytes to ship and the storage record (None when no weight tensor is clustered to ≤ 16 values).

    `evaluate(bytes)` runs a file on the eval set, `judge(outputs)` is the artifact's parity check
    (a `Parity`), `accuracy(outputs)` its accuracy, `load_ms(bytes)` LiteRT's load time; the 4-bit file
    may lose at most `max_accuracy_loss` percentage points against the 8-bit one, and
    `delegate_problem(bytes)` names a delegate budget the 4-bit file fails where the 8-bit one passes."""
    if precision not in PRECISIONS:
        return data, None
    model, tensors = plan(data, ops, precision=precision)
    if not any(t["clustered"] for t in tensors):
        return data, None
    record: dict[str, Any] = {"ops": list(ops), "bytes_8bit": len(data), "tensors": tensors[:MAX_RECORDED],
                              "clustered_filters": sum(t["clustered"] for t in tensors),
                              "filters_4bit": sum(t["bits"] == 4 for t in tensors)}
    if not record["filters_4bit"]:
        return data, {**record, "kept": "8-bit", "reason": "no clustered filter can be stored 4-bit (see tensors)"}
    if any(b.offset > 1 for b in model.buffers or []):
        return data, _refused(record, "a model over 2 GB keeps its weights outside the flatbuffer: not rewritten")
    packed = pack(model)
    record.update(bytes_4bit=len(packed), ratio=round(len(packed) / len(data), 4))
    if len(packed) > (1 - MIN_SAVING) * len(data):
        return data, _refused(record, f"4-bit storage saves under {100 * MIN_SAVING:.0f} % of the raw bytes")
    try:
        outputs = evaluate(packed)  # LiteRT's default interpreter, XNNPACK applied where it can
    except Exception as err:  # noqa: BLE001 - LiteRT raises RuntimeError/ValueError with the kernel's message
        from edgekit.models.export import one_line
        return data, _refused(record, f"LiteRT cannot run the 4-bit file: {one_line(err)[:200]}")
    from edgekit.targets.android.delegates import xnnpack_share

    parity = judge(outputs)
    record.update(accuracy_4bit=accuracy(outputs), accuracy_8bit=accuracy(evaluate(data)),
                  load_ms_8bit=round(load_ms(data), 2), load_ms_4bit=round(load_ms(packed), 2),
                  xnnpack_fraction_8bit=xnnpack_share(data), xnnpack_fraction_4bit=xnnpack_share(packed))
    if parity.status != "passed":
        return data, _refused(record, f"the 4-bit file fails the parity check: {parity.reason}")
    problem = delegate_problem(packed)
    if problem:
        return data, _refused(record, f"the 4-bit file fails a delegate budget the 8-bit file meets ({problem})")
    if record["accuracy_4bit"] is not None and record["accuracy_8bit"] is not None:
        loss = 100 * (record["accuracy_8bit"] - record["accuracy_4bit"])
        if loss > max_accuracy_loss:
            return data, _refused(record, f"the 4-bit file loses {loss:.2f} pp of accuracy against the 8-bit file "
                                          f"(low_bit_max_accuracy_loss = {max_accuracy_loss:g})")
    return packed, {**record, "kept": "4-bit",
                    "reason": f"{100 * (1 - record['ratio']):.0f} % fewer raw bytes, parity passed; XNNPACK runs "
                              f"{100 * record['xnnpack_fraction_4bit']:.0f} % of the ops (8-bit file: "
                              f"{100 * record['xnnpack_fraction_8bit']:.0f} %), LiteRT's built-in kernels the rest"}


def _refused(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """The record when the 8-bit file ships: the filters the candidate stored 4-bit are 8-bit in what shipped."""
    tensors = [{**t, "bits": 8, "reason": "clustered: 4-bit in the refused candidate"} if t["bits"] == 4 else t
               for t in record["tensors"]]
    return {**record, "tensors": tensors, "filters_4bit": 0, "filters_tried_4bit": record["filters_4bit"],
            "kept": "8-bit", "reason": reason}


def plan(data: bytes, ops: Sequence[str], *, precision: str) -> tuple[Any, list[dict[str, Any]]]:
    """The flatbuffer as objects with the chosen filters rewritten in place (not yet packed), and one
    entry per weight tensor of at least MIN_BYTES that feeds a filter slot: its storage and why."""
    schema = litert_schema.load()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    kinds = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    filters, refused = _filters(model, kinds, schema)
    tensors = []
    for f in filters:
        tensor = model.subgraphs[f.subgraph].tensors[f.tensor]
        entry = {"tensor": (tensor.name or b"").decode(errors="replace")[:160], "op": f.op,
                 "shape": [int(d) for d in tensor.shape], "bits": 8}
        values, reason = _int8_values(model, tensor, schema)
        if values is None:
            tensors.append({**entry, "distinct_per_channel": 0, "clustered": False, "reason": reason})
            continue
        axis = int(tensor.quantization.quantizedDimension) if len(tensor.quantization.scale) > 1 else None
        rows = (np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1) if axis is not None
                else values.reshape(1, -1)).astype(np.int16)  # int16: |-128| must not wrap
        distinct = max(len(np.unique(row)) for row in rows)
        entry.update(distinct_per_channel=int(distinct), bytes=int(values.size),
                     clustered=bool(distinct <= LEVELS and rows.shape[1] >= EVIDENCE))
        why = refused.get((f.subgraph, f.tensor))
        if rows.shape[1] < EVIDENCE:
            entry["reason"] = (f"{rows.shape[1]} weights per channel: too few to tell clusters from chance, left 8-bit")
        elif distinct > LEVELS:
            entry["reason"] = f"{distinct} values per channel: 4 bits would re-round them (cluster to ≤ {LEVELS} first)"
        elif why:
            entry["reason"] = why
        elif f.op not in KERNELS[precision]:
            entry["reason"] = f"LiteRT's {precision} {f.op} kernel does not take INT4 filters: left 8-bit"
        elif f.op not in ops:
            entry["reason"] = f"{f.op} is not in low_bit (XNNPACK refuses INT4 convolution filters): left 8-bit"
        else:
            entry.update(_rewrite(model, f, rows, axis, values.shape, schema))
        tensors.append(entry)
    tensors.sort(key=lambda t: t.get("bytes", 0), reverse=True)  # 8-bit bytes of each filter
    return model, tensors


def _filters(model: Any, kinds: dict[int, str], schema: Any) -> tuple[list[_Filter], dict[tuple[int, int], str]]:
    """The constant filters of LOW_BIT_OPS with at least MIN_BYTES, and why some cannot change."""
    users: dict[tuple[int, int], list[tuple[str, int]]] = {}
    buffer_users: dict[int, int] = {}
    found: dict[tuple[int, int], _Filter] = {}
    for g, graph in enumerate(model.subgraphs):
        for t in graph.tensors:
            buffer_users[t.buffer] = buffer_users.get(t.buffer, 0) + 1
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            kind = kinds.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
            inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
            for slot, index in enumerate(inputs):
                if index >= 0:
                    users.setdefault((g, index), []).append((kind, slot))
            if kind in LOW_BIT_OPS and len(inputs) > 1 and inputs[1] >= 0:
                tensor = graph.tensors[inputs[1]]
                data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
                if data is not None and len(data) >= MIN_BYTES and tensor.type == schema.TensorType.INT8:
                    bias = inputs[2] if len(inputs) > 2 and inputs[2] >= 0 else None
                    found.setdefault((g, inputs[1]), _Filter(g, inputs[1], kind, bias))
    refused = {}
    for key, f in found.items():
        graph = model.subgraphs[f.subgraph]
        if len(users[key]) != 1:
            refused[key] = "read by several ops or input slots: left 8-bit"
        elif buffer_users.get(graph.tensors[f.tensor].buffer, 0) > 1:
            refused[key] = "its buffer is shared with another tensor: left 8-bit"
        elif f.bias is not None and (users.get((f.subgraph, f.bias), []) != [(f.op, 2)]
                                     or buffer_users.get(graph.tensors[f.bias].buffer, 0) > 1):
            refused[key] = "its bias is shared with another op: left 8-bit"
    return list(found.values()), refused


def _int8_values(model: Any, tensor: Any, schema: Any) -> tuple[Optional[np.ndarray], str]:
    """The filter's int8 values in its shape, or None and why it stays as it is."""
    if tensor.sparsity is not None:
        return None, "stored sparse: left as it is"
    quant = tensor.quantization
    scales = [] if quant is None or quant.scale is None else list(quant.scale)
    zeros = [] if quant is None or quant.zeroPoint is None else list(quant.zeroPoint)
    shape = [int(d) for d in tensor.shape]
    data = np.asarray(model.buffers[tensor.buffer].data, dtype=np.uint8)
    if not scales or any(int(z) != 0 for z in zeros) or data.size != int(np.prod(shape)):
        return None, "not a symmetric int8 filter: left 8-bit"
    axis = int(quant.quantizedDimension)
    if len(scales) > 1 and (axis >= len(shape) or shape[axis] != len(scales)):
        return None, "its channel scales do not match its shape: left 8-bit"
    return data.view(np.int8).reshape(shape), ""


def _rewrite(model: Any, f: _Filter, rows: np.ndarray, axis: Optional[int], shape: tuple, schema: Any) -> dict[str, Any]:
    """Store one filter 4-bit in place (its scales and an int32 bias follow); what it cost. Nothing
    changes when the bias cannot follow the new scales (the entry says why)."""
    levels, steps = _fit(rows.astype(np.float64))
    graph = model.subgraphs[f.subgraph]
    tensor = graph.tensors[f.tensor]
    bias, why = _new_bias(model, graph, f, steps, schema)
    if why:
        return {"reason": why}
    restored = levels * steps[:, None]
    peak = np.maximum(np.abs(rows).max(axis=1), 1)
    rounding = float((np.abs(restored - rows).max(axis=1) / peak).max())
    body = levels.reshape((shape[axis],) + tuple(np.delete(shape, axis))) if axis is not None else levels.reshape(shape)
    flat = (np.moveaxis(body, 0, axis) if axis is not None else body).astype(np.int8).ravel()
    model.buffers[tensor.buffer].data = _pack_nibbles(flat)
    tensor.type = schema.TensorType.INT4
    tensor.quantization.scale = [float(s * k) for s, k in zip(np.broadcast_to(tensor.quantization.scale, steps.shape), steps)]
    if bias is not None:  # the bias scale is input scale × filter scale: it follows the filter's
        values, scales = bias
        target = graph.tensors[f.bias]
        model.buffers[target.buffer].data = values.view(np.uint8)
        target.quantization.scale = scales
    return {"bits": 4, "bytes_4bit": int(len(model.buffers[tensor.buffer].data)), "max_rounding": round(rounding, 4),
            "reason": "clustered: stored 4-bit"}


def _new_bias(model: Any, graph: Any, f: _Filter, steps: np.ndarray,
              schema: Any) -> tuple[Optional[tuple[np.ndarray, list[float]]], Optional[str]]:
    """The int32 bias values and scales that follow the new filter scales (None: nothing to change), or why
    the filter must stay 8-bit."""
    if f.bias is None:
        return None, None
    tensor = graph.tensors[f.bias]
    if tensor.type == schema.TensorType.FLOAT32:  # dynamic range: a float bias does not depend on the scales
        return None, None
    data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
    quant = tensor.quantization
    scales = [] if quant is None or quant.scale is None else [float(v) for v in quant.scale]
    if tensor.type != schema.TensorType.INT32 or data is None or not len(data) or len(data) % 4 or not scales:
        return None, "its bias is not a constant int32 tensor with scales: left 8-bit"
    raw = np.asarray(data, dtype=np.uint8).view(np.int32).astype(np.float64)
    if len(scales) not in (1, raw.size):
        return None, "its bias scales do not match its values: left 8-bit"
    if steps.size == 1:
        ratio = np.full(raw.shape, steps[0])
    elif steps.size == raw.size == len(scales):
        ratio = steps
    else:
        return None, "its bias scales do not match its channels: left 8-bit"
    values = np.round(raw / ratio)
    if np.abs(values).max(initial=0) > np.iinfo(np.int32).max:
        return None, "its rescaled bias would overflow int32: left 8-bit"
    return (values.astype(np.int32), [s * float(k) for s, k in zip(scales, np.broadcast_to(ratio[:len(scales)], len(scales)))]), None


def _fit(rows: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per row (channel), the 4-bit levels and the grid step that best fit its int8 values."""
    levels = np.zeros(rows.shape, dtype=np.int8)
    steps = np.ones(len(rows))
    values = np.arange(-128, 128, dtype=np.float64)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk].astype(np.int64)
        counts = np.stack([np.bincount(r + 128, minlength=256) for r in part]).astype(np.float64)  # (C, 256)
        peak = np.maximum(np.abs(part).max(axis=1), 1).astype(np.float64)
        candidates = peak[:, None] * _STEPS[None, :]  # (C, K)
        q = np.clip(np.round(values[None, None, :] / candidates[:, :, None]), -8, 7)  # (C, K, 256)
        error = (counts[:, None, :] * (q * candidates[:, :, None] - values) ** 2).sum(axis=2)
        best = candidates[np.arange(len(part)), error.argmin(axis=1)]
        chosen = np.clip(np.round(part / best[:, None]), -8, 7)
        # least squares for the step given those levels: never a larger error than the grid's best
        square = (chosen ** 2).sum(axis=1)
        refined = np.where(square > 0, (chosen * part).sum(axis=1) / np.maximum(square, 1), best)
        steps[start:start + len(part)] = np.where(refined > 0, refined, best)
        levels[start:start + len(part)] = chosen
    return levels, steps


def _pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Two signed 4-bit values per byte, the first in the low nibble (LiteRT's INT4 layout)."""
    if values.size % 2:
        values = np.append(values, np.int8(0))
    low, high = values[0::2].astype(np.uint8) & 0x0F, values[1::2].astype(np.uint8) & 0x0F
    return (low | (high << 4)).astype(np.uint8)


def unpack_nibbles(data: bytes, count: int) -> np.ndarray:
    """The signed 4-bit values of an INT4 buffer (for `edgekit why`)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    low = (raw << 4).astype(np.int8) >> 4
    high = raw.astype(np.int8) >> 4
    return np.stack([low, high], axis=1).ravel()[:count]


def pack(model: Any) -> bytes:
    """Serialise the model objects; constant buffers start on 16-byte boundaries, as the converter writes them."""
    import flatbuffers

    schema = litert_schema.load()

    class _Aligned(schema.BufferT):
        def Pack(self, builder: Any) -> int:  # noqa: N802 - flatbuffers' name
            if self.data is None or len(self.data) == 0:
                return super().Pack(builder)
            raw = np.asarray(self.data, dtype=np.uint8).tobytes()
            builder.StartVector(1, len(raw), 16)
            builder.head -= len(raw)
            builder.Bytes[builder.head:builder.head + len(raw)] = raw
            vector = builder.EndVector()
            schema.BufferStart(builder)
            schema.BufferAddData(builder, vector)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    for i, buffer in enumerate(model.buffers or []):
        aligned = _Aligned()
        aligned.data, aligned.offset, aligned.size = buffer.data, buffer.offset, buffer.size
        model.buffers[i] = aligned
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def summary(record: dict[str, Any]) -> str:
    """One line for report.md."""
    four = record.get("filters_4bit", 0) if record.get("kept") == "4-bit" else record.get("filters_tried_4bit", 0)
    clustered = record.get("clustered_filters", 0)
    size = f", 4-bit {record['bytes_4bit']:,} B ({record['ratio']:.2f}×)" if record.get("bytes_4bit") else ""
    acc = ""
    if record.get("accuracy_4bit") is not None and record.get("accuracy_8bit") is not None:
        acc = f"; accuracy {100 * record['accuracy_8bit']:.2f} % → {100 * record['accuracy_4bit']:.2f} %"
    verb = "stored" if record.get("kept") == "4-bit" else "tried"
    return (f"{four} of {clustered} clustered filters {verb} 4-bit: 8-bit {record['bytes_8bit']:,} B{size}{acc} — "
            f"shipped {record['kept']}: {record['reason']}")
