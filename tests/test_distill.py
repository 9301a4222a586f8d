"""Distillation on tiny in-code teachers and students."""
import numpy as np
import pytest

from edgekit.compress import distill
from edgekit.compress.students import StudentSpec, build_student
from edgekit.compress.train import fine_tune
from edgekit.errors import UnsupportedModelError
from edgekit.progress import Reporter
from edgekit.recipe import DistillStep

QUIET = Reporter(quiet=True)


@pytest.mark.parametrize("block", ["separable", "inverted"])
@pytest.mark.parametrize("resolution", [None, 20])
def test_student_builder_matches_teacher_io_and_scales_with_alpha(keras_module, block, resolution):
    small = build_student(StudentSpec(alpha=0.25, block=block, resolution=resolution), input_shape=(28, 28, 1), classes=10)
    large = build_student(StudentSpec(alpha=1.0, block=block, resolution=resolution), input_shape=(28, 28, 1), classes=10)
    assert small.input_shape == (None, 28, 28, 1) and small.output_shape == (None, 10)
    assert small.count_params() * 4 < large.count_params()
    out = small(np.zeros((2, 28, 28, 1), np.float32)).numpy()
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    kinds = {type(layer).__name__ for layer in small.layers}
    assert {"DepthwiseConv2D", "BatchNormalization", "ReLU"} <= kinds
    assert ("Resizing" in kinds) == (resolution is not None)
    assert all(layer.max_value == 6.0 for layer in small.layers if type(layer).__name__ == "ReLU")


def test_kd_loss_is_zero_for_a_student_equal_to_the_teacher_and_weights_hard_labels(keras_module):
    import tensorflow as tf

    logits = tf.constant([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    y = tf.concat([tf.constant([[0.0], [2.0]]), tf.nn.log_softmax(logits)], axis=1)
    soft_only = distill.kd_loss(tf, temperature=4.0, soft_weight=1.0)(y, logits).numpy()
    np.testing.assert_allclose(soft_only, 0.0, atol=1e-5)
    hard_only = distill.kd_loss(tf, temperature=4.0, soft_weight=0.0)(y, logits).numpy()
    expected = tf.keras.losses.sparse_categorical_crossentropy([0, 2], logits, from_logits=True).numpy()
    np.testing.assert_allclose(hard_only, expected, rtol=1e-5)


def swapped_teacher(k, fashion_subset):
    """A teacher trained on labels with classes 0 and 1 swapped: its outputs differ from the labels."""
    x, y = fashion_subset
    k.utils.set_random_seed(3)
    teacher = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Conv2D(8, 3, strides=2, activation="relu"),
                            k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
    teacher.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    swapped = np.where(y == 0, 1, np.where(y == 1, 0, y))
    teacher.fit(x, swapped, epochs=3, batch_size=64, verbose=0)
    return teacher


def train_student(teacher, soft_weight, fashion_subset, folder):
    x, y = fashion_subset
    step = DistillStep(step="distill", alpha=0.5, depth=3, epochs=4, batch_size=64, learning_rate=5e-3,
                       soft_weight=soft_weight)
    plan = distill.setup(teacher, step, x=x, y=y, seed=0)
    fine_tune(plan.train_model, step, x=x, y=plan.targets, folder=folder, seed=0, progress=QUIET, callbacks=[],
              label="distill", loss=plan.loss, metrics=plan.metrics, loss_weights=plan.loss_weights)
    return plan.student


def test_distillation_moves_the_student_towards_the_teachers_outputs(keras_module, fashion_subset, tmp_path):
    x, y = fashion_subset
    teacher = swapped_teacher(keras_module, fashion_subset)
    probe = x[:500]
    teacher_probs = teacher.predict(probe, verbose=0)
    distilled = train_student(teacher, 1.0, fashion_subset, tmp_path / "kd").predict(probe, verbose=0)
    labels_only = train_student(teacher, 0.0, fashion_subset, tmp_path / "ce").predict(probe, verbose=0)
    # On the swapped classes the distilled student follows the teacher, the label-trained one does not.
    swapped = np.isin(y[:500], [0, 1])
    follows = lambda probs: np.mean(probs[swapped].argmax(-1) == teacher_probs[swapped].argmax(-1))  # noqa: E731
    assert follows(distilled) > follows(labels_only) + 0.3
    # And over all images its output distribution is closer to the teacher's.
    kl = lambda probs: np.mean(np.sum(teacher_probs * np.log((teacher_probs + 1e-7) / (probs + 1e-7)), axis=-1))  # noqa: E731
    assert kl(distilled) < kl(labels_only)


def test_hint_loss_trains_a_projection_to_the_teacher_feature(keras_module, fashion_subset, tmp_path):
    x, y = fashion_subset
    teacher = swapped_teacher(keras_module, fashion_subset)
    step = DistillStep(step="distill", alpha=0.25, depth=2, epochs=1, hint_layers=(teacher.layers[0].name, "block1_pw_relu6"))
    plan = distill.setup(teacher, step, x=x[:256], y=y[:256], seed=0)
    assert plan.loss_weights == [1.0, 0.1] and len(plan.train_model.outputs) == 2
    history = fine_tune(plan.train_model, step, x=x[:256], y=plan.targets, folder=tmp_path, seed=0, progress=QUIET,
                        callbacks=[], label="distill", loss=plan.loss, metrics=plan.metrics, loss_weights=plan.loss_weights)
    assert history["epochs_done"] == 1 and "hint_proj" not in [layer.name for layer in plan.student.layers]


def test_student_without_readable_logits_is_refused(keras_module, tmp_path):
    k = keras_module
    student = k.Sequential([k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Flatten(),
                            k.layers.Dense(10, activation="softmax")])
    with pytest.raises(UnsupportedModelError, match="logits"):
        distill._logits_output(student)
