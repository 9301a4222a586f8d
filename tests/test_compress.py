"""Recipe steps on tiny in-code models: structure in the Keras model and in the TFLite artifact."""
from pathlib import Path

import numpy as np
import pytest

from edgekit.compress.train import classifier_loss, fine_tune
from edgekit.converters import tflite
from edgekit.errors import UnsupportedModelError
from edgekit.models import keras_loaded
from edgekit.progress import Reporter
from edgekit.recipe import ClusterStep, PruneStep, QatStep
from edgekit.recipe import cluster as cluster_ops
from edgekit.recipe import prune as prune_ops
from edgekit.recipe import qat as qat_ops
from edgekit.structure import tflite_structure

QUIET = Reporter(quiet=True)


def small_model(k, *, extra=None):
    k.utils.set_random_seed(0)
    layers = [k.layers.InputLayer(input_shape=(28, 28, 1)), k.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv"),
              k.layers.DepthwiseConv2D(3, name="depthwise")]
    layers += extra or []
    layers += [k.layers.Flatten(), k.layers.Dense(32, activation="relu", name="hidden"),
               k.layers.Dense(10, activation="softmax", name="probs")]
    return k.Sequential(layers)


def train(model, step, data, folder, callbacks=()):
    x, y = data
    return fine_tune(model, step, x=x[:1000], y=y[:1000], folder=folder, seed=0, progress=QUIET,
                     callbacks=list(callbacks), label=step.step, **loss_and_metrics())


def loss_and_metrics():
    loss, metrics = classifier_loss(from_logits=False)
    return {"loss": loss, "metrics": metrics}


def artifact(model, data, precision="int8"):
    loaded = keras_loaded(Path("model.keras"), "keras", model)
    return tflite.convert(loaded, precision, calibration=[data[0][:32]])


def kernel_of(structure, layer):
    return next(w for w in structure["weights"] if w["layer"] == layer)


def facts(model):
    from edgekit.compress.facts import layer_facts

    return layer_facts(model, {})


def test_prune_reaches_target_sparsity_in_keras_and_in_the_tflite_artifact(keras_module, fashion_subset, tmp_path):
    step = PruneStep(step="prune", final_sparsity=0.75, schedule="constant", epochs=1, frequency=5, learning_rate=1e-3)
    wrapped, coverage, callbacks = prune_ops.apply_prune(small_model(keras_module), step, total_steps=16)
    train(wrapped, step, fashion_subset, tmp_path, callbacks)
    stripped = prune_ops.strip_prune(wrapped)
    hidden = stripped.get_layer("hidden").kernel.numpy()
    assert np.mean(hidden == 0) == pytest.approx(0.75, abs=0.01)
    structure = tflite_structure(artifact(stripped, fashion_subset), layers=facts(stripped))
    assert kernel_of(structure, "hidden")["sparsity"] == pytest.approx(0.75, abs=0.01)


def test_prune_coverage_lists_layers_left_dense_with_the_reason(keras_module):
    model = small_model(keras_module, extra=[keras_module.layers.PReLU(name="prelu")])
    _, coverage, _ = prune_ops.apply_prune(model, PruneStep(step="prune", final_sparsity=0.5), total_steps=10)
    status = {e["layer"]: (e["status"], e.get("reason", "")) for e in coverage}
    assert status["conv"][0] == "applied" and status["hidden"][0] == "applied"
    assert status["depthwise"] == ("skipped", "TFMOT pruning leaves this layer type's kernel dense")
    assert status["prelu"] == ("skipped", "TFMOT pruning does not support this layer type")


def test_prune_strict_mode_turns_unsupported_layers_into_an_error(keras_module):
    model = small_model(keras_module, extra=[keras_module.layers.PReLU(name="prelu")])
    with pytest.raises(UnsupportedModelError, match="'depthwise'"):
        prune_ops.apply_prune(model, PruneStep(step="prune", final_sparsity=0.5, strict=True), total_steps=10)
    step = PruneStep(step="prune", final_sparsity=0.5, strict=True, exclude=["depthwise", "prelu"])
    _, coverage, _ = prune_ops.apply_prune(model, step, total_steps=10)
    assert {e["layer"] for e in coverage if e["status"] == "excluded"} == {"depthwise", "prelu"}


def test_prune_m_by_n_gives_two_of_every_four_weights(keras_module, fashion_subset, tmp_path):
    step = PruneStep(step="prune", final_sparsity=0.5, schedule="constant", m_by_n=(2, 4), epochs=1, frequency=5,
                     layers=["hidden"])
    wrapped, _, callbacks = prune_ops.apply_prune(small_model(keras_module), step, total_steps=16)
    train(wrapped, step, fashion_subset, tmp_path, callbacks)
    kernel = prune_ops.strip_prune(wrapped).get_layer("hidden").kernel.numpy()
    blocks = (kernel.T.reshape(-1, 4) != 0).sum(axis=1)  # groups of 4 along the input dimension
    assert blocks.max() <= 2


def test_cluster_leaves_at_most_n_unique_values_per_kernel_in_the_artifact(keras_module, fashion_subset, tmp_path):
    step = ClusterStep(step="cluster", clusters=16, epochs=1)
    wrapped, coverage, _ = cluster_ops.apply_cluster(small_model(keras_module), step, after_prune=False)
    train(wrapped, step, fashion_subset, tmp_path)
    stripped = cluster_ops.strip_cluster(wrapped)
    assert len(np.unique(stripped.get_layer("hidden").kernel.numpy())) <= 16
    for precision in ("fp32", "int8"):
        weights = kernel_of(tflite_structure(artifact(stripped, fashion_subset, precision), layers=facts(stripped)), "hidden")
        assert weights["max_unique_per_channel"] <= 16, precision
    assert {e["layer"]: e["status"] for e in coverage}["depthwise"] == "skipped"


def test_prune_cluster_qat_preserves_sparsity_and_clusters_in_the_int8_artifact(keras_module, fashion_subset, tmp_path):
    model = small_model(keras_module)
    prune = PruneStep(step="prune", final_sparsity=0.75, schedule="constant", epochs=1, frequency=5, learning_rate=1e-3)
    wrapped, _, callbacks = prune_ops.apply_prune(model, prune, total_steps=16)
    train(wrapped, prune, fashion_subset, tmp_path / "p", callbacks)
    cluster = ClusterStep(step="cluster", clusters=8, epochs=1)
    wrapped, _, _ = cluster_ops.apply_cluster(prune_ops.strip_prune(wrapped), cluster, after_prune=True)
    train(wrapped, cluster, fashion_subset, tmp_path / "c")
    qat = QatStep(step="qat", epochs=1)
    wrapped, coverage, scheme = qat_ops.apply_qat(cluster_ops.strip_cluster(wrapped), qat, after_prune=True, after_cluster=True)
    assert scheme == "PCQAT"
    train(wrapped, qat, fashion_subset, tmp_path / "q")
    hidden = kernel_of(tflite_structure(artifact(wrapped, fashion_subset), layers=facts(model)), "hidden")
    assert hidden["dtype"] == "int8"
    assert hidden["sparsity"] >= 0.7
    assert hidden["max_unique_per_channel"] <= 8 + 1  # 8 centroids, zero kept apart by sparsity preservation


def test_qat_schemes_follow_the_earlier_steps(keras_module):
    assert qat_ops.qat_scheme(after_prune=False, after_cluster=False)[1] == "QAT"
    assert qat_ops.qat_scheme(after_prune=True, after_cluster=False)[1] == "PQAT"
    assert qat_ops.qat_scheme(after_prune=False, after_cluster=True)[1] == "CQAT"


def test_fine_tune_resumes_after_an_interruption_and_skips_a_finished_step(keras_module, fashion_subset, tmp_path):
    k = keras_module

    class InterruptAtSecondEpoch(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    class FirstWeights(k.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = [w.copy() for w in self.model.get_weights()]

    step = QatStep(step="qat", epochs=2, learning_rate=1e-3)
    interrupted = small_model(k)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, step, fashion_subset, tmp_path, [InterruptAtSecondEpoch()])
    assert '"epochs_done": 1' in (tmp_path / "state.json").read_text()

    probe = FirstWeights()
    history = train(small_model(k), step, fashion_subset, tmp_path, [probe])
    assert history["resumed"] is True
    assert [h["epoch"] for h in history["history"]] == [1, 2]
    for restored, saved in zip(probe.weights, interrupted.get_weights()):
        np.testing.assert_array_equal(restored, saved)  # training went on from epoch 1's weights

    again = train(small_model(k), step, fashion_subset, tmp_path)
    assert again["resumed"] is True and len(again["history"]) == 2  # finished: nothing retrained


def test_prune_frequency_that_would_never_prune_is_a_config_error(keras_module):
    from edgekit.errors import ConfigError

    step = PruneStep(step="prune", final_sparsity=0.5, frequency=100)
    with pytest.raises(ConfigError, match="never reaches"):
        prune_ops.apply_prune(small_model(keras_module), step, total_steps=30)
    prune_ops.apply_prune(small_model(keras_module), PruneStep(step="prune", final_sparsity=0.5), total_steps=30)  # auto


def test_cluster_preserving_qat_leaves_a_leading_rescaling_and_normalization_unquantized(keras_module):
    """EfficientNet's input: Rescaling then an adapted Normalization. TFMOT's cluster-preserving registry
    claims the Rescaling and then cannot configure it; edgekit leaves it unquantized instead."""
    import numpy as np

    from edgekit.recipe import QatStep

    k = keras_module
    norm = k.layers.Normalization()
    norm.adapt(np.random.default_rng(0).random((8, 16, 16, 3)).astype("float32"))
    inputs = k.Input((16, 16, 3))
    x = k.layers.Conv2D(4, 3, activation="relu")(norm(k.layers.Rescaling(1 / 255)(inputs)))
    model = k.Model(inputs, k.layers.Dense(3, activation="softmax")(k.layers.GlobalAveragePooling2D()(x)))
    for after_prune in (False, True):
        quantized, coverage, name = qat_ops.apply_qat(model, QatStep(step="qat"), after_prune=after_prune,
                                                  after_cluster=True)
        assert name == ("PCQAT" if after_prune else "CQAT")
        kinds = {type(layer).__name__ for layer in quantized.layers}
        assert "Rescaling" in kinds and "QuantizeWrapperV2" in kinds
