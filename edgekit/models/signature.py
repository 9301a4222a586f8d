"""A model's inputs and outputs as edgekit sees them: names from the model, shapes, dtypes.

Every converter and runtime addresses tensors by these names (never by a fixed name such as
`image`): the exported SavedModel's signature, the `.tflite` signature, the TF.js model's inputs
and structured outputs, and the Core ML package's features all carry them. Names are made safe
once, here: letters, digits and `_`, starting with a letter, unique within the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class TensorInfo:
    name: str  # safe name used in every artifact
    shape: tuple[Optional[int], ...]  # batch dimension first (None when free)
    dtype: str = "float32"
    source_name: str = ""  # the model's own name, when it had to be changed

    @property
    def inner(self) -> tuple[Optional[int], ...]:
        return tuple(self.shape[1:])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.source_name and self.source_name != self.name:
            out["model_name"] = self.source_name
        return out


def safe_names(raw: list[str], *, fallback: str) -> list[str]:
    """`raw` names made safe and unique (`conv/1:0` -> `conv_1`; repeats get `_2`, `_3`)."""
    used: set[str] = set()
    names = []
    for index, name in enumerate(raw):
        base = re.sub(r":\d+$", "", str(name or ""))
        base = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_")
        if not base or not base[0].isalpha():
            base = f"{fallback}_{base}" if base else f"{fallback}_{index}"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        names.append(candidate)
    return names


def keras_signature(model: Any) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Inputs and outputs of a tf_keras or Keras 3 functional/sequential model, in the model's order."""
    raw_inputs = [_tensor_name(t) for t in model.inputs]
    raw_outputs = list(getattr(model, "output_names", None) or [_tensor_name(t) for t in model.outputs])
    if len(raw_outputs) != len(model.outputs):
        raw_outputs = [_tensor_name(t) for t in model.outputs]
    # Keras 3 names a Sequential model's outputs after anonymous tensors: use the layer that makes them
    raw_outputs = [_producer(t) if re.fullmatch(r"keras_tensor(_\d+)?", name) else name
                   for name, t in zip(raw_outputs, model.outputs)]
    inputs = [TensorInfo(name, _shape(t.shape), _dtype(t), source)
              for name, source, t in zip(safe_names(raw_inputs, fallback="input"), raw_inputs, model.inputs)]
    outputs = [TensorInfo(name, _shape(t.shape), _dtype(t), source)
               for name, source, t in zip(safe_names(raw_outputs, fallback="output"), raw_outputs, model.outputs)]
    return inputs, outputs


def _producer(tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    operation = history[0] if history else None
    return getattr(operation, "name", None) or _tensor_name(tensor)


def _tensor_name(tensor: Any) -> str:
    name = getattr(tensor, "name", "") or ""
    return name.split("/")[0]


def _shape(shape: Any) -> tuple[Optional[int], ...]:
    return tuple(None if d is None else int(d) for d in tuple(shape))


def _dtype(tensor: Any) -> str:
    dtype = getattr(tensor, "dtype", "float32")
    return str(getattr(dtype, "name", dtype))
