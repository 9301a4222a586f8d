"""A `.keras` archive is checked from its directory before anything reads or extracts a member:
zip bombs, members escaping the folder and symlinks are refused (exit 3), nothing is written."""
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgekit.errors import UnsafeModelError
from edgekit.models import load_model

ROOT = Path(__file__).resolve().parents[1]


def copy_with(source: Path, target: Path, add) -> Path:
    """`source`'s members plus whatever `add(archive)` writes."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for name in old.namelist():
            new.writestr(name, old.read(name))
        add(new)
    return target


def bomb(archive: zipfile.ZipFile) -> None:
    with archive.open("assets/zeros.bin", "w", force_zip64=True) as member:
        block = b"\0" * (1 << 20)
        for _ in range(300):  # 300 MiB of zeros in about 300 KB: the same ratio as a gigabyte bomb
            member.write(block)


def escaping(archive: zipfile.ZipFile) -> None:
    archive.writestr("../../outside.txt", "x")


def absolute(archive: zipfile.ZipFile) -> None:
    archive.writestr("/tmp/edgekit-canary.txt", "x")


def symlink(archive: zipfile.ZipFile) -> None:
    info = zipfile.ZipInfo("assets/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, "/etc/passwd")


@pytest.mark.parametrize("add, reason", [(bomb, "zip bomb"), (escaping, "points outside"),
                                         (absolute, "points outside"), (symlink, "symbolic link")])
def test_hostile_archive_members_are_refused_before_any_member_is_read(tmp_path, tiny_model_path, add, reason):
    hostile = copy_with(tiny_model_path, tmp_path / "hostile.keras", add)
    with pytest.raises(UnsafeModelError, match=reason):
        load_model(hostile)
    with pytest.raises(UnsafeModelError, match=reason):  # allow_unsafe does not open such archives either
        load_model(hostile, allow_unsafe=True)
    assert not Path("/tmp/edgekit-canary.txt").exists() and not (tmp_path.parent / "outside.txt").exists()


def test_cli_exits_3_in_one_line_for_a_zip_bomb(tmp_path, tiny_model_path):
    from tests.conftest import write_config

    hostile = copy_with(tiny_model_path, tmp_path / "hostile.keras", bomb)
    config = write_config(tmp_path, hostile)
    result = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(config)], capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3 and "zip bomb" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
