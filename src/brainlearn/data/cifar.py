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
        except (pickle.UnpicklingError, EOFError) as e:
            raise DataError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict batch, got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: batch lacks 'data' or 'labels' (keys: {sorted(batch)})")
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: expected data of shape (N, 3072), got {data.shape}")
    labels = np.asarray(batch["labels"], dtype=np.int64)
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a batch in the CIFAR-10 python format (for tests and small custom sets)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    batch = {b"batch_label": b"brainlearn", b"labels": [int(v) for v in labels], b"data": images,
             b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
