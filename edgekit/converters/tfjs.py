"""Model -> TensorFlow.js graph model (from the exported SavedModel), or a layers model (tf_keras only).

The graph model is converted from the model's exported graph (`models/export.py`, free batch):
its signature (in model.json) names the inputs and outputs after the model; callers ask for the
outputs by those names (`signature.outputs[name].name` is the graph node). TF.js' own
`structuredOutputKeys` are not used: in 4.22 they pair sorted names with outputs in signature
order, which swaps the outputs of a multi-output model. Uses the `tensorflowjs` converter of the pinned stack
(4.22.0 with TF 2.19; it breaks on newer TensorFlow). `tensorflowjs` pulls in jax and TF decision
forests, so it is imported here only, when a web build runs.

Quantization: `quantize` applies to every weight ("none" keeps float32); `quantize_nodes` maps a
dtype to weight-name patterns (fnmatch, e.g. "*/probs/*") that take that dtype instead.
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, ConversionError, UnsupportedModelError
from edgekit.lazy import tfjs_keras_h5 as keras_h5_conversion
from edgekit.lazy import tfjs_saved_model as tf_saved_model_conversion_v2
from edgekit.models import LoadedModel
from edgekit.quiet import quiet_native
from edgekit.tfenv import tensorflow


def dtype_map(quantize: str, nodes: dict[str, list[str]]) -> dict[str, Any] | None:
    """The converter's quantization map: patterns per dtype plus the fallthrough dtype."""
    mapping: dict[str, Any] = {dtype: list(patterns) for dtype, patterns in nodes.items()}
    if quantize != "none":
        if quantize in mapping:
            raise ValueError(f"quantize = {quantize!r} is also a key of quantize_nodes; list only the exceptions there")
        mapping[quantize] = True
    return mapping or None


def convert(model: LoadedModel, out_dir: Path, *, quantize: str = "uint8", nodes: dict[str, list[str]] | None = None,
            shard_size: int = 4 * 1024 * 1024, model_format: str = "graph") -> list[Path]:
    """Write `model.json` and its weight shards into `out_dir`; return the files written (model.json first)."""
    if model_format == "layers" and model.flavor != "tf_keras":
        raise ConfigError(f"[targets.web] model_format = \"layers\" needs a tf_keras model; this one is {model.format}",
                          hint='use model_format = "graph" (tf.loadGraphModel), which takes any model')
    tensorflow()
    try:
        mapping = dtype_map(quantize, nodes or {})
    except ValueError as err:
        raise ConfigError(f"[targets.web] {err}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with quiet_native():
            if model_format == "layers":
                keras_h5_conversion.save_keras_model(model.keras_model, str(out_dir), quantization_dtype_map=mapping,
                                                     weight_shard_size_bytes=shard_size)
            else:
                from edgekit.converters.tfjs_graph import tfjs_rewrites

                with tfjs_rewrites():  # what grappler fuses for oneDNN, back into ops TF.js runs
                    tf_saved_model_conversion_v2.convert_tf_saved_model(
                        str(model.saved_model(batch=None)), str(out_dir), quantization_dtype_map=mapping,
                        weight_shard_size_bytes=shard_size)
    except ValueError as err:
        if "match the same node" in str(err) or "quantization" in str(err).lower():
            raise ConfigError(f"[targets.web] quantize_nodes rejected by the converter: {str(err).splitlines()[0][:200]}",
                              hint="make quantize_nodes patterns name each weight at most once") from None
        raise _conversion_error(err) from None
    except Exception as err:  # noqa: BLE001 - the converter raises many types; keep one line
        raise _conversion_error(err) from None
    manifest = out_dir / "model.json"
    if not manifest.is_file():
        raise ConversionError(f"TF.js conversion wrote no model.json in {out_dir}")
    _sort_attributes(manifest)
    _check_patterns(manifest, nodes or {})
    return [manifest] + sorted(p for p in out_dir.iterdir() if p != manifest)


def _conversion_error(err: BaseException) -> Exception:
    """One line that keeps what the converter named (its unsupported ops come on later lines)."""
    from edgekit.models.export import one_line

    message = one_line(err)
    if "Unsupported Ops" in message:
        ops = message.split(":", 1)[-1].strip() if ":" in message else message
        return UnsupportedModelError(f"TF.js cannot run these ops of the model: {ops[:300]}",
                                     hint="TF.js lacks kernels for them; the .tflite for LiteRT.js (litertjs = true) "
                                          "may still take the model")
    return ConversionError(f"TF.js conversion failed: {message}", hint="set EDGEKIT_DEBUG=1 for the converter's output")


def _sort_attributes(manifest: Path) -> None:
    """Write each op's `attr` map in name order. The converter writes them in protobuf map order, which
    differs between runs, so two builds of the same model gave different model.json bytes (measured:
    identical weights, reordered attributes). Loaders read a JSON object, so the order means nothing."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (dict(sorted((a, walk(v)) for a, v in item.items())) if k == "attr" and isinstance(item, dict)
                        else walk(item)) for k, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(json.dumps(walk(json.loads(text))), encoding="utf-8")


def _check_patterns(manifest: Path, nodes: dict[str, list[str]]) -> None:
    """A quantize_nodes pattern that names no weight would be silently ignored by the converter: refuse it."""
    names = [w["name"] for group in json.loads(manifest.read_text(encoding="utf-8"))["weightsManifest"]
             for w in group["weights"]]
    unmatched = [f"{dtype}: {pattern!r}" for dtype, patterns in nodes.items() for pattern in patterns
                 if not fnmatch.filter(names, pattern)]
    if unmatched:
        raise ConfigError(f"[targets.web] quantize_nodes patterns match no weight: {', '.join(unmatched)}",
                          hint=f"weight names look like {', '.join(names[:3])}")
