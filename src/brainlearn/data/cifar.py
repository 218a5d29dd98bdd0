"""CIFAR-10 python-version batches, read with a restricted unpickler (no arbitrary code runs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from brainlearn.errors import DataError

# What a CIFAR batch pickle legitimately references: numpy's array reconstruction and nothing else.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}: not part of the CIFAR-10 batch format")
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file; returns images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            batch = _CifarUnpickler(f, encoding="bytes").load()
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to unpickle means the file is not a batch
            raise DataError(f"{str(path)!r}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{str(path)!r}: expected a dict batch, got {type(batch).__name__}")
    batch = {k.decode(errors="replace") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{str(path)!r}: batch lacks 'data' or 'labels' (keys: {sorted(map(repr, batch))})")
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{str(path)!r}: expected data as a uint8 array (N, 3072), got {type(data).__name__}")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{str(path)!r}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
    labels = batch["labels"]
    if not isinstance(labels, list | tuple | np.ndarray) or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
        raise DataError(f"{str(path)!r}: labels must be a list of integers")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(data):
        raise DataError(f"{str(path)!r}: {len(labels)} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{str(path)!r}: CIFAR-10 labels must be in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a batch in the CIFAR-10 python format (for tests and small custom sets)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    batch = {b"batch_label": b"brainlearn", b"labels": [int(v) for v in labels], b"data": images,
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
