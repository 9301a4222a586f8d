"""Recipe steps: the training-time compression a config asks for, in order.

Schemas only (pydantic, no TensorFlow): `edgekit.compress` applies them. Each step fine-tunes the
model on the dataset's training split with its own epochs, learning rate and batch size.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StepBase(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    epochs: int = Field(2, ge=0, json_schema_extra={"example": "epochs = 2"})
    learning_rate: float = Field(1e-4, gt=0, json_schema_extra={"example": "learning_rate = 1e-4"})
    batch_size: int = Field(128, ge=1, json_schema_extra={"example": "batch_size = 128"})
    layers: list[str] = Field(["*"], json_schema_extra={"example": 'layers = ["conv*", "dense*"]  # name globs'})
    layer_types: list[str] = Field(default_factory=list, json_schema_extra={"example": 'layer_types = ["Conv2D", "Dense"]'})
    exclude: list[str] = Field(default_factory=list, json_schema_extra={"example": 'exclude = ["probs"]'})
    strict: bool = Field(False, json_schema_extra={"example": "strict = true  # unsupported layers become errors"})


class PruneStep(StepBase):
    step: Literal["prune"]
    schedule: Literal["polynomial", "constant"] = Field("polynomial", json_schema_extra={"example": 'schedule = "polynomial"'})
    initial_sparsity: float = Field(0.0, ge=0, lt=1, json_schema_extra={"example": "initial_sparsity = 0.0"})
    final_sparsity: float = Field(0.5, gt=0, lt=1, json_schema_extra={"example": "final_sparsity = 0.75"})
    begin_step: int = Field(0, ge=0, json_schema_extra={"example": "begin_step = 0"})
    end_step: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "end_step = 2000  # default: 2/3 of training"})
    frequency: int = Field(100, ge=1, json_schema_extra={"example": "frequency = 100"})
    m_by_n: Optional[tuple[int, int]] = Field(None, json_schema_extra={"example": "m_by_n = [2, 4]  # structured 2:4"})

    @model_validator(mode="after")
    def _check(self) -> "PruneStep":
        if self.schedule == "polynomial" and self.initial_sparsity >= self.final_sparsity:
            raise ValueError("initial_sparsity must be below final_sparsity for the polynomial schedule")
        if self.m_by_n is not None:
            m, n = self.m_by_n
            if not 0 < m < n:
                raise ValueError(f"m_by_n = {list(self.m_by_n)} must keep m of every n weights with 0 < m < n, e.g. [2, 4]")
        if self.end_step is not None and self.end_step <= self.begin_step:
            raise ValueError("end_step must be after begin_step")
        return self


class ClusterStep(StepBase):
    step: Literal["cluster"]
    clusters: int = Field(16, ge=2, le=256, json_schema_extra={"example": "clusters = 16"})
    init: Literal["kmeans++", "linear", "density", "random"] = Field(
        "kmeans++", json_schema_extra={"example": 'init = "kmeans++"'})
    per_channel: bool = Field(False, json_schema_extra={"example": "per_channel = true  # Conv2D only"})
    preserve_sparsity: Optional[bool] = Field(
        None, json_schema_extra={"example": "preserve_sparsity = true  # default: true after prune"})


class QatStep(StepBase):
    step: Literal["qat"]


Step = Annotated[Union[PruneStep, ClusterStep, QatStep], Field(discriminator="step")]
STEP_NAMES = ("prune", "cluster", "qat")


def check_order(steps: list[StepBase]) -> None:
    """Each step at most once, in the order prune -> cluster -> qat (what TFMOT can preserve)."""
    names = [s.step for s in steps]  # type: ignore[attr-defined]
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"recipe lists step {name!r} twice; combine its settings into one step")
    ranks = [STEP_NAMES.index(n) for n in names]
    if ranks != sorted(ranks):
        raise ValueError(f"recipe order {' -> '.join(names)} is not supported; use prune -> cluster -> qat "
                         "(each later step preserves the earlier ones' structure)")
