"""apply_recipe: run the recipe's steps in order on a tf_keras model, trained once for all targets.

prune -> (strip) -> cluster, sparsity-preserving after prune -> (strip) -> qat with the
preserving scheme (PQAT / CQAT / PCQAT). Completed steps are cached under `build.cache`, keyed
by the model, the data settings, the steps so far and the seed; an interrupted step resumes.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import __version__
from edgekit.compress import steps as ops
from edgekit.compress.facts import layer_facts
from edgekit.compress.train import classifier_loss, fine_tune, outputs_probabilities
from edgekit.config import Config
from edgekit.data import load_split
from edgekit.errors import UnsupportedModelError
from edgekit.models import LoadedModel
from edgekit.progress import Reporter


@dataclass
class Compressed:
    keras_model: Any
    steps: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)
    quantization: str | None = None  # "QAT", "PQAT", "CQAT", "PCQAT" when the model is QAT-trained
    params: int = 0  # parameters of the compressed model (the student's after distillation)


def recipe_model(model: LoadedModel, *, progress: Reporter, allow_unsafe: bool = False) -> LoadedModel:
    """The model as tf_keras, which the recipe's steps (TFMOT) need: Keras 3 files are rebuilt."""
    if model.flavor == "tf_keras":
        return model
    if model.flavor != "keras3":
        raise UnsupportedModelError(f"{model.path.name}: recipe steps need a Keras model, not a {model.format}",
                                    hint="pass the .keras/.h5 file, or remove the recipe")
    from edgekit.models.keras3 import rebuild_keras3

    with progress.stage("Keras 3 model rebuilt as tf_keras for the recipe (outputs compared)"):
        twin, record = rebuild_keras3(model.path, allow_unsafe=allow_unsafe)
    note = (f"recipe: Keras {record['source_keras_version']} model rebuilt as tf_keras for TFMOT: max abs output "
            f"difference {record['max_abs_error']:.2e} on {record['samples']} random inputs")
    return model.replaced(keras_model=twin, flavor="tf_keras", rebuild=record, notes=model.notes + [note])


def apply_recipe(model: LoadedModel, config: Config, *, progress: Reporter) -> Compressed:
    if model.keras_model is None or model.flavor != "tf_keras":
        raise UnsupportedModelError(f"{model.path.name}: recipe steps need a Keras model, not a {model.format}",
                                    hint="pass the .keras/.h5 file, or remove the recipe")
    data = config.dataset
    with progress.stage(f"training data loaded ({data.train_split})"):
        train = load_split(data, data.train_split, limit=data.train_samples, seed=config.build.seed)
    current = model.keras_model
    # decided on the original model: wrappers hide activations
    loss, metrics = classifier_loss(from_logits=not outputs_probabilities(current))
    result = Compressed(keras_model=current)
    done: list[str] = []
    model_digest = file_digest(model.path)  # hashed once: every step's cache key starts from it
    for index, step in enumerate(config.recipe):
        label = f"recipe {index + 1}/{len(config.recipe)} {step.step}"
        folder = config.build.cache / f"{index}-{step.step}-{_cache_key(model_digest, config, upto=index)}"
        started = time.perf_counter()
        total = step.epochs * -(-len(train) // step.batch_size)
        if step.step == "distill":
            from edgekit.compress import distill

            with progress.stage(f"{label}: teacher outputs on {len(train):,} training images"):
                plan = distill.setup(current, step, x=train.x, y=train.y, seed=config.build.seed + index)
            progress.say(f"  {label}: student {plan.description['student']} ({plan.description['params']:,} parameters)")
            history = fine_tune(plan.train_model, step, x=train.x, y=plan.targets, folder=folder,
                                seed=config.build.seed + index, progress=progress, callbacks=[], label=label,
                                loss=plan.loss, metrics=plan.metrics, loss_weights=plan.loss_weights)
            current = plan.student
            loss, metrics = classifier_loss(from_logits=not outputs_probabilities(current))
            result.steps.append(_record(step, started, folder, history, **plan.description))
            done.append("distill")
            continue
        if step.step == "prune":
            wrapped, coverage, callbacks = ops.apply_prune(current, step, total_steps=total)
        elif step.step == "cluster":
            wrapped, coverage, callbacks = ops.apply_cluster(current, step, after_prune="prune" in done)
        else:
            result.facts = layer_facts(current, {**result.coverage})  # structure before QAT
            result.params = int(current.count_params())
            wrapped, coverage, name = ops.apply_qat(current, step, after_prune="prune" in done,
                                                   after_cluster="cluster" in done)
            callbacks, result.quantization = [], name
        result.coverage[step.step] = coverage
        applied = sum(1 for e in coverage if e["status"] == "applied")
        skipped = [e["layer"] for e in coverage if e["status"] == "skipped"]
        progress.say(f"  {label}: {applied} layers wrapped" + (f", left as they are: {', '.join(skipped)}" if skipped else ""))
        history = fine_tune(wrapped, step, x=train.x, y=train.y, folder=folder, seed=config.build.seed + index,
                            progress=progress, callbacks=callbacks, label=label, loss=loss, metrics=metrics)
        if step.step == "prune":
            current = ops.strip_prune(wrapped)
            _check_sparsity(current, coverage, step, progress)
        elif step.step == "cluster":
            current = ops.strip_cluster(wrapped)
        else:
            current = wrapped
        result.steps.append(_record(step, started, folder, history,
                                    **({"scheme": result.quantization} if step.step == "qat" else {})))
        done.append(step.step)
    if not result.facts:
        result.facts = layer_facts(current, result.coverage)
    else:
        qat_applied = {e["layer"] for e in result.coverage.get("qat", []) if e["status"] == "applied"}
        for fact in result.facts:
            fact["quantized"] = fact["layer"] in qat_applied
    result.keras_model = current
    result.params = result.params or int(current.count_params())
    return result


def _record(step: Any, started: float, folder: Path, history: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The report's entry for one finished step."""
    return {"step": step.step, "settings": step.model_dump(mode="json"), **extra,
            "seconds": round(time.perf_counter() - started, 1), "cache": str(folder),
            "resumed": history.get("resumed", False), "history": history.get("history", [])}


def _check_sparsity(model: Any, coverage: list[dict[str, Any]], step: Any, progress: Reporter) -> None:
    """Record each pruned layer's measured sparsity; say so when it falls short of the target."""
    import numpy as np

    from edgekit.compress.facts import kernels

    for entry in coverage:
        if entry["status"] != "applied":
            continue
        values = np.concatenate([np.asarray(w.numpy()).ravel() for w in kernels(model.get_layer(entry["layer"]))])
        entry["measured_sparsity"] = round(float(np.mean(values == 0)), 4)
        if entry["measured_sparsity"] < step.final_sparsity - 0.05:
            entry["warning"] = f"sparsity {entry['measured_sparsity']:.2f} below the target {step.final_sparsity:.2f}"
            progress.say(f"[yellow]warning:[/] prune {entry['layer']}: {entry['warning']}")


def _cache_key(model_digest: str, config: Config, *, upto: int) -> str:
    """Hash of what step `upto` depends on: the model file, data settings, steps 0..upto, seed."""
    digest = hashlib.sha256()
    digest.update(__version__.encode())
    digest.update(model_digest.encode())
    digest.update(json.dumps(config.dataset.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps([s.model_dump(mode="json") for s in config.recipe[:upto + 1]], sort_keys=True).encode())
    for step in config.recipe[:upto + 1]:
        student = getattr(step, "student_path", None)
        if student and Path(student).exists():
            digest.update(file_digest(Path(student)).encode())  # a replaced student file is a new step
    digest.update(str(config.build.seed).encode())
    return digest.hexdigest()[:16]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()
