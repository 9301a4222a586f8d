"""Datasets: Fashion-MNIST IDX files, `.npz` arrays and image folders.

Every source yields raw arrays (N, H, W, C) and integer labels; `preprocess` then applies the
configured normalisation `(raw * scale - mean) / std` so that evaluation, calibration and
training all see exactly the same inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.config import DEFAULT_FASHION_MNIST, DatasetSection
from edgekit.data.idx import read_idx
from edgekit.errors import ConfigError, EnvironmentProblem, InputError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@dataclass
class Split:
    x: np.ndarray  # float32, preprocessed, NHWC
    y: np.ndarray  # int64 labels
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.y)


def load_split(cfg: DatasetSection, split: str, *, limit: int | None = None, seed: int = 0) -> Split:
    """Load one split, optionally a seeded random subset of `limit` samples, preprocessed."""
    if cfg.kind == "fashion_mnist":
        raw, labels = _fashion_mnist(cfg.path or Path(DEFAULT_FASHION_MNIST), split)
        names = cfg.class_names or FASHION_MNIST_CLASSES
    elif cfg.kind == "npz":
        raw, labels = _npz(cfg.path, split)
        names = cfg.class_names or [str(i) for i in range(int(labels.max()) + 1)]
    else:
        raw, labels, found = _image_folder(cfg, split)
        names = cfg.class_names or found
    if limit is not None and limit < len(labels):
        order = np.random.default_rng(seed).permutation(len(labels))[:limit]
        order.sort()
        raw, labels = raw[order], labels[order]
    return Split(x=preprocess(raw, cfg), y=labels.astype(np.int64), class_names=list(names))


def preprocess(raw: np.ndarray, cfg: DatasetSection) -> np.ndarray:
    x = raw.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    return ((x * np.float32(cfg.scale)) - np.float32(cfg.mean)) / np.float32(cfg.std)


def _fashion_mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in _IDX_PREFIX:
        raise ConfigError(f"dataset.eval_split/calibration_split {split!r} is not a Fashion-MNIST split; use 'train' or 'test'")
    if not root.is_dir():
        raise InputError(
            f"Fashion-MNIST directory not found: {root}",
            hint="install it with `apt-get install dataset-fashion-mnist` or set dataset.path",
        )
    prefix = _IDX_PREFIX[split]
    images = read_idx(_find(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(root, f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise InputError(f"{root}: {len(images)} images but {len(labels)} labels in split {split!r}")
    return images, labels


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise InputError(f"missing {stem}[.gz] in {root}", hint="point dataset.path at the folder with the IDX files")


def _npz(path: Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    if path is None:
        raise ConfigError("dataset.path is required for kind = \"npz\"", hint='e.g. path = "data.npz"')
    if not path.is_file():
        raise InputError(f"npz file not found: {path}")
    try:
        # allow_pickle=False: an .npz must never be able to run code when loaded.
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_key, y_key = f"x_{split}", f"y_{split}"
            if x_key not in keys or y_key not in keys:
                raise InputError(
                    f"{path} has no arrays {x_key!r}/{y_key!r} (found: {', '.join(sorted(keys))})",
                    hint="save the split as x_<split> and y_<split>",
                )
            x, y = archive[x_key], archive[y_key]
    except ValueError as err:
        raise InputError(f"{path}: cannot read arrays ({err})", hint="object arrays are refused; save plain numeric arrays") from None
    if len(x) != len(y):
        raise InputError(f"{path}: {len(x)} inputs but {len(y)} labels in split {split!r}")
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{path}: y_{split} has shape {y.shape} and dtype {y.dtype}; labels must be integer class ids",
                         hint="save labels as integers, e.g. y.argmax(axis=1) for one-hot labels")
    return x, y.reshape(-1)


def _image_folder(cfg: DatasetSection, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        from PIL import Image
    except ImportError:
        raise EnvironmentProblem("image folders need Pillow", hint="pip install pillow") from None
    if cfg.path is None:
        raise ConfigError("dataset.path is required for kind = \"image_folder\"", hint='e.g. path = "images"')
    root = cfg.path / split
    if not root.is_dir():
        raise InputError(f"image folder split not found: {root}", hint="lay images out as <path>/<split>/<class>/<file>.png")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise InputError(f"{root} has no class sub-folders")
    mode = "L" if cfg.color_mode == "grayscale" else "RGB"
    images, labels = [], []
    for index, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    img = img.convert(mode)
                    if cfg.image_size:
                        img = img.resize((cfg.image_size[1], cfg.image_size[0]))
                    images.append(np.asarray(img))
            except (OSError, ValueError) as err:
                raise InputError(f"cannot read image {file}: {err}", hint="remove or replace the file") from None
            labels.append(index)
    if not images:
        raise InputError(f"{root} contains no images ({', '.join(sorted(_IMAGE_SUFFIXES))})")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise InputError(f"{root}: images differ in size {sorted(shapes)[:3]}", hint="set dataset.image_size = [H, W]")
    return np.stack(images), np.asarray(labels), classes
