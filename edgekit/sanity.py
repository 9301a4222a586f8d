"""Never pass on nonsense: a reference model at chance accuracy stops the build, with the likely cause.

The most common cause is preprocessing applied twice: the model rescales or normalises its own
input (a `Rescaling`/`Normalization` layer right after the input, as the Keras tutorials and
keras.applications build them) and `dataset.scale/mean/std` do it again, or not at all. So the
check (1) reads the model's leading preprocessing layers and the range the data arrive in, and
(2) tries the usual pixel scalings on a few hundred samples, naming the one that makes the model
work. Chance is the larger of 1/classes and the most frequent label's share, plus a margin that
covers sampling noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from edgekit.errors import InputError

PREPROCESSING = ("Rescaling", "Normalization")
PASS_THROUGH = ("InputLayer", "Resizing", "CenterCrop", "Activation")  # may precede the preprocessing
CANDIDATES = [("scale = 1, mean = 0, std = 1 (raw pixels)", 1.0, 0.0, 1.0),
              ("scale = 0.00392156862745098, mean = 0, std = 1 (pixels / 255)", 1 / 255, 0.0, 1.0),
              ("scale = 0.00784313725490196, mean = 1, std = 1 (pixels to [-1, 1])", 1 / 127.5, 1.0, 1.0)]
TRIAL_SAMPLES = 512


@dataclass
class Verdict:
    accuracy: float
    chance: float
    threshold: float
    classes: int
    reasons: list[str]
    suggestion: Optional[tuple[str, str]] = None  # (the dataset setting, the accuracy it gives)

    @property
    def at_chance(self) -> bool:
        return self.accuracy < self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"status": "failed" if self.at_chance else "passed", "accuracy": round(self.accuracy, 6),
                "chance": round(self.chance, 6), "threshold": round(self.threshold, 6), "classes": self.classes,
                **({"likely_causes": self.reasons} if self.reasons else {}),
                **({"suggestion": f"{self.suggestion[0]}: {self.suggestion[1]}"} if self.suggestion else {})}


def chance_level(labels: np.ndarray, classes: int) -> tuple[float, float]:
    """(chance, threshold): the best blind guess, and the accuracy a model must beat to mean anything."""
    counts = np.bincount(labels, minlength=classes)
    chance = max(1.0 / classes, float(counts.max()) / max(len(labels), 1))
    noise = 3.0 * math.sqrt(chance * (1.0 - chance) / max(len(labels), 1))
    return chance, min(1.0, chance + max(noise, 0.1 * (1.0 - chance)))


def check_reference(model: Any, data: Any, reference: list[np.ndarray], label_index: Optional[int],
                    dataset: Any) -> Optional[Verdict]:
    """The verdict on the reference model's accuracy (None when there are no labels)."""
    if label_index is None or data.y is None or not len(data.y):
        return None
    outputs = reference[label_index]
    classes = int(outputs.shape[-1])
    accuracy = float(np.mean(outputs.argmax(-1) == data.y))
    chance, threshold = chance_level(data.y, classes)
    verdict = Verdict(accuracy, chance, threshold, classes, reasons=leading_preprocessing_problems(model, data, dataset))
    if verdict.at_chance:
        verdict.suggestion = better_scaling(model, data, dataset, label_index, threshold)
        predicted = np.bincount(outputs.argmax(-1), minlength=classes)
        if predicted.max() >= 0.95 * len(outputs):
            verdict.reasons.append(f"the model predicts class {int(predicted.argmax())} for "
                                   f"{100 * predicted.max() / len(outputs):.0f} % of the samples")
    return verdict


def raise_if_nonsense(verdict: Optional[Verdict]) -> None:
    if verdict is None or not verdict.at_chance:
        return
    causes = "; ".join(verdict.reasons + ([f"with {verdict.suggestion[0]} it reaches {verdict.suggestion[1]}"]
                                          if verdict.suggestion else []))
    raise InputError(f"reference accuracy {100 * verdict.accuracy:.1f} % is at chance for {verdict.classes} classes "
                     f"(a blind guess gets {100 * verdict.chance:.1f} %)" + (f": {causes}" if causes else ""),
                     hint=(f"set dataset {verdict.suggestion[0]}" if verdict.suggestion else
                           "check dataset.scale/mean/std, class_names and the labels against how the model was "
                           "trained") + " (build.sanity_checks = false builds anyway)")


def leading_preprocessing_problems(model: Any, data: Any, dataset: Any) -> list[str]:
    """What the model's own leading Rescaling/Normalization does to the data as fed, when that looks wrong."""
    problems = []
    for layer, inputs in leading_preprocessing(model, data):
        values = _through(layer, inputs)
        span = float(np.max(np.abs(values))) if values.size else 0.0
        fed = float(np.max(np.abs(inputs))) if inputs.size else 0.0
        what = _describe(layer)
        if span < 0.05 and fed > 0:
            problems.append(f"the model {what} itself (layer {layer.name!r}) and dataset.scale = {dataset.scale:.3g} "
                            f"scales the data too (up to {fed:.3g}), so the model sees values up to {span:.3g}: the "
                            "input is scaled twice")
        elif span > 50:
            problems.append(f"after the model's own {type(layer).__name__} (layer {layer.name!r}) values reach "
                            f"{span:.3g}: the data are not scaled the way the model expects")
    return problems


def leading_preprocessing(model: Any, data: Any) -> list[tuple[Any, np.ndarray]]:
    """[(Rescaling/Normalization layer, the data that reach it)] right after the model's inputs."""
    keras_model = getattr(model, "keras_model", None)
    if keras_model is None or len(data.inputs) != 1:
        return []
    found = []
    x = data.inputs[0][:64]
    for layer in _first_layers(keras_model):
        kind = type(layer).__name__
        if kind in PREPROCESSING:
            found.append((layer, x))
            x = _through(layer, x)
        elif kind not in PASS_THROUGH and not kind.startswith("Random"):
            break
    return found


def _first_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers[:6]:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Sequential"):
            layers += _first_layers(layer)
            break
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


def better_scaling(model: Any, data: Any, dataset: Any, label_index: int,
                   threshold: float) -> Optional[tuple[str, str]]:
    """A common pixel scaling that makes the model clearly better than chance on a few hundred samples."""
    if len(data.inputs) != 1 or data.inputs[0].dtype.kind != "f" or dataset.scale == 0:
        return None
    raw = (data.inputs[0][:TRIAL_SAMPLES].astype(np.float64) * dataset.std + dataset.mean) / dataset.scale
    labels = data.y[:TRIAL_SAMPLES]
    best = None
    for label, scale, mean, std in CANDIDATES:
        if math.isclose(scale, dataset.scale) and math.isclose(mean, dataset.mean) and math.isclose(std, dataset.std):
            continue
        x = ((raw * scale - mean) / std).astype(np.float32)
        accuracy = float(np.mean(model.predict([x])[label_index].argmax(-1) == labels))
        if accuracy >= threshold and (best is None or accuracy > best[0]):
            best = (accuracy, label)
    return None if best is None else (best[1], f"{100 * best[0]:.1f} %")
