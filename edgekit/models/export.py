"""Export any loaded model as a SavedModel with one `serving_default` signature: the graph every
converter starts from (TFLite, TF.js and Core ML), so no conversion depends on which Keras wrote
the file.

The signature's inputs are named after the model's inputs and its outputs are a dict keyed by
the model's output names (see `signature.py`). `batch=1` fixes the batch dimension, which keeps
shape arithmetic out of the `.tflite` (a free batch adds SHAPE/STRIDED_SLICE/PACK ops that split
delegate partitions); `batch=None` keeps it free (TF.js evaluates in batches).
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Optional

from edgekit.errors import ConversionError, UnsupportedModelError
from edgekit.quiet import quiet_native

SIGNATURE = "serving_default"


def export_saved_model(model: Any, folder: Path, *, batch: Optional[int]) -> Path:
    """Write `model` (a `LoadedModel`) to `folder` as a SavedModel; return the folder."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    specs = [tf.TensorSpec((batch, *info.inner), tf.as_dtype(info.dtype), name=info.name) for info in model.inputs]
    names = [info.name for info in model.outputs]
    try:
        with quiet_native(), contextlib.redirect_stdout(io.StringIO()):
            if model.flavor == "keras3":
                _export_keras3(model, specs, names, folder)
            elif model.flavor == "tf_keras":
                _export_tf_keras(tf, model, specs, names, folder)
            else:
                _export_saved_model(tf, model, specs, names, folder)
    except UnsupportedModelError:
        raise
    except Exception as err:  # noqa: BLE001 - tracing fails in many ways; keep one line
        raise ConversionError(f"exporting the model's graph (batch {batch or 'free'}) failed: {one_line(err)}",
                              hint="set EDGEKIT_DEBUG=1 to see TensorFlow's output") from None
    return folder


def keras_outputs(model: Any, result: Any) -> list[Any]:
    """A Keras model's call result as a list in `model.outputs` order (dict results by output name)."""
    if isinstance(result, dict):
        keys = [info.source_name or info.name for info in model.outputs]
        if all(key in result for key in keys):
            return [result[key] for key in keys]
        return [result[key] for key in sorted(result)]
    if isinstance(result, (list, tuple)):
        return list(result)
    return [result]


def keras_inputs(xs: list[Any]) -> Any:
    return xs[0] if len(xs) == 1 else list(xs)


def _export_keras3(model: Any, specs: list[Any], names: list[str], folder: Path) -> None:
    import keras

    keras_model = model.keras_model

    def serve(*xs: Any) -> dict[str, Any]:
        return dict(zip(names, keras_outputs(model, keras_model(keras_inputs(list(xs)), training=False))))

    from edgekit.models.grouped_conv import plain_grouped_convolutions

    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    with plain_grouped_convolutions():  # no nested XLA calls in the graph the converters read
        archive.add_endpoint(SIGNATURE, serve, input_signature=specs)
        archive.write_out(str(folder), verbose=False)


def _export_tf_keras(tf: Any, model: Any, specs: list[Any], names: list[str], folder: Path) -> None:
    keras_model = model.keras_model

    @tf.function(input_signature=specs)
    def serve(*xs: Any) -> dict[str, Any]:
        return dict(zip(names, keras_outputs(model, keras_model(keras_inputs(list(xs)), training=False))))

    from edgekit.models.grouped_conv import plain_grouped_convolutions_tf_keras

    holder = tf.Module()
    holder.model = keras_model
    with plain_grouped_convolutions_tf_keras():  # no nested XLA calls in the graph the converters read
        tf.saved_model.save(holder, str(folder), signatures={SIGNATURE: serve.get_concrete_function()})


def _export_saved_model(tf: Any, model: Any, specs: list[Any], names: list[str], folder: Path) -> None:
    """Re-export a user's SavedModel signature under edgekit's names and batch."""
    loaded, function = model.saved_model_signature()
    sources = [info.source_name or info.name for info in model.inputs]
    outputs = [info.source_name or info.name for info in model.outputs]

    @tf.function(input_signature=specs)
    def serve(*xs: Any) -> dict[str, Any]:
        result = function(**dict(zip(sources, xs)))
        return {name: result[key] for name, key in zip(names, outputs)}

    holder = tf.Module()
    holder.loaded = loaded
    tf.saved_model.save(holder, str(folder), signatures={SIGNATURE: serve.get_concrete_function()})


def one_line(err: BaseException) -> str:
    """The error's message on one line (all its lines joined), at most 400 characters."""
    text = " ".join(line.strip() for line in str(err).strip().splitlines() if line.strip())
    return (text or type(err).__name__)[:400]
