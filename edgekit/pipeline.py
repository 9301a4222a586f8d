"""build(config) -> report: the stages, named and in order.

    load model (safely) -> load data -> reference outputs -> per target: convert, validate,
    measure, profile, budgets -> report.json + report.md + report.html, written to a staging folder and moved
    into place whole.
"""
from __future__ import annotations

import datetime as dt
import platform
from typing import Any

from rich.markup import escape

from edgekit import __version__, distribute, provenance, targets
from edgekit.config import Config
from edgekit.context import BuildContext
from edgekit.data import load_split
from edgekit.errors import ConfigError, EnvironmentProblem, UnsupportedModelError
from edgekit.labels import check_inputs, label_output, output_kind
from edgekit.sanity import check_reference, raise_if_nonsense
from edgekit.sanity import message as sanity_message
from edgekit.progress import Reporter
from edgekit.report import SCHEMA, report_passed, write_reports
from edgekit.staging import check_output_dir, output_lock, staged_output
from edgekit.targets import registry, run
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


def space_needed(config: Config) -> int:
    """A generous guess at what a build writes: each target's artifacts are at most a few copies of the
    model's weights (fp32/fp16/int8 files, a Core ML package, TF.js shards) plus the staging copy."""
    path = config.model.path
    try:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        size = sum(p.stat().st_size for p in files)
    except OSError:
        return 0  # a missing model is reported by the loader, with its own message
    return 8 * size + (64 << 20)


WORKER_SCHEMA = "edgekit.worker/v1"  # what a non-chief training worker returns instead of a report


def build(config: Config, *, target: str, progress: Reporter) -> dict[str, Any]:
    plan = distribute.read_plan(config.build.distribute)  # TF_CONFIG checked before anything loads
    if not plan.chief:
        return train_worker(config, plan, progress=progress)
    together = plan.kind == "multi_worker" and bool(config.recipe)
    if together:  # first: the other workers are waiting to join, and every failure below must reach them
        _start_strategy(config, progress)
    try:
        check_output_dir(config.build.out)
        with output_lock(config.build.out):
            report = _build(config, target=target, progress=progress)
    except BaseException as err:
        if together:
            distribute.announce(f"failed: {type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}")
        raise
    if together:
        distribute.announce("done")
    return report


def _build(config: Config, *, target: str, progress: Reporter) -> dict[str, Any]:
    names = resolve_targets(config, target)
    skipped = [n for n in targets.KNOWN if getattr(config.targets, n) is not None and n not in names]
    notes = [f"target {n} is configured but not built: edgekit {__version__} builds {', '.join(targets.AVAILABLE)} only"
             for n in skipped if target == "all"]
    if target == "all":
        notes += [f"target {n} skipped: the config has no [targets.{n}] section" for n in targets.KNOWN
                  if getattr(config.targets, n) is None]
    out = config.build.out
    check_output_dir(out, needed=space_needed(config), locked=True)
    unready = {name: err for name in names if (err := run.preflight(name, config)) is not None}
    for name, err in unready.items():
        progress.say(f"[red]✗ {name} cannot be built here:[/] {escape(err.one_line())}")
    if len(unready) == len(names):
        raise next(iter(unready.values()))  # nothing could be built: say so before loading or training anything
    from edgekit.compress.run import file_digest
    from edgekit.models import load_model

    if config.recipe:
        _start_strategy(config, progress)
    with progress.stage(f"model loaded: {config.model.path.name}"):
        model = load_model(config.model.path, allow_unsafe=config.model.allow_unsafe)
    data = config.dataset
    with progress.stage("data loaded"):
        evaluation = load_split(data, data.eval_split, limit=data.eval_samples, seed=config.build.seed,
                                inputs=model.inputs)
        model = check_inputs(model, evaluation, kind=data.kind)
        calibration = load_split(data, data.calibration_split, limit=data.calibration_samples,
                                 seed=config.build.seed, inputs=model.inputs)
    with progress.stage(f"reference outputs on {len(evaluation):,} samples"), \
            progress.bar("reference outputs", len(evaluation)) as advance:
        reference = model.predict(evaluation.inputs, progress=advance)
    label_index = label_output(model, evaluation, data.label_output, reference)
    reference_accuracy = None if label_index is None else accuracy(reference[label_index], evaluation.y)
    progress.say(f"  reference accuracy {_percent(reference_accuracy)} ({model.params:,} parameters)")
    verdict = check_reference(model, evaluation, reference, label_index, data)
    sanity_notes = _sanity_notes(verdict, config, progress)
    converted, recipe_report, facts, scheme = model, None, [], None
    if config.recipe:
        converted, reference, recipe_report, facts, scheme = _run_recipe(model, config, evaluation, reference_accuracy,
                                                                         label_index, progress)
        notes += recipe_report.pop("notes")

    model_sha256 = file_digest(config.model.path)
    print_ = run.fingerprint(config, model_sha256)
    with staged_output(out) as stage:
        ctx = BuildContext(model=converted, eval=evaluation, calibration=calibration.inputs, reference=reference,
                           reference_accuracy=reference_accuracy, stage=stage, progress=progress, facts=facts,
                           quantization=scheme, dataset=config.dataset, label_index=label_index)
        artifacts, status, kept_notes = run.keep_previous(out, stage, names, config, print_)
        errors = dict(unready)
        for name in names:
            if name in unready:
                status[name] = run.failed_status(unready[name])
                continue
            built, status[name], error = run.build_isolated(name, stage, lambda n=name: _build_target(n, ctx, config),
                                                            progress)
            artifacts += built
            if error is None:
                status[name]["settings"] = run.settings_digest(config, name)
            else:
                errors[name] = error
        if len(errors) == len(names):
            raise run.worst(list(errors.values()))  # nothing requested was built: the previous build stays untouched
        artifacts = run.in_order(artifacts)
        provenance.record(artifacts, stage)
        present = [name for name in run.ORDER if name in status]
        report = {
            "schema": SCHEMA,
            "edgekit_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "passed": report_passed({"artifacts": artifacts, "target_status": status}),
            "targets": present,
            "target_status": {name: status[name] for name in present},
            "fingerprint": print_,
            "reference": {
                "path": str(config.model.path), "format": model.format, "params": model.params,
                "accuracy": None if reference_accuracy is None else round(reference_accuracy, 6),
                "eval_split": data.eval_split, "eval_samples": len(evaluation),
                "input_shape": list(model.inputs[0].shape), "output_shape": list(model.outputs[label_index or 0].shape),
                "inputs": [info.to_dict() for info in model.inputs],
                "outputs": [{**info.to_dict(), "kind": output_kind(values, i == label_index)}
                            for i, (info, values) in enumerate(zip(model.outputs, reference))],
                "label_output": None if label_index is None else model.outputs[label_index].name,
                **({"sanity": verdict.to_dict()} if verdict else {}),
                "class_names": evaluation.class_names,
                **({"rebuild": converted.rebuild} if converted.rebuild else {}),
            },
            "recipe": recipe_report,
            "provenance": {
                "model_sha256": model_sha256,
                "data": {name: {"split": split_name, "samples": len(split),
                                "sha256": provenance.arrays_digest(split.inputs + ([] if split.y is None else [split.y]))}
                         for name, split_name, split in (("eval", data.eval_split, evaluation),
                                                         ("calibration", data.calibration_split, calibration))},
            },
            "artifacts": artifacts,
            **registry.report_fields(present, artifacts, config.model_dump(mode="json")["targets"]),
            "notes": list(converted.notes) + notes + sanity_notes + kept_notes,
            "environment": _environment(),
            "config": config.model_dump(mode="json"),
        }
        write_reports(report, stage)
    return report


def _sanity_notes(verdict: Any, config: Config, progress: Reporter) -> list[str]:
    """Stop on a reference model at chance (unless build.sanity_checks = false); note suspicious preprocessing."""
    if verdict is None:
        return []
    if verdict.at_chance and config.build.sanity_checks:
        raise_if_nonsense(verdict)
    if verdict.at_chance:
        why = ("build.sanity_checks = false" if not config.build.sanity_checks
               else f"only {verdict.samples} labelled samples, too few to stop a build on")
        return _warn([f"{sanity_message(verdict)} — built anyway: {why}"], progress)
    return _warn([f"preprocessing: {reason}" for reason in verdict.reasons], progress)


def _warn(notes: list[str], progress: Reporter) -> list[str]:
    for note in notes:
        progress.say(f"[yellow]warning:[/] {escape(note)}")
    return notes


def _percent(value: Any) -> str:
    return "not applicable (no class labels)" if value is None else f"{100 * value:.2f} %"


def _run_recipe(model: Any, config: Config, evaluation: Any, reference_accuracy: Any, label_index: Any,
                progress: Reporter) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]], Any]:
    """Apply the recipe; return the compressed model, its eval outputs, the report section, facts, scheme."""
    from edgekit.compress.run import apply_recipe, recipe_model

    if len(model.inputs) != 1 or len(model.outputs) != 1 or label_index is None:
        raise UnsupportedModelError(f"recipe steps fine-tune single-input classifiers with labels; the model has "
                                    f"{len(model.inputs)} input(s), {len(model.outputs)} output(s)"
                                    + ("" if label_index is not None else " and no class labels"),
                                    hint="remove [[recipe]] to convert the model as it is")
    source = recipe_model(model, progress=progress, allow_unsafe=config.model.allow_unsafe)
    result = apply_recipe(source, config, progress=progress)
    converted = source.replaced(keras_model=result.keras_model, params=result.params, flavor="tf_keras")
    with progress.stage("compressed model evaluated"):
        outputs = converted.predict(evaluation.inputs)
        compressed_accuracy = accuracy(outputs[0], evaluation.y)
    progress.say(f"  compressed Keras accuracy {100 * compressed_accuracy:.2f} % "
                 f"({100 * (compressed_accuracy - reference_accuracy):+.2f} pp)")
    report = {"steps": result.steps, "coverage": result.coverage, "layers": result.facts,
              "quantization": result.quantization, "keras_accuracy": round(compressed_accuracy, 6),
              "keras_accuracy_drop": round(100 * (reference_accuracy - compressed_accuracy), 4),
              **({"distribute": result.distribute} if result.distribute else {}), "notes": result.notes}
    return converted, outputs, report, result.facts, result.quantization


def _start_strategy(config: Config, progress: Reporter) -> distribute.Plan:
    plan = distribute.start(config.build.distribute)
    if plan.kind != "single":
        progress.say(f"  training: {plan.describe()}")
    return plan


def train_worker(config: Config, plan: distribute.Plan, *, progress: Reporter) -> dict[str, Any]:
    """A non-chief worker of a multi-worker run: train the recipe's distributed steps with the others, write
    nothing (the chief converts, validates and writes the build)."""
    if not config.recipe:
        raise ConfigError(f"TF_CONFIG makes this process worker {plan.index} of {plan.workers}, but the config has "
                          "no [[recipe]] to train together", hint="run the build on one machine without TF_CONFIG")
    from edgekit.compress.run import apply_recipe, recipe_model
    from edgekit.models import load_model

    _start_strategy(config, progress)
    with progress.stage(f"model loaded: {config.model.path.name}"):
        model = load_model(config.model.path, allow_unsafe=config.model.allow_unsafe)
    source = recipe_model(model, progress=progress, allow_unsafe=config.model.allow_unsafe)
    gone = EnvironmentProblem(f"worker {plan.index}: the chief or another worker stopped",
                              hint="see the chief's output; rerun every worker (finished steps come from the cache)")
    from edgekit.tfenv import tensorflow

    try:
        result = apply_recipe(source, config, progress=progress)
    except tensorflow().errors.OpError as err:  # an aborted collective: UnavailableError, InternalError, …
        raise gone from err
    with progress.stage("waited for the chief's build"):
        try:
            status = distribute.wait_for_chief()
        except Exception as err:  # noqa: BLE001 - the coordination service went away with the chief
            raise gone from err
    if status != "done":
        raise EnvironmentProblem(f"worker {plan.index}: the chief's build {status[:300]}",
                                 hint="see the chief's output; rerun every worker (finished steps come from the cache)")
    return {"schema": WORKER_SCHEMA, "worker": plan.index, "workers": plan.workers,
            "steps": [s["step"] for s in result.steps if s.get("distributed")]}


def _build_target(name: str, ctx: BuildContext, config: Config) -> list[dict[str, Any]]:
    return registry.get(name).build(ctx, config)  # names checked by resolve_targets


def _environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("tensorflow", "tf-keras", "ai-edge-litert"):
        try:
            env[package] = version(package)
        except PackageNotFoundError:
            env[package] = "not installed"
    return env
