"""The one place that imports TensorFlow, so that `import edgekit` stays light.

edgekit's Keras is legacy Keras 2 (`tf_keras`): the model-optimization toolkit only works there.
`TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported.
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


def litert_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise EnvironmentProblem(f"LiteRT is not importable ({err})", hint="pip install ai-edge-litert") from None
    return Interpreter
