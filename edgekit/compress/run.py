"""apply_recipe: run the recipe's steps in order on a tf_keras model, trained once for all targets.

Each step comes from the registry (`edgekit.recipe.STEPS`): prepare (wrap, or build a student) ->
the shared fine-tuning loop -> finish (strip), e.g. distill -> prune -> cluster (sparsity-preserving)
-> qat with the preserving scheme (PQAT / CQAT / PCQAT). Completed steps are cached under `build.cache`, keyed
by the model, the data settings, the steps so far and the seed; an interrupted step resumes.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import __version__, distribute
from edgekit.compress.facts import layer_facts
from edgekit.compress.train import classifier_loss, fine_tune, outputs_probabilities
from edgekit.config import Config
from edgekit.data import load_split
from edgekit.errors import ConfigError, UnsupportedModelError
from edgekit.models import LoadedModel
from edgekit.progress import Reporter
from edgekit.recipe import STEPS, StepContext


@dataclass
class Compressed:
    keras_model: Any
    steps: list[dict[str, Any]] = field(default_factory=list)
    coverage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)
    quantization: str | None = None  # "QAT", "PQAT", "CQAT", "PCQAT" when the model is QAT-trained
    params: int = 0  # parameters of the compressed model (the student's after distillation)
    distribute: dict[str, Any] | None = None  # the tf.distribute plan, when training ran under a strategy
    notes: list[str] = field(default_factory=list)


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
    strategy, plan = distribute.current()
    cache = config.build.cache if plan.chief else config.build.cache / f"worker-{plan.index}"
    last_distributed = max((i for i, s in enumerate(config.recipe) if STEPS[s.step].distributed), default=-1)
    if strategy is not None:
        result.distribute = plan.to_dict()
        from edgekit import provenance

        inputs = _inputs_digest(model_digest, config, provenance.arrays_digest([train.x, train.y]))
        if not distribute.same_inputs(inputs):
            raise ConfigError("the workers' model file, config or training data differ",
                              hint="give every worker the same model file, edgekit.toml and dataset")
    last_in_scope = False
    for index, settings in enumerate(config.recipe):
        step = STEPS[settings.step]
        label = f"recipe {index + 1}/{len(config.recipe)} {step.name}"
        if not plan.chief and index > last_distributed:
            progress.say(f"  {label}: left to the chief (it does not train under a strategy)")
            break
        distributed = strategy is not None and step.distributed
        if strategy is not None:
            current = distribute.plain_copy(current, in_scope=distributed)
            if not distributed:
                result.notes.append(f"recipe step {step.name} trained on the chief alone, not under "
                                    f"{plan.describe().split(',')[0]}: {step.not_distributed_reason}")
                progress.say(f"  {label}: trained on the chief alone ({step.not_distributed_reason})")
        folder = cache / f"{index}-{step.name}-{_cache_key(model_digest, config, upto=index)}"
        started = time.perf_counter()
        ctx = StepContext(x=train.x, y=train.y, total_steps=settings.epochs * -(-len(train) // settings.batch_size),
                          done=list(done), seed=config.build.seed + index, say=progress.say, stage=progress.stage)
        if step.keeps_wrappers and not result.facts:
            result.facts = layer_facts(current, {**result.coverage})  # the structure, before the wrappers
            result.params = int(current.count_params())
        with distribute.scope(distributed):
            prepared = step.prepare(current, settings, ctx)
            if distributed:
                distribute.sync_batch_norm(prepared.train_model)
            if prepared.coverage is not None:
                result.coverage[step.name] = prepared.coverage
                applied = sum(1 for e in prepared.coverage if e["status"] == "applied")
                skipped = [e["layer"] for e in prepared.coverage if e["status"] == "skipped"]
                progress.say(f"  {label}: {applied} layers wrapped"
                             + (f", left as they are: {', '.join(skipped)}" if skipped else ""))
            history = fine_tune(prepared.train_model, settings, x=train.x,
                                y=train.y if prepared.targets is None else prepared.targets, folder=folder,
                                seed=ctx.seed, progress=progress, callbacks=prepared.callbacks, label=label,
                                loss=prepared.loss if prepared.loss is not None else loss,
                                metrics=prepared.metrics if prepared.metrics is not None else metrics,
                                loss_weights=prepared.loss_weights)
            current = step.finish(prepared, settings, ctx)
        last_in_scope = distributed
        if step.replaces_model:
            loss, metrics = classifier_loss(from_logits=not outputs_probabilities(current))
        result.quantization = prepared.record.get("scheme", result.quantization)
        extra = {"distributed": distributed} if strategy is not None else {}
        result.steps.append(_record(settings, started, folder, history, **prepared.record, **extra))
        done.append(step.name)
    if last_in_scope:  # compiled under the strategy: a plain copy predicts and converts on the chief alone
        current = distribute.plain_copy(current, in_scope=False)
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


def _inputs_digest(model_digest: str, config: Config, data_digest: str) -> str:
    """What the workers of one run must share, by content (each machine's paths differ): the model, the
    training data, the recipe's settings and student files, the seed."""
    steps = []
    for step in config.recipe:
        settings = step.model_dump(mode="json")
        student = settings.pop("student_path", None)
        steps.append({**settings, "student": file_digest(Path(student)) if student and Path(student).exists() else None})
    text = json.dumps({"model": model_digest, "data": data_digest, "steps": steps, "seed": config.build.seed},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


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
