"""The search's compressed candidates: a student that is then pruned and/or clustered.

The free rung and the proxy rungs need the compressed student's size and accuracy without a TFMOT
fine-tuning run per candidate, so the structure is applied to a copy of the weights in one shot:
the smallest-magnitude `sparsity` of every weight TFMOT would prune set to zero, the rest clustered
to `clusters` values (1-D k-means per weight, centroids started at quantiles) — the weights TFMOT's
own registries name, so depthwise kernels stay dense as in a real build. The artifact then has the
bytes a pruned/clustered build has (gzip sees the same zeros and repeats). For the proxy score the
compressed student is fine-tuned for one short epoch with every step projected back onto its zeros
and centroids (`Structure.project`), so the score is not that of an unrecovered one-shot cut.
Finalists are built for real with the recipe's prune and cluster steps.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pydantic import ValidationError

from edgekit.errors import ConfigError
from edgekit.lazy import clustering_registry, prune_registry

def suffix(sparsity: float, clusters: int) -> str:
    return (f"-p{round(100 * sparsity)}" if sparsity else "") + (f"-c{clusters}" if clusters else "")


def _targets(layer: Any, registry: Any) -> list[Any]:
    """The weight variables TFMOT's registry compresses in this layer (DepthwiseConv2D: none; it stays dense)."""
    names = registry._LAYERS_WEIGHTS_MAP.get(layer.__class__) or []
    return [getattr(layer, name) for name in names if getattr(layer, name, None) is not None]


def _cluster(values: np.ndarray, clusters: int, *, iterations: int = 8) -> np.ndarray:
    """1-D k-means centroids of `values` (started at quantiles)."""
    centroids = np.quantile(values, np.linspace(0, 1, clusters))
    for _ in range(iterations):
        nearest = np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)
        for k in range(clusters):
            chosen = values[nearest == k]
            if chosen.size:
                centroids[k] = chosen.mean()
    return centroids


class Structure:
    """What one-shot pruning and clustering fixed for each weight: its zeros and its centroids, so that a
    short fine-tuning can be projected back onto the same structure after every step."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, np.ndarray, Optional[np.ndarray]]] = []  # (variable, zero mask, centroids)

    def project(self) -> None:
        for variable, zeros, centroids in self.entries:
            value = variable.numpy()
            value[zeros] = 0.0
            if centroids is not None:
                alive = ~zeros
                value[alive] = centroids[np.abs(value[alive][:, None] - centroids[None, :]).argmin(axis=1)]
            variable.assign(value)


def compress_weights(model: Any, *, sparsity: float, clusters: int) -> Structure:
    """Prune then cluster, in place, the weights TFMOT's prune / cluster steps would (biases and
    normalisation stay as they are); exactly the smallest `sparsity` of each weight becomes zero."""
    structure = Structure()
    if not sparsity and not clusters:
        return structure
    chosen: dict[int, Any] = {}
    for layer in model.layers:
        for variable in (_targets(layer, prune_registry.PruneRegistry) if sparsity else []) + \
                (_targets(layer, clustering_registry.ClusteringRegistry) if clusters else []):
            chosen[id(variable)] = variable
    for variable in chosen.values():
        value = variable.numpy()
        flat = value.reshape(-1).astype(np.float64)
        zeros = np.zeros(flat.shape, dtype=bool)
        if sparsity:
            count = int(round(sparsity * flat.size))
            if count:
                zeros[np.argpartition(np.abs(flat), count - 1)[:count]] = True  # exactly `count`, ties kept
            flat[zeros] = 0.0
        centroids = None
        alive = ~zeros
        wanted = clusters - 1 if sparsity else clusters  # pruned: zero is one of the values, as in TFMOT
        if clusters and alive.sum() > wanted >= 1:
            centroids = _cluster(flat[alive], wanted)
            flat[alive] = centroids[np.abs(flat[alive][:, None] - centroids[None, :]).argmin(axis=1)]
        variable.assign(flat.reshape(value.shape).astype(value.dtype))
        structure.entries.append((variable, zeros.reshape(value.shape), centroids))
    return structure


def final_steps(sparsity: float, clusters: int, recipe: list[Any]) -> list[Any]:
    """The prune / cluster steps a finalist's build runs after distillation (the config's own settings
    for those steps where it has them, with this candidate's sparsity and cluster count)."""
    own = {step.step: step for step in recipe}
    steps: list[Any] = []
    try:
        _add_steps(steps, own, sparsity, clusters)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"[search]: the recipe's prune/cluster step cannot take this candidate's settings "
                          f"({first['msg']})", hint="adjust the recipe step (e.g. initial_sparsity) or [search]") from None
    return steps


def _add_steps(steps: list[Any], own: dict[str, Any], sparsity: float, clusters: int) -> None:
    from edgekit.recipe import ClusterStep, PruneStep

    if sparsity:
        base = own.get("prune")
        if base is not None and base.m_by_n is not None:
            raise ConfigError("[search] sparsities with a recipe prune step that sets m_by_n: the m:n pattern fixes the "
                              "sparsity", hint="drop m_by_n from the prune step, or sparsities from [search]")
        steps.append(PruneStep.model_validate({**base.model_dump(), "final_sparsity": sparsity}) if base is not None
                     else PruneStep(step="prune", final_sparsity=sparsity, epochs=2, learning_rate=1e-4))
    if clusters:
        base = own.get("cluster")
        steps.append(ClusterStep.model_validate({**base.model_dump(), "clusters": clusters}) if base is not None
                     else ClusterStep(step="cluster", clusters=clusters, epochs=1, learning_rate=5e-5))
