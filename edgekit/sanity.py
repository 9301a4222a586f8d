"""Never pass on nonsense: a reference model at chance stops the build, with the likely cause.

The judge is balanced accuracy (the mean of the per-class recalls): a model that cannot see its
input — whatever it outputs, even the majority class — scores 1/classes on it, however skewed the
labels are. The build stops when the reference does not beat that by a margin that covers sampling
noise (two standard errors, at least 5 points); with fewer than `MIN_SAMPLES` labelled samples the
verdict is a warning, not a stop.

The most common cause is preprocessing applied twice or not at all: the model rescales or
normalises its own input (a `Rescaling`/`Normalization` layer right after the input, as the Keras
tutorials and keras.applications build them) and `dataset.scale/mean/std` do it again. So the check
(1) reads the model's leading preprocessing layers and whether the data still vary after them, and
(2) tries the usual pixel scalings on a seeded sample of a few hundred, naming the one that works.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from edgekit.errors import InputError

PREPROCESSING = ("Rescaling", "Normalization")
PASS_THROUGH = ("InputLayer", "Resizing", "CenterCrop", "Activation", "Dropout")  # may precede the preprocessing
CANDIDATES = [("scale = 1, mean = 0, std = 1 (raw pixels)", 1.0, 0.0, 1.0),
              ("scale = 0.00392156862745098, mean = 0, std = 1 (pixels / 255)", 1 / 255, 0.0, 1.0),
              ("scale = 0.00784313725490196, mean = 1, std = 1 (pixels to [-1, 1])", 1 / 127.5, 1.0, 1.0),
              ("scale = 255, mean = 0, std = 1 (data stored in [0, 1], model wants 0-255)", 255.0, 0.0, 1.0)]
TRIAL_SAMPLES = 512
MIN_SAMPLES = 30  # below this many labelled samples the verdict warns instead of stopping


@dataclass
class Verdict:
    balanced_accuracy: float
    accuracy: float
    chance: float
    threshold: float
    classes: int
    samples: int
    reasons: list[str] = field(default_factory=list)
    suggestion: Optional[tuple[str, str]] = None  # (the dataset setting, the accuracy it gives)

    @property
    def at_chance(self) -> bool:
        return self.balanced_accuracy < self.threshold

    @property
    def decisive(self) -> bool:
        """Enough samples to stop a build on (otherwise the verdict is a warning)."""
        return self.samples >= MIN_SAMPLES

    def to_dict(self) -> dict[str, Any]:
        return {"status": "failed" if self.at_chance else "passed",
                "balanced_accuracy": round(self.balanced_accuracy, 6), "accuracy": round(self.accuracy, 6),
                "chance": round(self.chance, 6), "threshold": round(self.threshold, 6), "classes": self.classes,
                "samples": self.samples, **({"likely_causes": self.reasons} if self.reasons else {}),
                **({"suggestion": f"{self.suggestion[0]}: {self.suggestion[1]}"} if self.suggestion else {})}


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean recall over the classes present in `labels`."""
    classes = np.unique(labels)
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in classes])) if len(classes) else 0.0


def chance_level(labels: np.ndarray) -> tuple[float, float]:
    """(chance, threshold) of balanced accuracy: 1/classes present, and what a model must beat."""
    counts = np.bincount(labels)
    present = counts[counts > 0]
    if len(present) < 2:
        return 1.0, 1.0  # one class only: balanced accuracy cannot tell anything
    chance = 1.0 / len(present)
    # standard error of the mean recall of a blind guesser: each class recall ~ Binomial(n_c, 1/k) / n_c
    noise = math.sqrt(float(np.sum(chance * (1 - chance) / present))) / len(present)
    return chance, min(1.0, chance + max(2.0 * noise, 0.05))


def check_reference(model: Any, data: Any, reference: list[np.ndarray], label_index: Optional[int],
                    dataset: Any) -> Optional[Verdict]:
    """The verdict on the reference model (None without labels, or with labels of a single class)."""
    if label_index is None or data.y is None or len(np.unique(data.y)) < 2:
        return None
    predicted = reference[label_index].argmax(-1)
    chance, threshold = chance_level(data.y)
    verdict = Verdict(balanced_accuracy(predicted, data.y), float(np.mean(predicted == data.y)), chance, threshold,
                      classes=int(reference[label_index].shape[-1]), samples=len(data.y),
                      reasons=leading_preprocessing_problems(model, data, dataset))
    if verdict.at_chance:
        verdict.suggestion = better_scaling(model, data, dataset, label_index)
        counts = np.bincount(predicted)
        if counts.max() >= 0.95 * len(predicted):
            verdict.reasons.append(f"the model predicts class {int(counts.argmax())} for "
                                   f"{100 * counts.max() / len(predicted):.0f} % of the samples")
    return verdict


def message(verdict: Verdict) -> str:
    causes = "; ".join(verdict.reasons + ([f"with {verdict.suggestion[0]} it reaches {verdict.suggestion[1]}"]
                                          if verdict.suggestion else []))
    return (f"reference model at chance: balanced accuracy {100 * verdict.balanced_accuracy:.1f} % for "
            f"{verdict.classes} classes (accuracy {100 * verdict.accuracy:.1f} %; a blind guess gets "
            f"{100 * verdict.chance:.1f} % balanced)" + (f": {causes}" if causes else ""))


def raise_if_nonsense(verdict: Optional[Verdict]) -> None:
    if verdict is None or not verdict.at_chance or not verdict.decisive:
        return
    raise InputError(message(verdict),
                     hint=(f"set dataset {verdict.suggestion[0]}" if verdict.suggestion else
                           "check dataset.scale/mean/std, class_names and the labels against how the model was "
                           "trained") + " (build.sanity_checks = false builds anyway)")


def leading_preprocessing_problems(model: Any, data: Any, dataset: Any) -> list[str]:
    """What the model's own leading Rescaling/Normalization does to the data as fed, when that looks wrong."""
    problems = []
    for layer, inputs in leading_preprocessing(model, data):
        values = _through(layer, inputs)
        spread = float(values.max() - values.min()) if values.size else 0.0
        fed = (float(inputs.min()), float(inputs.max())) if inputs.size else (0.0, 0.0)
        what = _describe(layer)
        if spread < 0.05 and fed[1] > fed[0]:
            problems.append(f"the model {what} itself (layer {layer.name!r}) and the data reach it in "
                            f"[{fed[0]:.3g}, {fed[1]:.3g}] (dataset.scale = {dataset.scale:.3g}), so inside it they vary "
                            f"by only {spread:.3g}: the input is scaled twice")
        elif spread > 100:
            problems.append(f"after the model's own {type(layer).__name__} (layer {layer.name!r}) values span "
                            f"{spread:.3g}: the data are not scaled the way the model expects")
    return problems


def leading_preprocessing(model: Any, data: Any) -> list[tuple[Any, np.ndarray]]:
    """[(Rescaling/Normalization layer, the data that reach it)] right after the model's input, looking
    through nested models (the Keras tutorials put augmentation in a nested Sequential before them)."""
    keras_model = getattr(model, "keras_model", None)
    if keras_model is None or len(data.inputs) != 1 or data.inputs[0].dtype.kind != "f":
        return []
    found = []
    x = data.inputs[0][:64]
    for layer in _first_layers(keras_model)[:12]:
        kind = type(layer).__name__
        if kind in PREPROCESSING:
            found.append((layer, x))
            x = _through(layer, x)
        elif kind not in PASS_THROUGH and not kind.startswith("Random"):
            break
    return found


def _first_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Sequential"):
            layers += _first_layers(layer)
        else:
            layers.append(layer)
    return layers


def _through(layer: Any, x: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(layer(x, training=False), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a layer that cannot run alone tells nothing
        return np.asarray(x, dtype=np.float64)


def _describe(layer: Any) -> str:
    config = layer.get_config()
    if type(layer).__name__ == "Rescaling":
        scale, offset = config.get("scale"), config.get("offset", 0)
        scale = f"{scale:.3g}" if isinstance(scale, (int, float)) else str(scale)
        return f"rescales its input (× {scale}" + (f" + {offset:.3g})" if offset else ")")
    return "normalises its input (mean/variance)"


def better_scaling(model: Any, data: Any, dataset: Any, label_index: int) -> Optional[tuple[str, str]]:
    """A common pixel scaling that makes the model clearly better than chance on a seeded sample."""
    if len(data.inputs) != 1 or data.inputs[0].dtype.kind != "f" or dataset.scale == 0:
        return None
    order = np.random.default_rng(0).permutation(len(data.y))[:TRIAL_SAMPLES]
    raw = (data.inputs[0][order].astype(np.float64) * dataset.std + dataset.mean) / dataset.scale
    labels = data.y[order]
    _, threshold = chance_level(labels)
    best = None
    for label, scale, mean, std in CANDIDATES:
        if math.isclose(scale, dataset.scale) and math.isclose(mean, dataset.mean) and math.isclose(std, dataset.std):
            continue
        x = ((raw * scale - mean) / std).astype(np.float32)
        predicted = model.predict([x])[label_index].argmax(-1)
        if np.bincount(predicted).max() >= 0.95 * len(predicted):
            continue  # one class for (almost) everything: no better than what failed
        score = balanced_accuracy(predicted, labels)
        if score >= threshold and (best is None or score > best[0]):
            best = (score, label)
    return None if best is None else (best[1], f"{100 * best[0]:.1f} % balanced accuracy")
