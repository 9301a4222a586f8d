"""distill: train a MobileNet-style student (or a given student file) on the teacher's soft outputs.

The training itself is `edgekit.compress.distill` (students in `compress/students.py`); this module
holds the step's settings and plugs it into the recipe. Distillation comes first: the steps after it
compress the student.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from edgekit.recipe.base import Prepared, RecipeStep, StepBase, StepContext


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


class Distill(RecipeStep):
    name, order, settings = "distill", 10, DistillStep
    summary = "knowledge distillation into a MobileNet-style student (width, depth, resolution, block)"
    replaces_model = True

    def prepare(self, model: Any, settings: DistillStep, ctx: StepContext) -> Prepared:
        import contextlib

        from edgekit.compress import distill

        stage = ctx.stage(f"distill: teacher outputs on {len(ctx.x):,} training images") if ctx.stage else \
            contextlib.nullcontext()
        with stage:
            plan = distill.setup(model, settings, x=ctx.x, y=ctx.y, seed=ctx.seed)
        ctx.say(f"  distill: student {plan.description['student']} ({plan.description['params']:,} parameters)")
        return Prepared(train_model=plan.train_model, targets=plan.targets, loss=plan.loss, metrics=plan.metrics,
                        loss_weights=plan.loss_weights, record=dict(plan.description), state=plan.student)

    def finish(self, prepared: Prepared, settings: DistillStep, ctx: StepContext) -> Any:
        return prepared.state  # the student as shipped (ends in softmax), trained through train_model


STEP = Distill()
