"""cluster: weight clustering (TFMOT `cluster_weights`), sparsity-preserving after prune, then stripped."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from edgekit.compress.select import NOT_APPLICABLE, has_kernel, plan, wrap
from edgekit.lazy import clustering_registry, tfmot
from edgekit.recipe.base import Prepared, RecipeStep, StepBase, StepContext


class ClusterStep(StepBase):
    step: Literal["cluster"]
    clusters: int = Field(16, ge=2, le=256, json_schema_extra={"example": "clusters = 16"})
    init: Literal["kmeans++", "linear", "density", "random"] = Field(
        "kmeans++", json_schema_extra={"example": 'init = "kmeans++"'})
    per_channel: bool = Field(False, json_schema_extra={"example": "per_channel = true  # Conv2D only"})
    preserve_sparsity: Optional[bool] = Field(
        None, json_schema_extra={"example": "preserve_sparsity = true  # default: true after prune"})


def cluster_support(layer: Any, *, per_channel: bool = False) -> Optional[str]:
    if not clustering_registry.ClusteringRegistry.supports(layer):
        return "TFMOT clustering does not support this layer type"
    if not clustering_registry.ClusteringRegistry._LAYERS_WEIGHTS_MAP.get(layer.__class__):
        return "TFMOT clustering leaves this layer type's kernel unclustered" if has_kernel(layer) else NOT_APPLICABLE
    if per_channel and type(layer).__name__ != "Conv2D":
        return "per-channel clustering is only available for Conv2D"
    return None


_INIT = {"kmeans++": "KMEANS_PLUS_PLUS", "linear": "LINEAR", "density": "DENSITY_BASED", "random": "RANDOM"}


def apply_cluster(model: Any, step: ClusterStep, *, after_prune: bool) -> tuple[Any, list[dict], list[Any]]:
    clustering = tfmot.clustering.keras
    preserve = step.preserve_sparsity if step.preserve_sparsity is not None else after_prune
    init = getattr(clustering.CentroidInitialization, _INIT[step.init])
    chosen, coverage = plan(model, step, lambda layer: cluster_support(layer, per_channel=step.per_channel))

    def wrapper(layer: Any) -> Any:
        return clustering.cluster_weights(layer, number_of_clusters=step.clusters, cluster_centroids_init=init,
                                          preserve_sparsity=preserve, cluster_per_channel=step.per_channel)

    return wrap(model, chosen, wrapper), coverage, []


def strip_cluster(model: Any) -> Any:
    return tfmot.clustering.keras.strip_clustering(model)


class Cluster(RecipeStep):
    name, order, settings = "cluster", 30, ClusterStep
    summary = "weight clustering to `clusters` shared values per kernel (sparsity kept after prune)"

    def prepare(self, model: Any, settings: ClusterStep, ctx: StepContext) -> Prepared:
        wrapped, coverage, callbacks = apply_cluster(model, settings, after_prune="prune" in ctx.done)
        return Prepared(train_model=wrapped, coverage=coverage, callbacks=callbacks)

    def finish(self, prepared: Prepared, settings: ClusterStep, ctx: StepContext) -> Any:
        return strip_cluster(prepared.train_model)


STEP = Cluster()
