"""The search's compressed candidates: a student that is then pruned and/or clustered.

The free rung and the proxy rungs need the compressed student's size and accuracy without a TFMOT
fine-tuning run per candidate, so the structure is applied to a copy of the weights in one shot:
the smallest-magnitude `sparsity` of every kernel set to zero, the rest clustered to `clusters`
values (1-D k-means per kernel, centroids started at quantiles). The artifact then has the bytes a
pruned/clustered build has (gzip sees the same zeros and repeats); the proxy accuracy is a
pessimistic one (no fine-tuning after compressing). Finalists are built for real with the recipe's
prune and cluster steps, which fine-tune.
"""
from __future__ import annotations

from typing import Any

import numpy as np

KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")


def suffix(sparsity: float, clusters: int) -> str:
    return (f"-p{round(100 * sparsity)}" if sparsity else "") + (f"-c{clusters}" if clusters else "")


def _cluster(values: np.ndarray, clusters: int, *, iterations: int = 8) -> np.ndarray:
    centroids = np.quantile(values, np.linspace(0, 1, clusters))
    for _ in range(iterations):
        nearest = np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)
        for k in range(clusters):
            chosen = values[nearest == k]
            if chosen.size:
                centroids[k] = chosen.mean()
    return centroids[np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)]


def compress_weights(model: Any, *, sparsity: float, clusters: int) -> None:
    """Prune then cluster every kernel of the model in place (biases and normalisation stay as they are)."""
    if not sparsity and not clusters:
        return
    for layer in model.layers:
        if type(layer).__name__ not in KERNEL_LAYERS:
            continue
        weights = layer.get_weights()
        for i, weight in enumerate(weights):
            if weight.ndim < 2:
                continue  # a bias
            flat = weight.reshape(-1).astype(np.float64)
            if sparsity:
                cut = np.quantile(np.abs(flat), sparsity)
                flat = np.where(np.abs(flat) <= cut, 0.0, flat)
            if clusters:
                alive = flat != 0
                if alive.sum() > clusters:
                    flat[alive] = _cluster(flat[alive], clusters - 1 if sparsity else clusters)
            weights[i] = flat.reshape(weight.shape).astype(weight.dtype)
        layer.set_weights(weights)


def final_steps(sparsity: float, clusters: int, recipe: list[Any]) -> list[Any]:
    """The prune / cluster steps a finalist's build runs after distillation (the config's own settings
    for those steps where it has them, with this candidate's sparsity and cluster count)."""
    from edgekit.recipe import ClusterStep, PruneStep

    own = {step.step: step for step in recipe}
    steps: list[Any] = []
    if sparsity:
        base = own.get("prune")
        steps.append(base.model_copy(update={"final_sparsity": sparsity}) if base is not None
                     else PruneStep(step="prune", final_sparsity=sparsity, epochs=2, learning_rate=1e-4))
    if clusters:
        base = own.get("cluster")
        steps.append(base.model_copy(update={"clusters": clusters}) if base is not None
                     else ClusterStep(step="cluster", clusters=clusters, epochs=1, learning_rate=5e-5))
    return steps
