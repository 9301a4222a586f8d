"""Check a converted artifact against the Keras reference: parity on a sample, accuracy on all.

Parity compares the artifact's outputs with the reference's on the same inputs: the largest
absolute difference and how often the top-1 class agrees. A check that cannot run is
`not_verified`, never `passed`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

PASSED, FAILED, NOT_VERIFIED = "passed", "failed", "not_verified"


@dataclass
class Parity:
    status: str
    max_abs_error: Optional[float]
    top1_agreement: Optional[float]
    samples: int
    tolerance: Optional[dict] = None
    reason: Optional[str] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("max_abs_error", "top1_agreement")}


def parity(reference: np.ndarray, candidate: np.ndarray, *, max_abs_error: float,
           min_top1_agreement: float) -> Parity:
    """Compare two output arrays of the same shape; status from the two tolerances."""
    if reference.shape != candidate.shape:
        return Parity(FAILED, None, None, len(reference),
                      reason=f"output shape {candidate.shape} differs from the reference's {reference.shape}")
    error = float(np.max(np.abs(reference - candidate))) if reference.size else 0.0
    agreement = float(np.mean(reference.argmax(-1) == candidate.argmax(-1))) if len(reference) else 0.0
    failures = []
    if not np.isfinite(candidate).all():
        failures.append("outputs contain NaN or Inf")
    if error > max_abs_error:
        failures.append(f"max abs error {error:.3g} > {max_abs_error:g}")
    if agreement < min_top1_agreement:
        failures.append(f"top-1 agreement {agreement:.4f} < {min_top1_agreement:g}")
    return Parity(FAILED if failures else PASSED, error, agreement, len(reference),
                  tolerance={"max_abs_error": max_abs_error, "min_top1_agreement": min_top1_agreement},
                  reason="; ".join(failures) or None)


def parity_within(reference: np.ndarray, candidate: np.ndarray, tolerance: object, *, samples: int) -> Parity:
    """`parity` on the first `samples` outputs, with a tolerance object's max_abs_error / min_top1_agreement."""
    n = min(samples, len(candidate))
    return parity(reference[:n], candidate[:n], max_abs_error=tolerance.max_abs_error,  # type: ignore[attr-defined]
                  min_top1_agreement=tolerance.min_top1_agreement)  # type: ignore[attr-defined]


def not_verified(reason: str) -> Parity:
    return Parity(NOT_VERIFIED, None, None, 0, reason=reason)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(outputs.argmax(-1) == labels)) if len(labels) else 0.0
