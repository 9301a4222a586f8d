"""Typed configuration read from `edgekit.toml`.

Everything is validated before any heavy work starts. Unknown keys and bad values raise a
`ConfigError` whose single line names the key, suggests the closest valid key and shows an
example.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from edgekit.config_errors import describe_error
from edgekit.config_sections import Budgets, ParityTolerance, Strict  # noqa: F401 (re-exported)
from edgekit.errors import ConfigError, InputError
from edgekit.recipe import SearchSection, Step, check_order
from edgekit.targets import registry
from edgekit.targets.android.settings import AndroidDevice, AndroidTarget  # noqa: F401 (re-exported)
from edgekit.targets.ios.settings import IosTarget, PalettizeSection  # noqa: F401 (re-exported)
from edgekit.targets.web.settings import WebTarget  # noqa: F401 (re-exported)

DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
TARGET_NAMES = registry.NAMES


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


TARGET_ONLY_BUDGETS = {key: target.name for target in registry.TARGETS for key in target.only_budgets}


class _Targets(Strict):
    @model_validator(mode="after")
    def _budgets_fit_their_target(self) -> "_Targets":
        """A budget no artifact of the target can measure would always fail as "not measured": refuse it."""
        for name in registry.NAMES:
            target = getattr(self, name)
            if target is None:
                continue
            for key, owner in TARGET_ONLY_BUDGETS.items():
                if owner != name and getattr(target.budgets, key) is not None:
                    raise ValueError(f"targets.{name}.budgets.{key} applies to the {owner} target only; "
                                     f"move it to [targets.{owner}.budgets]")
        return self


# One optional section per registered target: [targets.android], [targets.ios], [targets.web], …
TargetsSection = create_model(
    "TargetsSection", __base__=_Targets,
    **{target.name: (Optional[target.settings], Field(None, json_schema_extra={"example": f"[targets.{target.name}]"}))
       for target in registry.TARGETS})


class BuildSection(Strict):
    out: Path = Field(Path("build"), json_schema_extra={"example": 'out = "build"'})
    cache: Path = Field(Path(".edgekit-cache"), json_schema_extra={"example": 'cache = ".edgekit-cache"  # checkpoints'})
    seed: int = Field(0, json_schema_extra={"example": "seed = 0"})
    sanity_checks: bool = Field(
        True, json_schema_extra={"example": "sanity_checks = true  # false: build a model at chance accuracy anyway"})
    distribute: Literal["auto", "off"] = Field(
        "auto", json_schema_extra={"example": 'distribute = "auto"  # TF_CONFIG or several GPUs: tf.distribute'})


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
    def _targets_fit_the_recipe(self) -> "Config":
        steps = {step.step for step in self.recipe}
        for name in registry.NAMES:
            settings = getattr(self.targets, name)
            if settings is not None and hasattr(settings, "check_recipe"):
                settings.check_recipe(steps)
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
    for name in registry.NAMES:
        settings = getattr(config.targets, name)
        if settings is not None and hasattr(settings, "resolve_paths"):
            settings.resolve_paths(absolute)
    for step in config.recipe:
        if getattr(step, "student_path", None):
            step.student_path = str(absolute(Path(step.student_path)))
    return config
