"""build(config) -> report: the stages, named and in order.

    load model (safely) -> load data -> reference outputs -> per target: convert, validate,
    measure, profile, budgets -> report.json + report.md + report.html, written to a staging folder and moved
    into place whole.
"""
from __future__ import annotations

import datetime as dt
import platform
from typing import Any

from edgekit import __version__, targets
from edgekit.budgets import recommend_web
from edgekit.config import Config
from edgekit.context import BuildContext
from edgekit.data import load_split
from edgekit.errors import ConfigError, InputError
from edgekit.progress import Reporter
from edgekit.report import SCHEMA, gate_passed, write_json
from edgekit.report.html import render as render_html
from edgekit.report.markdown import render
from edgekit.staging import check_output_dir, staged_output
from edgekit.validate import accuracy


def resolve_targets(config: Config, requested: str) -> list[str]:
    configured = [name for name in targets.KNOWN if getattr(config.targets, name) is not None]
    if requested == "all":
        names = [n for n in configured if n in targets.AVAILABLE]
        skipped = [n for n in configured if n not in targets.AVAILABLE]
        if skipped and not names:
            raise ConfigError(f"the configured target(s) {', '.join(skipped)} cannot be built by edgekit {__version__} yet",
                              hint=f"available now: {', '.join(targets.AVAILABLE)}")
    elif requested in targets.KNOWN:
        if requested not in configured:
            raise ConfigError(f"target {requested!r} has no [targets.{requested}] section in the config",
                              hint=f"add [targets.{requested}] or build one of: {', '.join(configured) or 'none'}")
        names = [requested]
    else:
        raise ConfigError(f"unknown target {requested!r}", hint=f"use one of {', '.join(targets.KNOWN)} or all")
    missing = [n for n in names if n not in targets.AVAILABLE]
    if missing:
        raise ConfigError(f"target(s) {', '.join(missing)} cannot be built by edgekit {__version__} yet",
                          hint=f"available now: {', '.join(targets.AVAILABLE)}")
    if not names:
        raise ConfigError("the config lists no targets", hint="add a [targets.android] section")
    return names


def build(config: Config, *, target: str, progress: Reporter) -> dict[str, Any]:
    names = resolve_targets(config, target)
    skipped = [n for n in targets.KNOWN if getattr(config.targets, n) is not None and n not in names]
    notes = [f"target {n} is configured but not built: edgekit {__version__} builds {', '.join(targets.AVAILABLE)} only"
             for n in skipped if target == "all"]
    for note in notes:
        progress.say(f"[yellow]note:[/] {note}")
    out = config.build.out
    check_output_dir(out)
    from edgekit.models import load_model

    with progress.stage(f"model loaded: {config.model.path.name}"):
        model = load_model(config.model.path, allow_unsafe=config.model.allow_unsafe)
    data = config.dataset
    with progress.stage("data loaded"):
        evaluation = load_split(data, data.eval_split, limit=data.eval_samples, seed=config.build.seed)
        calibration = load_split(data, data.calibration_split, limit=data.calibration_samples, seed=config.build.seed)
    _check_shapes(model, evaluation)
    with progress.stage(f"reference outputs on {len(evaluation):,} samples"):
        reference = model.predict(evaluation.x)
    reference_accuracy = accuracy(reference, evaluation.y)
    progress.say(f"  reference accuracy {100 * reference_accuracy:.2f} % ({model.params:,} parameters)")
    converted, recipe_report, facts, scheme = model, None, [], None
    if config.recipe:
        converted, reference, recipe_report, facts, scheme = _run_recipe(model, config, evaluation, reference_accuracy,
                                                                         progress)

    with staged_output(out) as stage:
        ctx = BuildContext(model=converted, eval=evaluation, calibration=calibration.x, reference=reference,
                           reference_accuracy=reference_accuracy, stage=stage, progress=progress, facts=facts,
                           quantization=scheme, dataset=config.dataset)
        artifacts: list[dict[str, Any]] = []
        for name in names:
            artifacts += _build_target(name, ctx, config)
        report = {
            "schema": SCHEMA,
            "edgekit_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "passed": gate_passed(artifacts),
            "targets": names,
            "reference": {
                "path": str(config.model.path), "format": model.format, "params": model.params,
                "accuracy": round(reference_accuracy, 6), "eval_split": data.eval_split,
                "eval_samples": len(evaluation), "input_shape": list(model.input_shape),
                "output_shape": list(model.output_shape), "class_names": evaluation.class_names,
                **({"rebuild": model.rebuild} if model.rebuild else {}),
            },
            "recipe": recipe_report,
            "artifacts": artifacts,
            **({"web_recommendation": recommend_web(artifacts)} if "web" in names else {}),
            "notes": list(model.notes) + notes,
            "environment": _environment(),
            "config": config.model_dump(mode="json"),
        }
        write_json(report, stage / "report.json")
        (stage / "report.md").write_text(render(report), encoding="utf-8")
        (stage / "report.html").write_text(render_html(report), encoding="utf-8")
    return report


def _run_recipe(model: Any, config: Config, evaluation: Any, reference_accuracy: float,
                progress: Reporter) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]], Any]:
    """Apply the recipe; return the compressed model, its eval outputs, the report section, facts, scheme."""
    from edgekit.compress.run import apply_recipe
    from edgekit.models import LoadedModel

    result = apply_recipe(model, config, progress=progress)
    converted = LoadedModel(path=model.path, format=model.format, params=result.params, input_shape=model.input_shape,
                            output_shape=model.output_shape, keras_model=result.keras_model, notes=model.notes)
    with progress.stage("compressed model evaluated"):
        outputs = converted.predict(evaluation.x)
        compressed_accuracy = accuracy(outputs, evaluation.y)
    progress.say(f"  compressed Keras accuracy {100 * compressed_accuracy:.2f} % "
                 f"({100 * (compressed_accuracy - reference_accuracy):+.2f} pp)")
    report = {"steps": result.steps, "coverage": result.coverage, "layers": result.facts,
              "quantization": result.quantization, "keras_accuracy": round(compressed_accuracy, 6),
              "keras_accuracy_drop": round(100 * (reference_accuracy - compressed_accuracy), 4)}
    return converted, outputs, report, result.facts, result.quantization


def _build_target(name: str, ctx: BuildContext, config: Config) -> list[dict[str, Any]]:
    if name == "android":
        from edgekit.targets import android

        return android.build(ctx, config.targets.android)
    if name == "ios":
        from edgekit.targets import ios

        return ios.build(ctx, config.targets.ios)
    if name == "web":
        from edgekit.targets import web

        return web.build(ctx, config.targets.web, dataset=config.dataset)
    raise ConfigError(f"target {name!r} is not available")  # guarded by resolve_targets


def _check_shapes(model: Any, evaluation: Any) -> None:
    expected = tuple(model.input_shape[1:])
    got = tuple(evaluation.x.shape[1:])
    if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
        raise InputError(f"the model expects inputs of shape {expected} but the dataset gives {got}",
                         hint="set dataset.image_size / color_mode to match the model")
    classes = model.output_shape[-1]
    if classes is not None and int(evaluation.y.max()) >= classes:
        raise InputError(f"labels go up to {int(evaluation.y.max())} but the model has {classes} outputs",
                         hint="check dataset.class_names and the model's last layer")


def _environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("tensorflow", "tf-keras", "ai-edge-litert"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            env[package] = "not installed"
    return env
