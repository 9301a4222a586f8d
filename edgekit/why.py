"""`edgekit why ARTIFACT`: which tensors cost an artifact's bytes, and what would shrink them.

Reads the file itself, no TensorFlow: a `.tflite` flatbuffer (LiteRT's schema) or a TF.js graph model
(model.json's weights manifest and its shards). Per weight tensor: raw bytes, the bytes it takes after
gzip (each tensor compressed on its own: an estimate of its share of the download, which gzip of the
whole file slightly beats), dtype, sparsity (zeros; for quantized tensors, the zero point), unique
values, and a one-line hint where a recipe step or another precision would help.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.errors import InputError
from edgekit.lazy import litert_schema
from edgekit.measure import gzip_size

MAX_FILE = 4 << 30
HINT_SHARE = 0.05  # tensors under 5 % of the file get no hint
_TFLITE_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "INT8": "int8", "INT4": "int4", "UINT8": "uint8", "INT16": "int16",
                  "INT32": "int32", "INT64": "int64", "FLOAT64": "float64", "BOOL": "bool"}
_TFJS_DTYPES = {"float32": "float32", "int32": "int32", "bool": "bool", "uint8": "uint8", "uint16": "uint16",
                "float16": "float16"}


def _entry(name: str, data: bytes, dtype: Optional[str], shape: list[int], zero: float = 0.0, *,
           stored: str = "dense", channel_axis: int = 0) -> dict[str, Any]:
    """One tensor's facts; `channel_axis`: output channels (0 in .tflite's OHWI/[out, in], -1 in TF.js' HWIO/[in, out])."""
    entry: dict[str, Any] = {"tensor": name[:160], "shape": shape, "dtype": dtype or "?", "bytes": len(data),
                             "gzip_bytes": gzip_size(data), "stored": stored}
    if dtype in _TFLITE_DTYPES.values() and stored == "dense":
        if dtype == "int4":  # two weights per byte
            from edgekit.targets.android.lowbit import unpack_nibbles

            values = unpack_nibbles(data, int(np.prod(shape)) if shape else 2 * len(data))
        else:
            values = np.frombuffer(data, dtype=np.dtype(dtype))
        if values.size:
            entry["sparsity"] = round(float(np.mean(values == zero)), 4)
            entry["unique_values"] = int(len(np.unique(values)))
            rows = (np.moveaxis(values.reshape(shape), channel_axis, 0).reshape(shape[channel_axis], -1)
                    if len(shape) >= 2 and int(np.prod(shape)) == values.size else values.reshape(1, -1))
            entry["max_unique_per_channel"] = int(max(len(np.unique(row)) for row in rows))
    return entry


WEIGHT_OPS = ("MatMul", "Conv2D", "depthwise", "Conv2DBackpropInput", "BiasAdd", "Einsum")


def _layer_part(name: str) -> str:
    """The part of a fused output name ("…/Relu;…/conv2d_3/Conv2D") that names the weight's layer."""
    parts = [p for p in name.split(";") if p]
    for part in parts:
        if any(part.endswith(op) or f"/{op}" in part for op in WEIGHT_OPS):
            return part
    return parts[-1] if parts else name


def tflite_tensors(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if data[4:8] != b"TFL3":  # the flatbuffer's file identifier
        raise InputError(f"{path}: not a readable .tflite file (no TFL3 identifier)",
                         hint="pass a .tflite file a converter wrote")
    schema = litert_schema.load()
    try:
        model = schema.Model.GetRootAs(data, 0)
        types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        seen, found = set(), []
        ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        for g in range(model.SubgraphsLength()):
            graph = model.Subgraphs(g)
            users: dict[int, str] = {}  # constant tensor -> "OP output-name" of the first op that reads it
            for i in range(graph.OperatorsLength()):
                op = graph.Operators(i)
                code = model.OperatorCodes(op.OpcodeIndex())
                kind = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
                output = graph.Tensors(int(op.Outputs(0))).Name().decode(errors="replace") if op.OutputsLength() else ""
                for j in (op.InputsAsNumpy() if op.InputsLength() else []):
                    users.setdefault(int(j), f"{kind} {_layer_part(output)}".strip())
            for t in range(graph.TensorsLength()):
                tensor = graph.Tensors(t)
                index = tensor.Buffer()
                if index <= 0 or index in seen:
                    continue
                buffer = model.Buffers(index)
                if buffer.DataLength() > 0:
                    raw = buffer.DataAsNumpy().tobytes()
                elif buffer.Offset() > 1 and buffer.Size() > 0:  # a model over 2 GB keeps buffers after the flatbuffer
                    raw = data[buffer.Offset():buffer.Offset() + buffer.Size()]
                else:
                    continue
                seen.add(index)
                quant = tensor.Quantization()
                zero = float(quant.ZeroPoint(0)) if quant is not None and quant.ZeroPointLength() else 0.0
                stored = "sparse" if tensor.Sparsity() is not None else "dense"
                found.append(_entry((tensor.Name() or b"").decode(errors="replace"), raw,
                                    _TFLITE_DTYPES.get(types.get(tensor.Type(), "")),
                                    [int(d) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else [], zero,
                                    stored=stored,
                                    channel_axis=-1 if users.get(t, "").startswith("DEPTHWISE") else 0))
                if t in users:
                    found[-1]["used_by"] = users[t][:160]
    except Exception as err:  # noqa: BLE001 - a malformed flatbuffer raises anything
        raise InputError(f"{path}: not a readable .tflite file ({type(err).__name__})") from None
    return found


def tfjs_tensors(manifest_path: Path) -> list[dict[str, Any]]:
    try:
        return _tfjs_tensors(manifest_path)
    except (AttributeError, TypeError, ValueError, OverflowError):
        raise InputError(f"{manifest_path}: not a TF.js model.json edgekit can read (malformed weights manifest)",
                         hint="pass the model.json a TF.js converter wrote") from None


def _tfjs_tensors(manifest_path: Path) -> list[dict[str, Any]]:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        groups = manifest["weightsManifest"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{manifest_path}: not a TF.js model.json with a weights manifest") from None
    found = []
    total = 0
    for group in groups:
        chunks = []
        for shard in group.get("paths", []):
            shard_path = manifest_path.parent / str(shard)
            if Path(str(shard)).name != str(shard) or not shard_path.is_file() or shard_path.is_symlink():
                raise InputError(f"{manifest_path}: weight shard {shard!r} is missing or outside the folder")
            total += shard_path.stat().st_size
            if total > MAX_FILE:
                raise InputError(f"{manifest_path}: weight shards over 4 GiB", hint="edgekit why reads up to 4 GiB")
            chunks.append(shard_path.read_bytes())
        blob = b"".join(chunks)
        offset = 0
        for weight in group.get("weights", []):
            try:
                shape = [int(d) for d in weight.get("shape", [])]
            except (TypeError, ValueError):
                raise InputError(f"{manifest_path}: weight {weight.get('name')!r} has a malformed shape") from None
            quant = weight.get("quantization") or {}
            dtype = _TFJS_DTYPES.get(str(quant.get("dtype") or weight.get("dtype")))
            size = int(np.prod(shape)) * (np.dtype(dtype).itemsize if dtype and dtype != "bool" else 1)
            raw = blob[offset:offset + size]
            offset += size
            if len(raw) != size:
                raise InputError(f"{manifest_path}: the weight shards are shorter than the manifest declares "
                                 f"(at {weight.get('name')!r})", hint="rebuild the TF.js artifact")
            zero = 0.0
            if quant.get("scale") and quant.get("min") is not None:
                zero = float(round(-float(quant["min"]) / float(quant["scale"])))
            found.append(_entry(str(weight.get("name")), raw, dtype, shape, zero, channel_axis=-1))
    return found


def _hint(entry: dict[str, Any]) -> Optional[str]:
    dtype, sparsity, unique = entry["dtype"], entry.get("sparsity", 0.0), entry.get("max_unique_per_channel")
    if entry["stored"] == "sparse":
        return "stored sparse: raw bytes already follow the zeros"
    if dtype == "int4":
        return "stored 4-bit: raw bytes already follow the clusters"
    if dtype == "float32":
        return "float32 — an int8 or dynamic precision stores 1 byte per weight (4× fewer)"
    if dtype == "float16":
        return "float16 — int8 halves it"
    if dtype in ("int8", "uint8", "uint16"):
        if sparsity >= 0.5:
            return (f"{100 * sparsity:.0f} % zeros, stored dense — gzip sees the zeros, the raw file does not "
                    "(the android target stores it sparse when LiteRT runs that: prune int8 Dense kernels with block = [16, 1])")
        if unique is not None and unique <= 16:
            return ("clustered, stored 8-bit: only gzip sees the repeats (the android target tries 4-bit for the "
                    "ops in low_bit; the report's low_bit_storage says why a file stayed 8-bit)")
        return f"dense {dtype} — prune or cluster it (recipe steps prune, cluster)"
    return None


def breakdown(path: Path, *, top: int = 10) -> dict[str, Any]:
    """The tensors of a .tflite or TF.js artifact, the largest first, with shares and hints."""
    if not path.exists():
        raise InputError(f"{path} does not exist", hint="pass an artifact a build wrote, e.g. build/x/android/model_int8.tflite")
    if path.is_dir():
        path = path / "model.json"
    if path.suffix == ".tflite":
        if path.stat().st_size > MAX_FILE:
            raise InputError(f"{path}: larger than 4 GiB", hint="edgekit why reads artifacts up to 4 GiB")
        tensors, files = tflite_tensors(path), [path]
    elif path.name.endswith(".json"):
        tensors = tfjs_tensors(path)  # checked the manifest and its shard names
        files = [path] + [path.parent / str(p) for g in json.loads(path.read_text())["weightsManifest"]
                          for p in g.get("paths", [])]
    else:
        raise InputError(f"{path}: edgekit why reads .tflite files and TF.js model.json",
                         hint="a .mlpackage's weights are listed in the report's Core ML section")
    total = sum(f.stat().st_size for f in files)
    total_gzip = sum(gzip_size(f.read_bytes()) for f in files)
    tensors.sort(key=lambda e: e["gzip_bytes"], reverse=True)
    for entry in tensors:
        entry["share_of_bytes"] = round(entry["bytes"] / total, 4) if total else 0.0
        entry["share_of_download"] = round(min(1.0, entry["gzip_bytes"] / max(total_gzip, 1)), 4)
        entry["hint"] = _hint(entry) if entry["share_of_bytes"] >= HINT_SHARE else None
    return {"artifact": str(path), "bytes": total, "gzip_bytes": total_gzip, "tensors": len(tensors),
            "weight_bytes": sum(e["bytes"] for e in tensors), "top": tensors[:top]}


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['artifact']}: {result['bytes']:,} B, {result['gzip_bytes']:,} B gzip, "
             f"{result['tensors']} weight tensors ({result['weight_bytes']:,} B)"]
    for e in result["top"]:
        label = e.get("used_by") or e["tensor"]  # the op that reads it names the layer better than "tfl.pseudo_qconst3"
        name = label if len(label) <= 56 else "…" + label[-55:]
        facts = [f"{e['bytes'] / 1000:,.1f} KB", f"{e['gzip_bytes'] / 1000:,.1f} KB gzip",
                 f"{100 * e['share_of_download']:.0f} % of the download", e["dtype"]]
        if "sparsity" in e:
            facts.append(f"{100 * e['sparsity']:.0f} % zeros, {e['unique_values']:,} unique")
        lines.append(f"  {name}: {', '.join(facts)}" + (f" — {e['hint']}" if e.get("hint") else ""))
    return "\n".join(lines)
