"""Per-layer compression facts measured on Keras weights: sparsity, unique values, steps applied.

These travel with the model to the converters (Core ML palettization, web quantization) and
into the report.
"""
from __future__ import annotations

from typing import Any

import numpy as np

KERNEL_WORDS = ("kernel", "embeddings")


def kernels(layer: Any) -> list[Any]:
    inner = getattr(layer, "layer", layer)  # QAT wrappers hold the layer
    return [w for w in inner.weights if any(word in w.name for word in KERNEL_WORDS)]


def layer_facts(model: Any, coverage: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    applied = {step: {e["layer"] for e in entries if e["status"] == "applied"} for step, entries in coverage.items()}
    facts = []
    for layer in model.layers:
        weights = kernels(layer)
        if not weights:
            continue
        values = np.concatenate([np.asarray(w.numpy()).ravel() for w in weights])
        name = getattr(getattr(layer, "layer", layer), "name", layer.name)
        facts.append({
            "layer": name,
            "type": type(getattr(layer, "layer", layer)).__name__,
            "params": int(values.size),
            "sparsity": round(float(np.mean(values == 0)), 4),
            "unique_values": int(len(np.unique(values))),
            "pruned": name in applied.get("prune", set()),
            "clustered": name in applied.get("cluster", set()),
            "quantized": name in applied.get("qat", set()),
        })
    return facts
