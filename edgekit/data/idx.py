"""Reader for the IDX format used by the original (Fashion-)MNIST files, gzipped or not."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from edgekit.errors import InputError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file into an array, checking the header against the payload size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise InputError(f"dataset file not found: {path}") from None
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read IDX file {path}: {err}", hint="re-download or reinstall the dataset") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise InputError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise InputError(f"{path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_end != expected:
        raise InputError(f"{path} is truncated or corrupt: header says {expected} bytes, found {len(data) - header_end}")
    return np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
