"""A SavedModel's graphs, checked from the protobuf before TensorFlow loads anything.

Every op in the top-level graph and in every library function must be on the allowlist of pure
compute (`graph_ops.ALLOWED`). Checkpoint I/O has exactly one accepted shape, the one
`tf.saved_model.save` writes (TF2): the node `saver_def.restore_op_name` calls a restore function
fed the checkpoint path (`saver_def.filename_tensor_name`), whose `RestoreV2` reads that path as
given; the node `saver_def.save_tensor_name` calls a save function whose `SaveV2` /
`MergeV2Checkpoints` paths are built from it with TensorFlow's own suffixes. A function the serving
graph can also reach (through any function-valued attribute, however nested) is not the saver.
TF1 savers (checkpoint ops in the top-level graph) are refused: re-export with TF2.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from edgekit.models.graph_ops import ALLOWED, SAVER_ONLY

READ_OPS = {"RestoreV2", "Restore", "RestoreSlice"}
WRITE_OPS = SAVER_ONLY - READ_OPS
# How TensorFlow's saver builds its shard paths from the fed prefix, and the constants it joins.
PATH_OPS = {"StringJoin", "ShardedFilename", "Select", "SelectV2", "StaticRegexFullMatch", "Identity", "Pack", "Const"}
PATH_CONSTANTS = {b"", b".part", b"_temp/part"}
WRITE_PATH_INPUTS = {"SaveV2": (0,), "Save": (0,), "SaveSlices": (0,), "MergeV2Checkpoints": (0, 1)}
TF1_HINT = "a TF1-style saver in the top-level graph: re-export the model with tf.saved_model.save (TensorFlow 2)"


def scan(path: Path) -> tuple[set[str], list[str]]:
    """(all op types, risky findings, one line each) of the SavedModel at `path`."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    risky: list[str] = []
    for meta in proto.meta_graphs:
        ops_, risky_ = _scan_meta_graph(meta)
        ops |= ops_
        risky += risky_
    return ops, sorted(set(risky), key=risky.index)


def _scan_meta_graph(meta: Any) -> tuple[set[str], list[str]]:
    graph, saver_def = meta.graph_def, meta.saver_def
    library = {f.signature.name: f for f in graph.library.function}
    nodes = {n.name: n for n in graph.node}
    ops = {n.op for n in graph.node}
    risky = []
    for node in graph.node:
        if node.op in SAVER_ONLY:
            risky.append(f"{node.op} in the top-level graph node {node.name} ({TF1_HINT})")
        elif node.op not in ALLOWED:
            risky.append(f"{node.op} in the top-level graph node {node.name}")
    save, restore = nodes.get(_node(saver_def.save_tensor_name)), nodes.get(_node(saver_def.restore_op_name))
    fed = _tensor(saver_def.filename_tensor_name)
    callers = [n for n in (save, restore) if n is not None]
    for node in callers:
        if not node.input or _tensor(node.input[0]) != fed:
            risky.append(f"saver node {node.name} is not fed the checkpoint path")
    others = [n for n in graph.node if all(n is not c for c in callers)]
    serving = _reachable(others, library) | _with_callees(meta.object_graph_def.concrete_functions, library)
    writers = _with_callees(_called(save), library) - serving if save is not None else set()
    readers = _with_callees(_called(restore), library) - serving if restore is not None else set()
    for name, function in library.items():
        kinds = {n.op for n in function.node_def}
        ops |= kinds
        allowed = set(ALLOWED)
        if name in writers:
            allowed |= WRITE_OPS
        if name in readers:
            allowed |= READ_OPS
        risky += [f"{op} in function {name}" for op in sorted(kinds - allowed)]
        risky += [f"function {name} takes a function-valued attribute {a.name!r}" for a in function.signature.attr
                  if a.type in ("func", "list(func)")]
        first = function.signature.input_arg[0].name if function.signature.input_arg else None
        for node in function.node_def:
            if node.op in READ_OPS and name in readers and (not node.input or node.input[0] != first):
                risky.append(f"{node.op} node {node.name} in function {name} reads a path other than the checkpoint's")
            if node.op in WRITE_OPS and name in writers:
                problem = _write_path_problem(node, {n.name: n for n in function.node_def}, first)
                risky += [f"{problem} in function {name}"] if problem else []
    return ops, risky


def _write_path_problem(node: Any, producers: dict[str, Any], source: Any) -> str | None:
    """A save op's paths: the fed prefix joined with TensorFlow's own suffixes, nothing else."""
    for index in WRITE_PATH_INPUTS.get(node.op, ()):
        if index >= len(node.input):
            return f"{node.op} node {node.name} without its path input"
        stack, seen, reached = [node.input[index]], set(), False
        while stack:
            name = _node(stack.pop())
            if name in seen:
                continue
            seen.add(name)
            if name == source:
                reached = True
                continue
            producer = producers.get(name)
            if producer is None or producer.op not in PATH_OPS:
                return f"{node.op} node {node.name} builds its path with {getattr(producer, 'op', name)!r}"
            if producer.op == "StringJoin" and producer.attr["separator"].s not in (b"",):
                return f"{node.op} node {node.name} joins its path with separator {producer.attr['separator'].s!r}"
            if producer.op == "Const":
                tensor = producer.attr["value"].tensor
                if tensor.tensor_content or any(text not in PATH_CONSTANTS for text in tensor.string_val):
                    return f"{node.op} node {node.name} builds its path from a constant TensorFlow never uses there"
            stack.extend(item for item in producer.input if not item.startswith("^"))
        if not reached:
            return f"{node.op} node {node.name} writes to a path that is not the checkpoint path"
    return None


def _node(reference: str) -> str:
    """'^name', 'name:0' and 'name:output:0' (function bodies) all name the node 'name'."""
    return reference.lstrip("^").split(":")[0]


def _tensor(reference: str) -> tuple[str, str]:
    """'name' and 'name:0' are the same tensor; 'name:1' is another."""
    name, _, index = reference.lstrip("^").partition(":")
    return name, index or "0"


def _called(node: Any) -> list[str]:
    return list(_function_names(node.attr.values()))


def _function_names(values: Any) -> Iterator[str]:
    """Every function an attribute names, also inside the attributes of a function value (nested)."""
    for value in values:
        functions = [value.func] if value.HasField("func") else list(value.list.func)
        for function in functions:
            if function.name:
                yield function.name
            yield from _function_names(function.attr.values())


def _with_callees(names: Any, library: dict[str, Any]) -> set[str]:
    """`names` (library functions) and every function they call, transitively."""
    roots = [name for name in names if name in library]
    return set(roots) | _reachable([node for name in roots for node in library[name].node_def], library)


def _reachable(roots: list[Any], library: dict[str, Any]) -> set[str]:
    """Names of library functions called (through any func-valued attr) from `roots`, transitively."""
    found: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        for name in _function_names(node.attr.values()):
            if name not in found and name in library:
                found.add(name)
                stack.extend(library[name].node_def)
    return found
