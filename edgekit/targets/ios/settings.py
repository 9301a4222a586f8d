"""The iOS target's settings ([targets.ios]); defaults in `defaults.toml` beside this file."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgekit.config_sections import Budgets, Strict, listed_once


IOS_VARIANTS = ("fp32", "fp16", "palettized", "int8", "int4")


class PalettizeSection(Strict):
    """Post-training palettization, used by the `palettized` variant when the recipe learned no clusters."""

    nbits: Literal[1, 2, 3, 4, 6, 8] = Field(4, json_schema_extra={"example": "nbits = 4"})
    mode: Literal["kmeans", "uniform"] = Field("kmeans", json_schema_extra={"example": 'mode = "kmeans"'})
    granularity: Literal["per_tensor", "per_channel"] = Field(
        "per_tensor", json_schema_extra={"example": 'granularity = "per_channel"  # iOS18'})


class IosTarget(Strict):
    variants: list[Literal["fp32", "fp16", "palettized", "int8", "int4"]] = Field(
        json_schema_extra={"example": 'variants = ["fp16", "palettized", "int8"]'})
    ship: Optional[list[Literal["fp32", "fp16", "palettized", "int8", "int4"]]] = Field(
        None, json_schema_extra={"example": 'ship = ["palettized"]  # budgets gate these packages'})
    minimum_deployment_target: Literal["iOS15", "iOS16", "iOS17", "iOS18"] = Field(
        "iOS18", json_schema_extra={"example": 'minimum_deployment_target = "iOS17"'})
    compute_precision: Literal["fp16", "fp32"] = Field(
        "fp16", json_schema_extra={"example": 'compute_precision = "fp16"  # the fp32 variant is always fp32'})
    compute_units: Literal["cpu_only", "cpu_and_gpu", "cpu_and_ne", "all"] = Field(
        "all", json_schema_extra={"example": 'compute_units = "all"  # recorded in the package metadata'})
    input: Literal["auto", "image", "tensor"] = Field(
        "auto", json_schema_extra={"example": 'input = "image"  # auto: image for image datasets'})
    input_name: str = Field(
        "auto", pattern=r"^(auto|[A-Za-z][A-Za-z0-9_]*)$",
        json_schema_extra={"example": 'input_name = "image"  # auto: the model\'s own input name'})
    output_name: str = Field(
        "auto", pattern=r"^(auto|[A-Za-z][A-Za-z0-9_]*)$",
        json_schema_extra={"example": 'output_name = "probabilities"  # auto: the model\'s own name for the labels output'})
    class_labels: bool = Field(True, json_schema_extra={"example": "class_labels = true  # Xcode shows a classifier"})
    sparse: bool = Field(True, json_schema_extra={"example": "sparse = true  # pruned layers stored as sparse tensors"})
    activation_quantization: bool = Field(
        False, json_schema_extra={"example": "activation_quantization = true  # iOS17+, calibrated on macOS"})
    palettize: PalettizeSection = Field(default_factory=PalettizeSection,
                                        json_schema_extra={"example": "[targets.ios.palettize]"})
    profile_runs: int = Field(100, ge=1, json_schema_extra={"example": "profile_runs = 100"})
    profile_warmup: int = Field(10, ge=0, json_schema_extra={"example": "profile_warmup = 10"})
    budgets: Budgets = Field(default_factory=Budgets, json_schema_extra={"example": "[targets.ios.budgets]"})

    @field_validator("variants")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return listed_once(value, field="variants", noun="variant", example='variants = ["fp16"]')

    @model_validator(mode="after")
    def _supported(self) -> "IosTarget":
        from edgekit.converters.coreml import NEEDS, version

        missing = [v for v in (self.ship or []) if v not in self.variants]
        if missing:
            raise ValueError(f"ship lists {missing}, which variants does not build; add them to variants")
        wanted = {"palettized": "lut", "int8": "int8", "int4": "int4"}
        needs = [(NEEDS[wanted[v]], f"variant {v!r}") for v in self.variants if v in wanted]
        if "palettized" in self.variants and self.palettize.granularity == "per_channel":
            needs.append((NEEDS["lut_per_channel"], "palettize.granularity = \"per_channel\""))
        if self.activation_quantization:
            needs.append((NEEDS["activations_int8"], "activation_quantization"))
        for needed, what in needs:
            if version(self.minimum_deployment_target) < version(needed):
                raise ValueError(f"{what} needs minimum_deployment_target = \"{needed}\" or later "
                                 f"(configured: {self.minimum_deployment_target})")
        return self

    def shipped(self) -> list[str]:
        return list(self.ship) if self.ship else list(self.variants)
