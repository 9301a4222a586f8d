"""What compression survived into a `.tflite` file: sparsity and unique values per weight tensor.

Weight tensors are the operators' constant inputs (inputs that no operator produces and that
are not model inputs). Each is matched to a Keras layer by name, or by shape when the converter
left it unnamed.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.litert import TFLiteRunner

MIN_ELEMENTS = 64  # skip biases and scalars


def weight_tensors(runner: TFLiteRunner) -> list[tuple[dict[str, Any], np.ndarray]]:
    interpreter = runner.interpreter
    produced, consumed = set(), set()
    for op in interpreter._get_ops_details():
        produced.update(int(i) for i in op["outputs"])
        consumed.update(int(i) for i in op["inputs"] if i >= 0)
    model_inputs = {d["index"] for d in interpreter.get_input_details()}
    found = []
    for detail in interpreter.get_tensor_details():
        index = detail["index"]
        if index not in consumed or index in produced or index in model_inputs:
            continue
        if int(np.prod(detail["shape"])) < MIN_ELEMENTS:
            continue
        try:
            found.append((detail, np.array(interpreter.get_tensor(index))))
        except ValueError:
            continue
    return found


def tflite_structure(model: bytes | TFLiteRunner, *, layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per-tensor and overall sparsity / unique values of a TFLite model's weights.

    Pass an existing runner to reuse its interpreter (weights do not depend on the batch size)."""
    runner = model if isinstance(model, TFLiteRunner) else TFLiteRunner(model)
    entries = []
    for detail, values in weight_tensors(runner):
        channels = values.reshape(values.shape[0], -1) if values.ndim >= 2 else values.reshape(1, -1)
        per_channel = max(len(np.unique(row)) for row in channels)
        entries.append({
            "tensor": detail["name"][:120],
            "layer": _match_layer(detail["name"], values.shape, layers or []),
            "shape": [int(d) for d in values.shape],
            "dtype": np.dtype(values.dtype).name,
            "elements": int(values.size),
            "sparsity": round(float(np.mean(values == 0)), 4),
            "unique_values": int(len(np.unique(values))),
            "max_unique_per_channel": int(per_channel),
        })
    total = sum(e["elements"] for e in entries)
    zeros = sum(e["elements"] * e["sparsity"] for e in entries)
    return {"weights": entries, "weight_elements": total,
            "sparsity": round(zeros / total, 4) if total else 0.0}


def _match_layer(name: str, shape: tuple[int, ...], layers: list[dict[str, Any]]) -> str | None:
    parts = set(name.replace(";", "/").split("/"))
    for layer in layers:
        if layer["layer"] in parts or f"quant_{layer['layer']}" in parts:
            return layer["layer"]
    same_size = [layer["layer"] for layer in layers if layer.get("params") == int(np.prod(shape))]
    return same_size[0] if len(same_size) == 1 else None
