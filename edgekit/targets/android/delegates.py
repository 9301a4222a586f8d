"""Which Android delegates would take a `.tflite` model's ops: XNNPACK, GPU and NNAPI.

- The ops (type, version, tensor dtypes and shapes, builtin parameters) are read from the
  model's flatbuffer (subgraph 0, the graph the interpreter runs).
- XNNPACK is measured: the real LiteRT interpreter applies its default XNNPACK delegate and the
  nodes it replaced are counted (the partitioning code is the same on arm64 phones).
- GPU and NNAPI follow the documented op-support rules in `targets/android/delegates.toml`.
  The TFLite analyzer's `gpu_compatibility=True` check was tried and not used: in the pinned
  wheels (TF 2.19, ai-edge-litert 2.3) it reports UNIQUE and RFFT2D as GPU-compatible, ops the
  GPU delegate rejects, so it cannot gate a build.
"""
from __future__ import annotations

import inspect
import re
import tomllib
from importlib import resources
from typing import Any, Optional

from edgekit.lazy import litert_schema as schema_py_generated

DELEGATES = ("xnnpack", "gpu", "nnapi")
RULES_FILE = "delegates.toml"

# Builtin option fields whose integer value is an enum of the schema.
_ENUM_FIELDS = {
    "fused_activation_function": "ActivationFunctionType",
    "padding": "Padding",
    "weights_format": "FullyConnectedOptionsWeightsFormat",
    "mode": "MirrorPadMode",
    "out_type": "TensorType",
    "output_type": "TensorType",
    "in_data_type": "TensorType",
    "out_data_type": "TensorType",
    "quantized_bias_type": "TensorType",
}
_SKIP_GETTERS = ("GetRootAs", "Init")


def load_rules() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


# --------------------------------------------------------------------------- reading ops


def _schema() -> Any:
    return schema_py_generated


def _names(enum_class: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _params(op: Any, schema: Any, option_names: dict[int, str]) -> dict[str, Any]:
    """The op's builtin options as {snake_name: value}, enums as their names."""
    kind = option_names.get(op.BuiltinOptionsType())
    table = op.BuiltinOptions()
    if not kind or kind == "NONE" or table is None or not hasattr(schema, kind):
        return {}
    options = getattr(schema, kind)()
    options.Init(table.Bytes, table.Pos)
    params: dict[str, Any] = {}
    for name, method in inspect.getmembers(type(options), inspect.isfunction):
        if name.startswith(_SKIP_GETTERS) or name.endswith(("BufferHasIdentifier", "AsNumpy", "Length", "IsNone")):
            continue
        if len(inspect.signature(method).parameters) != 1:
            continue  # vector getters take an index
        value = method(options)
        if not isinstance(value, (int, float, bool)):
            continue
        key = _snake(name)
        enum = _ENUM_FIELDS.get(key)
        if enum and hasattr(schema, enum) and not isinstance(value, bool):
            value = _names(getattr(schema, enum)).get(value, value)
        params[key] = round(value, 6) if isinstance(value, float) else value
    return params


def read_ops(model_bytes: bytes) -> list[dict[str, Any]]:
    """One entry per operator of subgraph 0, in execution order."""
    schema = _schema()
    model = schema.Model.GetRootAs(model_bytes, 0)
    graph = model.Subgraphs(0)
    op_names = _names(schema.BuiltinOperator)
    type_names = {k: v.lower() for k, v in _names(schema.TensorType).items()}
    option_names = _names(schema.BuiltinOptions)

    def tensor(index: int) -> Optional[dict[str, Any]]:
        if index < 0:
            return None  # optional input left out
        t = graph.Tensors(index)
        buffer = model.Buffers(t.Buffer()) if t.Buffer() > 0 else None
        const = buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 1)
        return {"dtype": type_names.get(t.Type(), str(t.Type())), "shape": [int(d) for d in t.ShapeAsNumpy()]
                if t.ShapeLength() else [], "const": bool(const)}

    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.CustomCode() or b'').decode(errors='replace')}"
        ops.append({
            "index": i,
            "op": name,
            "version": int(code.Version()),
            "inputs": [tensor(int(j)) for j in op.InputsAsNumpy()] if op.InputsLength() else [],
            "outputs": [tensor(int(j)) for j in op.OutputsAsNumpy()] if op.OutputsLength() else [],
            "params": _params(op, schema, option_names),
        })
    return ops


# --------------------------------------------------------------------------- XNNPACK (measured)


def xnnpack_share(model_bytes: bytes) -> float:
    """The share of the file's ops XNNPACK runs on LiteRT's default path (the rest: LiteRT's built-in kernels)."""
    total = len(read_ops(model_bytes))
    return round(len(xnnpack_nodes(model_bytes, total)[0]) / total, 4) if total else 0.0


def xnnpack_nodes(model_bytes: bytes, total: int) -> tuple[set[int], int]:
    """(indexes of the nodes XNNPACK replaced, number of delegate partitions), measured in LiteRT."""
    from edgekit.quiet import quiet_native
    from edgekit.tfenv import litert_interpreter

    with quiet_native():
        interpreter = litert_interpreter()(model_content=model_bytes, num_threads=1)
        interpreter.allocate_tensors()
        details = interpreter._get_ops_details()
    originals = [d for d in details if d["index"] < total]
    producer = {int(t): d["index"] for d in originals for t in d["outputs"]}
    delegated: set[int] = set()
    partitions = [d for d in details if d["index"] >= total and d["op_name"] == "DELEGATE"]
    for node in partitions:  # walk back from the partition's outputs to its inputs
        boundary = {int(t) for t in node["inputs"]}
        stack, seen = [int(t) for t in node["outputs"]], set()
        while stack:
            t = stack.pop()
            if t in seen or t in boundary:
                continue
            seen.add(t)
            index = producer.get(t)
            if index is not None and index not in delegated:
                delegated.add(index)
                stack.extend(int(i) for i in originals[index]["inputs"] if i >= 0)
    return delegated, len(partitions)


# --------------------------------------------------------------------------- GPU / NNAPI (rules)


def _tensor_text(t: Optional[dict[str, Any]]) -> str:
    return "—" if t is None else f"{t['dtype']}{t['shape']}" + (" const" if t["const"] else "")


def _effective_rule(op: dict[str, Any], rule: dict[str, Any], api: Optional[int]) -> dict[str, Any]:
    """The op's rule with the `when` entries whose conditions hold merged in (their keys win)."""
    first = next((t["dtype"] for t in op["inputs"] if t is not None), None)
    merged = {k: v for k, v in rule.items() if k != "when"}
    for case in rule.get("when", []):
        if "input_dtype" in case and case["input_dtype"] != first:
            continue
        if "below_api" in case and (api is None or api >= case["below_api"]):
            continue
        merged.update({k: v for k, v in case.items() if k not in ("input_dtype", "below_api")})
    return merged


def _input_reason(name: str, i: int, t: dict[str, Any], spec: dict[str, Any]) -> Optional[str]:
    if spec.get("dtypes") and t["dtype"] not in spec["dtypes"]:
        return f"{name} input {i} is {t['dtype']} (supported: {', '.join(spec['dtypes'])})"
    if spec.get("ranks") and len(t["shape"]) not in spec["ranks"]:
        ranks = " or ".join(f"{r}-D" for r in spec["ranks"])
        return f"{name} input {i} is {len(t['shape'])}-D (supported: {ranks})"
    if "const" in spec and t["const"] != spec["const"]:
        return f"{name} input {i} must be {'a constant' if spec['const'] else 'a runtime tensor, not a constant'}"
    return None


def rule_reason(op: dict[str, Any], rules: dict[str, Any], *, api: Optional[int] = None) -> Optional[str]:
    """Why `op` would fall back from this delegate, or None when the rules accept it."""
    name = op["op"]
    rule = rules.get("ops", {}).get(name)
    if rule is None:
        return f"{name} is not in the delegate's supported ops"
    rule = _effective_rule(op, rule, api)
    if api is not None and rule.get("api", 0) > api:
        return f"{name} needs Android API {rule['api']} (checked for min_sdk {api})"
    inputs = [t for t in op["inputs"] if t is not None]
    first = inputs[0]["dtype"] if inputs else None
    if rule.get("input_dtypes") and first not in rule["input_dtypes"]:
        return f"{name} with {first} input (supported: {', '.join(rule['input_dtypes'])})"
    if rule.get("ranks") and inputs and len(inputs[0]["shape"]) not in rule["ranks"]:
        ranks = " or ".join(f"{r}-D" for r in rule["ranks"])
        return f"{name} on a {len(inputs[0]['shape'])}-D input (supported: {ranks})"
    if rule.get("max_inputs") and len(inputs) > rule["max_inputs"]:
        return f"{name} with {len(inputs)} inputs (at most {rule['max_inputs']})"
    for i in rule.get("const_inputs", []):
        if i < len(op["inputs"]) and op["inputs"][i] is not None and not op["inputs"][i]["const"]:
            return f"{name} input {i} must be a constant"
    # per-input constraints; a runtime input whose dtype is listed there is exempt from runtime_dtypes
    exempt: set[int] = set()
    for key, spec in rule.get("input", {}).items():
        i = int(key)
        t = op["inputs"][i] if i < len(op["inputs"]) else None
        if t is None:
            continue
        reason = _input_reason(name, i, t, spec)
        if reason:
            return reason
        if spec.get("dtypes"):
            exempt.add(id(t))
    if rule.get("io_dtypes") and inputs and op["outputs"]:
        pair = [first, op["outputs"][0]["dtype"]]
        if pair not in rule["io_dtypes"]:
            return f"{name} from {pair[0]} to {pair[1]} is not supported"
        exempt.update({id(inputs[0]), id(op["outputs"][0])})
    for key, wanted in rule.get("params", {}).items():
        if key in op["params"] and op["params"][key] != wanted:
            return f"{name} {key}={op['params'][key]} (supported: {wanted})"
    forbidden = {**rules.get("forbid_params", {}), **rule.get("forbid_params", {})}
    for key, values in forbidden.items():
        if op["params"].get(key) in values:
            return f"{name} {key}={op['params'][key]} is not supported"
    tensors = [t for t in op["inputs"] + op["outputs"] if t is not None]
    max_rank = rules.get("max_rank")
    if max_rank and any(len(t["shape"]) > max_rank for t in tensors):
        return f"{name} on a {max(len(t['shape']) for t in tensors)}-D tensor (max {max_rank}-D)"
    constants = rules.get("const_dtypes")
    for t in tensors:
        if t["const"] and constants is not None and t["dtype"] not in constants:
            return f"{name} with a constant {t['dtype']} tensor (constants: {', '.join(constants)})"
    allowed = rules.get("runtime_dtypes")
    for t in tensors:
        if t["const"] or allowed is None or id(t) in exempt:
            continue
        if t["dtype"] not in allowed:
            return f"{name} on {t['dtype']} tensors (runtime tensors: {', '.join(allowed)})"
        if isinstance(allowed, dict) and api is not None and allowed[t["dtype"]] > api:
            return f"{name} on {t['dtype']} tensors needs Android API {allowed[t['dtype']]} (checked for min_sdk {api})"
    return None


def _partitions(supported: list[bool]) -> int:
    """Runs of consecutive supported nodes in execution order (an estimate of delegate partitions)."""
    return sum(1 for i, ok in enumerate(supported) if ok and (i == 0 or not supported[i - 1]))


def _summary(ops: list[dict[str, Any]], reasons: dict[int, str], *, method: str, partitions: int) -> dict[str, Any]:
    total = len(ops)
    supported = total - len(reasons)
    return {
        "supported_nodes": supported,
        "total_nodes": total,
        "fraction": round(supported / total, 4) if total else None,
        "partitions": partitions,
        "fallback": [{"index": op["index"], "op": op["op"], "reason": reasons[op["index"]]}
                     for op in ops if op["index"] in reasons],
        "method": method,
    }


def compatibility(model_bytes: bytes, *, min_sdk: int = 30) -> dict[str, Any]:
    """The artifact's `delegates` entry: ops with per-delegate support, and one summary per delegate."""
    rules = load_rules()
    ops = read_ops(model_bytes)
    taken, xnn_partitions = xnnpack_nodes(model_bytes, len(ops))
    reasons = {
        "xnnpack": {op["index"]: "left on the CPU by LiteRT's XNNPACK delegate (measured)"
                    for op in ops if op["index"] not in taken},
        "gpu": {},
        "nnapi": {},
    }
    for op in ops:
        gpu = rule_reason(op, rules["gpu"])
        if gpu:
            reasons["gpu"][op["index"]] = gpu
        nnapi = (rule_reason(op, rules["nnapi"], api=min_sdk) if min_sdk >= rules["nnapi"]["min_api"]
                 else f"NNAPI needs Android API {rules['nnapi']['min_api']} (min_sdk is {min_sdk})")
        if nnapi:
            reasons["nnapi"][op["index"]] = nnapi
    result: dict[str, Any] = {
        "ops": [{
            "index": op["index"], "op": op["op"], "version": op["version"],
            "inputs": [_tensor_text(t) for t in op["inputs"]],
            "outputs": [_tensor_text(t) for t in op["outputs"]],
            "params": op["params"],
            "supported": {name: op["index"] not in reasons[name] for name in DELEGATES},
        } for op in ops],
        "min_sdk": min_sdk,
    }
    result["xnnpack"] = _summary(ops, reasons["xnnpack"], partitions=xnn_partitions,
                                 method=f"measured: LiteRT {_litert_version()} applied its XNNPACK delegate on this host")
    for name in ("gpu", "nnapi"):
        flags = [op["index"] not in reasons[name] for op in ops]
        result[name] = _summary(ops, reasons[name], partitions=_partitions(flags),
                                method=f"rules: {rules[name]['source']}")
    result["nnapi"]["note"] = rules["nnapi"]["note"]
    return result


def _litert_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "?"
