"""The one place that imports TensorFlow, so that `import edgekit` stays light.

edgekit's own Keras is legacy Keras 2 (`tf_keras`): the model-optimization toolkit only works
there, and `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported. Files saved
by Keras 3 are loaded with Keras 3 itself (`keras3()`), on the TensorFlow backend.
"""
from __future__ import annotations

import os
from typing import Any

from edgekit.errors import EnvironmentProblem
from edgekit.quiet import quiet_native


def tensorflow() -> Any:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with quiet_native():
            import tensorflow as tf
    except ImportError as err:
        raise EnvironmentProblem(f"TensorFlow is not importable ({err})", hint="run `make install`") from None
    tf.get_logger().setLevel("ERROR")
    with quiet_native():
        tf.config.list_physical_devices()  # device discovery logs CUDA probes once; keep them quiet
    return tf


def keras() -> Any:
    tensorflow()
    try:
        with quiet_native():
            import tf_keras
    except ImportError as err:
        raise EnvironmentProblem(f"tf_keras is not importable ({err})", hint="run `make install`") from None
    return tf_keras


def keras3() -> Any:
    """Keras 3 (the `keras` package) on the TensorFlow backend: user files saved by Keras 3 load with it."""
    os.environ["KERAS_BACKEND"] = "tensorflow"  # exports and converters need TensorFlow graphs
    tensorflow()
    try:
        with quiet_native():
            import keras as keras3_module
    except ImportError as err:
        raise EnvironmentProblem(f"Keras 3 is not importable ({err})", hint="run `make install`") from None
    if not str(keras3_module.__version__).startswith("3"):
        raise EnvironmentProblem(f"`import keras` gives Keras {keras3_module.__version__}, not Keras 3",
                                 hint="run `make install` (the pinned stack has keras 3.15)")
    return keras3_module


def litert_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise EnvironmentProblem(f"LiteRT is not importable ({err})", hint="pip install ai-edge-litert") from None
    return Interpreter
