"""Inspect a model file *before* loading it: model files are programs.

Keras configs can name Lambda layers (marshalled bytecode), arbitrary modules and functions
(`{"module": "os", "class_name": "function", "config": "system"}`), and `.h5` loading ignores
Keras' own `safe_mode`. SavedModel graphs can hold file-system and Python-callback ops. This
module reads the raw config / graph without deserialising anything and lists what it finds.
Nothing here imports TensorFlow except the SavedModel op scan, which only parses protobufs.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

# Layers that carry code or call arbitrary TF symbols when deserialised.
CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}
# Modules a serialised object may name (exactly, or as a dotted prefix). Everything else is refused.
ALLOWED_MODULES = ("keras", "tf_keras")
# A serialised *function* may only come from these modules, and must be a function tf_keras has there.
FUNCTION_MODULES = ("activations", "losses", "metrics")
# Graph ops that touch the file system or call back into Python: refused anywhere in a graph.
DANGEROUS_OPS = {
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "ImmutableConst", "PrintV2", "DebugIdentityV3", "ExperimentalDatasetToTFRecord", "DatasetToTFRecord",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteScalarSummary", "WriteRawProtoSummary",
    "SummaryWriter", "TextLineDataset", "TextLineDatasetV2", "TFRecordDataset", "TFRecordDatasetV2",
    "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "InitializeTableFromTextFile",
    "InitializeTableFromTextFileV2", "SaveDataset", "SaveDatasetV2", "SnapshotDataset", "SnapshotDatasetV2",
    "LoadDataset", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "FixedLengthRecordReader",
    "TextLineReader", "WholeFileReader", "TFRecordReader",
}
# Checkpoint I/O every SavedModel has in its saver graph; refused anywhere else (e.g. serving code).
CHECKPOINT_OPS = {"Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "Restore", "RestoreV2", "RestoreSlice"}



@dataclass
class Findings:
    keras_version: str | None = None
    class_names: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def scan_keras_zip(path: Path) -> tuple[dict[str, Any], Findings]:
    """Read config.json and metadata.json from a `.keras` archive and scan the config."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ValueError("no config.json inside the archive")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError, KeyError) as err:
        raise ValueError(f"not a readable .keras archive ({err})") from None
    findings = scan_config(config)
    findings.keras_version = str(metadata.get("keras_version")) if metadata.get("keras_version") else None
    return config, findings


def scan_h5(path: Path) -> tuple[dict[str, Any], Findings]:
    """Read the `model_config` attribute of a legacy `.h5` file and scan it."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version")
    except OSError as err:
        raise ValueError(f"not a readable HDF5 file ({err})") from None
    if raw is None:
        raise ValueError("the HDF5 file holds no model_config (weights-only file?)")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    config = json.loads(raw)
    findings = scan_config(config)
    if version is not None:
        findings.keras_version = version.decode() if isinstance(version, bytes) else str(version)
    return config, findings


def scan_config(config: Any, *, keras_builtins_unknown_to_tf_keras: bool = False) -> Findings:
    """List what in a Keras config would run code. With the flag (Keras 3 files), classes that name a
    Keras module but that tf_keras lacks are not unsafe: they are built-ins the rebuild refuses as
    unsupported, never instantiated."""
    findings = Findings()
    allowed = _allowed_class_names()
    for node in _dicts(config):
        name = node.get("class_name")
        if not isinstance(name, str):
            continue
        findings.class_names.add(name)
        module = node.get("module")
        if name in CODE_LAYERS:
            findings.problems.append(f"layer class {name!r} runs code when loaded")
        elif isinstance(module, str) and not _is_keras_module(module):
            findings.problems.append(f"object {name!r} names module {module!r}, which is not part of Keras")
        elif name == "function":
            problem = _function_problem(module, node.get("config"))
            if problem:
                findings.problems.append(problem)
        elif name not in allowed:
            if not (keras_builtins_unknown_to_tf_keras and _names_keras_builtin(node)):
                findings.problems.append(f"class {name!r} is not a built-in Keras class (custom code)")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            findings.problems.append(f"custom registered object {registered!r}")
    return findings


def _is_keras_module(module: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in ALLOWED_MODULES)


def _function_problem(module: Any, name: Any) -> str | None:
    """A serialised function must be a known tf_keras activation, loss or metric."""
    if not isinstance(module, str) or not isinstance(name, str):
        return "a serialised function names no Keras module"
    parts = module.split(".")
    if parts[-1] not in FUNCTION_MODULES or len(parts) != 2:
        return f"function {name!r} from module {module!r}: only keras activations, losses and metrics may be named"
    from edgekit.tfenv import keras

    helpers = {"get", "serialize", "deserialize"}  # exported beside the functions, but not functions to name
    if name in helpers or name.startswith("_") or not callable(getattr(getattr(keras(), parts[-1]), name, None)):
        return f"function {name!r} is not a tf_keras {parts[-1][:-1]}"
    return None


def _names_keras_builtin(node: dict[str, Any]) -> bool:
    module, registered = node.get("module"), node.get("registered_name")
    return (isinstance(module, str) and _is_keras_module(module) and not module.startswith("tf_keras")
            and (registered is None or registered == node.get("class_name")))


def scan_saved_model_ops(path: Path) -> tuple[set[str], list[str]]:
    """(all op types, risky findings) of a SavedModel's graphs and function library (protobuf only).

    File and Python-callback ops are refused anywhere. Checkpoint ops are allowed only in the
    saver: the functions reachable from the nodes that `saver_def` names (and the top-level saver
    graph of a TF2 SavedModel, which holds nothing else); anywhere else they are risky.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    risky: list[str] = []
    for meta in proto.meta_graphs:
        library = {f.signature.name: f for f in meta.graph_def.library.function}
        saver_nodes = {meta.saver_def.save_tensor_name.split(":")[0], meta.saver_def.restore_op_name.split(":")[0]}
        saver = _reachable([n for n in meta.graph_def.node if n.name in saver_nodes], library)
        serving_nodes = [n for n in meta.graph_def.node if n.name not in saver_nodes]
        top = {n.op for n in meta.graph_def.node}
        ops.update(top)
        risky += [f"{op} in the top-level graph" for op in sorted(top & DANGEROUS_OPS)]
        risky += [f"{n.op} in the top-level graph node {n.name}" for n in serving_nodes
                  if n.op in CHECKPOINT_OPS and not _feeds_only_saver(n, saver_nodes)]
        for name, function in library.items():
            kinds = {node.op for node in function.node_def}
            ops.update(kinds)
            risky += [f"{op} in function {name}" for op in sorted(kinds & DANGEROUS_OPS)]
            if name not in saver:
                risky += [f"{op} in function {name}" for op in sorted(kinds & CHECKPOINT_OPS)]
    return ops, risky


def _feeds_only_saver(node: Any, saver_nodes: set[str]) -> bool:
    """TF1-style savers put SaveV2/RestoreV2 in the top-level graph under save/ or saver names."""
    return node.name.startswith(("save/", "saver")) or node.name in saver_nodes


def _reachable(roots: list[Any], library: dict[str, Any]) -> set[str]:
    """Names of library functions called (through any func-valued attr) from `roots`, transitively."""
    found: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        for value in node.attr.values():
            names = [value.func.name] if value.HasField("func") else [f.name for f in value.list.func]
            for name in names:
                if name and name not in found and name in library:
                    found.add(name)
                    stack.extend(library[name].node_def)
    return found


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


_ALLOWED: set[str] | None = None


def _allowed_class_names() -> set[str]:
    """Public class names of tf_keras' layers, initializers, ..., optimizers, losses and metrics."""
    global _ALLOWED
    if _ALLOWED is None:
        from edgekit.tfenv import keras

        k = keras()
        names: set[str] = {"Functional", "Sequential", "Model", "__tuple__", "__numpy__", "__tensor__",
                           "__typespec__", "TensorShape", "DTypePolicy", "Policy"}
        for module in (k.layers, k.initializers, k.regularizers, k.constraints, k.models,
                       k.layers.experimental, k.mixed_precision, k.optimizers, k.optimizers.schedules,
                       k.optimizers.legacy, k.losses, k.metrics):
            names.update(n for n in dir(module) if n[:1].isupper())
        names -= CODE_LAYERS
        _ALLOWED = names
    return _ALLOWED
