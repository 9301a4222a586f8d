"""Inspect a model file *before* loading it: model files are programs.

Keras configs can name Lambda layers (marshalled bytecode), arbitrary modules and functions
(`{"module": "os", "class_name": "function", "config": "system"}`), and `.h5` loading ignores
Keras' own `safe_mode`. SavedModel graphs can hold file-system and Python-callback ops. This
module reads the raw config / graph without deserialising anything and lists what it finds.

Keras configs are checked against allowlists (`allowlist.py`), never denylists: tf_keras classes
must be public tf_keras classes, TFOpLambda layers may only call pure TensorFlow ops, classes from
outside Keras must be TensorFlow initializers or keras.applications' own layers, and Keras 3 files
may only hold Keras 3 built-ins that compute (no TFSMLayer, Lambda, file-backed vocabularies).
Keras 3 configs are scanned without importing anything; tf_keras configs import tf_keras (its
public class lists, keras.applications' layers) and the SavedModel op scan parses protobufs.
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edgekit.lazy import h5py
from edgekit.models import allowlist as allow

# Layers that carry code when deserialised (TFOpLambda / SlicingOpLambda are checked op by op).
CODE_LAYERS = {"Lambda"}
# Modules a serialised object may name (exactly, or as a dotted prefix). Everything else is refused,
# except the exact (module, class) pairs of `allowlist.EXTERNAL_CLASSES`.
ALLOWED_MODULES = ("keras", "tf_keras")
# A serialised *function* may only come from these modules, and must be a function Keras has there.
FUNCTION_MODULES = ("activations", "losses", "metrics")
OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")
# A layer argument may not declare a dimension above this (a Dense of that many units on a 768-wide
# input is 48 GiB of float32); Keras would allocate and initialise the weights before any check.
MAX_DIMENSION = 1 << 24
# A string argument that names a location: a URL, an absolute, home or Windows path.
LOCATION = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|file:|/|~|\\\\|[A-Za-z]:[\\/])")


@dataclass
class Findings:
    keras_version: str | None = None
    class_names: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def scan_keras_zip(path: Path) -> tuple[dict[str, Any], Findings]:
    """Read config.json and metadata.json from a `.keras` archive and scan the config
    (against the Keras 3 allowlist when metadata.json says Keras 3)."""
    from edgekit.errors import UnsafeModelError
    from edgekit.models import archive as bounds
    from edgekit.models import h5check

    try:
        with zipfile.ZipFile(path) as archive:
            refused = bounds.problems(archive)
            if refused:  # not even allow_unsafe opens these: they are not model files
                more = f" (+{len(refused) - 1} more)" if len(refused) > 1 else ""
                raise UnsafeModelError(f"{path.name}: refused to open the archive: {refused[0]}{more}",
                                       hint="re-save the model with model.save('model.keras') from a source you trust")
            for info in archive.infolist():
                if info.filename.lower().endswith((".h5", ".hdf5")):
                    with archive.open(info) as member:
                        _refuse_h5(f"{path.name}: {info.filename}", h5check.problems(member, file_size=info.file_size))
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ValueError("no config.json inside the archive")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError, KeyError) as err:
        raise ValueError(f"not a readable .keras archive ({err})") from None
    version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    findings = _scan_file_config(config, str(version) if version else None)
    return config, findings


def _refuse_h5(name: str, problems: list[str]) -> None:
    """HDF5 content that reads outside the file or inflates past it: refused, whatever allow_unsafe says."""
    from edgekit.errors import UnsafeModelError

    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UnsafeModelError(f"{name}: refused to read the weights: {problems[0]}{more}",
                               hint="re-save the model with model.save() from a source you trust")


def scan_h5(path: Path) -> tuple[dict[str, Any], Findings]:
    """Read the `model_config` attribute of a legacy `.h5` file and scan it (after its layout is vetted)."""
    from edgekit.models import h5check

    try:
        _refuse_h5(path.name, h5check.problems(str(path), file_size=path.stat().st_size))
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version")
    except OSError as err:
        raise ValueError(f"not a readable HDF5 file ({err})") from None
    if raw is None:
        raise ValueError("the HDF5 file holds no model_config (weights-only file?)")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if isinstance(version, bytes):
        version = version.decode()
    config = json.loads(raw)
    return config, _scan_file_config(config, str(version) if version is not None else None)


def _scan_file_config(config: Any, version: str | None) -> Findings:
    if isinstance(config, dict):  # edgekit loads with compile=False: the compile settings are never deserialised
        config = {key: value for key, value in config.items() if key != "compile_config"}
    keras3 = bool(version and version.startswith("3"))
    findings = scan_config(config, keras3=keras3)
    findings.keras_version = version
    return findings


def scan_config(config: Any, *, keras_builtins_unknown_to_tf_keras: bool = False,
                keras3: bool | None = None) -> Findings:
    """List what in a Keras config could run code or touch files, one line per finding, each naming
    the layer it belongs to. `keras3` (default: the older flag's value, which Keras 3 callers set)
    checks against the Keras 3 allowlist; otherwise against tf_keras' public classes."""
    keras3 = keras_builtins_unknown_to_tf_keras if keras3 is None else keras3
    check = _keras3_problem if keras3 else _tf_keras_problem
    findings = Findings()
    for node, label in _objects(config):
        findings.class_names.add(node["class_name"])
        for problem in (check(node), _call_argument_problem(node), _dimension_problem(node)):
            line = f"layer {label!r}: {problem}" if problem and label else problem
            if line and line not in findings.problems:
                findings.problems.append(line)
    return findings


def _tf_keras_problem(node: dict[str, Any]) -> str | None:
    name, module, registered = node["class_name"], node.get("module"), node.get("registered_name")
    if name in allow.TF_KERAS_REFUSED:
        return allow.TF_KERAS_REFUSED[name]
    if name == "function":
        return _function_problem(module, node.get("config"), registered, keras3=False)
    if module is not None and not isinstance(module, str):
        return f"class {name!r} names a module that is not a string"
    if isinstance(module, str) and not _is_keras_module(module):
        if (module, name, registered) in allow.EXTERNAL_CLASSES:
            return None
        return f"object {name!r} names module {module!r}, which is not part of Keras"
    if name in OP_LAYERS:
        return _op_layer_problem(node)
    if name in allow.TF_KERAS_APPLICATION_LAYERS:
        expected_module, expected_registered = allow.TF_KERAS_APPLICATION_LAYERS[name]
        if module in (None, expected_module) and registered in (None, expected_registered):
            return None
        return f"class {name!r} from module {module!r} is not keras.applications' {name}"
    if isinstance(registered, str) and ">" in registered:
        return f"custom registered object {registered!r}"
    if name not in _allowed_class_names():
        return f"class {name!r} is not a built-in Keras class (custom code)"
    return _file_path_problem(node)


def _keras3_problem(node: dict[str, Any]) -> str | None:
    name, module, registered = node["class_name"], node.get("module"), node.get("registered_name")
    if name in allow.KERAS3_REFUSED:
        return allow.KERAS3_REFUSED[name]
    if name == "function":
        return _function_problem(module, node.get("config"), registered, keras3=True)
    if name in allow.DATA_WRAPPERS:
        return None
    if module is None:  # legacy `.h5` written by Keras 3: resolved by class name among Keras' built-ins
        if registered is None and any(name in names for _, names in allow.KERAS3_CLASSES):
            return _file_path_problem(node)
        return f"class {name!r} is not on edgekit's allowlist of Keras 3 built-ins"
    if not isinstance(module, str):
        return f"class {name!r} names a module that is not a string"
    if not _is_keras_module(module):
        return f"object {name!r} names module {module!r}, which is not part of Keras"
    if (module, name, registered) in allow.KERAS3_APPLICATION_LAYERS:
        return None
    if registered not in (None, name):
        return f"custom registered object {registered!r}"
    if module in allow.KERAS3_OPS:
        if name in allow.KERAS3_OPS[module]:
            return None
        return f"op {name!r} from {module!r} is not on edgekit's allowlist of pure Keras 3 ops"
    for modules, names in allow.KERAS3_CLASSES:
        if name in names and _module_in(module, modules):
            return _file_path_problem(node)
    return f"class {name!r} from module {module!r} is not on edgekit's allowlist of Keras 3 built-ins"


def _op_layer_problem(node: dict[str, Any]) -> str | None:
    """TFOpLambda / SlicingOpLambda: safe when the TF symbol it names is a pure op on the allowlist."""
    name, config = node["class_name"], node.get("config")
    if not isinstance(config, dict):
        return f"{name} config is not an object"
    extra = sorted(str(key) for key in set(config) - allow.OP_LAYER_KEYS)
    if extra:
        return f"{name} config has unexpected keys {extra} (only {sorted(allow.OP_LAYER_KEYS)})"
    function = config.get("function")
    if not isinstance(function, str) or function not in allow.TF_OPS:
        return f"{name} calls tf.{function}, which is not on edgekit's allowlist of pure TensorFlow ops"
    return None


def _call_argument_problem(node: dict[str, Any]) -> str | None:
    """The call arguments a functional config records (inbound nodes) may hold tensors and plain values
    only: no functions, layers or other objects that the loader would build and pass to the call."""
    for item in _dicts(node.get("inbound_nodes")):
        kind = item.get("class_name")
        if isinstance(kind, str) and kind not in allow.CALL_ARGUMENT_WRAPPERS:
            return f"a recorded call argument is an object {kind!r}; only tensors and plain values may be passed"
    return None


# Arguments that hold data (vocabularies, bins, statistics, constants, hash salts), not sizes.
DATA_KEYS = {"vocabulary", "salt", "bin_boundaries", "mean", "variance", "value", "mask_token", "oov_token",
             "idf_weights", "mask_value", "fill_value"}


def _dimension_problem(node: dict[str, Any]) -> str | None:
    """Numeric arguments of one object (units, filters, shapes, vocabulary sizes…) within bounds, also
    when written as floats or strings (tf_keras calls int() on them); data and seeds are not sizes."""
    config = node.get("config")
    if not isinstance(config, dict):
        return None
    for key, value in config.items():
        if key in DATA_KEYS or key == "name" or "seed" in key:
            continue
        for item in _leaves(value):
            number = _as_number(item)
            if number is not None and abs(number) > MAX_DIMENSION:
                return (f"{node['class_name']} declares {key} = {item!r}, above edgekit's limit of {MAX_DIMENSION:,} "
                        "per dimension (Keras would allocate its weights before anything checks them)")
    return None


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    elif not isinstance(value, dict):
        yield value


def _as_number(item: Any) -> float | None:
    if isinstance(item, bool):
        return None
    if isinstance(item, (int, float)):
        return float(item)
    if isinstance(item, str):
        try:
            return float(item.strip())
        except ValueError:
            return None
    return None


def _file_path_problem(node: dict[str, Any]) -> str | None:
    """Arguments that name a file or a URL: Keras' lookup layers open a string vocabulary as a file,
    and no built-in layer needs an absolute path or URL as data."""
    key = allow.FILE_PATH_KEYS.get(node["class_name"])
    config = node.get("config")
    if not isinstance(config, dict):
        return None
    if key and isinstance(config.get(key), str):
        return f"{node['class_name']} reads its {key} from the file {config[key]!r} when loaded"
    for name, value in config.items():
        if name == "name" or name in allow.FILE_PATH_KEYS.values():  # an inline vocabulary may hold "/" as a token
            continue
        for item in _leaves(value):
            if isinstance(item, str) and LOCATION.match(item):
                return f"{node['class_name']} argument {name} names a file or URL ({item[:80]!r})"
    return None


def _is_keras_module(module: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in ALLOWED_MODULES)


def _module_in(module: str, accepted: tuple[str, ...]) -> bool:
    """`accepted` entries ending in "." are prefixes; the others must match exactly."""
    return any(module.startswith(item) if item.endswith(".") else module == item for item in accepted)


def _function_problem(module: Any, name: Any, registered: Any = None, *, keras3: bool = False) -> str | None:
    """A serialised function must be a known Keras activation, loss or metric (of the Keras that reads
    the file). `builtins` is how Keras 3 names its own functions; it resolves them among those modules.
    tf_keras may look a function up by its registered_name: that must be "function" or the name itself."""
    if not isinstance(module, str) or not isinstance(name, str):
        return "a serialised function names no Keras module"
    if registered not in (None, "function", name):
        return f"function {name!r} is registered as {registered!r}"
    if module == "builtins":
        kinds = FUNCTION_MODULES
    elif not _is_keras_module(module):
        return f"object 'function' names module {module!r}, which is not part of Keras"
    else:
        parts = module.split(".")
        if parts[-1] not in FUNCTION_MODULES or len(parts) != 2:
            return f"function {name!r} from module {module!r}: only keras activations, losses and metrics may be named"
        kinds = (parts[-1],)
    if any(name in _known_functions(kind, keras3) for kind in kinds):
        return None
    what = kinds[0][:-1] if len(kinds) == 1 else "activation, loss or metric"
    return f"function {name!r} from module {module!r} is not a {'Keras 3' if keras3 else 'tf_keras'} {what}"


def _known_functions(kind: str, keras3: bool) -> frozenset[str]:
    if keras3:
        return allow.KERAS3_FUNCTIONS[kind]
    if kind not in _TF_KERAS_FUNCTIONS:
        from edgekit.tfenv import keras

        module = getattr(keras(), kind)
        helpers = {"get", "serialize", "deserialize"}  # exported beside the functions, not functions to name
        _TF_KERAS_FUNCTIONS[kind] = frozenset(n for n in dir(module) if n not in helpers and not n.startswith("_")
                                              and n[:1].islower() and callable(getattr(module, n)))
    return _TF_KERAS_FUNCTIONS[kind]


_TF_KERAS_FUNCTIONS: dict[str, frozenset[str]] = {}


def _names_keras_builtin(node: dict[str, Any]) -> bool:
    module, registered = node.get("module"), node.get("registered_name")
    return (isinstance(module, str) and _is_keras_module(module) and not module.startswith("tf_keras")
            and (registered is None or registered == node.get("class_name")))


def tf_keras_application_objects(class_names: set[str] | None = None) -> dict[str, Any]:
    """keras.applications' own layers (allowlisted) as tf_keras custom objects, by class name: tf_keras
    cannot load its own ConvNeXt files without them (`Unknown layer: 'LayerScale'`)."""
    import importlib

    from edgekit.tfenv import keras

    keras()
    wanted = allow.TF_KERAS_APPLICATION_LAYERS if class_names is None else \
        {n: v for n, v in allow.TF_KERAS_APPLICATION_LAYERS.items() if n in class_names}
    return {name: getattr(importlib.import_module(module), name) for name, (module, _) in wanted.items()}


def scan_saved_model_ops(path: Path) -> tuple[set[str], list[str]]:
    """(all op types, risky findings) of a SavedModel's graphs: see `saved_model_scan`."""
    from edgekit.models import saved_model_scan

    return saved_model_scan.scan(path)


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _objects(value: Any, label: str | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Every serialised object (a dict with a string class_name) and the name of the layer it is in."""
    if isinstance(value, dict):
        if isinstance(value.get("class_name"), str):
            label = _layer_name(value) or label
            yield value, label
        for item in value.values():
            yield from _objects(item, label)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item, label)


def _layer_name(node: dict[str, Any]) -> str | None:
    if isinstance(node.get("name"), str):
        return node["name"]
    config = node.get("config")
    named_layer = isinstance(config, dict) and ("trainable" in config or "layers" in config)
    if named_layer and isinstance(config.get("name"), str):
        return config["name"]
    return None


_ALLOWED: set[str] | None = None


def _allowed_class_names() -> set[str]:
    """Public class names of tf_keras' layers, initializers, ..., optimizers, losses and metrics."""
    global _ALLOWED
    if _ALLOWED is None:
        from edgekit.tfenv import keras

        k = keras()
        names: set[str] = {"Functional", "Sequential", "Model", "__typespec__", "TensorShape", "DTypePolicy",
                           "Policy", *allow.DATA_WRAPPERS}
        for module in (k.layers, k.initializers, k.regularizers, k.constraints, k.models,
                       k.layers.experimental, k.mixed_precision, k.optimizers, k.optimizers.schedules,
                       k.optimizers.legacy, k.losses, k.metrics):
            names.update(n for n in dir(module) if n[:1].isupper())
        names -= CODE_LAYERS | set(allow.TF_KERAS_REFUSED) | set(OP_LAYERS)
        _ALLOWED = names
    return _ALLOWED
