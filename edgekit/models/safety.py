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
# Modules a serialised object may name. Everything else is refused.
ALLOWED_MODULE_PREFIXES = ("keras.", "tf_keras.", "keras", "tf_keras", "builtins")
# Graph ops that touch the file system or call back into Python: refused anywhere in a graph.
DANGEROUS_OPS = {
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile", "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "ImmutableConst", "PrintV2", "DebugIdentityV3", "ExperimentalDatasetToTFRecord", "DatasetToTFRecord",
    "CreateSummaryFileWriter", "WriteSummary", "WriteScalarSummary", "WriteRawProtoSummary", "SummaryWriter",
}
# Checkpoint I/O every SavedModel has in its saver graph; refused anywhere else (e.g. serving code).
CHECKPOINT_OPS = {"Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "Restore", "RestoreV2", "RestoreSlice"}
_SAVER_FUNCTIONS = ("__inference__traced_save", "__inference__traced_restore")


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
        elif isinstance(module, str) and not module.startswith(ALLOWED_MODULE_PREFIXES):
            findings.problems.append(f"object {name!r} names module {module!r}, which is not part of Keras")
        elif name == "function" and not isinstance(module, str):
            findings.problems.append("a serialised function names no Keras module")
        elif name not in allowed and name != "function":
            if not (keras_builtins_unknown_to_tf_keras and _names_keras_builtin(node)):
                findings.problems.append(f"class {name!r} is not a built-in Keras class (custom code)")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            findings.problems.append(f"custom registered object {registered!r}")
    return findings


def _names_keras_builtin(node: dict[str, Any]) -> bool:
    module, registered = node.get("module"), node.get("registered_name")
    return (isinstance(module, str) and (module == "keras" or module.startswith("keras."))
            and (registered is None or registered == node.get("class_name")))


def scan_saved_model_ops(path: Path) -> tuple[set[str], list[str]]:
    """(all op types, risky findings) of a SavedModel's graphs and function library (protobuf only).

    Checkpoint ops are expected in the top-level saver graph and the traced save/restore
    functions; anywhere else they count as risky, like file and Python-callback ops everywhere.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    risky: list[str] = []

    def visit(op_types: set[str], where: str, saver: bool) -> None:
        ops.update(op_types)
        for op in sorted(op_types & DANGEROUS_OPS):
            risky.append(f"{op} in {where}")
        if not saver:
            risky.extend(f"{op} in {where}" for op in sorted(op_types & CHECKPOINT_OPS))

    for meta in proto.meta_graphs:
        visit({node.op for node in meta.graph_def.node}, "the saver graph", saver=True)
        for function in meta.graph_def.library.function:
            name = function.signature.name
            visit({node.op for node in function.node_def}, f"function {name}", saver=name.startswith(_SAVER_FUNCTIONS))
    return ops, risky


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
