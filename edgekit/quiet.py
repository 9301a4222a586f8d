"""Silence native libraries (TensorFlow, the MLIR converter, LiteRT) that write to fd 2.

Python-level errors still surface as exceptions; set EDGEKIT_DEBUG=1 to see the native output.
"""
from __future__ import annotations

import contextlib
import io
import os
from typing import Iterator


@contextlib.contextmanager
def quiet_native() -> Iterator[None]:
    if os.environ.get("EDGEKIT_DEBUG"):
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
