"""Bounds on an HDF5 weights file, checked from its metadata before any weight is read.

HDF5 can make a dataset read bytes from somewhere else: an external link to another file, external
raw storage (a dataset whose bytes live in any file the path names — a secret key would end up in
the shipped `.tflite`), a virtual dataset mapping other files, a soft link elsewhere in the file.
None of these appear in a weights file Keras writes; all are refused. A dataset's declared size is
checked against what the file can hold, and so is the sum over every link to a dataset (a loader
reads each name it is given), so a tiny file cannot make the loader allocate terabytes. A group
linked into itself (a loop) is refused rather than walked forever.
"""
from __future__ import annotations

from typing import Any, BinaryIO, Union

from edgekit.lazy import h5py

MAX_RATIO = 64  # declared bytes of chunked (compressible) datasets over the file's size
SLACK = 1 << 20
MAX_OBJECTS = 100_000


def problems(source: Union[str, BinaryIO], *, file_size: int) -> list[str]:
    """What in the HDF5 file would read outside it or inflate past it (metadata only)."""
    found: list[str] = []
    walk = _Walk(file_size)
    with h5py.File(source, "r") as handle:
        walk.group(handle, "/", found)
        if not found:  # no link leads outside the file: names in weight_names resolve inside it
            for group, where in walk.groups:
                walk.listed_weights(group, where, found)
    if walk.declared > MAX_RATIO * file_size + SLACK:
        found.append(f"its datasets declare {walk.declared:,} bytes in all (counting every link) in a "
                     f"{file_size:,}-byte file")
    return found


class _Walk:
    def __init__(self, file_size: int):
        self.file_size, self.declared, self.seen, self.objects = file_size, 0, set(), 0
        self.groups: list[tuple[Any, str]] = []

    def group(self, group: Any, where: str, found: list[str]) -> None:
        key = _address(group)
        if key in self.seen:
            found.append(f"{where} is a second link to a group already walked (a loop or an alias)")
            return
        self.seen.add(key)
        self.groups.append((group, where))
        _walk(group, where, self, found)

    def listed_weights(self, group: Any, where: str, found: list[str]) -> None:
        """tf_keras reads every name a layer's `weight_names` lists, repeats included: count them all."""
        names = group.attrs.get("weight_names")
        if names is None:
            return
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in list(names)]
        if len(set(names)) != len(names):
            found.append(f"{where} lists the same weight more than once in weight_names")
        for name in names:
            item = group.get(name)
            if item is not None and hasattr(item, "dtype") and hasattr(item, "size"):
                self.declared += int(item.size) * int(item.dtype.itemsize)


def _address(item: Any) -> Any:
    info = h5py.h5o.get_info(item.id)
    return getattr(info, "token", None) or getattr(info, "addr", None)


def _walk(group: Any, where: str, walk: "_Walk", found: list[str]) -> None:
    file_size = walk.file_size
    for name in group:
        walk.objects += 1
        if walk.objects > MAX_OBJECTS:
            found.append(f"more than {MAX_OBJECTS:,} objects")
            return
        path = f"{where.rstrip('/')}/{name}"
        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            found.append(f"{path} links to another file ({link.filename})")
            continue
        if isinstance(link, h5py.SoftLink):
            found.append(f"{path} is a soft link to {link.path}")
            continue
        item = group[name]
        if isinstance(item, h5py.Group):
            walk.group(item, path, found)
        elif isinstance(item, h5py.Dataset):
            walk.declared += int(item.size) * int(item.dtype.itemsize)
            found += _dataset_problems(item, path, file_size)


def _dataset_problems(dataset: Any, path: str, file_size: int) -> list[str]:
    problems = []
    if dataset.external:
        problems.append(f"{path} keeps its bytes in another file ({dataset.external[0][0]!r})")
    if dataset.is_virtual:
        problems.append(f"{path} is a virtual dataset mapping other files")
    declared = int(dataset.size) * int(dataset.dtype.itemsize)
    limit = (MAX_RATIO if dataset.chunks else 1) * file_size + SLACK
    if declared > limit:
        problems.append(f"{path} declares {declared:,} bytes ({'x'.join(map(str, dataset.shape))} "
                        f"{dataset.dtype}) in a {file_size:,}-byte file")
    return problems
