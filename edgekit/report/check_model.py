"""The `edgekit.check/v1` document that `edgekit check --format json` and `edgekit diff --format json`
print (built by `edgekit.diff.compare`). Its JSON Schema is `docs/check.schema.json`
(`python -m edgekit.report.check_model` regenerates it; a test checks every document against it).
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from edgekit.report.model import schema_of, write_schema


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Change(_Closed):
    base: Optional[float] = Field(description="the baseline's value (null: not measured there, or no baseline)")
    current: Optional[float]
    change: Optional[float] = Field(description="current - base, in the value's unit")
    relative: Optional[float] = Field(description="change / base (0.021 = +2.1 %); null when base is 0 or missing")


class LatencyChange(_Closed):
    where: Optional[str] = Field(description="host, device or browser: only the same place is compared")
    runtime: Optional[str]
    backend: Optional[str]
    threads: Any
    p50_ms: Change


class BudgetEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    limit: Any = None
    actual: Any = None
    unit: Optional[str] = None
    passed: bool
    baseline: Optional[bool] = Field(None, description="true for a budget of change (needs --baseline)")


class Row(_Closed):
    target: str
    format: str
    precision: str
    path: Optional[str]
    status: Literal["matched", "added", "removed", "current"] = Field(
        description="matched/added/removed against the baseline; current without one")
    shipped: bool
    failed: bool = Field(description="the artifact could not be built")
    bytes: Optional[Change]
    gzip_bytes: Optional[Change]
    brotli_bytes: Optional[Change]
    accuracy: Optional[Change] = Field(description="percent")
    latency: list[LatencyChange]
    budgets: list[BudgetEntry]
    passed: bool


class FailedBudget(BudgetEntry):
    artifact: Optional[str]


class Source(_Closed):
    path: Optional[str]
    created: Optional[str]
    edgekit_version: Optional[str]


class CheckDocument(_Closed):
    schema_: Literal["edgekit.check/v1"] = Field(alias="schema")
    passed: bool = Field(description="every budget (absolute and of change) held and every target was built")
    report: Source
    baseline: Optional[Source]
    report_url: Optional[str]
    targets_failed: list[str]
    artifacts: list[Row]
    failed_budgets: list[FailedBudget]


def json_schema() -> dict[str, Any]:
    return schema_of(CheckDocument, "edgekit.check.v1")


if __name__ == "__main__":
    write_schema(json_schema(), "check.schema.json")
