"""qat: quantization-aware training with the scheme that preserves what earlier steps trained.

QAT after nothing, PQAT after prune, CQAT after cluster, PCQAT after both (TFMOT's collaborative
optimization schemes). The model stays wrapped: the converters read the trained quantization ranges.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from edgekit.compress.select import plan, wrap
from edgekit.errors import UnsupportedModelError
from edgekit.lazy import default_8bit_registry, tfmot
from edgekit.recipe.base import Prepared, RecipeStep, StepBase, StepContext


class QatStep(StepBase):
    step: Literal["qat"]


def qat_scheme(*, after_prune: bool, after_cluster: bool) -> tuple[Any, str]:
    """The preserving scheme: PQAT after pruning, CQAT after clustering, PCQAT after both."""
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
        self._registry, self._default = registry, default_8bit_registry.Default8BitQuantizeRegistry()

    def supports(self, layer: Any) -> bool:
        return self._registry.supports(layer) and self._default.supports(layer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)


def apply_qat(model: Any, step: QatStep, *, after_prune: bool, after_cluster: bool) -> tuple[Any, list[dict], str]:
    """Annotate the selected layers and apply; layers the scheme rejects are dropped one by one."""
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
                raise UnsupportedModelError(f"qat: layer {rejected!r} cannot be quantization-aware trained",
                                            hint="exclude it or set strict = false") from None
    raise RuntimeError("qat: could not find a quantizable set of layers")


class Qat(RecipeStep):
    name, order, settings = "qat", 40, QatStep
    summary = "quantization-aware training (int8), preserving pruning and clustering (PQAT / CQAT / PCQAT)"
    keeps_wrappers = True
    distributed = False
    not_distributed_reason = ("TFMOT's quantizers keep their min/max ranges per replica, so under a strategy the "
                              "workers learn different ranges (measured: weights 0.06 apart after 2 epochs)")

    def prepare(self, model: Any, settings: QatStep, ctx: StepContext) -> Prepared:
        wrapped, coverage, name = apply_qat(model, settings, after_prune="prune" in ctx.done,
                                            after_cluster="cluster" in ctx.done)
        return Prepared(train_model=wrapped, coverage=coverage, record={"scheme": name})


STEP = Qat()
