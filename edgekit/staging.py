"""Write a build into a staging directory and move it into place whole.

If anything fails, the staging directory is removed and the previous output is untouched. An
existing output directory is replaced only if it is empty or was written by edgekit, so that
`--out` can never wipe a folder of the user's.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from edgekit.errors import ConfigError

MARKER = ".edgekit-build"


def check_output_dir(out: Path) -> None:
    """Fail early (before heavy work) if `out` may not be replaced."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory", hint="choose another --out")
    if any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"output directory {out} is not empty and was not written by edgekit",
                          hint="choose a new --out directory; edgekit replaces only its own build folders")


@contextlib.contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    moved_old = False
    try:
        (stage / MARKER).write_text("written by edgekit; this folder is replaced on each build\n")
        yield stage
        if out.exists():
            os.replace(out, old)
            moved_old = True
        os.replace(stage, out)
    except BaseException:
        if moved_old and not out.exists():
            os.replace(old, out)  # put the previous build back
            moved_old = False
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        if moved_old and out.exists():
            shutil.rmtree(old, ignore_errors=True)
