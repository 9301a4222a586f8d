"""The report as typed objects: `Report`, `Artifact`, `Parity`, `LatencyEntry`, `BudgetResult`.

`report.json` keeps its JSON contract (schema `edgekit.report/v1`): these models type the fields
other tools rely on and allow the rest (target-specific sections such as `coreml`, `delegates`,
`structure`), so every report edgekit writes validates against them. The JSON Schema in
`docs/report.schema.json` is generated from `Report` (`python -m edgekit.report.model`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def __getitem__(self, key: str) -> Any:
        """Dict-style reads (`report.recipe["steps"]`), as code written against report.json's dicts does."""
        if key == "schema" and "schema_" in type(self).model_fields:
            return getattr(self, "schema_")
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


class TensorInfo(_Open):
    name: str
    shape: list[Optional[int]]
    dtype: str


class Output(TensorInfo):
    kind: Optional[str] = Field(None, description="probabilities, logits or values")


class Reference(_Open):
    """The Keras model every artifact is compared with, measured on the eval split. (Reports written
    before edgekit 0.3 lack inputs/outputs; they still read.)"""
    path: str
    format: str
    params: int
    accuracy: Optional[float] = Field(None, description="fraction 0..1; null without class labels")
    eval_split: Optional[str] = None
    eval_samples: Optional[int] = None
    inputs: list[TensorInfo] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)
    label_output: Optional[str] = None
    class_names: list[str] = Field(default_factory=list)


class Parity(_Open):
    """How the artifact's outputs compare with the Keras model's on the same samples."""
    status: str = Field(description="passed, failed or not_verified (could not run here, e.g. Core ML on Linux)")
    relative_error: Optional[float] = None
    confident_top1_agreement: Optional[float] = None
    accuracy_loss: Optional[float] = Field(None, description="percentage points")
    max_abs_error: Optional[float] = None
    top1_agreement: Optional[float] = None
    samples: Optional[int] = None
    tolerance: Optional[dict[str, Any]] = None
    reason: Optional[str] = None


class LatencyEntry(_Open):
    where: str = Field(description="host, device or browser: never compare across them")
    runtime: Optional[str] = None
    threads: Any = None
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    runs: Any = None


class BudgetResult(_Open):
    name: str
    limit: Any = None
    actual: Any = None
    unit: Optional[str] = None
    passed: bool


class ArtifactError(_Open):
    reason: str
    exit_code: int


class TensorSize(_Open):
    tensor: str
    used_by: Optional[str] = Field(None, description="the op reading it and its output's layer name")
    shape: list[int]
    dtype: str
    bytes: int
    gzip_bytes: int = Field(description="the tensor gzipped alone: an estimate of its share of the download")
    share_of_bytes: float
    share_of_download: float
    stored: str = Field(description="dense or sparse (the .tflite's sparse format)")
    sparsity: Optional[float] = None
    unique_values: Optional[int] = None
    max_unique_per_channel: Optional[int] = None
    hint: Optional[str] = None


class SparseStorage(_Open):
    """How the converter's sparse encoding was tried on an artifact with mostly-zero weights."""
    zeros: float = Field(description="share of zero weights in the dense file's weight tensors")
    dense_bytes: int
    sparse_bytes: Optional[int] = Field(None, description="absent when the sparse conversion failed")
    ratio: Optional[float] = Field(None, description="sparse_bytes / dense_bytes")
    kept: Literal["sparse", "dense"] = Field(description="which file the artifact is")
    reason: str
    dense_load_ms: Optional[float] = None
    sparse_load_ms: Optional[float] = Field(None, description="LiteRT default path (XNNPACK), when it ran")
    xnnpack_fraction_dense: Optional[float] = Field(None, description="share of the dense file's ops XNNPACK runs")
    xnnpack_fraction_sparse: Optional[float] = Field(
        None, description="share of the sparse file's ops XNNPACK runs; LiteRT's built-in kernels run the rest")


class LowBitTensor(_Open):
    """One weight tensor that feeds a filter slot (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D)."""
    tensor: str
    op: str
    shape: list[int]
    bits: Literal[4, 8] = Field(description="how the shipped file stores it")
    distinct_per_channel: int = Field(description="most distinct values in one output channel (0: not read)")
    clustered: bool = Field(description="at most 16 values per channel, over enough weights per channel to tell")
    bytes: Optional[int] = Field(None, description="its bytes stored 8-bit")
    bytes_4bit: Optional[int] = Field(None, description="its bytes stored 4-bit (when the candidate did)")
    max_rounding: Optional[float] = Field(
        None, description="largest change of a weight on the 4-bit grid, as a share of its channel's largest")
    reason: str


class LowBitStorage(_Open):
    """How 4-bit storage of clustered filters was tried on an int8 or dynamic-range artifact."""
    ops: list[str] = Field(description="the ops whose filters may be stored 4-bit ([targets.android] low_bit)")
    clustered_filters: int = Field(0, description="filters with ≤ 16 values per channel (all of them, not only those listed)")
    filters_4bit: int = Field(0, description="filters the shipped file stores 4-bit")
    filters_tried_4bit: Optional[int] = Field(None, description="filters the refused 4-bit candidate stored 4-bit")
    bytes_8bit: int
    bytes_4bit: Optional[int] = None
    ratio: Optional[float] = Field(None, description="bytes_4bit / bytes_8bit")
    kept: Literal["4-bit", "8-bit"] = Field(description="which file the artifact is")
    reason: str
    accuracy_8bit: Optional[float] = None
    accuracy_4bit: Optional[float] = None
    load_ms_8bit: Optional[float] = None
    load_ms_4bit: Optional[float] = None
    xnnpack_fraction_8bit: Optional[float] = None
    xnnpack_fraction_4bit: Optional[float] = Field(
        None, description="share of the 4-bit file's ops XNNPACK runs; LiteRT's built-in kernels run the rest")
    tensors: list[LowBitTensor] = Field(default_factory=list, description="the largest weight tensors first")


class Artifact(_Open):
    target: str
    format: str
    precision: str
    path: str
    status: Optional[Literal["failed"]] = Field(None, description="present when the artifact could not be built")
    error: Optional[ArtifactError] = None
    bytes: Optional[int] = None
    gzip_bytes: Optional[int] = None
    params: Optional[int] = None
    accuracy: Optional[float] = Field(None, description="fraction 0..1")
    accuracy_drop: Optional[float] = Field(None, description="percentage points, reference minus artifact")
    shipped: bool = True
    sha256: Optional[str] = Field(None, description="over the artifact's files; `edgekit check --verify` recomputes it")
    reproducible: Optional[bool] = Field(None, description="false for formats that do not give the same bytes twice")
    sparse_storage: Optional[SparseStorage] = None
    low_bit_storage: Optional[LowBitStorage] = None
    size_breakdown: list[TensorSize] = Field(default_factory=list,
                                             description="largest weight tensors (shipped .tflite / TF.js artifacts)")
    parity: Optional[Parity] = None
    latency: list[LatencyEntry] = Field(default_factory=list)
    budgets: list[BudgetResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class TargetStatus(_Open):
    status: Literal["built", "failed"]
    reason: Optional[str] = Field(None, description="one line, when failed")
    exit_code: Optional[int] = Field(None, description="the documented exit code of the failure")
    kept_from: Optional[str] = Field(None, description="creation time of the build whose artifacts were kept")


class DataSubset(_Open):
    split: str
    samples: int
    sha256: str = Field(description="over the subset's arrays as the build saw them (dtype, shape, bytes)")


class Provenance(_Open):
    model_sha256: str = Field(description="sha256 of the model file (a SavedModel folder: of its files' bytes)")
    data: dict[str, DataSubset] = Field(default_factory=dict, description="eval and calibration subsets")


class RecipeStepEntry(_Open):
    step: str
    settings: dict[str, Any] = Field(default_factory=dict)
    seconds: Optional[float] = None
    resumed: bool = False
    history: list[dict[str, Any]] = Field(default_factory=list, description="per epoch: loss, accuracy, seconds")
    distributed: Optional[bool] = Field(
        None, description="trained under the run's tf.distribute strategy (set only when one ran; false: the chief alone)")


class TrainingPlan(_Open):
    kind: Literal["multi_worker", "mirrored"]
    workers: int = Field(description="processes training together (1 for mirrored)")
    replicas: int = Field(description="replicas in sync: workers, or GPUs for mirrored")
    strategy: str = Field(description="e.g. MultiWorkerMirroredStrategy, 2 workers")


class Recipe(_Open):
    steps: list[RecipeStepEntry] = Field(default_factory=list)
    quantization: Optional[str] = Field(None, description="QAT, PQAT, CQAT or PCQAT when the model is QAT-trained")
    keras_accuracy: Optional[float] = Field(None, description="the compressed Keras model's accuracy (fraction)")
    keras_accuracy_drop: Optional[float] = Field(None, description="percentage points below the original")
    distribute: Optional[TrainingPlan] = Field(None, description="present when training ran under tf.distribute")


class Report(_Open):
    """One build across all targets; `passed` is the CI gate."""
    schema_: Literal["edgekit.report/v1"] = Field("edgekit.report/v1", alias="schema")
    edgekit_version: str
    created: str
    passed: bool
    targets: list[str] = Field(default_factory=list)
    target_status: dict[str, TargetStatus] = Field(default_factory=dict)
    reference: Reference
    recipe: Optional[Recipe] = None
    provenance: Optional[Provenance] = None
    artifacts: list[Artifact]
    web_recommendation: Optional[dict[str, Any]] = None
    notes: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        return cls.model_validate(data)

    @classmethod
    def read(cls, path: str | Path) -> "Report":
        from edgekit.report import load_report

        return cls.from_dict(load_report(Path(path)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: the same keys `report.json` has (`schema` always first)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        data.pop("schema", None)
        return {"schema": self.schema_, **data}

    @property
    def exit_code(self) -> int:
        from edgekit.report import exit_code

        return exit_code(self.to_dict())

    def artifact(self, path: str) -> Artifact:
        """The artifact at `path` (relative to the build folder, e.g. "android/model_int8.tflite")."""
        for item in self.artifacts:
            if item.path == path:
                return item
        raise KeyError(f"no artifact {path!r}; the report has {', '.join(a.path for a in self.artifacts)}")

    def summary(self) -> str:
        """A few plain lines: the gate and one line per artifact."""
        lines = [f"edgekit report: {'PASSED' if self.passed else 'FAILED'} ({len(self.artifacts)} artifacts)"]
        for item in self.artifacts:
            if item.status == "failed":
                lines.append(f"  {item.path}: failed — {item.error.reason if item.error else 'not built'}")
                continue
            accuracy = "—" if item.accuracy is None else f"{100 * item.accuracy:.2f} %"
            parity = item.parity.status if item.parity else "—"
            budgets = "not gated" if not item.budgets else ("ok" if all(b.passed for b in item.budgets) else "EXCEEDED")
            lines.append(f"  {item.path}: {item.bytes or 0:,} B, accuracy {accuracy}, parity {parity}, budgets {budgets}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:  # notebooks
        from edgekit.report.markdown import render

        return render(self.to_dict())


def schema_of(model: type[BaseModel], name: str) -> dict[str, Any]:
    """The JSON Schema of a document model, with its published id (`name`: e.g. edgekit.report.v1)."""
    schema = model.model_json_schema(by_alias=True)
    schema["$id"] = f"https://edgekit.dev/schemas/{name}.json"
    return schema


def write_schema(schema: dict[str, Any], file_name: str) -> None:
    """Regenerate docs/<file_name> (`python -m edgekit.report.model` / `python -m edgekit.report.check_model`)."""
    target = Path(__file__).resolve().parents[2] / "docs" / file_name
    target.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


def json_schema() -> dict[str, Any]:
    return schema_of(Report, "edgekit.report.v1")


if __name__ == "__main__":
    write_schema(json_schema(), "report.schema.json")
