import gzip
import struct

import numpy as np
import pytest

from edgekit.config import DatasetSection
from edgekit.data import FASHION_MNIST_CLASSES, load_split
from edgekit.data.idx import read_idx
from edgekit.errors import ConfigError, InputError

from conftest import FASHION


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trips_shape_and_values(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    array = np.zeros((4, 5), dtype=np.uint8)
    write_idx(tmp_path / "ok.gz", array)
    data = gzip.decompress((tmp_path / "ok.gz").read_bytes())
    (tmp_path / "short").write_bytes(data[:-3])
    with pytest.raises(InputError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(InputError, match="magic"):
        read_idx(tmp_path / "png")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_test_split_has_10k_labelled_images_in_unit_range():
    split = load_split(DatasetSection(kind="fashion_mnist"), "test")
    assert split.x.shape == (10_000, 28, 28, 1) and split.x.dtype == np.float32
    assert 0.0 <= split.x.min() and split.x.max() <= 1.0
    assert np.bincount(split.y).tolist() == [1000] * 10
    assert split.class_names == FASHION_MNIST_CLASSES


def test_subset_is_seeded_and_normalisation_applies(tmp_path):
    cfg = DatasetSection(kind="fashion_mnist", mean=0.5, std=0.5)
    a = load_split(cfg, "train", limit=50, seed=3)
    b = load_split(cfg, "train", limit=50, seed=3)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.x.min() >= -1.0 and a.x.max() <= 1.0 and a.x.min() < 0


def test_fashion_mnist_missing_directory_names_the_debian_package(tmp_path):
    with pytest.raises(InputError) as info:
        load_split(DatasetSection(kind="fashion_mnist", path=tmp_path / "nope"), "test")
    assert "not found" in info.value.one_line() and "apt-get install dataset-fashion-mnist" in info.value.one_line()
    with pytest.raises(ConfigError, match="'train' or 'test'"):
        load_split(DatasetSection(kind="fashion_mnist"), "validation")


def test_npz_source_reads_named_splits_and_refuses_object_arrays(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=np.arange(6) % 2)
    split = load_split(DatasetSection(kind="npz", path=tmp_path / "d.npz"), "test")
    assert split.x.shape == (6, 8, 8, 3) and split.class_names == ["0", "1"]
    with pytest.raises(InputError, match="x_train"):
        load_split(DatasetSection(kind="npz", path=tmp_path / "d.npz"), "train")
    np.savez(tmp_path / "obj.npz", x_test=np.array([{"a": 1}], dtype=object), y_test=np.array([0]))
    with pytest.raises(InputError) as info:
        load_split(DatasetSection(kind="npz", path=tmp_path / "obj.npz"), "test")
    assert "object arrays are refused" in info.value.one_line()


def test_image_folder_source_labels_by_sorted_folder_name(tmp_path):
    from PIL import Image

    for label, name in enumerate(["cat", "dog"]):
        folder = tmp_path / "test" / name
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((10, 12), 40 * (i + label), dtype=np.uint8)).save(folder / f"{i}.png")
    split = load_split(DatasetSection(kind="image_folder", path=tmp_path, image_size=(8, 8)), "test")
    assert split.x.shape == (6, 8, 8, 1)
    assert split.y.tolist() == [0, 0, 0, 1, 1, 1] and split.class_names == ["cat", "dog"]


def test_npz_one_hot_labels_are_refused_with_the_fix(tmp_path):
    np.savez(tmp_path / "d.npz", x_test=np.zeros((4, 8, 8, 1)), y_test=np.eye(4))
    with pytest.raises(InputError) as info:
        load_split(DatasetSection(kind="npz", path=tmp_path / "d.npz"), "test")
    assert "integer class ids" in info.value.one_line() and "argmax" in info.value.one_line()


def test_image_folder_unreadable_image_is_an_input_error(tmp_path):
    folder = tmp_path / "test" / "cat"
    folder.mkdir(parents=True)
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image"):
        load_split(DatasetSection(kind="image_folder", path=tmp_path), "test")


@pytest.mark.parametrize("content", ["empty", "strings"])
def test_npz_empty_splits_and_string_arrays_are_input_errors_naming_the_fix(tmp_path, content):
    x = np.zeros((0, 8, 8, 3), np.uint8) if content == "empty" else np.array([["a", "b"]] * 4)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.zeros(len(x), np.int64))
    with pytest.raises(InputError) as info:
        load_split(DatasetSection(kind="npz", path=tmp_path / "d.npz"), "train")
    line = info.value.one_line()
    assert ("has no samples" in line and "calibration_split" in line) if content == "empty" else "numeric" in line


@pytest.mark.parametrize("labels, expected", [([0, 3, 12], "labels go from 0 to 12 but output 'probs' has 10 classes"),
                                              ([-1, 2, 3], "labels go from -1 to 3")])
def test_labels_the_model_cannot_predict_are_input_errors_naming_the_output(labels, expected):
    from types import SimpleNamespace

    from edgekit.labels import label_output

    model = SimpleNamespace(outputs=[SimpleNamespace(name="probs")])  # label_output reads the output names only
    data = SimpleNamespace(y=np.array(labels), class_names=None)
    with pytest.raises(InputError) as info:
        label_output(model, data, None, [np.full((3, 10), 0.1, np.float32)])
    assert expected in info.value.one_line()
