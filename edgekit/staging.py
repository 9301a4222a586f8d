"""Write a build into a staging directory and move it into place whole.

If anything fails, the staging directory is removed and the previous output is untouched. An
existing output directory is replaced only if it is empty or was written by edgekit, so that
`--out` can never wipe a folder of the user's.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Iterator

from edgekit.errors import ConfigError, EnvironmentProblem

MARKER = ".edgekit-build"


def check_output_dir(out: Path, *, needed: int = 0, locked: bool = False) -> None:
    """Fail early (before heavy work) if `out` may not be replaced, or its folder cannot be written
    or lacks `needed` bytes of free space. `locked` (this process holds `output_lock`): also try
    renaming the previous build, which an immutable folder refuses."""
    parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), None)
    if parent is None or not parent.is_dir():
        raise ConfigError(f"output path {out} lies under {parent}, which is not a folder", hint="choose another --out")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory", hint="choose another --out")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"output directory {out} is not empty and was not written by edgekit",
                          hint="choose a new --out directory; edgekit replaces only its own build folders")
    try:  # read-only, immutable or full: find out now, not after training
        probe = tempfile.NamedTemporaryFile(dir=parent, prefix=".edgekit-write-check-", delete=True)
        probe.write(b"x" * 4096)
        probe.flush()
        probe.close()
    except OSError as err:
        raise EnvironmentProblem(f"cannot write the build next to {out} ({parent}: {err.strerror or err})",
                                 hint="choose an --out on a writable disk with free space") from None
    if locked and out.exists() and _immutable(out):  # its rename at the end would fail: find out now
        raise EnvironmentProblem(f"cannot replace the previous build {out}: it is immutable or append-only",
                                 hint=f"run `chattr -i -a {out}`, or choose another --out")
    free = shutil.disk_usage(parent).free
    if free < needed:
        raise EnvironmentProblem(f"only {free / 2**20:.0f} MiB free on the disk of {out}; this build needs about "
                                 f"{needed / 2**20:.0f} MiB", hint="free some space or choose an --out on another disk")


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """One build at a time per output folder: a second one exits 4 instead of racing the first.

    The lock file is removed on release. A waiter that opened it before the removal would hold a
    lock on a deleted file, so after locking we check the path still names the file we locked (and
    try once more with the new file). Folders created for the lock are removed again when the build
    leaves no output in them.
    """
    created = [p for p in [out.parent, *out.parent.parents] if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.with_name(f".{out.name}.lock")
    try:
        with _locked(path, out):
            yield
    finally:
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


@contextlib.contextmanager
def _locked(path: Path, out: Path) -> Iterator[None]:
    for _ in range(2):
        try:
            handle = open(path, "a+")
        except OSError as err:
            raise EnvironmentProblem(f"cannot create the lock file {path} ({err.strerror or err})",
                                     hint="choose an --out in a folder you can write") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            handle.close()
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise EnvironmentProblem(f"another edgekit build is writing {out} right now",
                                         hint="wait for it to finish, or build into another --out") from None
            raise EnvironmentProblem(f"cannot lock {path} ({err.strerror or err})",
                                     hint="build into an --out on a local disk") from None
        if _same_file(handle, path):
            break
        handle.close()  # the previous holder removed the file after we opened it: lock the new one
    else:
        raise EnvironmentProblem(f"could not lock {out}: its lock file keeps changing",
                                 hint="check that no other process is building into it")
    try:
        yield
    finally:
        try:
            path.unlink(missing_ok=True)
        finally:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                handle.close()


def _immutable(folder: Path) -> bool:
    """The folder's immutable or append-only attribute (chattr +i / +a), where the file system has them."""
    FS_IOC_GETFLAGS, IMMUTABLE, APPEND = 0x80086601, 0x10, 0x20
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        flags = fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, struct.pack("l", 0))
        return bool(struct.unpack("l", flags)[0] & (IMMUTABLE | APPEND))
    except OSError:
        return False  # no such attributes here
    finally:
        os.close(descriptor)


def _same_file(handle, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(handle.fileno())
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


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
