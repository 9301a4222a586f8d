"""Bounds on a `.keras` archive, checked from its directory before any member is read or extracted.

A model archive from someone else may be a zip bomb (a small file whose member inflates to
gigabytes), or carry members that escape the folder they would be extracted to (`../x`, `/etc/x`)
or are symlinks. Keras' own loaders only ever see an archive that passed these checks; a member
is never read past the size its directory entry declares (Python's zipfile stops there).
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import PurePosixPath

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 4 << 30  # 4 GiB: larger than any weights file edgekit can convert on a phone's budget
MAX_TOTAL_BYTES = 4 << 30
# Uncompressed / compressed, for each member over 1 MiB and for the archive as a whole once it
# inflates past 16 MiB: float weights compress ~1.1x, 90 %-sparse ones ~10x, zip bombs ~1000x.
MAX_RATIO = 100
MAX_JSON_BYTES = 64 << 20  # config.json / metadata.json
# What a `.keras` archive holds (both Keras versions write exactly these); tf_keras would unpickle a
# `model.weights.npz`, so anything else is refused rather than handed to a loader.
MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
ASSETS = "assets/"


def problems(archive: zipfile.ZipFile) -> list[str]:
    """What is wrong with the archive's members, from its directory alone (no member is read)."""
    infos = archive.infolist()
    found = []
    if len(infos) > MAX_MEMBERS:
        found.append(f"{len(infos):,} members (at most {MAX_MEMBERS:,})")
    total = packed = 0
    for info in infos:
        name = info.filename
        before = len(found)
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            found.append(f"member {name!r} points outside the archive's folder")
        if stat.S_ISLNK(info.external_attr >> 16):
            found.append(f"member {name!r} is a symbolic link")
        if info.file_size > MAX_MEMBER_BYTES:
            found.append(f"member {name!r} declares {info.file_size:,} bytes (at most {MAX_MEMBER_BYTES:,})")
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            found.append(f"member {name!r} inflates {info.file_size / max(info.compress_size, 1):,.0f}x "
                         f"({info.compress_size:,} to {info.file_size:,} bytes): a zip bomb")
        if name in ("config.json", "metadata.json") and info.file_size > MAX_JSON_BYTES:
            found.append(f"{name} declares {info.file_size:,} bytes (at most {MAX_JSON_BYTES:,})")
        if len(found) == before and name not in MEMBERS and not name.startswith(ASSETS):
            found.append(f"member {name!r} is not part of a .keras model (only {', '.join(MEMBERS)} and {ASSETS}…)")
        total += info.file_size
        packed += info.compress_size
    if total > MAX_TOTAL_BYTES:
        found.append(f"members declare {total:,} bytes in all (at most {MAX_TOTAL_BYTES:,})")
    if total > (16 << 20) and total > MAX_RATIO * max(packed, 1):
        found.append(f"its members inflate {total / max(packed, 1):,.0f}x in all ({packed:,} to {total:,} bytes): "
                     "a zip bomb")
    return found
