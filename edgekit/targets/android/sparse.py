"""Sparse storage for pruned weights: the raw `.tflite` bytes a phone stores and maps follow the zeros.

An Android app keeps `.tflite` files uncompressed to memory-map them, so only the raw size counts
there; a dense file with 75 % zeros costs as much as an unpruned one. When a converted artifact's
weights are mostly zeros, the converter's sparsity optimisation is tried as well, and the sparse
file is shipped when (1) it is clearly smaller, (2) LiteRT's default interpreter (XNNPACK applied
where it can) runs it on real samples and (3) its outputs match the dense file's. Otherwise the
dense file ships and the record says why. The record (`sparse_storage` on the artifact): both
sizes, both load times, the share of ops XNNPACK runs in each, which was kept, and the reason.

Measured (BENCHMARKS.md): unstructured zeros store well as float32 (0.37× at 75 %; XNNPACK
densifies them at load), but an int8 file needs an index per kept weight and XNNPACK refuses its
sparse FULLY_CONNECTED; Dense kernels pruned in blocks of 16 inputs (`block = [16, 1]` in the prune
step) store int8 at about 0.34×, their FULLY_CONNECTED run by LiteRT's built-in sparse kernels.
Set `sparse = false` when every op must stay on XNNPACK (e.g. a `min_delegated_fraction` budget).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.litert import TFLiteRunner, run
from edgekit.models.export import one_line
from edgekit.structure import tflite_structure

MIN_ZEROS = 0.3  # below this share of zero weights the sparse encoding cannot pay for its indices
MIN_SAVING = 0.05  # keep the sparse file only when it saves at least this share of the raw bytes
CHECK_SAMPLES = 32  # real inputs both files run on before the sparse one may ship
MAX_DIFFERENCE = 1e-3  # of the dense file's output range: the same weights, only stored differently


def choose(dense: bytes, convert_sparse: Callable[[], bytes], *, precision: str, names: dict[str, Any],
           samples: Sequence[np.ndarray]) -> tuple[bytes, Optional[dict[str, Any]]]:
    """The bytes to ship and the storage record (None when the weights are not sparse enough to try)."""
    dense_runner = TFLiteRunner(dense, **names)
    zeros = tflite_structure(dense_runner)["sparsity"]
    if zeros < MIN_ZEROS:
        return dense, None
    record: dict[str, Any] = {"zeros": zeros, "dense_bytes": len(dense), "dense_load_ms": round(dense_runner.load_ms, 2)}
    blocks = " (prune Dense kernels in blocks: block = [16, 1])" if precision in ("int8", "dynamic", "int16x8") else ""
    try:
        sparse = convert_sparse()
    except EdgekitError as err:
        return dense, {**record, "kept": "dense", "reason": f"the sparse conversion failed: {err.one_line()[:200]}"}
    record.update(sparse_bytes=len(sparse), ratio=round(len(sparse) / len(dense), 4))
    if len(sparse) > (1 - MIN_SAVING) * len(dense):
        return dense, {**record, "kept": "dense", "reason": f"the sparse encoding saves under {100 * MIN_SAVING:.0f} % "
                                                            f"of the raw bytes{blocks}"}
    check = [np.asarray(x)[:CHECK_SAMPLES] for x in samples]
    try:
        runner, got = run(sparse, check, **names)  # LiteRT's default interpreter, XNNPACK applied where it can
    except Exception as err:  # noqa: BLE001 - LiteRT raises RuntimeError/ValueError with the delegate's message
        return dense, {**record, "kept": "dense", "reason": f"LiteRT's default path (XNNPACK) cannot run the sparse "
                                                            f"file: {one_line(err)[:200]}{blocks}"}
    _, expected = run(dense, check, **names)
    scale = max(float(np.max(np.abs(e))) for e in expected) or 1.0
    difference = max(float(np.max(np.abs(g.astype(np.float64) - e))) for g, e in zip(got, expected)) / scale
    if difference > MAX_DIFFERENCE:
        return dense, {**record, "kept": "dense", "reason": f"the sparse file's outputs differ from the dense file's "
                                                            f"by {difference:.2g} of their range on {len(check[0])} samples"}
    record.update(sparse_load_ms=round(TFLiteRunner(sparse, **names).load_ms, 2), **_kernels(dense, sparse))
    return sparse, {**record, "kept": "sparse",
                    "reason": f"{100 * (1 - record['ratio']):.0f} % fewer raw bytes, the same outputs on "
                              f"{len(check[0])} samples; XNNPACK runs {100 * record['xnnpack_fraction_sparse']:.0f} % "
                              f"of its ops (dense: {100 * record['xnnpack_fraction_dense']:.0f} %), LiteRT's "
                              "built-in kernels the rest"}


def _kernels(dense: bytes, sparse: bytes) -> dict[str, float]:
    """Which kernels run each file: the share of its original ops XNNPACK takes (it leaves block-sparse
    FULLY_CONNECTED to LiteRT's built-in sparse kernels, and densifies sparse convolution weights at load)."""
    from edgekit.targets.android.delegates import xnnpack_share

    return {"xnnpack_fraction_dense": xnnpack_share(dense), "xnnpack_fraction_sparse": xnnpack_share(sparse)}


def summary(record: dict[str, Any]) -> str:
    """One line for report.md."""
    load = (f"; load {record['dense_load_ms']:.1f} → {record['sparse_load_ms']:.1f} ms"
            if record.get("sparse_load_ms") is not None else "")
    sparse = f"sparse {record['sparse_bytes']:,} B ({record['ratio']:.2f}×)" if record.get("sparse_bytes") else "no sparse file"
    return (f"{100 * record['zeros']:.0f} % zero weights: dense {record['dense_bytes']:,} B, {sparse}{load} — "
            f"shipped {record['kept']}: {record['reason']}")
