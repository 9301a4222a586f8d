"""Hostile model files generated in code, one per class of attack, and a kernel-level watch that a
secret file is never opened (inotify sees opens by any thread, in C++ or Python)."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Iterator

IN_ACCESS, IN_OPEN = 0x001, 0x020


@contextlib.contextmanager
def watch_opens(path: Path) -> Iterator[list[int]]:
    """Collect inotify open/read events on `path` while the block runs (the list fills on exit)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0, os.strerror(ctypes.get_errno())
    assert libc.inotify_add_watch(fd, str(path).encode(), IN_OPEN | IN_ACCESS) >= 0
    events: list[int] = []
    try:
        yield events
    finally:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            data = b""
        offset = 0
        while offset + 16 <= len(data):
            _, mask, _, size = struct.unpack_from("iIII", data, offset)
            events.append(mask)
            offset += 16 + size
        os.close(fd)


def edit_config(source: Path, target: Path, edit) -> Path:
    """A copy of the `.keras` archive `source` whose config.json went through `edit(config)`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = old.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            new.writestr(name, data)
    return target


def layers(config: dict) -> list[dict]:
    return config["config"]["layers"]
