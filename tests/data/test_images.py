from pathlib import Path

import numpy as np
import pytest
import torch

from brainlearn.data import ImageDataConfig, load_images
from brainlearn.data.idx import write_idx
from brainlearn.data.images import DEBIAN_FASHION, download_file, md5sum
from brainlearn.errors import ConfigError, DataError


def write_mnist(folder: Path, n_train=20, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", rng.integers(0, 10, n, dtype=np.uint8))


@pytest.mark.parametrize("layout, gz", [("", True), ("MNIST/raw", True), ("", False)])
def test_mnist_layouts(tmp_path, layout, gz):
    write_mnist(tmp_path / layout, gz=gz)
    d = load_images("mnist", tmp_path)
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    assert d.x_train.dtype == torch.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert d.y_train.dtype == torch.int64 and d.n_features == 784


def test_data_root_from_environment(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("BRAINLEARN_DATA", str(tmp_path))
    assert len(load_images("mnist").y_train) == 20


def test_missing_files_name_files_and_folders(tmp_path):
    with pytest.raises(DataError, match=r"missing train-images-idx3-ubyte.*put the IDX files"):
        load_images("mnist", tmp_path)
    with pytest.raises(DataError, match="data_batch_1"):
        load_images("cifar10", tmp_path)


def test_subsets_are_seeded_and_checked(tmp_path):
    write_mnist(tmp_path)
    a = load_images("mnist", tmp_path, n_train=5, seed=1)
    b = load_images("mnist", tmp_path, n_train=5, seed=1)
    c = load_images("mnist", tmp_path, n_train=5, seed=2)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    with pytest.raises(ConfigError, match="n_train=21 is out of range"):
        load_images("mnist", tmp_path, n_train=21)


def test_standard_normalisation_uses_train_statistics(tmp_path):
    write_mnist(tmp_path, n_train=50)
    d = load_images("mnist", tmp_path, normalize="standard")
    assert abs(float(d.x_train.mean())) < 1e-5 and abs(float(d.x_train.std()) - 1) < 1e-2


def test_unknown_names():
    with pytest.raises(ConfigError, match="expected one of digits"):
        load_images("imagenet")
    with pytest.raises(ConfigError, match="normalize"):
        load_images("digits", normalize="zscore")


def test_digits_split():
    d = load_images("digits")
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.max() == 1.0
    assert torch.equal(load_images("digits", seed=5).y_test, d.y_test)  # split independent of seed


def test_config_download_fetches_missing_files(tmp_path, monkeypatch):
    """`download=True` in an experiment config (CLI: --set download=true) reaches the loader."""
    fetched = []
    def fake_download(name, folder):
        fetched.append(name)
        write_mnist(folder)

    monkeypatch.setattr("brainlearn.data.images._download", fake_download)
    with pytest.raises(DataError, match="--set download=true"):
        ImageDataConfig(dataset="mnist", data_root=str(tmp_path)).load()
    assert not fetched
    d = ImageDataConfig(dataset="mnist", data_root=str(tmp_path), download=True).load()
    assert fetched == ["mnist"] and d.x_train.shape == (20, 1, 28, 28)


def test_download_checks_md5(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    dest = download_file(src.as_uri(), tmp_path / "out" / "f.bin", md5sum(src))
    assert dest.read_bytes() == b"hello"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_file(src.as_uri(), tmp_path / "out" / "g.bin", "0" * 32)
    assert not (tmp_path / "out" / "g.bin").exists()


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package(tmp_path):
    d = load_images("fashion-mnist", tmp_path, n_train=100, n_test=50)
    assert d.x_train.shape == (100, 1, 28, 28) and set(d.y_test.tolist()) <= set(range(10))
