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
    lr_schedule: Literal["constant", "cosine"] = Field("constant", json_schema_extra={"example": 'lr_schedule = "cosine"'})


class PruneStep(StepBase):
    step: Literal["prune"]
    schedule: Literal["polynomial", "constant"] = Field("polynomial", json_schema_extra={"example": 'schedule = "polynomial"'})
    initial_sparsity: float = Field(0.0, ge=0, lt=1, json_schema_extra={"example": "initial_sparsity = 0.0"})
    final_sparsity: float = Field(0.5, gt=0, lt=1, json_schema_extra={"example": "final_sparsity = 0.75"})
    begin_step: int = Field(0, ge=0, json_schema_extra={"example": "begin_step = 0"})
    end_step: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "end_step = 2000  # default: 2/3 of training"})
    frequency: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "frequency = 100  # default: fits the window"})
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


class DistillStep(StepBase):
    """Train a MobileNet-style student (or a given student file) on the teacher's soft outputs."""

    step: Literal["distill"]
    epochs: int = Field(15, ge=0, json_schema_extra={"example": "epochs = 15"})
    learning_rate: float = Field(3e-3, gt=0, json_schema_extra={"example": "learning_rate = 3e-3"})
    lr_schedule: Literal["constant", "cosine"] = Field("cosine", json_schema_extra={"example": 'lr_schedule = "cosine"'})
    alpha: float = Field(0.5, gt=0, le=4, json_schema_extra={"example": "alpha = 0.5  # width multiplier"})
    depth: int = Field(4, ge=1, le=12, json_schema_extra={"example": "depth = 4"})
    resolution: Optional[int] = Field(None, ge=8, json_schema_extra={"example": "resolution = 24  # resized inside the model"})
    block: Literal["separable", "inverted"] = Field("separable", json_schema_extra={"example": 'block = "inverted"'})
    student_path: Optional[str] = Field(None, json_schema_extra={"example": 'student_path = "student.keras"'})
    temperature: float = Field(4.0, gt=0, json_schema_extra={"example": "temperature = 4.0"})
    soft_weight: float = Field(0.9, ge=0, le=1, json_schema_extra={"example": "soft_weight = 0.9  # 0 = labels only"})
    hint_layers: Optional[tuple[str, str]] = Field(
        None, json_schema_extra={"example": 'hint_layers = ["re_lu_3", "block3_pw_relu6"]  # teacher, student'})
    hint_weight: float = Field(0.1, ge=0, json_schema_extra={"example": "hint_weight = 0.1"})


Step = Annotated[Union[DistillStep, PruneStep, ClusterStep, QatStep], Field(discriminator="step")]
STEP_NAMES = ("distill", "prune", "cluster", "qat")


def check_order(steps: list[StepBase]) -> None:
    """Each step at most once, in the order distill -> prune -> cluster -> qat (what TFMOT can preserve)."""
    names = [s.step for s in steps]  # type: ignore[attr-defined]
    for name in set(names):
        if names.count(name) > 1:
            raise ValueError(f"recipe lists step {name!r} twice; combine its settings into one step")
    ranks = [STEP_NAMES.index(n) for n in names]
    if ranks != sorted(ranks):
        raise ValueError(f"recipe order {' -> '.join(names)} is not supported; use distill -> prune -> cluster -> qat "
                         "(each later step preserves the earlier ones' structure)")


class SearchSection(BaseModel):
    @model_validator(mode="after")
    def _check(self) -> "SearchSection":
        if any(0 < r < 8 for r in self.resolutions):
            raise ValueError("resolutions are 0 (the data's own) or at least 8 pixels")
        if not (self.alphas and self.depths and self.resolutions and self.blocks):
            raise ValueError("alphas, resolutions, depths and blocks each need at least one value")
        return self

    """`[search]`: the student space and the successive-halving schedule of `edgekit search`."""
    model_config = ConfigDict(extra="forbid", validate_default=True)

    alphas: list[Annotated[float, Field(gt=0, le=4)]] = Field([0.25, 0.35, 0.5, 0.75], json_schema_extra={"example": "alphas = [0.25, 0.5]"})
    resolutions: list[Annotated[int, Field(ge=0)]] = Field([0], json_schema_extra={"example": "resolutions = [0, 24]  # 0: the data's own"})
    depths: list[Annotated[int, Field(ge=1, le=12)]] = Field([4], json_schema_extra={"example": "depths = [3, 4]"})
    blocks: list[Literal["separable", "inverted"]] = Field(["separable"], json_schema_extra={"example": 'blocks = ["separable", "inverted"]'})
    proxy_epochs: int = Field(1, ge=1, json_schema_extra={"example": "proxy_epochs = 1"})
    proxy_samples: int = Field(12000, ge=100, json_schema_extra={"example": "proxy_samples = 12000"})
    validation_samples: int = Field(5000, ge=100, json_schema_extra={"example": "validation_samples = 5000"})
    eta: int = Field(2, ge=2, json_schema_extra={"example": "eta = 2"})
    finalists: int = Field(2, ge=1, json_schema_extra={"example": "finalists = 2"})
    final_epochs: int = Field(15, ge=1, json_schema_extra={"example": "final_epochs = 15"})
