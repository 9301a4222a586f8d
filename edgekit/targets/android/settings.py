"""The Android target's settings ([targets.android]); defaults in `defaults.toml` beside this file."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgekit.config_sections import Budgets, ParityTolerance, Strict, listed_once


TFLITE_PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")


class AndroidDevice(Strict):
    """`edgekit profile --target android`: benchmark_model on a phone over adb."""

    benchmark_model: Optional[Path] = Field(
        None, json_schema_extra={"example": 'benchmark_model = "tools/android_aarch64_benchmark_model"'})
    adb: str = Field("adb", json_schema_extra={"example": 'adb = "/opt/android-sdk/platform-tools/adb"'})
    delegates: list[Literal["cpu", "xnnpack", "gpu", "nnapi"]] = Field(
        ["xnnpack"], json_schema_extra={"example": 'delegates = ["xnnpack", "gpu"]  # cpu = no delegate'})
    precisions: Optional[list[Literal["fp32", "fp16", "dynamic", "int8", "int16x8"]]] = Field(
        None, json_schema_extra={"example": 'precisions = ["int8", "fp16"]  # default: the shipped ones'})
    threads: int = Field(4, ge=1, json_schema_extra={"example": "threads = 4"})
    warmup_runs: int = Field(20, ge=0, json_schema_extra={"example": "warmup_runs = 20"})
    runs: int = Field(100, ge=1, json_schema_extra={"example": "runs = 100"})
    cooldown_s: float = Field(5.0, ge=0, json_schema_extra={"example": "cooldown_s = 5  # pause between runs"})
    pin_cores: Optional[str] = Field(
        None, pattern=r"^[0-9a-fA-F]{1,16}$", json_schema_extra={"example": 'pin_cores = "f0"  # taskset mask'})
    op_profiling: bool = Field(True, json_schema_extra={"example": "op_profiling = true"})
    peak_memory: bool = Field(True, json_schema_extra={"example": "peak_memory = true"})
    remote_dir: str = Field("/data/local/tmp/edgekit", pattern=r"^/data/local/tmp/[A-Za-z0-9_-][A-Za-z0-9_.-]*$",
                            json_schema_extra={"example": 'remote_dir = "/data/local/tmp/edgekit"  # removed afterwards'})
    timeout_s: float = Field(600.0, gt=0, json_schema_extra={"example": "timeout_s = 600  # per benchmark run"})

    @field_validator("delegates")
    @classmethod
    def _some_delegate(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"list each delegate once, e.g. delegates = [\"xnnpack\", \"gpu\"]; got {value}")
        return value


class AndroidTarget(Strict):
    precisions: list[Literal["fp32", "fp16", "dynamic", "int8", "int16x8"]] = Field(
        json_schema_extra={"example": 'precisions = ["fp16", "int8"]'}
    )
    ship: Optional[list[Literal["fp32", "fp16", "dynamic", "int8", "int16x8"]]] = Field(
        None, json_schema_extra={"example": 'ship = ["int8"]  # budgets gate these artifacts'}
    )
    threads: int = Field(1, ge=1, json_schema_extra={"example": "threads = 1"})
    warmup: int = Field(20, ge=0, json_schema_extra={"example": "warmup = 20"})
    runs: int = Field(200, ge=1, json_schema_extra={"example": "runs = 200"})
    parity_samples: int = Field(500, ge=1, json_schema_extra={"example": "parity_samples = 500"})
    sparse: bool = Field(
        True, json_schema_extra={"example": "sparse = true  # mostly-zero weights stored sparse when LiteRT runs it"})
    low_bit: list[Literal["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"]] = Field(
        ["FULLY_CONNECTED"], json_schema_extra={
            "example": 'low_bit = ["FULLY_CONNECTED"]  # clustered filters of these ops stored 4-bit; [] = never'})
    low_bit_max_accuracy_loss: float = Field(
        0.5, ge=0, json_schema_extra={"example": "low_bit_max_accuracy_loss = 0.5  # pp below the 8-bit file"})
    min_sdk: int = Field(30, ge=21, le=40, json_schema_extra={"example": "min_sdk = 30  # NNAPI checks use this API level"})
    device: AndroidDevice = Field(default_factory=AndroidDevice,
                                  json_schema_extra={"example": "[targets.android.device]"})
    parity: dict[str, ParityTolerance] = Field(
        default_factory=dict, json_schema_extra={"example": "[targets.android.parity.int8]"}
    )
    budgets: Budgets = Field(default_factory=Budgets, json_schema_extra={"example": "[targets.android.budgets]"})

    @field_validator("precisions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return listed_once(value, field="precisions", noun="precision", example='precisions = ["int8"]')

    @field_validator("low_bit")
    @classmethod
    def _low_bit_once(cls, value: list[str]) -> list[str]:
        return listed_once(value, field="low_bit", noun="op", example='low_bit = ["FULLY_CONNECTED"]') if value else value

    @field_validator("parity")
    @classmethod
    def _parity_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key not in TFLITE_PRECISIONS:
                raise ValueError(f"parity.{key}: not a precision; use one of {', '.join(TFLITE_PRECISIONS)}")
        return value

    @model_validator(mode="after")
    def _ship_within_precisions(self) -> "AndroidTarget":
        missing = [p for p in (self.ship or []) if p not in self.precisions]
        if missing:
            raise ValueError(f"ship lists {missing}, which precisions does not build; "
                             f"add them to precisions or ship some of {self.precisions}")
        return self

    def shipped(self) -> list[str]:
        return list(self.ship) if self.ship else list(self.precisions)

    def check_recipe(self, steps: set[str]) -> None:
        """Refuse artifacts the recipe's model cannot become (a QAT-trained model is learned for int8)."""
        others = [p for p in self.precisions if p != "int8"]
        if "qat" in steps and others:
            raise ValueError(f"targets.android.precisions {others} cannot be built from a QAT-trained model "
                             "(its quantization is learned for int8); use precisions = [\"int8\"]")

    def resolve_paths(self, absolute: Callable[[Optional[Path]], Optional[Path]]) -> None:
        self.device.benchmark_model = absolute(self.device.benchmark_model)
