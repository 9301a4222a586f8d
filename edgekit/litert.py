"""Run a `.tflite` model in the LiteRT interpreter with float inputs and float outputs.

Quantised inputs are quantised with the model's own scale and zero point; quantised outputs
are dequantised the same way, so callers always compare floats with floats.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgekit.quiet import quiet_native
from edgekit.tfenv import litert_interpreter


class TFLiteRunner:
    def __init__(self, model_bytes: bytes, *, threads: int = 1, batch: int = 1):
        Interpreter = litert_interpreter()
        start = time.perf_counter()
        with quiet_native():
            self.interpreter: Any = Interpreter(model_content=model_bytes, num_threads=threads)
            self.batch = 1
            if batch > 1:
                self._try_batch(batch)
            self.interpreter.allocate_tensors()
        self.load_ms = (time.perf_counter() - start) * 1000.0
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def _try_batch(self, batch: int) -> None:
        detail = self.interpreter.get_input_details()[0]
        shape = list(detail["shape"])
        try:
            self.interpreter.resize_tensor_input(detail["index"], [batch] + shape[1:])
            self.interpreter.allocate_tensors()
            self.batch = batch
        except (RuntimeError, ValueError):
            self.interpreter.resize_tensor_input(detail["index"], shape)
            self.batch = 1

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        if dtype == np.float32:
            return x.astype(np.float32)
        scale, zero_point = self.input["quantization"]
        if not scale:
            raise ValueError(f"input tensor is {dtype} but carries no quantisation parameters")
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if np.dtype(self.output["dtype"]) == np.float32:
            return y.astype(np.float32)
        scale, zero_point = self.output["quantization"]
        return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def invoke_raw(self, x_quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], x_quantized)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def predict(self, x: np.ndarray, *, progress: Any = None) -> np.ndarray:
        """Float outputs for float inputs, in batches of `self.batch` (padding the last one)."""
        outputs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            real = len(chunk)
            if real < self.batch:
                pad = np.repeat(chunk[-1:], self.batch - real, axis=0)
                chunk = np.concatenate([chunk, pad])
            raw = self.invoke_raw(self.quantize_input(chunk))
            outputs.append(self.dequantize_output(raw)[:real])
            if progress is not None:
                progress(real)
        return np.concatenate(outputs)
