"""Which layers a step touches, and a coverage entry for every layer with weights.

Layers a step cannot handle are left as they are and listed with the reason; with
`strict = true` they become an error instead.
"""
from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Callable, Optional

from edgekit.errors import UnsupportedModelError

if TYPE_CHECKING:  # annotations only: importing edgekit.recipe here would be circular
    from edgekit.recipe.base import StepBase

# support(layer) -> None when the step can handle it, else the reason it cannot;
# "not_applicable" for layers that have weights but are not a target of the step (BatchNorm).
Support = Callable[[Any], Optional[str]]
NOT_APPLICABLE = "not_applicable"
KERNEL_WORDS = ("kernel", "embeddings")


def has_kernel(layer: Any) -> bool:
    """Whether the layer has a kernel-like weight (what pruning and clustering compress)."""
    return any(word in w.name for w in layer.weights for word in KERNEL_WORDS)


def matches(layer: Any, step: StepBase) -> bool:
    name, kind = layer.name, type(layer).__name__
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in step.layers):
        return False
    if step.layer_types and kind not in step.layer_types:
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in step.exclude)


def plan(model: Any, step: StepBase, support: Support) -> tuple[set[str], list[dict[str, Any]]]:
    """(names of layers to wrap, coverage entries). Raises in strict mode if a chosen layer is unsupported."""
    chosen: set[str] = set()
    coverage: list[dict[str, Any]] = []
    for layer in model.layers:
        if not layer.weights:
            continue
        entry = {"layer": layer.name, "type": type(layer).__name__}
        reason = support(layer)
        if not matches(layer, step):
            entry.update(status="excluded", reason="not selected by layers / layer_types / exclude")
        elif reason == NOT_APPLICABLE:
            entry.update(status="not_applicable", reason=f"{step.step} has no target weights in this layer")
        elif reason is not None:
            entry.update(status="skipped", reason=reason)
        else:
            entry.update(status="applied")
            chosen.add(layer.name)
        coverage.append(entry)
    skipped = [e for e in coverage if e["status"] == "skipped"]
    if skipped and step.strict:
        first = skipped[0]
        raise UnsupportedModelError(
            f"{step.step}: layer {first['layer']!r} ({first['type']}) cannot be handled: {first['reason']}"
            + (f" (+{len(skipped) - 1} more)" if len(skipped) > 1 else ""),
            hint="exclude it (exclude = [...]) or set strict = false to leave it uncompressed")
    if not chosen:
        raise UnsupportedModelError(f"{step.step}: no layer of the model was selected",
                                    hint="check the step's layers / layer_types / exclude patterns")
    return chosen, coverage


def wrap(model: Any, chosen: set[str], wrapper: Callable[[Any], Any]) -> Any:
    """A copy of the model with the chosen layers wrapped; the original model is left untouched."""
    from edgekit.tfenv import keras

    k = keras()
    copy = k.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return k.models.clone_model(copy, clone_function=lambda layer: wrapper(layer) if layer.name in chosen else layer)
