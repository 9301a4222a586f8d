"""Sparse storage for pruned weights: the raw `.tflite` bytes a phone stores and maps follow the zeros.

An Android app keeps `.tflite` files uncompressed to memory-map them, so only the raw size counts
there; a dense file with 75 % zeros costs as much as an unpruned one. When a converted artifact's
weights are mostly zeros, the converter's sparsity optimisation is tried as well, and the sparse
file is shipped when (1) it is clearly smaller and (2) LiteRT's default path (XNNPACK) loads and
runs it. Otherwise the dense file ships and the record says why. The record (`sparse_storage` on the
artifact): both sizes, both load times, which was kept, and the reason.

Measured (BENCHMARKS.md): unstructured zeros store well as float32 (0.37× at 75 %), but an int8
file needs an index per kept weight and XNNPACK refuses its sparse FULLY_CONNECTED; Dense kernels
pruned in blocks of 16 inputs (`block = [16, 1]` in the prune step) store int8 at about 0.34× and
run on XNNPACK.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from edgekit.litert import TFLiteRunner
from edgekit.models.export import one_line
from edgekit.structure import tflite_structure

MIN_ZEROS = 0.3  # below this share of zero weights the sparse encoding cannot pay for its indices
MIN_SAVING = 0.05  # keep the sparse file only when it saves at least this share of the raw bytes


def choose(dense: bytes, convert_sparse: Callable[[], bytes], *, precision: str,
           names: dict[str, Any]) -> tuple[bytes, Optional[dict[str, Any]]]:
    """The bytes to ship and the storage record (None when the weights are not sparse enough to try)."""
    dense_runner = TFLiteRunner(dense, **names)
    zeros = tflite_structure(dense_runner)["sparsity"]
    if zeros < MIN_ZEROS:
        return dense, None
    sparse = convert_sparse()
    record: dict[str, Any] = {"zeros": zeros, "dense_bytes": len(dense), "sparse_bytes": len(sparse),
                              "ratio": round(len(sparse) / len(dense), 4),
                              "dense_load_ms": round(dense_runner.load_ms, 2)}
    if len(sparse) > (1 - MIN_SAVING) * len(dense):
        hint = (" (unstructured int8 zeros need an index per kept weight; prune Dense kernels in blocks, "
                "block = [16, 1])" if precision in ("int8", "dynamic", "int16x8") else "")
        return dense, {**record, "kept": "dense",
                       "reason": f"the sparse encoding saves under {100 * MIN_SAVING:.0f} % of the raw bytes{hint}"}
    try:
        runner = TFLiteRunner(sparse, **names)
        runner.interpreter.invoke()  # prepared and runnable on the default path, not just parsed
    except Exception as err:  # noqa: BLE001 - LiteRT raises RuntimeError/ValueError with the delegate's message
        return dense, {**record, "kept": "dense",
                       "reason": f"LiteRT's default path (XNNPACK) cannot run the sparse file: {one_line(err)[:200]}"
                                 + ("; prune Dense kernels in blocks (block = [16, 1])"
                                    if precision in ("int8", "dynamic") else "")}
    record["sparse_load_ms"] = round(runner.load_ms, 2)
    return sparse, {**record, "kept": "sparse",
                    "reason": f"{100 * (1 - record['ratio']):.0f} % fewer raw bytes and LiteRT's default path runs it"}


def summary(record: dict[str, Any]) -> str:
    """One line for report.md."""
    load = (f"; load {record['dense_load_ms']:.1f} → {record['sparse_load_ms']:.1f} ms"
            if record.get("sparse_load_ms") is not None else "")
    return (f"{100 * record['zeros']:.0f} % zero weights: dense {record['dense_bytes']:,} B, sparse "
            f"{record['sparse_bytes']:,} B ({record['ratio']:.2f}×){load} — shipped {record['kept']}: {record['reason']}")
