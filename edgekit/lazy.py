"""The heavy libraries, imported on first use, in one place.

`import edgekit` (and the CLI's help, `edgekit check`, the config) must stay light: TensorFlow alone
takes seconds to import. Modules name the library here at their top instead of importing it inside
functions:

    from edgekit.lazy import cto          # coremltools.optimize.coreml, imported on first attribute

A missing or broken library becomes an `EnvironmentProblem` (exit 4) naming the package to install,
not an ImportError traceback. TensorFlow itself is imported through `edgekit.tfenv` (its environment
variables must be set first); the TensorFlow-based libraries here import it that way before themselves.
"""
from __future__ import annotations

import importlib
import os
import threading
import warnings
from types import ModuleType
from typing import Any, Callable, Optional

from edgekit.errors import EnvironmentProblem
from edgekit.quiet import quiet_native

INSTALL = "run `make install` (a source checkout) or reinstall edgekit-ml, which pins {package}"


class LazyModule(ModuleType):
    """A stand-in for module `name` that imports it when an attribute is first read."""

    def __init__(self, name: str, *, package: str, before: Optional[Callable[[], Any]] = None):
        super().__init__(name)
        self.__dict__["_lazy"] = (package, before, threading.Lock())
        self.__dict__["_module"] = None

    def load(self) -> ModuleType:
        module = self.__dict__["_module"]
        if module is not None:
            return module
        package, before, lock = self.__dict__["_lazy"]
        with lock:
            if self.__dict__["_module"] is None:
                if before is not None:
                    before()
                try:
                    with quiet_native(), warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # e.g. coremltools on untested TensorFlow versions
                        self.__dict__["_module"] = importlib.import_module(self.__name__)
                except ImportError as err:
                    raise EnvironmentProblem(f"{self.__name__} is not importable ({err})",
                                             hint=INSTALL.format(package=package)) from None
        return self.__dict__["_module"]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise TypeError(f"{self.__name__}: patch the module .load() returns, not its lazy stand-in")

    def __repr__(self) -> str:
        state = "loaded" if self.__dict__["_module"] is not None else "not loaded yet"
        return f"<lazy module {self.__name__!r} ({state})>"


def _tensorflow() -> None:
    from edgekit.tfenv import tensorflow

    tensorflow()


def _tfjs() -> None:
    # tensorflow_decision_forests (imported by tensorflowjs) greets on import, through IPython when
    # stdout is not a terminal (IPython is not installed): switch the greeting off.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    _tensorflow()


def _tf(name: str, package: str) -> LazyModule:
    return LazyModule(name, package=package, before=_tensorflow)


# TensorFlow-based (TensorFlow is imported first, through edgekit.tfenv)
tfmot = _tf("tensorflow_model_optimization", "tensorflow-model-optimization")
prune_registry = _tf("tensorflow_model_optimization.python.core.sparsity.keras.prune_registry",
                     "tensorflow-model-optimization")
clustering_registry = _tf("tensorflow_model_optimization.python.core.clustering.keras.clustering_registry",
                          "tensorflow-model-optimization")
default_8bit_registry = _tf("tensorflow_model_optimization.python.core.quantization.keras.default_8bit."
                            "default_8bit_quantize_registry", "tensorflow-model-optimization")
tfjs_keras_h5 = LazyModule("tensorflowjs.converters.keras_h5_conversion", package="tensorflowjs", before=_tfjs)
tfjs_saved_model = LazyModule("tensorflowjs.converters.tf_saved_model_conversion_v2", package="tensorflowjs",
                              before=_tfjs)
# the others
coremltools = LazyModule("coremltools", package="coremltools")
cto = LazyModule("coremltools.optimize.coreml", package="coremltools")
h5py = LazyModule("h5py", package="h5py")
brotli = LazyModule("brotli", package="brotli")
litert_schema = LazyModule("ai_edge_litert.schema_py_generated", package="ai-edge-litert")
