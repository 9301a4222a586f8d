"""Check a converted artifact against the Keras model it came from: parity, and accuracy on all data.

Parity has to tell quantization noise from a broken conversion on real models, so no single
absolute threshold decides it (a deep network's fp16 artifact can move one borderline
probability by 0.05 while agreeing everywhere else). Per output, on the same inputs:

  relative_error      mean |artifact - reference| / mean |reference - its mean over samples|:
                      the error measured against how much the output actually varies (0 = exact,
                      about 1 or more = no better than a constant; scale-free, so logits and
                      probabilities are judged alike). The spread is floored at 5 % of the output's
                      RMS, so a model whose outputs hardly vary is not failed for float noise.
  confident top-1     top-1 agreement on the samples where the reference is confident (the gap
                      between its two largest probabilities, after a softmax for logits, is at
                      least `confident_margin`): noise flips borderline samples, a broken
                      conversion flips confident ones too
  accuracy_loss       percentage points of accuracy lost against the reference model, on every
                      evaluated sample (classifier outputs with labels only)

plus, when configured, the plain `max_abs_error` and all-sample `min_top1_agreement`. A check
that cannot run is `not_verified`, never `passed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

PASSED, FAILED, NOT_VERIFIED = "passed", "failed", "not_verified"
MIN_CONFIDENT = 20  # fewer confident samples than this: confident agreement is reported, not judged


@dataclass
class Parity:
    status: str
    max_abs_error: Optional[float]
    top1_agreement: Optional[float]
    samples: int
    tolerance: Optional[dict] = None
    reason: Optional[str] = None
    relative_error: Optional[float] = None
    confident_top1_agreement: Optional[float] = None
    confident_samples: Optional[int] = None
    accuracy_loss: Optional[float] = None
    outputs: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        keep = ("max_abs_error", "top1_agreement")
        out = {k: v for k, v in self.__dict__.items() if (v is not None and v != {}) or k in keep}
        return out


def tolerance_dict(tolerance: Any) -> dict[str, Any]:
    if tolerance is None:
        return {}
    raw = tolerance if isinstance(tolerance, dict) else tolerance.model_dump()
    return {k: v for k, v in raw.items() if v is not None}


def compare(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], tolerance: Any, *,
            names: Sequence[str], samples: int, label_index: Optional[int] = None,
            labels: Optional[np.ndarray] = None) -> Parity:
    """Parity of `candidate` against `reference` (one array per output, rows = samples).

    Output comparisons use the first `samples` rows; accuracy loss uses every row the candidate has.
    """
    tol = tolerance_dict(tolerance)
    if len(reference) != len(candidate):
        return Parity(FAILED, None, None, 0, tolerance=tol,
                      reason=f"{len(candidate)} outputs, the reference has {len(reference)}")
    n = min(samples, len(candidate[0]) if candidate else 0, len(reference[0]) if reference else 0)
    failures: list[str] = []
    per_output: dict[str, dict] = {}
    for index, (name, ref, cand) in enumerate(zip(names, reference, candidate)):
        ref, cand = np.asarray(ref[:n], dtype=np.float64), np.asarray(cand[:n], dtype=np.float64)
        classifier = index == label_index or (label_index is None and looks_like_probabilities(ref))
        entry, problems = _output_parity(ref, cand, tol, classifier=classifier)
        per_output[name] = entry
        failures += [f"{name}: {p}" if len(names) > 1 else p for p in problems]
    loss = None
    if label_index is not None and labels is not None and len(labels):
        rows = min(len(candidate[label_index]), len(reference[label_index]), len(labels))
        loss = 100.0 * (accuracy(reference[label_index][:rows], labels[:rows])
                        - accuracy(candidate[label_index][:rows], labels[:rows]))
        if tol.get("max_accuracy_loss") is not None and loss > tol["max_accuracy_loss"]:
            failures.append(f"accuracy {loss:.2f} pp below the reference's (limit {tol['max_accuracy_loss']:g} pp)")
    main = per_output.get(names[label_index]) if label_index is not None and names else None
    return Parity(
        FAILED if failures else PASSED,
        max_abs_error=_worst(per_output, "max_abs_error", max),
        top1_agreement=(main or {}).get("top1_agreement", _worst(per_output, "top1_agreement", min)),
        samples=n, tolerance=tol, reason="; ".join(failures) or None,
        relative_error=_worst(per_output, "relative_error", max),
        confident_top1_agreement=(main or {}).get("confident_top1_agreement",
                                                  _worst(per_output, "confident_top1_agreement", min)),
        confident_samples=(main or {}).get("confident_samples", _worst(per_output, "confident_samples", min)),
        accuracy_loss=None if loss is None else round(loss, 4),
        outputs=per_output if len(names) > 1 else {},
    )


def _output_parity(ref: np.ndarray, cand: np.ndarray, tol: dict[str, Any], *,
                   classifier: bool) -> tuple[dict[str, Any], list[str]]:
    if ref.shape != cand.shape:
        return {"shape": list(cand.shape)}, [f"output shape {cand.shape} differs from the reference's {ref.shape}"]
    if not np.isfinite(cand).all():
        return {"finite": False}, ["outputs contain NaN or Inf"]
    problems = []
    diff = np.abs(ref - cand)
    error = float(diff.max()) if diff.size else 0.0
    relative = float(diff.mean() / scale) if (scale := output_scale(ref)) > 0 else (0.0 if error == 0 else float("inf"))
    entry: dict[str, Any] = {"max_abs_error": error, "relative_error": float(f"{relative:.4g}")}
    if tol.get("max_relative_error") is not None and relative > tol["max_relative_error"]:
        problems.append(f"relative error {relative:.3g} > {tol['max_relative_error']:g}")
    if tol.get("max_abs_error") is not None and error > tol["max_abs_error"]:
        problems.append(f"max abs error {error:.3g} > {tol['max_abs_error']:g}")
    if classifier and ref.ndim == 2 and ref.shape[1] >= 2 and len(ref):
        agree = ref.argmax(-1) == cand.argmax(-1)
        confident = _margin(ref) >= tol.get("confident_margin", 0.2)
        entry["top1_agreement"] = float(agree.mean())
        entry["confident_samples"] = int(confident.sum())
        if confident.any():
            entry["confident_top1_agreement"] = float(agree[confident].mean())
        wanted = tol.get("min_confident_agreement")
        if wanted is not None and confident.sum() >= MIN_CONFIDENT and entry["confident_top1_agreement"] < wanted:
            problems.append(f"top-1 agreement {entry['confident_top1_agreement']:.4f} < {wanted:g} on the "
                            f"{int(confident.sum())} samples the reference is confident about")
        if tol.get("min_top1_agreement") is not None and entry["top1_agreement"] < tol["min_top1_agreement"]:
            problems.append(f"top-1 agreement {entry['top1_agreement']:.4f} < {tol['min_top1_agreement']:g}")
    return entry, problems


def output_scale(ref: np.ndarray) -> float:
    """What an output's error is measured against: its mean spread across samples, but never less than
    5 % of its magnitude (a model whose outputs hardly vary would otherwise turn float noise into failures)."""
    if not ref.size:
        return 0.0
    spread = float(np.mean(np.abs(ref - ref.mean(axis=0, keepdims=True))))
    return max(spread, 0.05 * float(np.sqrt(np.mean(ref ** 2))))


def looks_like_probabilities(values: np.ndarray) -> bool:
    """Rows of non-negative numbers summing to 1 (a softmax output)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] < 2 or not len(values):
        return False
    return bool(values.min() >= -1e-6 and np.allclose(values.sum(axis=1), 1.0, atol=1e-3))


def _margin(values: np.ndarray) -> np.ndarray:
    """Gap between the two largest probabilities per row (softmax applied to logits)."""
    probs = values if looks_like_probabilities(values) else _softmax(values)
    top = np.sort(probs, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _worst(per_output: dict[str, dict], key: str, pick: Any) -> Any:
    values = [entry[key] for entry in per_output.values() if entry.get(key) is not None]
    return pick(values) if values else None


def combine(checks: dict[str, Parity]) -> dict[str, Any]:
    """One parity for an artifact run on several backends: failed if any failed; the worst numbers."""
    failed = [name for name, c in checks.items() if c.status == FAILED]
    first = next(iter(checks.values()))

    def worst(key: str, pick: Any) -> Any:
        values = [getattr(c, key) for c in checks.values() if getattr(c, key) is not None]
        return pick(values) if values else None

    tolerance = next((c.tolerance for c in checks.values() if c.tolerance), None)
    result = {**first.to_dict(), "status": FAILED if failed else PASSED, "tolerance": tolerance,
              "max_abs_error": worst("max_abs_error", max), "top1_agreement": worst("top1_agreement", min),
              "relative_error": worst("relative_error", max),
              "confident_top1_agreement": worst("confident_top1_agreement", min),
              "accuracy_loss": worst("accuracy_loss", max),
              "backends": {name: c.to_dict() for name, c in checks.items()}}
    result = {k: v for k, v in result.items() if v is not None or k in ("max_abs_error", "top1_agreement")}
    result.pop("reason", None)
    if failed:
        result["reason"] = "; ".join(f"{name}: {checks[name].reason}" for name in failed)
    return result


def not_verified(reason: str) -> Parity:
    return Parity(NOT_VERIFIED, None, None, 0, reason=reason)


def accuracy(outputs: np.ndarray, labels: Optional[np.ndarray]) -> Optional[float]:
    """Top-1 accuracy of one output against integer labels (None without labels)."""
    if labels is None or not len(labels):
        return None
    return float(np.mean(np.asarray(outputs).argmax(-1) == labels))
