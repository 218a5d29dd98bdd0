import pickle

import numpy as np
import pytest

from brainlearn.data import load_images
from brainlearn.data.cifar import read_cifar_batch, write_cifar_batch
from brainlearn.errors import DataError


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))



def test_cifar_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(folder / name, rng.integers(0, 256, (4, 3, 32, 32)), rng.integers(0, 10, 4))
    d = load_images("cifar10", tmp_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    x, y = read_cifar_batch(folder / "test_batch")
    assert x.dtype == np.uint8 and y.dtype == np.int64


def test_cifar_unpickler_refuses_code(tmp_path):
    with open(tmp_path / "batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match="refusing to unpickle builtins.print"):
        read_cifar_batch(tmp_path / "batch")
