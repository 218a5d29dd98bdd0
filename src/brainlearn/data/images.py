"""Image classification datasets: MNIST, Fashion-MNIST, CIFAR-10 and scikit-learn's 8x8 digits.

All loaders return an :class:`ImageData` with images as float32 tensors of shape (N, C, H, W) and
int64 labels. Normalisation:

- ``"unit"`` (default): pixel / max, in [0, 1] (digits are divided by 16, the others by 255);
- ``"standard"``: per-channel mean 0, std 1, with the statistics of the (full) training split;
- ``"none"``: raw pixel values as float32.

Splits are the datasets' official train/test splits; digits (no official split) is split once,
stratified, 1437 train / 360 test, independently of the run seed. ``n_train`` / ``n_test`` take a
class-agnostic random subset drawn with `seed`.

Where the files live: the ``root`` argument, else ``$BRAINLEARN_DATA``, else ``~/.cache/brainlearn``;
Fashion-MNIST is also found where Debian's ``dataset-fashion-mnist`` package puts it. Inside a root,
both torchvision's layout (``MNIST/raw/``, ``FashionMNIST/raw/``, ``cifar-10-batches-py/``) and the
plain layout (the files directly in the root) work.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from brainlearn.data.cifar import read_cifar_batch
from brainlearn.data.idx import read_idx
from brainlearn.errors import ConfigError, DataError, ShapeError
from brainlearn.runtime.config import Config, param

#: Images in each dataset's training split (what ``n_train=None`` trains on) and values per image.
TRAIN_SIZES = {"digits": 1437, "fashion-mnist": 60_000, "mnist": 60_000, "cifar10": 50_000}
PIXELS = {"digits": 64, "fashion-mnist": 784, "mnist": 784, "cifar10": 3072}
DATASETS = tuple(TRAIN_SIZES)
NORMALIZATIONS = ("unit", "standard", "none")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
# md5 of the published .gz archives, for verifying downloads.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/", {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}),
}
SUBDIRS = {"mnist": ("MNIST/raw", "mnist", "MNIST"),
           "fashion-mnist": ("FashionMNIST/raw", "fashion-mnist", "fashion_mnist", "FashionMNIST")}
CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@dataclass
class ImageData:
    """A train/test split. Images (N, C, H, W) float32, labels (N,) int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4 or not x.is_floating_point():
                raise ShapeError(f"{self.name}: x_{split} must be float images (N, C, H, W), got {x.dtype} "
                                 f"{tuple(x.shape)}")
            if not bool(x.isfinite().all()):
                raise DataError(f"{self.name}: x_{split} contains NaN or infinite pixels")
            if y.ndim != 1 or y.dtype != torch.int64 or len(y) != len(x):
                raise ShapeError(f"{self.name}: y_{split} must be {len(x)} int64 labels (N,), got {y.dtype} "
                                 f"{tuple(y.shape)}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
                raise DataError(f"{self.name}: y_{split} labels must be in 0..{self.n_classes - 1}, got "
                                f"{int(y.min())}..{int(y.max())}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.shape))

    def flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Train and test images flattened to (N, C*H*W) (views, no copy)."""
        return self.x_train.flatten(1), self.x_test.flatten(1)

    def to(self, device) -> ImageData:
        return ImageData(self.name, self.x_train.to(device), self.y_train.to(device),
                         self.x_test.to(device), self.y_test.to(device), self.n_classes)


@dataclass(frozen=True)
class ImageDataConfig(Config):
    """Config fields every image experiment shares; subclass it in an experiment's config."""

    dataset: Literal["digits", "fashion-mnist", "mnist", "cifar10"] = "digits"
    data_root: str | None = param(None, help="data folder (default $BRAINLEARN_DATA or ~/.cache/brainlearn)")
    n_train: int | None = param(None, ge=1, help="random training subset of this size (default: all)")
    n_test: int | None = param(None, ge=1, help="random test subset of this size (default: all)")
    download: bool = param(False, help="fetch missing MNIST / Fashion-MNIST / CIFAR-10 files (checksum-verified)")

    @property
    def train_size(self) -> int:
        """Images the training split has (the subset's size, or the whole split's)."""
        return self.n_train or TRAIN_SIZES[self.dataset]

    def load(self, seed: int = 0, device="cpu") -> ImageData:
        """Load the configured dataset (subsets drawn with `seed`) onto `device`."""
        return load_images(self.dataset, self.data_root, n_train=self.n_train, n_test=self.n_test,
                           seed=seed, download=self.download).to(device)


def default_roots(root: str | Path | None = None) -> list[Path]:
    """Folders searched for data files, in order."""
    try:
        if root is not None:
            return [Path(root).expanduser()]
        env = os.environ.get("BRAINLEARN_DATA")
        return [Path(env).expanduser()] if env else [Path.home() / ".cache" / "brainlearn"]
    except RuntimeError as e:  # "~nosuchuser/..." cannot be expanded
        raise DataError(f"data folder {str(root or env)!r} cannot be expanded: {e}") from None


def load_images(name: str, root: str | Path | None = None, *, n_train: int | None = None,
                n_test: int | None = None, seed: int = 0, normalize: str = "unit",
                download: bool = False) -> ImageData:
    """Load dataset `name` (one of :data:`DATASETS`) as an :class:`ImageData`.

    Args:
        root: data folder (default: ``$BRAINLEARN_DATA`` or ``~/.cache/brainlearn``).
        n_train, n_test: if given, a random subset of that size, drawn with `seed`.
        normalize: "unit", "standard" or "none" (see module docstring).
        download: fetch missing files (checksum-verified) where a network exists.

    Raises:
        ConfigError: unknown name, normalisation or subset size.
        DataError: files missing (the message names them and where to put them) or malformed.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"normalize={normalize!r}; expected one of {', '.join(NORMALIZATIONS)}")
    roots = default_roots(root)
    if name == "digits":
        xtr, ytr, xte, yte, scale = *_digits(), 16.0
    elif name == "cifar10":
        xtr, ytr, xte, yte, scale = *_cifar10(roots, download), 255.0
    else:
        xtr, ytr, xte, yte, scale = *_idx_dataset(name, roots, download), 255.0
    # Standardisation statistics come from the full training split, before any subsetting.
    if normalize == "standard":
        mean = xtr.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
        std = np.maximum(xtr.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64), 1e-8)
        shift, scale = mean.astype(np.float32), std.astype(np.float32)
    else:
        shift, scale = np.float32(0), np.float32(scale if normalize == "unit" else 1.0)
    gen = np.random.default_rng(seed)
    xtr, ytr = _subset(xtr, ytr, n_train, gen, "n_train")
    xte, yte = _subset(xte, yte, n_test, gen, "n_test")

    def tensor(x):
        return torch.from_numpy(np.ascontiguousarray((x.astype(np.float32) - shift) / scale))

    return ImageData(name, tensor(xtr), torch.from_numpy(ytr.astype(np.int64)), tensor(xte),
                     torch.from_numpy(yte.astype(np.int64)), 10)


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, gen: np.random.Generator, what: str):
    if n is None:
        return x, y
    if not 1 <= n <= len(x):
        raise ConfigError(f"{what}={n} is out of range; expected 1..{len(x)}")
    idx = np.sort(gen.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.images.reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=360, stratify=d.target, random_state=0)
    return xtr, ytr, xte, yte


def _find(filename: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / filename, folder / f"{filename}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _idx_dataset(name: str, roots: list[Path], download: bool):
    folders = [r / sub for r in roots for sub in ("", *SUBDIRS[name])]
    if name == "fashion-mnist":
        folders.append(DEBIAN_FASHION)
    paths = [_find(f, folders) for f in IDX_FILES]
    if None in paths and download:
        _download(name, roots[0] / SUBDIRS[name][0])
        paths = [_find(f, folders) for f in IDX_FILES]
    if None in paths:
        missing = [f for f, p in zip(IDX_FILES, paths) if p is None]
        hint = " (on Debian: apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""
        raise DataError(f"{name} not found: missing {', '.join(missing)} (or .gz) in any of "
                        f"{', '.join(str(f) for f in folders)}; put the IDX files in one of these folders, "
                        f"set BRAINLEARN_DATA or data_root, or pass download=True (CLI: --set download=true){hint}")
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    for x, y, p, q in ((xtr, ytr, paths[0], paths[1]), (xte, yte, paths[2], paths[3])):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{str(p)!r}: expected images (N, H, W) and N labels, got {x.shape} and {y.shape}")
        if x.dtype != np.uint8:
            raise DataError(f"{str(p)!r}: expected uint8 pixels (IDX type 0x08), got {x.dtype}")
        if y.dtype.kind not in "iu" or len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{str(q)!r}: expected integer labels in 0..9, got {y.dtype} "
                            f"{f'{y.min()}..{y.max()}' if len(y) else ''}")
    return xtr[:, None], ytr, xte[:, None], yte


def _cifar10(roots: list[Path], download: bool):
    folders = [r / sub for r in roots for sub in ("cifar-10-batches-py", "")]
    def locate():
        return next((f for f in folders if all((f / n).is_file() for n in CIFAR_FILES)), None)
    folder = locate()
    if folder is None and download:
        _download("cifar10", roots[0])
        folder = locate()
    if folder is None:
        raise DataError(f"cifar10 not found: need {', '.join(CIFAR_FILES)} (the python version) in one of "
                        f"{', '.join(str(f) for f in folders)}; put the extracted cifar-10-batches-py folder "
                        "there, set BRAINLEARN_DATA or data_root, or pass download=True (CLI: --set download=true)")
    train = [read_cifar_batch(folder / n) for n in CIFAR_FILES[:5]]
    xte, yte = read_cifar_batch(folder / "test_batch")
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), xte, yte


def md5sum(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url: str, dest: Path, md5: str) -> Path:
    """Download `url` to `dest` and check its md5; a mismatch deletes the file and raises DataError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {e}") from None
    got = md5sum(tmp)
    if got != md5:
        tmp.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for {url}: expected md5 {md5}, got {got}")
    os.replace(tmp, dest)
    return dest


def _download(name: str, folder: Path) -> None:
    base, files = MIRRORS[name]
    for filename, md5 in files.items():
        path = download_file(base + filename, folder / filename, md5)
        if filename.endswith(".tar.gz"):
            with tarfile.open(path) as tar:
                tar.extractall(folder, filter="data")
