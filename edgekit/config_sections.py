"""The building blocks every config section shares: strict models, budgets, parity tolerances."""
from __future__ import annotations

import difflib
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgekit.units import parse_duration_ms, parse_size

ANDROID_DELEGATES = ("xnnpack", "gpu", "nnapi")  # delegates edgekit checks (edgekit/delegates.py)


def listed_once(value: list[str], *, field: str, noun: str, example: str) -> list[str]:
    """A non-empty list without repeats (a target's precisions / variants), or a one-line ValueError."""
    if not value:
        raise ValueError(f"list at least one {noun}, e.g. {example}")
    if len(set(value)) != len(value):
        raise ValueError(f"{field} repeat an entry: {value}")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def change_limit(value: Any, kind: str) -> tuple[str, float, str]:
    """A budget of change: ("percent", 2.0, "2 %") or ("absolute", bytes or ms, canonical text)."""
    text = str(value).strip()
    if isinstance(value, str) and text.endswith("%"):
        try:
            number = float(text.removesuffix("%").strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage; write e.g. \"2 %\"") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a percentage; write e.g. \"2 %\"")
        if number < 0:
            raise ValueError(f"{value!r}: an allowed increase cannot be negative")
        return "percent", number, f"{number:g} %"
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is ambiguous: write a percentage (\"2 %\") or an amount (\"10 KB\", \"0.5 ms\")")
    if kind == "size":
        number = float(parse_size(value))
        return "absolute", number, f"{int(number)} B"
    number = parse_duration_ms(value)
    return "absolute", number, f"{number:g} ms"


class Budgets(Strict):
    """Budget limits; each is optional. Sizes in bytes, latency in ms, accuracy drop in points."""

    max_size: Optional[int] = Field(None, json_schema_extra={"example": 'max_size = "400 KB"'})
    max_download: Optional[int] = Field(None, json_schema_extra={"example": 'max_download = "300 KB"'})
    max_latency_p50: Optional[float] = Field(None, json_schema_extra={"example": 'max_latency_p50 = "2 ms"'})
    max_accuracy_drop: Optional[float] = Field(
        None, ge=0, json_schema_extra={"example": "max_accuracy_drop = 1.0  # percentage points"}
    )
    min_accuracy: Optional[float] = Field(
        None, ge=0, le=100, json_schema_extra={"example": 'min_accuracy = "92.5 %"  # percent, on the eval split'}
    )
    max_download_brotli: Optional[int] = Field(
        None, json_schema_extra={"example": 'max_download_brotli = "300 KB"  # web: brotli of the model files'})
    max_browser_p50: Optional[float] = Field(
        None, json_schema_extra={"example": 'max_browser_p50 = "3 ms"  # web: fastest browser runtime only'})
    max_first_inference: Optional[float] = Field(
        None, json_schema_extra={"example": 'max_first_inference = "2 s"  # web: page open to first result'})
    min_delegated_fraction: Optional[dict[str, float]] = Field(
        None, json_schema_extra={"example": "min_delegated_fraction = { gpu = 1.0, xnnpack = 1.0 }  # android"}
    )

    # Budgets of change against a baseline report: applied by `edgekit check --baseline` / `edgekit diff`.
    max_size_increase: Optional[str] = Field(
        None, json_schema_extra={"example": 'max_size_increase = "2 %"  # or "10 KB"; needs check --baseline'})
    max_download_increase: Optional[str] = Field(
        None, json_schema_extra={"example": 'max_download_increase = "2 %"  # gzip bytes; needs check --baseline'})
    max_accuracy_decrease: Optional[float] = Field(
        None, ge=0, json_schema_extra={"example": "max_accuracy_decrease = 0.2  # percentage points vs the baseline"})
    max_latency_increase: Optional[str] = Field(
        None, json_schema_extra={"example": 'max_latency_increase = "10 %"  # or "0.5 ms"; same where/runtime only'})

    @field_validator("max_size_increase", "max_download_increase", mode="before")
    @classmethod
    def _size_change(cls, value: Any) -> Any:
        return None if value is None else change_limit(value, "size")[2]

    @field_validator("max_latency_increase", mode="before")
    @classmethod
    def _latency_change(cls, value: Any) -> Any:
        return None if value is None else change_limit(value, "latency")[2]

    @field_validator("min_delegated_fraction")
    @classmethod
    def _delegates(cls, value: Optional[dict[str, float]]) -> Optional[dict[str, float]]:
        for name, fraction in (value or {}).items():
            if name not in ANDROID_DELEGATES:
                guess = difflib.get_close_matches(name, ANDROID_DELEGATES, n=1)
                hint = f" — did you mean '{guess[0]}'?" if guess else ""
                raise ValueError(f"unknown delegate {name!r}{hint}; use {', '.join(ANDROID_DELEGATES)}")
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{name} = {fraction}: a fraction of the graph's nodes, 0 to 1 (1.0 = all of it)")
        return value

    @field_validator("max_size", "max_download", "max_download_brotli", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        """A size in bytes ("400 KB", "400 KiB", or a bare number of bytes); 0 is refused: nothing fits in it."""
        size = None if value is None else parse_size(value)
        if size == 0:
            raise ValueError(f"{value!r} is 0 bytes: no artifact fits; give a real limit such as \"400 KB\" "
                             "or remove the budget")
        return size

    @field_validator("min_accuracy", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        """Percent: "92.5 %" or 92.5. A bare number up to 1 is refused: 0.9 could mean 90 % or 0.9 %."""
        if isinstance(value, str):
            text = value.strip()
            try:
                number = float(text.removesuffix("%").strip())
            except ValueError:
                raise ValueError(f"{value!r} is not a percentage; write e.g. \"92.5 %\"") from None
            if text.endswith("%"):
                return number
            value = number
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 1:
            raise ValueError(f"min_accuracy = {value!r} is ambiguous (a fraction or {value} %?); "
                             f"write it in percent with the sign, e.g. \"{100 * value:g} %\"")
        return value

    @field_validator("max_latency_p50", "max_browser_p50", "max_first_inference", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """A duration in ms ("2 ms", "0.5 s", or a bare number of ms); 0 is refused: nothing runs in no time."""
        duration = None if value is None else parse_duration_ms(value)
        if duration == 0:
            raise ValueError(f"{value!r} is no time at all: give a real limit such as \"5 ms\" or remove the budget")
        return duration


class ParityTolerance(Strict):
    """How far an artifact may be from the Keras model it came from (see edgekit/validate.py). Unset = not checked."""

    max_relative_error: Optional[float] = Field(
        None, gt=0, json_schema_extra={"example": "max_relative_error = 0.02  # mean |error| / mean |output spread|"})
    min_confident_agreement: Optional[float] = Field(
        None, ge=0, le=1, json_schema_extra={"example": "min_confident_agreement = 0.99  # top-1, confident samples"})
    confident_margin: float = Field(
        0.2, gt=0, lt=1, json_schema_extra={"example": "confident_margin = 0.2  # gap between the top-2 probabilities"})
    max_accuracy_loss: Optional[float] = Field(
        None, ge=0, json_schema_extra={"example": "max_accuracy_loss = 1.0  # pp below the Keras model"})
    max_abs_error: Optional[float] = Field(None, gt=0, json_schema_extra={"example": "max_abs_error = 0.01"})
    min_top1_agreement: Optional[float] = Field(
        None, ge=0, le=1, json_schema_extra={"example": "min_top1_agreement = 0.99  # all samples"})
