"""Grouped convolutions without XLA, for the exported graph.

Keras 3's TensorFlow backend and tf_keras both run a grouped `Conv2D` (ConvNeXt's depthwise
`Conv2D(groups=C)`, ResNeXt-style blocks) inside a nested `tf.function(jit_compile=True)`, because
TensorFlow's CPU kernel lacks grouped convolution. Converters cannot read that nested XLA call (coremltools:
"Conversion for TF op 'StatefulPartitionedCall' not implemented"). While edgekit traces the export,
such a convolution is written with plain ops instead — `DepthwiseConv2dNative` when every group is
one channel, else a split, one `Conv2D` per group and a concat — which computes the same values
(every artifact's parity check runs against the Keras model itself).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator


@contextlib.contextmanager
def plain_grouped_convolutions() -> Iterator[None]:
    """While tracing a Keras 3 model's export."""
    from keras.src import backend
    from keras.src.backend.tensorflow import nn as backend_nn

    original = backend_nn.conv

    def conv(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid", data_format: Any = None,
             dilation_rate: Any = 1) -> Any:
        last = backend.standardize_data_format(data_format) == "channels_last"
        plain = _grouped_2d(inputs, kernel, strides, padding, dilation_rate, channels_last=last)
        return plain if plain is not None else original(inputs, kernel, strides, padding, data_format, dilation_rate)

    backend_nn.conv = conv
    try:
        yield
    finally:
        backend_nn.conv = original


@contextlib.contextmanager
def plain_grouped_convolutions_tf_keras() -> Iterator[None]:
    """While tracing a tf_keras model's export: its Conv layers call `_jit_compiled_convolution_op`."""
    from tf_keras.src.layers.convolutional.base_conv import Conv

    original = Conv.__dict__["_jit_compiled_convolution_op"]

    def convolution(self: Any, inputs: Any, kernel: Any) -> Any:
        padding = self.padding if isinstance(self.padding, str) else "explicit"
        plain = None
        if padding in ("same", "valid"):
            plain = _grouped_2d(inputs, kernel, self.strides, padding, self.dilation_rate,
                                channels_last=not self._channels_first)
        return plain if plain is not None else original.__get__(self, type(self))(inputs, kernel)

    Conv._jit_compiled_convolution_op = convolution
    try:
        yield
    finally:
        Conv._jit_compiled_convolution_op = original


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _grouped_2d(inputs: Any, kernel: Any, strides: Any, padding: str, dilation_rate: Any, *,
                channels_last: bool) -> Any:
    """The grouped 2-D, channels-last convolution in plain ops; None for anything else."""
    import tensorflow as tf

    if len(inputs.shape) != 4 or not channels_last:
        return None
    channels, per_group, filters = inputs.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if channels is None or per_group is None or channels == per_group or channels % per_group:
        return None
    groups = channels // per_group
    stride, dilation = _pair(strides), _pair(dilation_rate)
    if per_group == 1 and filters == channels and (max(stride) == 1 or max(dilation) == 1):
        return tf.nn.depthwise_conv2d(inputs, tf.transpose(kernel, [0, 1, 3, 2]), strides=[1, *stride, 1],
                                      padding=padding.upper(), dilations=dilation)
    if filters % groups:
        return None
    parts = zip(tf.split(inputs, groups, axis=-1), tf.split(kernel, groups, axis=-1))
    return tf.concat([tf.nn.convolution(x, k, strides=stride, padding=padding.upper(), dilations=dilation)
                      for x, k in parts], axis=-1)
