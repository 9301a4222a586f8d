"""Typed configuration read from `edgekit.toml`.

Everything is validated before any heavy work starts. Unknown keys and bad values raise a
`ConfigError` whose single line names the key, suggests the closest valid key and shows an
example.
"""
from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgekit.config_errors import describe_error
from edgekit.errors import ConfigError, InputError
from edgekit.recipe import SearchSection, Step, check_order
from edgekit.units import parse_duration_ms, parse_size

DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
TFLITE_PRECISIONS = ("fp32", "fp16", "dynamic", "int8", "int16x8")
TARGET_NAMES = ("android", "ios", "web")
ANDROID_DELEGATES = ("xnnpack", "gpu", "nnapi")  # delegates edgekit checks (edgekit/delegates.py)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ModelSection(Strict):
    path: Path = Field(json_schema_extra={"example": 'path = "teacher.keras"'})
    allow_unsafe: bool = Field(
        False, json_schema_extra={"example": "allow_unsafe = false  # true runs Lambda/custom code"}
    )


class DatasetSection(Strict):
    kind: Literal["fashion_mnist", "npz", "image_folder"] = Field(
        json_schema_extra={"example": 'kind = "fashion_mnist"'}
    )
    path: Optional[Path] = Field(None, json_schema_extra={"example": f'path = "{DEFAULT_FASHION_MNIST}"'})
    eval_split: str = Field("test", json_schema_extra={"example": 'eval_split = "test"'})
    calibration_split: str = Field("train", json_schema_extra={"example": 'calibration_split = "train"'})
    train_split: str = Field("train", json_schema_extra={"example": 'train_split = "train"  # recipe fine-tuning'})
    train_samples: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "train_samples = 20000"})
    eval_samples: Optional[int] = Field(None, ge=1, json_schema_extra={"example": "eval_samples = 10000"})
    calibration_samples: int = Field(256, ge=1, json_schema_extra={"example": "calibration_samples = 256"})
    scale: float = Field(1.0 / 255.0, json_schema_extra={"example": "scale = 0.00392156862745098"})
    mean: float = Field(0.0, json_schema_extra={"example": "mean = 0.0"})
    std: float = Field(1.0, gt=0, json_schema_extra={"example": "std = 1.0"})
    image_size: Optional[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]] = Field(None, json_schema_extra={"example": "image_size = [28, 28]"})
    color_mode: Literal["grayscale", "rgb"] = Field("grayscale", json_schema_extra={"example": 'color_mode = "rgb"'})
    class_names: Optional[list[str]] = Field(None, json_schema_extra={"example": 'class_names = ["cat", "dog"]'})
    label_output: Optional[str] = Field(
        None, json_schema_extra={"example": 'label_output = "class_probs"  # multi-output models: the classes output'})


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
        return None if value is None else parse_size(value)

    @field_validator("min_accuracy", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().removesuffix("%").strip()
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not a percentage; write e.g. \"92.5 %\" or 92.5") from None
        return value

    @field_validator("max_latency_p50", "max_browser_p50", "max_first_inference", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration_ms(value)


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


TARGET_ONLY_BUDGETS = {"min_delegated_fraction": "android", "max_download_brotli": "web",
                       "max_browser_p50": "web", "max_first_inference": "web"}


class TargetsSection(Strict):
    android: Optional[AndroidTarget] = Field(None, json_schema_extra={"example": "[targets.android]"})
    ios: Optional[IosTarget] = Field(None, json_schema_extra={"example": "[targets.ios]"})
    web: Optional[WebTarget] = Field(None, json_schema_extra={"example": "[targets.web]"})

    @model_validator(mode="after")
    def _budgets_fit_their_target(self) -> "TargetsSection":
        """A budget no artifact of the target can measure would always fail as "not measured": refuse it."""
        for name, target in (("android", self.android), ("ios", self.ios), ("web", self.web)):
            if target is None:
                continue
            for key, owner in TARGET_ONLY_BUDGETS.items():
                if owner != name and getattr(target.budgets, key) is not None:
                    raise ValueError(f"targets.{name}.budgets.{key} applies to the {owner} target only; "
                                     f"move it to [targets.{owner}.budgets]")
        return self


class BuildSection(Strict):
    out: Path = Field(Path("build"), json_schema_extra={"example": 'out = "build"'})
    cache: Path = Field(Path(".edgekit-cache"), json_schema_extra={"example": 'cache = ".edgekit-cache"  # checkpoints'})
    seed: int = Field(0, json_schema_extra={"example": "seed = 0"})
    sanity_checks: bool = Field(
        True, json_schema_extra={"example": "sanity_checks = true  # false: build a model at chance accuracy anyway"})


class Config(Strict):
    model: ModelSection = Field(json_schema_extra={"example": "[model]"})
    dataset: DatasetSection = Field(json_schema_extra={"example": "[dataset]"})
    recipe: list[Step] = Field(default_factory=list, json_schema_extra={"example": '[[recipe]] with step = "prune"'})
    targets: TargetsSection = Field(json_schema_extra={"example": "[targets.android]"})
    build: BuildSection = Field(default_factory=BuildSection, json_schema_extra={"example": "[build]"})
    search: Optional[SearchSection] = Field(None, json_schema_extra={"example": "[search]"})

    @field_validator("recipe")
    @classmethod
    def _recipe(cls, value: list[Any]) -> list[Any]:
        check_order(value)
        return value

    @model_validator(mode="after")
    def _qat_precisions(self) -> "Config":
        android = self.targets.android
        if self.has_step("qat") and android is not None:
            others = [p for p in android.precisions if p != "int8"]
            if others:
                raise ValueError(f"targets.android.precisions {others} cannot be built from a QAT-trained model "
                                 "(its quantization is learned for int8); use precisions = [\"int8\"]")
        return self

    @model_validator(mode="after")
    def _qat_web_precision(self) -> "Config":
        web = self.targets.web
        if self.has_step("qat") and web is not None and web.litertjs and web.tflite_precision != "dynamic":
            raise ValueError(f"targets.web.tflite_precision = {web.tflite_precision!r} cannot be built from a QAT-trained "
                             "model (it converts to int8 inside, float input/output); use tflite_precision = \"dynamic\"")
        return self

    def has_step(self, name: str) -> bool:
        return any(step.step == name for step in self.recipe)


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path) -> Config:
    """Read, validate and resolve a config file. Relative paths are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}", hint="run `edgekit init` to write a starter config")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})", hint="check quotes and [section] headers")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file", hint="save the config as UTF-8 TOML")
    config = parse_config(raw, source=str(path))
    return resolve_paths(config, base=path.resolve().parent)


def parse_config(raw: dict[str, Any], *, source: str = "config") -> Config:
    raw = with_target_defaults(raw)
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        errors = err.errors()
        # An unknown key usually explains the "missing" error beside it: report it first.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise ConfigError(f"{source}: {describe_error(first)}") from None


def with_target_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill each configured target from its defaults file (edgekit/targets/<name>.toml)."""
    from edgekit import targets

    table = raw.get("targets")
    if not isinstance(table, dict):
        return raw
    filled = dict(table)
    for name, value in table.items():
        if name in targets.AVAILABLE and isinstance(value, dict):
            filled[name] = targets.merge(targets.defaults(name), value)
    return {**raw, "targets": filled}


def resolve_paths(config: Config, *, base: Path) -> Config:
    def absolute(p: Optional[Path]) -> Optional[Path]:
        if p is None:
            return None
        p = p.expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else base / p))

    config.model.path = absolute(config.model.path)
    config.dataset.path = absolute(config.dataset.path)
    config.build.out = absolute(config.build.out)
    config.build.cache = absolute(config.build.cache)
    if config.targets.android is not None:
        device = config.targets.android.device
        device.benchmark_model = absolute(device.benchmark_model)
    for step in config.recipe:
        if getattr(step, "student_path", None):
            step.student_path = str(absolute(Path(step.student_path)))
    return config
