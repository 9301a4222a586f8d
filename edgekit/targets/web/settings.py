"""The web target's settings ([targets.web]); defaults in `defaults.toml` beside this file."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from edgekit.config_sections import Budgets, ParityTolerance, Strict
from edgekit.units import parse_size


TFJS_QUANTIZE = ("none", "uint8", "uint16", "float16")
WEB_BACKENDS = ("tfjs-wasm", "tfjs-webgl", "tfjs-cpu", "tfjs-webgpu", "litertjs-wasm", "litertjs-webgpu")


class Network(Strict):
    """The network the first-inference objective assumes (data, e.g. a slow 4G link)."""

    name: str = Field("4G", min_length=1, max_length=40, json_schema_extra={"example": 'name = "4G"'})
    mbit_s: float = Field(9.0, gt=0, le=100_000, json_schema_extra={"example": "mbit_s = 9"})
    rtt_ms: float = Field(150.0, ge=0, le=10_000, json_schema_extra={"example": "rtt_ms = 150"})


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
    objective: Literal["p50", "first_inference", "bytes"] = Field(
        "p50", json_schema_extra={"example": 'objective = "first_inference"  # or "p50", "bytes": the runtime choice'})
    network: Network = Field(default_factory=Network, json_schema_extra={"example": "[targets.web.network]"})
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

    def check_recipe(self, steps: set[str]) -> None:
        if "qat" in steps and self.litertjs and self.tflite_precision != "dynamic":
            raise ValueError(f"targets.web.tflite_precision = {self.tflite_precision!r} cannot be built from a "
                             "QAT-trained model (it converts to int8 inside, float input/output); "
                             "use tflite_precision = \"dynamic\"")
