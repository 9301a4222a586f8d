"""Recipe steps: the training-time compression a config asks for, in order — one registry.

Each step is a module here (`distill`, `prune`, `cluster`, `qat`) with its settings class (pydantic,
no TensorFlow) and a `RecipeStep` (`edgekit/recipe/base.py`) that declares its place in the order.
The config's `[[recipe]]` union, the order check and the training loop (`edgekit/compress/run.py`)
read `STEPS`; adding a step is one module and one line in `_MODULES` (README: "Adding a recipe step").
"""
from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from edgekit.recipe import cluster, distill, prune, qat
from edgekit.recipe.base import Prepared, RecipeStep, StepBase, StepContext
from edgekit.recipe.cluster import ClusterStep
from edgekit.recipe.distill import DistillStep
from edgekit.recipe.prune import PruneStep
from edgekit.recipe.qat import QatStep
from edgekit.recipe.search_space import SearchSection

_MODULES = (distill, prune, cluster, qat)
STEPS: dict[str, RecipeStep] = {m.STEP.name: m.STEP for m in sorted(_MODULES, key=lambda m: m.STEP.order)}
STEP_NAMES = tuple(STEPS)  # in recipe order

Step = Annotated[Union[tuple(step.settings for step in STEPS.values())], Field(discriminator="step")]  # type: ignore[valid-type]

__all__ = ["STEPS", "STEP_NAMES", "Step", "StepBase", "RecipeStep", "Prepared", "StepContext", "check_order",
           "DistillStep", "PruneStep", "ClusterStep", "QatStep", "SearchSection"]


def check_order(steps: list[StepBase]) -> None:
    """Each step at most once, in the order the steps declare (each later one preserves the earlier ones)."""
    names = [s.step for s in steps]  # type: ignore[attr-defined]
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"recipe lists step {name!r} twice; combine its settings into one step")
    ranks = [STEPS[n].order for n in names]
    if ranks != sorted(ranks):
        raise ValueError(f"recipe order {' -> '.join(names)} is not supported; use {' -> '.join(STEP_NAMES)} "
                         "(each later step preserves the earlier ones' structure)")
