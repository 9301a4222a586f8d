"""Latency on this machine with the LiteRT interpreter (XNNPACK on CPU).

Host numbers describe this computer's CPU. They are not phone numbers: x86 int8 kernels,
clock speeds and thermal behaviour differ from a phone's, so the report labels them `host`.
"""
from __future__ import annotations

import platform
import time
from typing import Optional, Sequence

import numpy as np

from edgekit.litert import TFLiteRunner

HOST_NOTE = "host CPU numbers (LiteRT on this machine); not phone numbers"


def profile_tflite(model_bytes: bytes, inputs: Sequence[np.ndarray], *, threads: int = 1, warmup: int = 20,
                   runs: int = 200, input_names: Optional[Sequence[str]] = None) -> dict:
    """Time `runs` single-sample invocations (the first sample of each input) after `warmup` ones;
    load time includes allocation."""
    runner = TFLiteRunner(model_bytes, threads=threads, input_names=input_names)
    x = runner.prepare([array[:1] for array in inputs])
    for _ in range(warmup):
        runner.invoke_raw(x)
    timings = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter_ns()
        runner.invoke_raw(x)
        timings[i] = (time.perf_counter_ns() - start) / 1e6
    return {
        "where": "host",
        "runtime": "litert",
        "threads": threads,
        "p50_ms": round(float(np.percentile(timings, 50)), 4),
        "p90_ms": round(float(np.percentile(timings, 90)), 4),
        "min_ms": round(float(timings.min()), 4),
        "mean_ms": round(float(timings.mean()), 4),
        "load_ms": round(runner.load_ms, 3),
        "warmup": warmup,
        "runs": runs,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}".strip(),
        "note": HOST_NOTE,
    }
