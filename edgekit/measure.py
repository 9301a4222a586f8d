"""Sizes of what ships: raw bytes, gzip bytes (what a download costs), bytes per parameter."""
from __future__ import annotations

import gzip
from pathlib import Path

from edgekit.lazy import brotli  # the web target only


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def brotli_size(data: bytes) -> int:
    return len(brotli.compress(data, quality=11))


def sizes(path: Path, *, params: int) -> dict:
    return _summary([path.read_bytes()], params=params)


def download_sizes(paths: list[Path], *, params: int) -> dict:
    """What a browser downloads for a multi-file artifact: raw, gzip and brotli bytes, summed per file."""
    blobs = [p.read_bytes() for p in paths]
    return {**_summary(blobs, params=params), "brotli_bytes": sum(brotli_size(b) for b in blobs),
            "files": [{"name": p.name, "bytes": len(b)} for p, b in zip(paths, blobs)]}


def _summary(blobs: list[bytes], *, params: int) -> dict:
    raw = sum(len(b) for b in blobs)
    return {"bytes": raw, "gzip_bytes": sum(gzip_size(b) for b in blobs), "params": params,
            "bytes_per_param": round(raw / params, 3) if params else None}
