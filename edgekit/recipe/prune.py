"""prune: magnitude pruning with a schedule (TFMOT `prune_low_magnitude`), then stripped to plain layers."""
from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from edgekit.compress.select import NOT_APPLICABLE, has_kernel, plan, wrap
from edgekit.errors import ConfigError
from edgekit.lazy import prune_registry, tfmot
from edgekit.recipe.base import Prepared, RecipeStep, StepBase, StepContext


class PruneStep(StepBase):
    step: Literal["prune"]
    schedule: Literal["polynomial", "constant"] = Field("polynomial", json_schema_extra={"example": 'schedule = "polynomial"'})
    initial_sparsity: float = Field(0.0, ge=0, lt=1, json_schema_extra={"example": "initial_sparsity = 0.0"})
    final_sparsity: float = Field(0.5, gt=0, lt=1, json_schema_extra={"example": "final_sparsity = 0.75"})
    begin_step: int = Field(0, ge=0, json_schema_extra={"example": "begin_step = 0"})
    end_step: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "end_step = 2000  # default: 2/3 of training"})
    frequency: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "frequency = 100  # default: fits the window"})
    m_by_n: Optional[tuple[int, int]] = Field(None, json_schema_extra={"example": "m_by_n = [2, 4]  # structured 2:4"})
    block: Optional[tuple[int, int]] = Field(
        None, json_schema_extra={"example": "block = [16, 1]  # Dense kernels pruned in blocks: int8 .tflite stored sparse"})

    @model_validator(mode="after")
    def _check(self) -> "PruneStep":
        if self.schedule == "polynomial" and self.initial_sparsity >= self.final_sparsity:
            raise ValueError("initial_sparsity must be below final_sparsity for the polynomial schedule")
        if self.m_by_n is not None:
            m, n = self.m_by_n
            if not 0 < m < n:
                raise ValueError(f"m_by_n = {list(self.m_by_n)} must keep m of every n weights with 0 < m < n, e.g. [2, 4]")
        if self.block is not None:
            if self.m_by_n is not None:
                raise ValueError("choose one of block and m_by_n")
            if min(self.block) < 1 or max(self.block) > 256 or self.block == (1, 1):
                raise ValueError(f"block = {list(self.block)}: use [rows, columns] of the Dense kernel, 1..256, "
                                 "e.g. [16, 1] (16 inputs of one output: LiteRT's int8 sparse blocks)")
        if self.end_step is not None and self.end_step <= self.begin_step:
            raise ValueError("end_step must be after begin_step")
        return self


def prune_support(layer: Any) -> Optional[str]:
    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return None
    if not prune_registry.PruneRegistry.supports(layer):
        return "TFMOT pruning does not support this layer type"
    if not prune_registry.PruneRegistry._LAYERS_WEIGHTS_MAP.get(layer.__class__):
        return "TFMOT pruning leaves this layer type's kernel dense" if has_kernel(layer) else NOT_APPLICABLE
    return None


def apply_prune(model: Any, step: PruneStep, *, total_steps: int) -> tuple[Any, list[dict], list[Any]]:
    sparsity = tfmot.sparsity.keras
    end = step.end_step or max(step.begin_step + 1, int(total_steps * 2 / 3))
    window = (end if step.schedule == "polynomial" else total_steps) - step.begin_step  # constant: to the end
    frequency = step.frequency or max(1, min(100, window // 10))  # default: about ten pruning updates
    if step.begin_step >= total_steps or frequency > max(window, 1) or window < 1:
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
    wrapped = wrap(model, chosen, lambda layer: sparsity.prune_low_magnitude(layer, **kwargs, **_block(layer, step)))
    if step.block is not None:
        for entry in coverage:
            if entry["status"] == "applied":
                entry["block"] = list(step.block) if _block(model.get_layer(entry["layer"]), step) else None
    return wrapped, coverage, [sparsity.UpdatePruningStep()]


def _block(layer: Any, step: PruneStep) -> dict[str, Any]:
    """Block pruning for layers whose pruned weights are all 2-D (TFMOT refuses blocks elsewhere: convolutions
    are pruned weight by weight)."""
    if step.block is None:
        return {}
    from edgekit.compress.facts import kernels

    weights = kernels(layer)
    return {"block_size": tuple(step.block)} if weights and all(len(w.shape) == 2 for w in weights) else {}


def strip_prune(model: Any) -> Any:
    return tfmot.sparsity.keras.strip_pruning(model)


def check_sparsity(model: Any, coverage: list[dict[str, Any]], step: PruneStep, say: Any) -> None:
    """Record each pruned layer's measured sparsity; say so when it falls short of the target."""
    from edgekit.compress.facts import kernels

    for entry in coverage:
        if entry["status"] != "applied":
            continue
        values = np.concatenate([np.asarray(w.numpy()).ravel() for w in kernels(model.get_layer(entry["layer"]))])
        entry["measured_sparsity"] = round(float(np.mean(values == 0)), 4)
        if entry["measured_sparsity"] < step.final_sparsity - 0.05:
            entry["warning"] = f"sparsity {entry['measured_sparsity']:.2f} below the target {step.final_sparsity:.2f}"
            say(f"[yellow]warning:[/] prune {entry['layer']}: {entry['warning']}")


class Prune(RecipeStep):
    name, order, settings = "prune", 20, PruneStep
    summary = "magnitude pruning to final_sparsity on a polynomial or constant schedule (optionally m:n)"

    def prepare(self, model: Any, settings: PruneStep, ctx: StepContext) -> Prepared:
        wrapped, coverage, callbacks = apply_prune(model, settings, total_steps=ctx.total_steps)
        return Prepared(train_model=wrapped, coverage=coverage, callbacks=callbacks)

    def finish(self, prepared: Prepared, settings: PruneStep, ctx: StepContext) -> Any:
        stripped = strip_prune(prepared.train_model)
        check_sparsity(stripped, prepared.coverage or [], settings, ctx.say)
        return stripped


STEP = Prune()
