"""Bounds on an HDF5 weights file, checked from its metadata before any weight is read.

HDF5 can make a dataset read bytes from somewhere else: an external link to another file, external
raw storage (a dataset whose bytes live in any file the path names — a secret key would end up in
the shipped `.tflite`), a virtual dataset mapping other files, a soft link elsewhere in the file.
None of these appear in a weights file Keras writes; all are refused. A dataset's declared size is
checked against what the file can hold, so a tiny file cannot make the loader allocate terabytes.
"""
from __future__ import annotations

from typing import Any, BinaryIO, Union

MAX_RATIO = 1000  # declared bytes of chunked (compressible) datasets over the file's size
SLACK = 1 << 20


def problems(source: Union[str, BinaryIO], *, file_size: int) -> list[str]:
    """What in the HDF5 file would read outside it or inflate past it (metadata only)."""
    import h5py

    found: list[str] = []
    with h5py.File(source, "r") as handle:
        _walk(handle, "/", handle, file_size, found)
    return found


def _walk(group: Any, where: str, root: Any, file_size: int, found: list[str]) -> None:
    import h5py

    for name in group:
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
            _walk(item, path, root, file_size, found)
        elif isinstance(item, h5py.Dataset):
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
