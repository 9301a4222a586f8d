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
MAX_MEMBER_BYTES = 8 << 30  # 8 GiB: larger than any weights file edgekit can convert on a phone's budget
MAX_TOTAL_BYTES = 16 << 30
MAX_RATIO = 200  # uncompressed / compressed, for members over 1 MiB (weights compress ~1.1x, zip bombs ~1000x)
MAX_JSON_BYTES = 64 << 20  # config.json / metadata.json


def problems(archive: zipfile.ZipFile) -> list[str]:
    """What is wrong with the archive's members, from its directory alone (no member is read)."""
    infos = archive.infolist()
    found = []
    if len(infos) > MAX_MEMBERS:
        found.append(f"{len(infos):,} members (at most {MAX_MEMBERS:,})")
    total = 0
    for info in infos:
        name = info.filename
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
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        found.append(f"members declare {total:,} bytes in all (at most {MAX_TOTAL_BYTES:,})")
    return found
