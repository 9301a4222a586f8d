"""Run a `.tflite` model in the LiteRT interpreter with float inputs and float outputs.

Inputs and outputs are addressed by the names of the file's `serving_default` signature (the
model's own names, see `models/signature.py`); files without a signature fall back to the
interpreter's order. Quantised inputs are quantised with the model's own scale and zero point and
quantised outputs dequantised the same way, so callers always compare floats with floats.

Artifacts are converted with batch 1. For speed, evaluation resizes the batch when the graph
allows it, and only keeps the larger batch when its outputs have the right shape and its first
rows match batch-1 invocations of the same file; otherwise it runs one sample at a time.
"""
from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import numpy as np

from edgekit.quiet import quiet_native
from edgekit.tfenv import litert_interpreter

SIGNATURE = "serving_default"
BATCH_CHECK_ROWS = 2


class TFLiteRunner:
    def __init__(self, model_bytes: bytes, *, threads: int = 1, batch: int = 1,
                 input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None):
        Interpreter = litert_interpreter()
        self.model_bytes, self.threads = model_bytes, threads
        start = time.perf_counter()
        with quiet_native():
            self.interpreter: Any = Interpreter(model_content=model_bytes, num_threads=threads)
            self.inputs, self.outputs = _endpoints(self.interpreter, input_names, output_names)
            self.batch = 1
            if batch > 1:
                self._try_batch(batch)
            self.interpreter.allocate_tensors()
        self.load_ms = (time.perf_counter() - start) * 1000.0
        self._refresh()

    # ------------------------------------------------------------------ details
    def _refresh(self) -> None:
        by_index = {d["index"]: d for d in self.interpreter.get_input_details()}
        self.input_details = [by_index[index] for _, index in self.inputs]
        by_index = {d["index"]: d for d in self.interpreter.get_output_details()}
        self.output_details = [by_index[index] for _, index in self.outputs]

    @property
    def input(self) -> dict[str, Any]:  # the first input (single-input callers)
        return self.input_details[0]

    @property
    def output(self) -> dict[str, Any]:
        return self.output_details[0]

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input["dtype"])

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.outputs]

    def _try_batch(self, batch: int) -> None:
        details = {d["index"]: d for d in self.interpreter.get_input_details()}
        shapes = {index: list(details[index]["shape"]) for _, index in self.inputs}
        try:
            for index, shape in shapes.items():
                self.interpreter.resize_tensor_input(index, [batch] + shape[1:])
            self.interpreter.allocate_tensors()
            outputs = {d["index"]: d for d in self.interpreter.get_output_details()}
            if all(len(outputs[index]["shape"]) and outputs[index]["shape"][0] == batch for _, index in self.outputs):
                self.batch = batch
                return
        except (RuntimeError, ValueError):
            pass
        for index, shape in shapes.items():
            self.interpreter.resize_tensor_input(index, shape)
        self.batch = 1

    # ------------------------------------------------------------------ running
    def quantize(self, x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        dtype = np.dtype(detail["dtype"])
        if dtype.kind == "f":
            return x.astype(dtype)
        scale, zero_point = detail["quantization"]
        if not scale:
            return x.astype(dtype)  # an integer input that is not quantised (ids, indices)
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        return self.quantize(x, self.input)

    def dequantize(self, y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        if np.dtype(detail["dtype"]).kind == "f":
            return y.astype(np.float32)
        scale, zero_point = detail["quantization"]
        if not scale:
            return y.astype(np.float32)
        return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def invoke_raw(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One invocation on already quantised inputs; raw outputs in output order."""
        for detail, x in zip(self.input_details, xs):
            self.interpreter.set_tensor(detail["index"], x)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(detail["index"]) for detail in self.output_details]

    def prepare(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.quantize(x, detail) for detail, x in zip(self.input_details, xs)]

    def predict(self, xs: Sequence[np.ndarray] | np.ndarray, *, progress: Any = None) -> list[np.ndarray]:
        """Float outputs (one array per output) for float inputs, in batches of `self.batch`."""
        xs = [xs] if isinstance(xs, np.ndarray) else list(xs)
        if len(xs) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(xs)}")
        total = len(xs[0])
        rows: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for start in range(0, total, self.batch):
            chunk = [x[start:start + self.batch] for x in xs]
            real = len(chunk[0])
            if real < self.batch:
                chunk = [np.concatenate([c, np.repeat(c[-1:], self.batch - real, axis=0)]) for c in chunk]
            raw = self.invoke_raw(self.prepare(chunk))
            for store, value, detail in zip(rows, raw, self.output_details):
                store.append(self.dequantize(value, detail)[:real])
            if start == 0 and self.batch > 1:
                self._check_batch(chunk, [store[0] for store in rows])
            if progress is not None:
                progress(real)
        return [np.concatenate(store) for store in rows]

    def _check_batch(self, chunk: list[np.ndarray], batched: list[np.ndarray]) -> None:
        """The resized graph must give what batch-1 invocations give; else fall back to batch 1."""
        single = TFLiteRunner(self.model_bytes, threads=self.threads, input_names=[n for n, _ in self.inputs],
                              output_names=self.output_names)
        n = min(BATCH_CHECK_ROWS, len(batched[0]))
        for row in range(n):
            outs = single.predict([c[row:row + 1] for c in chunk])
            for got, want in zip(outs, batched):
                scale = float(np.max(np.abs(got))) + 1e-6
                if got.shape[1:] != want.shape[1:] or np.max(np.abs(got[0] - want[row])) > 1e-4 * scale + 1e-6:
                    raise _BatchMismatch()


class _BatchMismatch(Exception):
    pass


def run(model_bytes: bytes, xs: Sequence[np.ndarray], *, batch: int = 64, progress: Any = None,
        input_names: Optional[Sequence[str]] = None, output_names: Optional[Sequence[str]] = None
        ) -> tuple[TFLiteRunner, list[np.ndarray]]:
    """Outputs of the file on `xs`, batched where the graph allows it; returns the runner used too."""
    runner = TFLiteRunner(model_bytes, batch=batch, input_names=input_names, output_names=output_names)
    try:
        return runner, runner.predict(xs, progress=progress)
    except _BatchMismatch:
        runner = TFLiteRunner(model_bytes, input_names=input_names, output_names=output_names)
        return runner, runner.predict(xs, progress=progress)


def _endpoints(interpreter: Any, input_names: Optional[Sequence[str]],
               output_names: Optional[Sequence[str]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """[(name, tensor index)] for inputs and outputs, in the order the caller names them."""
    signatures = interpreter.get_signature_list()
    if SIGNATURE in signatures or len(signatures) == 1:
        key = SIGNATURE if SIGNATURE in signatures else next(iter(signatures))
        runner = interpreter.get_signature_runner(key)
        found_in = {name: detail["index"] for name, detail in runner.get_input_details().items()}
        found_out = {name: detail["index"] for name, detail in runner.get_output_details().items()}
        ins = _ordered(found_in, input_names, "input")
        outs = _ordered(found_out, output_names, "output")
        return ins, outs
    ins = [(d["name"], d["index"]) for d in interpreter.get_input_details()]
    outs = [(d["name"], d["index"]) for d in interpreter.get_output_details()]
    return ins, outs


def _ordered(found: dict[str, int], wanted: Optional[Sequence[str]], kind: str) -> list[tuple[str, int]]:
    if wanted is None:
        return list(found.items())
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(f"the .tflite signature has no {kind} named {missing[0]!r} (it has {sorted(found)})")
    return [(name, found[name]) for name in wanted]
