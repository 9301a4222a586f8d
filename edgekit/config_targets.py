"""Each target's settings: Android (TFLite), iOS (Core ML), web (TF.js + LiteRT.js).

Defaults are data (`edgekit/targets/<name>.toml`), merged in by `config.with_target_defaults`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgekit.config_sections import Budgets, ParityTolerance, Strict
from edgekit.units import parse_size

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
        if not value:
            raise ValueError("list at least one precision, e.g. precisions = [\"int8\"]")
        if len(set(value)) != len(value):
            raise ValueError(f"precisions repeat an entry: {value}")
        return value

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
        if not value:
            raise ValueError('list at least one variant, e.g. variants = ["fp16"]')
        if len(set(value)) != len(value):
            raise ValueError(f"variants repeat an entry: {value}")
        return value

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


TFJS_QUANTIZE = ("none", "uint8", "uint16", "float16")
WEB_BACKENDS = ("tfjs-wasm", "tfjs-webgl", "tfjs-cpu", "tfjs-webgpu", "litertjs-wasm", "litertjs-webgpu")


class WebTarget(Strict):
    """TF.js graph (or layers) model + a `.tflite` for LiteRT.js; parity in Node, latency in Chromium."""

    quantize: Literal["none", "uint8", "uint16", "float16"] = Field(
        "uint8", json_schema_extra={"example": 'quantize = "uint8"  # TF.js weight quantization; "none" = float32'})
    quantize_nodes: dict[Literal["uint8", "uint16", "float16"], list[str]] = Field(
        default_factory=dict,
        json_schema_extra={"example": 'quantize_nodes = { float16 = ["*/probs/*"] }  # per weight-name pattern'})
    shard_size: int = Field(4 * 1024 * 1024, json_schema_extra={"example": 'shard_size = "4 MiB"'})
    model_format: Literal["graph", "layers"] = Field(
        "graph", json_schema_extra={"example": 'model_format = "graph"  # or "layers" (tf.loadLayersModel)'})
    litertjs: bool = Field(True, json_schema_extra={"example": "litertjs = true  # also ship web/model.tflite"})
    tflite_precision: Literal["fp32", "fp16", "dynamic"] = Field(
        "dynamic", json_schema_extra={"example": 'tflite_precision = "dynamic"  # float input/output'})
    node_backends: list[Literal["wasm", "cpu"]] = Field(
        ["wasm", "cpu"], json_schema_extra={"example": 'node_backends = ["wasm", "cpu"]  # first: accuracy on all'})
    parity_samples: int = Field(200, ge=1, json_schema_extra={"example": "parity_samples = 200"})
    node_stall_s: float = Field(
        600.0, gt=0, json_schema_extra={"example": "node_stall_s = 600  # TF.js in Node: longest wait for one batch"})
    node_timeout_s: float = Field(
        21600.0, gt=0, json_schema_extra={"example": "node_timeout_s = 21600  # TF.js in Node: whole run"})
    parity: dict[str, ParityTolerance] = Field(
        default_factory=dict, json_schema_extra={"example": "[targets.web.parity.uint8]"})
    samples: int = Field(10, ge=1, le=1000, json_schema_extra={"example": "samples = 10  # test images in samples.json"})
    app_title: Optional[str] = Field(
        None, min_length=1, max_length=80,
        json_schema_extra={"example": 'app_title = "Shoe or bag?"  # demo app title; default from the class names'})
    profile_browser: bool = Field(True, json_schema_extra={"example": "profile_browser = true  # during the build"})
    browser_backends: list[Literal["tfjs-wasm", "tfjs-webgl", "tfjs-cpu", "tfjs-webgpu", "litertjs-wasm",
                                   "litertjs-webgpu"]] = Field(
        list(WEB_BACKENDS), json_schema_extra={"example": 'browser_backends = ["tfjs-wasm", "litertjs-wasm"]'})
    browser_gpu: bool = Field(False, json_schema_extra={"example": "browser_gpu = false  # true: GPU flags"})
    browser_max_seconds: float = Field(
        30.0, gt=0, json_schema_extra={"example": "browser_max_seconds = 30  # timed runs stop after this (>= 3 runs)"})
    browser_timeout_s: float = Field(
        300.0, gt=0, json_schema_extra={"example": "browser_timeout_s = 300  # one runtime/backend page"})
    threads: int = Field(1, ge=1, json_schema_extra={"example": "threads = 1  # wasm threads"})
    warmup: int = Field(10, ge=0, json_schema_extra={"example": "warmup = 10"})
    runs: int = Field(100, ge=1, json_schema_extra={"example": "runs = 100"})
    budgets: Budgets = Field(default_factory=Budgets, json_schema_extra={"example": "[targets.web.budgets]"})

    @field_validator("shard_size", mode="before")
    @classmethod
    def _shard(cls, value: Any) -> Any:
        return parse_size(value)

    @field_validator("parity")
    @classmethod
    def _parity_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = TFJS_QUANTIZE + ("fp32", "fp16", "dynamic", "int8")
        for key in value:
            if key not in allowed:
                raise ValueError(f"parity.{key}: use a quantize value or a tflite precision: {', '.join(allowed)}")
        return value

    @field_validator("node_backends", "browser_backends")
    @classmethod
    def _unique_backends(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"list each backend once (at least one); got {value}")
        return value

    @model_validator(mode="after")
    def _patterns(self) -> "WebTarget":
        if any(not patterns for patterns in self.quantize_nodes.values()):
            raise ValueError("quantize_nodes: give each dtype a non-empty list of weight-name patterns")
        if self.quantize in self.quantize_nodes:
            raise ValueError(f"quantize = {self.quantize!r} is also a key of quantize_nodes; "
                             "list only the exceptions there")
        if self.shard_size < 1024:
            raise ValueError(f"shard_size = {self.shard_size} B is too small; use at least \"1 KiB\" (default \"4 MiB\")")
        return self
