"""Fit the data to the model: input shapes, and which output (if any) the labels belong to."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from edgekit.errors import ConfigError, InputError
from edgekit.validate import looks_like_probabilities


def check_inputs(model: Any, data: Any, *, kind: str = "") -> Any:
    """The model with free input dimensions taken from the data; a mismatch is an InputError."""
    for info, x in zip(model.inputs, data.inputs):
        expected, got = tuple(info.inner), tuple(x.shape[1:])
        if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
            name = f"model's input {info.name!r}" if len(model.inputs) > 1 else "model"
            hint = ("the bundled Fashion-MNIST is 28x28x1: use an npz or image_folder dataset, whose "
                    "image_size / color_mode can match the model" if kind == "fashion_mnist"
                    else "set dataset.image_size / color_mode to match the model")
            raise InputError(f"the {name} expects shape {_dims(expected)} but the dataset gives {got}", hint=hint)
    return model.with_input_shapes([tuple(x.shape[1:]) for x in data.inputs])


def label_output(model: Any, data: Any, wanted: Optional[str], reference: list[np.ndarray]) -> Optional[int]:
    """Index of the output the labels belong to; None when the data has no labels.

    `dataset.label_output` names it; otherwise the only output, or the only output with one value
    per class. Shapes are the reference outputs' (a signature may declare them unknown). Labels that
    the chosen output cannot hold are an InputError."""
    if data.y is None:
        if wanted:
            raise ConfigError(f"dataset.label_output = {wanted!r} but the dataset has no labels (y_<split>)")
        return None
    names = [info.name for info in model.outputs]
    if wanted:
        if wanted not in names:
            raise ConfigError(f"dataset.label_output = {wanted!r} is not an output of the model",
                              hint=f"use one of {', '.join(names)}")
        index = names.index(wanted)
    elif len(names) == 1:
        index = 0
    else:
        classes = max(int(data.y.max()) + 1, len(data.class_names or []))
        fits = [i for i, values in enumerate(reference) if values.ndim == 2 and values.shape[-1] >= classes]
        if len(fits) != 1:
            raise ConfigError(f"the model has {len(names)} outputs ({', '.join(names)}) and the labels could belong to "
                              f"{'several' if fits else 'none'} of them",
                              hint="set dataset.label_output to the output that predicts the classes")
        index = fits[0]
    info, values = model.outputs[index], reference[index]
    classes = values.shape[-1] if values.ndim else 0
    if values.ndim != 2 or classes < 2:
        raise InputError(f"output {info.name!r} has shape {_dims((None, *values.shape[1:]))}: class labels need one "
                         "value per class", hint="leave y_<split> out of the data for regression or embedding outputs")
    top = int(data.y.max()) if len(data.y) else 0
    if top >= classes or int(data.y.min()) < 0:
        raise InputError(f"labels go from {int(data.y.min())} to {top} but output {info.name!r} has {classes} classes",
                         hint="check dataset.class_names and the model's last layer")
    return index


def output_kind(values: np.ndarray, labelled: bool) -> str:
    """How an output reads: 'probabilities' (softmax), 'logits' (class scores), or 'values'."""
    if looks_like_probabilities(values):
        return "probabilities"
    return "logits" if labelled else "values"


def _dims(shape: tuple) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
