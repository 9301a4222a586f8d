"""The three TFMOT-backed steps: build the wrapped model, the callbacks, and strip afterwards."""
from __future__ import annotations

from typing import Any, Optional

from edgekit.compress.select import NOT_APPLICABLE, plan, wrap
from edgekit.recipe import ClusterStep, PruneStep, QatStep

KERNEL_WORDS = ("kernel", "embeddings")


def _tfmot() -> Any:
    from edgekit.tfenv import tensorflow

    tensorflow()
    import tensorflow_model_optimization as tfmot

    return tfmot


def _has_kernel(layer: Any) -> bool:
    return any(word in w.name for w in layer.weights for word in KERNEL_WORDS)


# --------------------------------------------------------------------------- prune

def prune_support(layer: Any) -> Optional[str]:
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

    tfmot = _tfmot()
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return None
    if not prune_registry.PruneRegistry.supports(layer):
        return "TFMOT pruning does not support this layer type"
    if not prune_registry.PruneRegistry._LAYERS_WEIGHTS_MAP.get(layer.__class__):
        return "TFMOT pruning leaves this layer type's kernel dense" if _has_kernel(layer) else NOT_APPLICABLE
    return None


def apply_prune(model: Any, step: PruneStep, *, total_steps: int) -> tuple[Any, list[dict], list[Any]]:
    tfmot = _tfmot()
    sparsity = tfmot.sparsity.keras
    end = step.end_step or max(step.begin_step + 1, int(total_steps * 2 / 3))
    window = (end if step.schedule == "polynomial" else total_steps) - step.begin_step  # constant: to the end
    frequency = step.frequency or max(1, min(100, window // 10))  # default: about ten pruning updates
    if step.begin_step >= total_steps or frequency > max(window, 1) or window < 1:
        from edgekit.errors import ConfigError

        raise ConfigError(f"prune: with {total_steps} training steps the pruning window is steps "
                          f"{step.begin_step}..{end}, which frequency = {frequency} never reaches twice",
                          hint="lower frequency / begin_step, raise epochs, or leave frequency unset")
    if step.schedule == "constant":
        schedule = sparsity.ConstantSparsity(step.final_sparsity, step.begin_step, frequency=frequency)
    else:
        schedule = sparsity.PolynomialDecay(step.initial_sparsity, step.final_sparsity, step.begin_step, end,
                                            frequency=frequency)
    kwargs = {"pruning_schedule": schedule}
    if step.m_by_n is not None:
        kwargs["sparsity_m_by_n"] = tuple(step.m_by_n)
    chosen, coverage = plan(model, step, prune_support)
    wrapped = wrap(model, chosen, lambda layer: sparsity.prune_low_magnitude(layer, **kwargs))
    return wrapped, coverage, [sparsity.UpdatePruningStep()]


def strip_prune(model: Any) -> Any:
    return _tfmot().sparsity.keras.strip_pruning(model)


# --------------------------------------------------------------------------- cluster

def cluster_support(layer: Any, *, per_channel: bool = False) -> Optional[str]:
    from tensorflow_model_optimization.python.core.clustering.keras import clustering_registry

    if not clustering_registry.ClusteringRegistry.supports(layer):
        return "TFMOT clustering does not support this layer type"
    if not clustering_registry.ClusteringRegistry._LAYERS_WEIGHTS_MAP.get(layer.__class__):
        return "TFMOT clustering leaves this layer type's kernel unclustered" if _has_kernel(layer) else NOT_APPLICABLE
    if per_channel and type(layer).__name__ != "Conv2D":
        return "per-channel clustering is only available for Conv2D"
    return None


_INIT = {"kmeans++": "KMEANS_PLUS_PLUS", "linear": "LINEAR", "density": "DENSITY_BASED", "random": "RANDOM"}


def apply_cluster(model: Any, step: ClusterStep, *, after_prune: bool) -> tuple[Any, list[dict], list[Any]]:
    tfmot = _tfmot()
    clustering = tfmot.clustering.keras
    preserve = step.preserve_sparsity if step.preserve_sparsity is not None else after_prune
    init = getattr(clustering.CentroidInitialization, _INIT[step.init])
    chosen, coverage = plan(model, step, lambda layer: cluster_support(layer, per_channel=step.per_channel))

    def wrapper(layer: Any) -> Any:
        return clustering.cluster_weights(layer, number_of_clusters=step.clusters, cluster_centroids_init=init,
                                          preserve_sparsity=preserve, cluster_per_channel=step.per_channel)

    return wrap(model, chosen, wrapper), coverage, []


def strip_cluster(model: Any) -> Any:
    return _tfmot().clustering.keras.strip_clustering(model)


# --------------------------------------------------------------------------- qat

def qat_scheme(*, after_prune: bool, after_cluster: bool) -> tuple[Any, str]:
    """The preserving scheme: PQAT after pruning, CQAT after clustering, PCQAT after both."""
    tfmot = _tfmot()
    combine = tfmot.experimental.combine
    if after_cluster:
        scheme = combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=after_prune)
        return _SupportedOnly(scheme), ("PCQAT" if after_prune else "CQAT")
    if after_prune:
        return combine.Default8BitPrunePreserveQuantizeScheme(), "PQAT"
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme(), "QAT"


class _SupportedOnly:
    """A scheme whose registry claims only the layers the 8-bit registry can configure.

    TFMOT's cluster-preserving registry says it supports any layer whose output feeds a quantized
    one (e.g. a `Rescaling` after the input), then fails to configure it ("get_quantize_config()
    called on an unsupported layer"); such a layer is simply left unquantized, as with plain QAT."""

    def __init__(self, scheme: Any):
        self._scheme = scheme

    def get_layout_transformer(self) -> Any:
        return self._scheme.get_layout_transformer()

    def get_quantize_registry(self) -> Any:
        return _SupportedRegistry(self._scheme.get_quantize_registry())


class _SupportedRegistry:
    def __init__(self, registry: Any):
        from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
            default_8bit_quantize_registry as default_8bit)

        self._registry, self._default = registry, default_8bit.Default8BitQuantizeRegistry()

    def supports(self, layer: Any) -> bool:
        return self._registry.supports(layer) and self._default.supports(layer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)


def apply_qat(model: Any, step: QatStep, *, after_prune: bool, after_cluster: bool) -> tuple[Any, list[dict], str]:
    """Annotate the selected layers and apply; layers the scheme rejects are dropped one by one."""
    import re

    tfmot = _tfmot()
    quant = tfmot.quantization.keras
    scheme, name = qat_scheme(after_prune=after_prune, after_cluster=after_cluster)
    chosen, coverage = plan(model, step, lambda layer: None)
    by_name = {entry["layer"]: entry for entry in coverage}
    for _ in range(len(model.layers) + 1):
        annotated = wrap(model, chosen, quant.quantize_annotate_layer)
        try:
            with quant.quantize_scope():
                return quant.quantize_apply(annotated, scheme), coverage, name
        except (RuntimeError, ValueError) as err:
            found = re.search(r"Layer (\S+?):", str(err))
            if not found or found.group(1) not in chosen:
                raise
            rejected = found.group(1)
            chosen.discard(rejected)
            by_name[rejected].update(status="skipped", reason="the 8-bit QAT scheme does not support this layer")
            if step.strict:
                from edgekit.errors import UnsupportedModelError

                raise UnsupportedModelError(f"qat: layer {rejected!r} cannot be quantization-aware trained",
                                            hint="exclude it or set strict = false") from None
    raise RuntimeError("qat: could not find a quantizable set of layers")
