"""MobileNet-style students: depthwise-separable or inverted-residual blocks, ReLU6, BatchNorm.

Knobs: width multiplier `alpha`, `depth` (number of blocks), input `resolution` (the student
resizes its input inside the model when it differs from the data), and `block`. The student
takes the teacher's input shape and ends in the teacher's number of classes, as a `logits`
Dense layer followed by a `probs` softmax, so distillation can read the logits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


# Short proxy trainings (a few hundred steps) need moving statistics that converge fast;
# Keras' default 0.99 leaves them near their initial values and evaluation collapses.
BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class StudentSpec:
    alpha: float = 0.5
    depth: int = 4
    resolution: int | None = None  # None: the data's resolution
    block: Literal["separable", "inverted"] = "separable"
    base_width: int = 32
    expansion: int = 3  # inverted residual blocks only

    def name(self) -> str:
        res = f"r{self.resolution}" if self.resolution else "rfull"
        return f"{self.block}-a{self.alpha:g}-d{self.depth}-{res}"


def _width(spec: StudentSpec, channels: int) -> int:
    """Scale by alpha and round to a multiple of 4 (at least 4), as MobileNets round to 8."""
    return max(4, int(round(channels * spec.alpha / 4)) * 4)


def build_student(spec: StudentSpec, *, input_shape: tuple[int, ...], classes: int, seed: int = 0) -> Any:
    from edgekit.tfenv import keras

    k = keras()
    k.utils.set_random_seed(seed)
    layers = k.layers
    inputs = k.Input(shape=input_shape, name="image")
    x = inputs
    if spec.resolution and spec.resolution != input_shape[0]:
        x = layers.Resizing(spec.resolution, spec.resolution, name="resize")(x)
    # MobileNets halve 224-px inputs at once; small images (Fashion-MNIST's 28 px) keep their resolution.
    stem_stride = 2 if (spec.resolution or input_shape[0]) >= 64 else 1
    x = layers.Conv2D(_width(spec, spec.base_width), 3, strides=stem_stride, padding="same", use_bias=False,
                      name="stem")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    channels = spec.base_width
    for index in range(spec.depth):
        stride = 2 if index % 2 == 1 else 1  # downsample every other block: 28 -> 14 -> 7 -> 4
        channels = channels * 2 if stride == 2 else channels
        x = _block(layers, x, spec, index=index, filters=_width(spec, channels), stride=stride)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(classes, name="logits")(x)
    probs = layers.Softmax(name="probs")(logits)
    return k.Model(inputs, probs, name=f"student_{spec.name().replace('.', '_').replace('-', '_')}")


def _block(layers: Any, x: Any, spec: StudentSpec, *, index: int, filters: int, stride: int) -> Any:
    prefix = f"block{index}"
    if spec.block == "separable":
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dw")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{prefix}_dw_relu6")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}_pw")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_pw_bn")(x)
        return layers.ReLU(6.0, name=f"{prefix}_pw_relu6")(x)
    shortcut = x
    in_channels = int(x.shape[-1])
    y = layers.Conv2D(in_channels * spec.expansion, 1, use_bias=False, name=f"{prefix}_expand")(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_expand_bn")(y)
    y = layers.ReLU(6.0, name=f"{prefix}_expand_relu6")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dw")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{prefix}_dw_relu6")(y)
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}_project")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_project_bn")(y)
    if stride == 1 and in_channels == filters:
        y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return y
