"""What every recipe step is: its settings (a pydantic model, no TensorFlow) and one interface.

A step module (`edgekit/recipe/<name>.py`) defines `Settings` (a `StepBase` subclass whose `step`
field is `Literal["<name>"]`) and `STEP`, a `RecipeStep` with its place in the order. The registry
(`edgekit/recipe/__init__.py`) lists the modules; the config, the order check and the training
loop (`edgekit/compress/run.py`) read it, and nothing else names a step.

The loop calls, for each configured step in order:
    prepared = STEP.prepare(model, settings, ctx)   # wrap the model (or build a student)
    fine_tune(prepared.train_model, ...)            # the shared loop: checkpoints, resume, progress
    model = STEP.finish(prepared, settings, ctx)    # strip the training wrappers
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class StepBase(BaseModel):
    """Settings every step has: fine-tuning epochs, learning rate and batch size, and the layers it touches."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    epochs: int = Field(2, ge=0, json_schema_extra={"example": "epochs = 2"})
    learning_rate: float = Field(1e-4, gt=0, json_schema_extra={"example": "learning_rate = 1e-4"})
    batch_size: int = Field(128, ge=1, json_schema_extra={"example": "batch_size = 128"})
    layers: list[str] = Field(["*"], json_schema_extra={"example": 'layers = ["conv*", "dense*"]  # name globs'})
    layer_types: list[str] = Field(default_factory=list, json_schema_extra={"example": 'layer_types = ["Conv2D", "Dense"]'})
    exclude: list[str] = Field(default_factory=list, json_schema_extra={"example": 'exclude = ["probs"]'})
    strict: bool = Field(False, json_schema_extra={"example": "strict = true  # unsupported layers become errors"})
    lr_schedule: Literal["constant", "cosine"] = Field("constant", json_schema_extra={"example": 'lr_schedule = "cosine"'})


@dataclass
class StepContext:
    """What a step may know about the run: the training data, the steps done before it, the schedule."""

    x: Any  # training inputs (numpy)
    y: Any  # training labels
    total_steps: int  # optimizer steps this step's fine-tuning will take
    done: list[str]  # names of the steps already applied, in order
    seed: int
    say: Callable[[str], None] = print
    stage: Optional[Callable[[str], Any]] = None  # progress.stage(label) context manager, for long preparations


@dataclass
class Prepared:
    """A step's model ready to fine-tune, and what the report should say about it."""

    train_model: Any  # what fit() trains
    coverage: Optional[list[dict[str, Any]]] = None  # one entry per layer with weights (None: not layer-wise)
    callbacks: list[Any] = field(default_factory=list)
    targets: Any = None  # y for fit(); None = the labels
    loss: Any = None  # None = the classifier loss of the model being compressed
    metrics: Any = None
    loss_weights: Any = None
    record: dict[str, Any] = field(default_factory=dict)  # extra fields of the report's step entry
    state: Any = None  # whatever finish() needs


class RecipeStep:
    """One training-time compression step. Subclasses set the class attributes and implement both methods."""

    name: ClassVar[str]
    order: ClassVar[int]  # steps run in increasing order; each later step preserves the earlier ones' structure
    settings: ClassVar[type[StepBase]]
    summary: ClassVar[str]  # one line for the docs and `--help`
    replaces_model: ClassVar[bool] = False  # a new model (a student): losses are re-derived from it afterwards
    keeps_wrappers: ClassVar[bool] = False  # the model stays wrapped after finish (QAT): structure is read before
    distributed: ClassVar[bool] = True  # trains under a tf.distribute strategy when one runs (else: the chief alone)
    not_distributed_reason: ClassVar[str] = ""

    def prepare(self, model: Any, settings: Any, ctx: StepContext) -> Prepared:
        raise NotImplementedError

    def finish(self, prepared: Prepared, settings: Any, ctx: StepContext) -> Any:
        return prepared.train_model
