"""edgekit: take a trained Keras model to phones and browsers.

Importing this package loads no TensorFlow; heavy modules are imported where they are used.
`edgekit.build(...)` and `edgekit.check(...)` are the Python API (`edgekit/api.py`).
"""
from typing import Any

__version__ = "0.3.0"
__all__ = ["build", "check", "Report"]


def __getattr__(name: str) -> Any:  # the API loads on first use, so `import edgekit` stays light
    if name in ("build", "check"):
        from edgekit import api

        return getattr(api, name)
    if name == "Report":
        from edgekit.report.model import Report

        return Report
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
