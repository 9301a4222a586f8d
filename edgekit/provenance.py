"""Provenance: sha256 of the model file, of every artifact and of the data subsets a build measured on.

`edgekit check --verify` recomputes the artifact digests, so a gate cannot pass a report whose files
were swapped after the build. A one-file artifact's digest is the file's plain sha256 (`sha256sum`);
a folder (`.mlpackage`) is hashed as its sorted relative paths and contents, a TF.js model as the
names and contents of model.json and its weight shards.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.errors import InputError
from edgekit.why import breakdown

CHUNK = 1 << 20

# Measured by building the same inputs twice for every target (tests/test_ci_check.py): these formats do not give
# the same bytes twice, so equal inputs do not mean equal digests for them.
NOT_REPRODUCIBLE: dict[str, str] = {
    "mlpackage": "not reproducible: coremltools writes fresh random ids into the package's Manifest.json on every "
                 "save (model and weights come out identical)",
}


def _update_file(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)


def artifact_digest(path: Path, artifact: dict[str, Any]) -> Optional[str]:
    """sha256 over the artifact's files, or None when one is missing."""
    digest = hashlib.sha256()
    if path.is_symlink():
        return None  # regular files and folders only: a link could point anywhere
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            _update_file(digest, file)
        return digest.hexdigest() if files else None
    names = [entry.get("name") for entry in artifact.get("files") or []] or [path.name]
    if names == [path.name]:  # one file: its plain sha256 (what `sha256sum` prints)
        if not path.is_file() or path.is_symlink():
            return None
        _update_file(digest, path)
        return digest.hexdigest()
    for name in names:
        file = path.parent / str(name)
        if not file.is_file() or file.is_symlink() or Path(str(name)).name != str(name):
            return None
        digest.update(str(name).encode() + b"\0")
        _update_file(digest, file)
    return digest.hexdigest()


def arrays_digest(arrays: list[Any]) -> str:
    """sha256 over arrays' dtypes, shapes and bytes (a data subset as the build saw it)."""
    digest = hashlib.sha256()
    for array in arrays:
        value = np.ascontiguousarray(array)
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


BREAKDOWN_MAX_BYTES = 64 << 20  # `size_breakdown` gzips each tensor: skipped for larger artifacts (say `edgekit why`)


def record(artifacts: list[dict[str, Any]], stage: Path) -> None:
    """Add `sha256` to every built artifact (files under `stage`), and the largest tensors of each shipped
    .tflite / TF.js artifact (`size_breakdown`, what `edgekit why` prints)."""
    for artifact in artifacts:
        if artifact.get("status") == "failed":
            continue
        artifact["sha256"] = artifact_digest(stage / str(artifact["path"]), artifact)
        if artifact.get("format") in ("tflite", "tfjs") and artifact.get("shipped", True) \
                and (artifact.get("bytes") or 0) <= BREAKDOWN_MAX_BYTES:
            try:
                artifact["size_breakdown"] = breakdown(stage / str(artifact["path"]), top=5)["top"]
            except InputError:
                pass  # a file edgekit cannot read back is reported by its own checks
        reason = NOT_REPRODUCIBLE.get(str(artifact.get("format")))
        if reason:
            artifact["reproducible"] = False
            artifact.setdefault("notes", []).append(f"sha256: {reason}")
