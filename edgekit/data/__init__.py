"""Datasets: Fashion-MNIST IDX files, `.npz` arrays and image folders.

Every source yields raw arrays and integer labels; `preprocess` then applies the configured
normalisation `(raw * scale - mean) / std` so that evaluation, calibration and training all see
exactly the same inputs. A split holds one array per model input: Fashion-MNIST and image folders
feed a single image input; an `.npz` feeds any number of inputs by name (`x_<split>` for a
single-input model, `x_<split>_<input name>` for each input otherwise) and may leave out the
labels (`y_<split>`) for models whose outputs are not classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

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
    inputs: list[np.ndarray]  # one array per model input, preprocessed (float32, or the input's integer dtype)
    y: Optional[np.ndarray]  # int64 class ids, or None when the data has no labels
    class_names: list[str]

    @property
    def x(self) -> np.ndarray:
        """The only input of a single-input model (steps that need one image input use this)."""
        if len(self.inputs) != 1:
            from edgekit.errors import UnsupportedModelError

            raise UnsupportedModelError(f"this step needs a single-input model; the model takes {len(self.inputs)} inputs",
                                        hint="build without a recipe or search for multi-input models")
        return self.inputs[0]

    def __len__(self) -> int:
        return len(self.inputs[0])

    def take(self, index: Any) -> "Split":
        return Split(inputs=[x[index] for x in self.inputs], y=None if self.y is None else self.y[index],
                     class_names=self.class_names)


def load_split(cfg: DatasetSection, split: str, *, limit: int | None = None, seed: int = 0,
               inputs: Optional[Sequence[Any]] = None) -> Split:
    """Load one split, optionally a seeded random subset of `limit` samples, preprocessed.

    `inputs` (the model's `TensorInfo`s) name and shape the arrays; without it, one input."""
    specs = list(inputs) if inputs else [None]
    if cfg.kind in ("fashion_mnist", "image_folder") and len(specs) > 1:
        names = ", ".join(spec.name for spec in specs)
        raise InputError(f"dataset kind {cfg.kind!r} feeds one image input, but the model takes {len(specs)} ({names})",
                         hint='use kind = "npz" with an array x_<split>_<input name> per input')
    if cfg.kind == "fashion_mnist":
        raw, labels = _fashion_mnist(cfg.path or Path(DEFAULT_FASHION_MNIST), split)
        arrays, names = [raw], cfg.class_names or FASHION_MNIST_CLASSES
    elif cfg.kind == "npz":
        arrays, labels = _npz(cfg.path, split, [getattr(spec, "name", None) for spec in specs])
        count = int(labels.max()) + 1 if labels is not None and len(labels) else 0
        names = cfg.class_names or [str(i) for i in range(count)]
    else:
        raw, labels, found = _image_folder(cfg, split)
        arrays, names = [raw], cfg.class_names or found
    total = len(arrays[0])
    if total == 0:
        raise InputError(f"dataset split {split!r} ({cfg.kind}{f' at {cfg.path}' if cfg.path else ''}) has no samples",
                         hint="fill it, or point dataset.eval_split / calibration_split at a split with data")
    if limit is not None and limit < total:
        order = np.random.default_rng(seed).permutation(total)[:limit]
        order.sort()
        arrays = [a[order] for a in arrays]
        labels = None if labels is None else labels[order]
    xs = [preprocess(raw, cfg, spec) for raw, spec in zip(arrays, specs)]
    return Split(inputs=xs, y=None if labels is None else labels.astype(np.int64), class_names=list(names))


def preprocess(raw: np.ndarray, cfg: DatasetSection, spec: Any = None) -> np.ndarray:
    """`(raw * scale - mean) / std` as float32; integer model inputs (ids, indices) stay integers.

    A 3-D image array gets its channel axis when the model expects one (or when no model is given)."""
    rank = len(spec.shape) if spec is not None else 4
    dtype = np.dtype(getattr(spec, "dtype", "float32") or "float32")
    if raw.ndim == 3 and rank == 4:
        raw = raw[..., None]
    if dtype.kind in "iu":
        return raw.astype(dtype)
    x = raw.astype(np.float32)
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


def _npz(path: Path | None, split: str, names: list[Optional[str]]) -> tuple[list[np.ndarray], Optional[np.ndarray]]:
    """The split's input arrays (by input name) and labels (None when `y_<split>` is absent)."""
    if path is None:
        raise ConfigError("dataset.path is required for kind = \"npz\"", hint='e.g. path = "data.npz"')
    if not path.is_file():
        raise InputError(f"npz file not found: {path}")
    try:
        # allow_pickle=False: an .npz must never be able to run code when loaded.
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_keys = [_input_key(keys, split, name, single=len(names) == 1, path=path) for name in names]
            xs = [archive[key] for key in x_keys]
            y = archive[f"y_{split}"] if f"y_{split}" in keys else None
    except ValueError as err:
        raise InputError(f"{path}: cannot read arrays ({err})", hint="object arrays are refused; save plain numeric arrays") from None
    for key, x in zip(x_keys, xs):
        if x.dtype.kind not in "biuf" or x.ndim < 1:
            raise InputError(f"{path}: {key} has dtype {x.dtype} and shape {x.shape}; inputs must be numeric arrays",
                             hint="save numbers (uint8 pixels, float32 features, integer ids)")
        if len(x) != len(xs[0]):
            raise InputError(f"{path}: {key} has {len(x)} rows but {x_keys[0]} has {len(xs[0])} in split {split!r}")
    if y is None:
        return xs, None
    if len(xs[0]) != len(y):
        raise InputError(f"{path}: {len(xs[0])} inputs but {len(y)} labels in split {split!r}")
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{path}: y_{split} has shape {y.shape} and dtype {y.dtype}; labels must be integer class ids",
                         hint="save labels as integers (y.argmax(axis=1) for one-hot), or leave y_<split> out for "
                              "models whose outputs are not classes")
    return xs, y.reshape(-1)


def _input_key(keys: set[str], split: str, name: Optional[str], *, single: bool, path: Path) -> str:
    candidates = ([f"x_{split}"] if single else []) + ([f"x_{split}_{name}"] if name else [])
    for key in candidates:
        if key in keys:
            return key
    raise InputError(f"{path} has no array {' or '.join(repr(c) for c in candidates)} (found: {', '.join(sorted(keys))})",
                     hint="save each split as x_<split> (one input) or x_<split>_<input name> per input, "
                          "and y_<split> for the labels")


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
    # with class_names set, a folder's label is its place in that list (a split that lacks a class
    # keeps the others' numbers); without, the folders in sorted order
    names = list(cfg.class_names) if cfg.class_names else classes
    unknown = [name for name in classes if name not in names]
    if unknown:
        raise InputError(f"{root}: class folder {unknown[0]!r} is not in dataset.class_names",
                         hint="list every class folder in class_names, in the model's output order")
    mode = "L" if cfg.color_mode == "grayscale" else "RGB"
    images, labels = [], []
    for name in classes:
        index = names.index(name)
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
    return np.stack(images), np.asarray(labels), names
