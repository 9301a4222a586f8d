"""Fine-tuning for one recipe step: progress per epoch, a checkpoint per epoch, resume, seed.

The checkpoint folder holds a TF checkpoint (model and optimizer) and `state.json`
(`epochs_done`, history). A run that was interrupted resumes from the last finished epoch; a
finished step is not trained again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit import distribute
from edgekit.progress import Reporter

if TYPE_CHECKING:  # annotations only: importing edgekit.recipe here would be circular
    from edgekit.recipe.base import StepBase


def outputs_probabilities(model: Any) -> bool:
    """True when the last layer ends in softmax (so the loss takes probabilities, not logits)."""
    last = model.layers[-1]
    inner = getattr(last, "layer", last)
    if type(inner).__name__ == "Softmax":
        return True
    return str(inner.get_config().get("activation", "")) == "softmax"


def classifier_loss(*, from_logits: bool) -> tuple[Any, list[Any]]:
    from edgekit.tfenv import keras

    return keras().losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]


def fine_tune(model: Any, step: StepBase, *, x: np.ndarray, y: Any, folder: Path, seed: int, progress: Reporter,
              callbacks: list[Any], label: str, loss: Any, metrics: list[Any],
              loss_weights: list[float] | None = None) -> dict[str, Any]:
    """Train `model` in place for step.epochs, checkpointing each epoch under `folder`.

    `metrics[0]` is reported as the epoch's "accuracy"; `y` may be an array or a tuple of arrays.
    """
    from edgekit.tfenv import keras, tensorflow

    tf, k = tensorflow(), keras()
    k.utils.set_random_seed(seed)
    steps = int(np.ceil(len(x) / step.batch_size))
    rate: Any = step.learning_rate
    if step.lr_schedule == "cosine":
        rate = k.optimizers.schedules.CosineDecay(step.learning_rate, decay_steps=max(1, step.epochs * steps), alpha=0.01)
    optimizer = k.optimizers.Adam(rate)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=1)
    state = _read_state(folder)
    replicas = distribute.replicas()
    if state["epochs_done"] > step.epochs:  # trained further than asked: cannot be undone, start again
        manager, state = _restart(tf, folder, checkpoint)
    if not distribute.all_agree_on(_resume_point(state, manager)):  # every worker calls it: same collectives
        progress.say(f"  {label}: the workers' checkpoints differ; every worker trains this step from the start")
        manager, state = _restart(tf, folder, checkpoint)
    state["replicas"] = replicas  # what trained it: a one-process checkpoint is not resumed by several workers
    if state["epochs_done"] and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        if state["epochs_done"] < step.epochs:
            progress.say(f"  {label}: resuming after epoch {state['epochs_done']}/{step.epochs}")
    else:
        state = {"epochs_done": 0, "history": []}
    if state["epochs_done"] >= step.epochs and step.epochs > 0:
        progress.say(f"  {label}: trained earlier, restored from the cache ({folder})")
        return {**state, "resumed": True}
    if step.epochs == 0:
        return {**state, "resumed": False}
    dataset = (tf.data.Dataset.from_tensor_slices((x, tuple(y) if isinstance(y, (tuple, list)) else y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
               .batch(step.batch_size).prefetch(tf.data.AUTOTUNE))
    dataset = distribute.shard_option(dataset)  # under a strategy: each worker its part of every global batch
    start_epoch = state["epochs_done"]
    tracker = _EpochLog(k, progress=progress, label=label, epochs=step.epochs, steps=steps, folder=folder,
                        manager=manager, state=state)
    model.fit(dataset, epochs=step.epochs, initial_epoch=start_epoch, verbose=0, callbacks=callbacks + [tracker])
    return {**state, "resumed": start_epoch > 0}


def _restart(tf: Any, folder: Path, checkpoint: Any) -> tuple[Any, dict[str, Any]]:
    import shutil

    shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=1), {"epochs_done": 0, "history": []}


def _resume_point(state: dict[str, Any], manager: Any) -> tuple[int, int, int]:
    """(epochs done, checkpoint number, replicas that trained it): workers resume only when all three match."""
    latest = manager.latest_checkpoint
    if not latest:
        return (0, 0, 0)
    number = latest.rsplit("-", 1)[-1]
    return (int(state["epochs_done"]), int(number) if number.isdigit() else -1, int(state.get("replicas", 1)))


def _read_state(folder: Path) -> dict[str, Any]:
    path = folder / "state.json"
    if not path.is_file():
        return {"epochs_done": 0, "history": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"epochs_done": 0, "history": []}


def _EpochLog(k: Any, **kwargs: Any) -> Any:
    class EpochLog(k.callbacks.Callback):
        def __init__(self, *, progress: Reporter, label: str, epochs: int, steps: int, folder: Path,
                     manager: Any, state: dict[str, Any]):
            super().__init__()
            self.progress, self.label, self.epochs, self.steps = progress, label, epochs, steps
            self.folder, self.manager, self.state = folder, manager, state
            self._bar = None

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()
            self._cm = self.progress.bar(f"{self.label} epoch {epoch + 1}/{self.epochs}", self.steps)
            self._advance = self._cm.__enter__()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self._advance(1)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self._cm.__exit__(None, None, None)
            seconds = time.perf_counter() - self.started
            logs = {key.split("_", 1)[-1] if key.endswith("accuracy") else key: value for key, value in (logs or {}).items()}
            self.manager.save()
            self.state["epochs_done"] = epoch + 1
            self.state["history"].append({"epoch": epoch + 1, "loss": round(float(logs.get("loss", 0)), 5),
                                          "accuracy": round(float(logs.get("accuracy", 0)), 5),
                                          "seconds": round(seconds, 1)})
            tmp = self.folder / "state.json.tmp"
            tmp.write_text(json.dumps(self.state, indent=2))
            tmp.replace(self.folder / "state.json")
            left = (self.epochs - epoch - 1) * seconds
            self.progress.say(f"  {self.label} epoch {epoch + 1}/{self.epochs}: loss {logs.get('loss', 0):.4f}, "
                              f"train acc {100 * logs.get('accuracy', 0):.2f} % ({seconds:.0f} s"
                              + (f", about {left / 60:.1f} min left)" if left > 0 else ")"))

    return EpochLog(**kwargs)
