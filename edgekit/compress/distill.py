"""Knowledge distillation: a student learns the teacher's softened outputs and the labels.

The loss is an ordinary Keras loss on `y = [label, teacher log-probabilities]`, so distillation
runs through the same fine-tuning loop (checkpoints, resume, progress) as the other steps:

    loss = w * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - w) * CE(label, s)

with teacher logits t (log-probabilities when the teacher ends in softmax: the same softmax up to
a per-sample constant), student logits s, temperature T and soft weight w. An optional hint loss
matches a student feature map (projected by a 1x1 convolution) to a teacher feature map.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.compress.students import StudentSpec, build_student
from edgekit.compress.train import outputs_probabilities
from edgekit.errors import ConfigError, UnsupportedModelError
from edgekit.recipe.distill import DistillStep


@dataclass
class DistillSetup:
    student: Any  # the student as shipped (ends in softmax)
    train_model: Any  # what fit() trains: student logits (+ hint projection)
    targets: Any  # y for fit()
    loss: Any
    metrics: Any
    loss_weights: Any
    description: dict[str, Any]


def make_student(step: DistillStep, *, input_shape: tuple[int, ...], classes: int, seed: int, base: Path) -> tuple[Any, dict]:
    if step.student_path:
        from edgekit.compress.run import recipe_model
        from edgekit.models import load_model
        from edgekit.progress import Reporter

        path = Path(step.student_path)
        loaded = recipe_model(load_model(path if path.is_absolute() else base / path), progress=Reporter(quiet=True))
        student = loaded.keras_model
        if tuple(student.input_shape[1:]) != tuple(input_shape) or student.output_shape[-1] != classes:
            raise ConfigError(f"student {path.name} maps {student.input_shape[1:]} -> {student.output_shape[-1]} classes; "
                              f"the teacher maps {tuple(input_shape)} -> {classes}")
        return student, {"student": str(path), "params": int(student.count_params())}
    spec = StudentSpec(alpha=step.alpha, depth=step.depth, resolution=step.resolution, block=step.block)
    student = build_student(spec, input_shape=input_shape, classes=classes, seed=seed)
    return student, {"student": spec.name(), "params": int(student.count_params())}


def teacher_log_probs(teacher: Any, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    outputs = np.concatenate([np.asarray(teacher(x[i:i + batch_size], training=False))
                              for i in range(0, len(x), batch_size)])
    if outputs_probabilities(teacher):
        return np.log(np.clip(outputs, 1e-8, 1.0)).astype(np.float32)
    return outputs.astype(np.float32)


def setup(teacher: Any, step: DistillStep, *, x: np.ndarray, y: np.ndarray, seed: int, base: Path = Path(".")) -> DistillSetup:
    from edgekit.tfenv import keras, tensorflow

    tf, k = tensorflow(), keras()
    classes = int(teacher.output_shape[-1])
    student, description = make_student(step, input_shape=tuple(teacher.input_shape[1:]), classes=classes,
                                        seed=seed, base=base)
    logits = _logits_output(student)
    targets: Any = np.concatenate([y[:, None].astype(np.float32), teacher_log_probs(teacher, x)], axis=1)
    loss: Any = kd_loss(tf, temperature=step.temperature, soft_weight=step.soft_weight)
    metrics: Any = [kd_accuracy(tf)]
    outputs = [logits]
    if step.hint_layers:
        hint_output, hint_targets = _hint(k, teacher, student, step.hint_layers, x)
        outputs.append(hint_output)
        targets = (targets, hint_targets)
        loss = [loss, k.losses.MeanSquaredError()]
        metrics = [metrics, []]
    train_model = k.Model(student.input, outputs if len(outputs) > 1 else logits, name="distill_trainer")
    loss_weights = [1.0, step.hint_weight] if step.hint_layers else None
    description.update(temperature=step.temperature, soft_weight=step.soft_weight,
                       hint_layers=list(step.hint_layers) if step.hint_layers else None)
    return DistillSetup(student, train_model, targets, loss, metrics, loss_weights, description)


def kd_loss(tf: Any, *, temperature: float, soft_weight: float) -> Any:
    def distillation_loss(y_true: Any, logits: Any) -> Any:
        labels = tf.cast(y_true[:, 0], tf.int32)
        teacher_soft = tf.nn.softmax(y_true[:, 1:] / temperature)
        student_log_soft = tf.nn.log_softmax(logits / temperature)
        soft = tf.reduce_sum(teacher_soft * (tf.math.log(teacher_soft + 1e-8) - student_log_soft), axis=-1)
        hard = tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        return soft_weight * temperature ** 2 * soft + (1.0 - soft_weight) * hard

    return distillation_loss


def kd_accuracy(tf: Any) -> Any:
    def accuracy(y_true: Any, logits: Any) -> Any:
        labels = tf.cast(y_true[:, 0], tf.int64)
        return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, axis=-1), labels), tf.float32))

    return accuracy


def _logits_output(student: Any) -> Any:
    last = student.layers[-1]
    if type(last).__name__ == "Softmax" or (type(last).__name__ == "Activation"
                                            and last.get_config().get("activation") == "softmax"):
        return last.input
    raise UnsupportedModelError(
        f"student {student.name}: its last layer is {type(last).__name__}, so its logits cannot be read",
        hint="end the student with a Dense layer (linear) followed by a Softmax layer")


def _hint(k: Any, teacher: Any, student: Any, names: tuple[str, str], x: np.ndarray) -> tuple[Any, np.ndarray]:
    teacher_name, student_name = names
    try:
        teacher_feature = teacher.get_layer(teacher_name).output
        student_feature = student.get_layer(student_name).output
    except ValueError as err:
        raise ConfigError(f"hint_layers: {err}", hint="name a teacher layer and a student layer") from None
    features = k.Model(teacher.input, teacher_feature)
    targets = np.concatenate([np.asarray(features(x[i:i + 512], training=False)) for i in range(0, len(x), 512)])
    if len(targets.shape) != 4 or len(student_feature.shape) != 4:
        raise ConfigError("hint_layers must both be convolutional feature maps (N, H, W, C)")
    projected = k.layers.Conv2D(targets.shape[-1], 1, name="hint_proj")(student_feature)
    if tuple(projected.shape[1:3]) != tuple(targets.shape[1:3]):
        projected = k.layers.Resizing(targets.shape[1], targets.shape[2], name="hint_resize")(projected)
    return projected, targets.astype(np.float32)
