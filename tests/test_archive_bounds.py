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


def h5_with(path: Path, source: Path, add) -> Path:
    """A copy of the tf_keras `.h5` model `source` with `add(handle)` applied to its HDF5 tree."""
    import shutil

    import h5py

    shutil.copy(source, path)
    with h5py.File(path, "a") as handle:
        add(handle, path.parent)
    return path


def external_raw_storage(handle, folder):
    secret = folder / "secret.key"
    secret.write_bytes(b"TOP-SECRET" * 100)
    handle.create_dataset("model_weights/extra/leak", shape=(1000,), dtype="uint8", external=[(str(secret), 0, 1000)])


def external_link(handle, folder):
    import h5py

    handle["model_weights/elsewhere"] = h5py.ExternalLink(str(folder / "other.h5"), "/data")


def soft_link(handle, folder):
    import h5py

    handle["model_weights/alias"] = h5py.SoftLink("/model_weights")


def virtual_dataset(handle, folder):
    import h5py

    layout = h5py.VirtualLayout(shape=(10,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(folder / "other.h5"), "data", shape=(10,))
    handle.create_virtual_dataset("model_weights/virtual", layout)


def huge_declared_shape(handle, folder):
    handle.create_dataset("model_weights/huge", shape=(1 << 40,), dtype="f4", chunks=(1024,))  # 4 TiB, never written


@pytest.fixture(scope="module")
def h5_model(tmp_path_factory, keras_module):
    model = keras_module.Sequential([keras_module.layers.InputLayer(input_shape=(4,)), keras_module.layers.Dense(3)])
    path = tmp_path_factory.mktemp("h5") / "model.h5"
    model.save(path)
    return path


@pytest.mark.parametrize("add, reason", [(external_raw_storage, "keeps its bytes in another file"),
                                         (external_link, "links to another file"), (soft_link, "soft link"),
                                         (virtual_dataset, "virtual dataset"), (huge_declared_shape, "declares")])
def test_hdf5_content_reading_outside_the_file_or_inflating_is_refused(tmp_path, h5_model, add, reason):
    hostile = h5_with(tmp_path / "hostile.h5", h5_model, add)
    with pytest.raises(UnsafeModelError, match=reason):
        load_model(hostile, allow_unsafe=True)


def test_keras_archive_with_external_raw_storage_in_its_weights_is_refused(tmp_path, tiny_model_path):
    import io

    import h5py

    with zipfile.ZipFile(tiny_model_path) as source:
        weights = source.read("model.weights.h5")
    buffer = io.BytesIO(weights)
    with h5py.File(buffer, "a") as handle:
        (tmp_path / "secret.key").write_bytes(b"s" * 64)
        handle.create_dataset("leak", shape=(64,), dtype="uint8", external=[(str(tmp_path / "secret.key"), 0, 64)])
    hostile = tmp_path / "hostile.keras"
    with zipfile.ZipFile(tiny_model_path) as source, zipfile.ZipFile(hostile, "w") as target:
        for name in source.namelist():
            target.writestr(name, buffer.getvalue() if name == "model.weights.h5" else source.read(name))
    with pytest.raises(UnsafeModelError, match="model.weights.h5.*keeps its bytes in another file"):
        load_model(hostile)
