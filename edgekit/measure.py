"""Sizes of what ships: raw bytes, gzip bytes (what a download costs), bytes per parameter."""
from __future__ import annotations

import gzip
from pathlib import Path


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def sizes(path: Path, *, params: int) -> dict:
    data = path.read_bytes()
    return {
        "bytes": len(data),
        "gzip_bytes": gzip_size(data),
        "params": params,
        "bytes_per_param": round(len(data) / params, 3) if params else None,
    }
