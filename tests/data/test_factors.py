"""brainlearn.data.factors: the grid, the renderer, the loaders."""

import hashlib

import numpy as np
import pytest
import torch

from brainlearn.data.factors import (
    ColourDSprites,
    DSprites,
    FactorDataset,
    load_dsprites_npz,
    load_mpi3d_npz,
    load_shapes3d_h5,
    render_dsprites,
)
from brainlearn.errors import ConfigError, DataError, ShapeError
from brainlearn.runtime import make_generator


def lite(**kw):
    return DSprites(size=32, scale=(0.75, 1.0), orientation=(0.0,), posX=np.linspace(0, 1, 16),
                    posY=np.linspace(0, 1, 16), **kw)


def test_official_grid_and_index_map():
    d = DSprites()
    assert len(d) == 737280 and d.factor_sizes == (1, 3, 6, 40, 32, 32)
    assert list(d.bases) == [737280, 245760, 40960, 1024, 32, 1]
    assert np.array_equal(d.factor_classes @ d.bases, np.arange(len(d)))
    assert np.array_equal(d.index(d.factor_classes[::997]), np.arange(len(d))[::997])
    v = d.factor_values
    assert np.allclose(np.unique(v[:, 2]), np.linspace(0.5, 1, 6)) and v[:, 3].max() == pytest.approx(2 * np.pi)
    assert list(np.unique(v[:, 1])) == [1, 2, 3]


def test_renderer_deterministic_binary_nonempty():
    d = DSprites()
    idx = np.arange(0, len(d), 37)[:4000]
    v = d.factor_values[idx]
    a = render_dsprites(*v[:, 1:].T)
    b = render_dsprites(*v[:, 1:].T, chunk=333)
    assert np.array_equal(d.images_uint8(idx[:20])[:, 0], a[:20] * 255)
    assert hashlib.sha256(a.tobytes()).hexdigest() == hashlib.sha256(b.tobytes()).hexdigest()
    assert set(np.unique(a)) <= {0, 1} and (a > 0).reshape(len(a), -1).sum(1).min() >= 1
    x = d.images(idx[:3])
    assert x.dtype == torch.float32 and x.shape == (3, 1, 64, 64)


def test_renderer_symmetries():
    n = 6
    pos = np.full(n, 0.5)
    # a square is invariant under quarter turns, an ellipse under half turns, a heart under neither
    sq = render_dsprites([1] * 2, [1, 1], [0.0, np.pi / 2], pos[:2], pos[:2])
    assert np.array_equal(sq[0], sq[1])
    el = render_dsprites([2] * 2, [1, 1], [0.0, np.pi], pos[:2], pos[:2])
    assert np.array_equal(el[0], el[1])
    he = render_dsprites([3] * 2, [1, 1], [0.0, np.pi], pos[:2], pos[:2])
    assert not np.array_equal(he[0], he[1])
    # orientation 0 and 2 pi give the same image; mirror symmetry of the upright heart about its axis
    d = DSprites()
    c = d.factor_classes
    first, last = d.index(c[(c[:, 3] == 0)][:50]), d.index(c[(c[:, 3] == 39)][:50])
    assert np.array_equal(d.images_uint8(first), d.images_uint8(last))
    up = render_dsprites([3], [1.0], [0.0], [0.5], [0.5])[0]
    assert np.array_equal(up, up[:, ::-1])
    # moving posX moves the sprite to the right
    left, right = render_dsprites([1, 1], [1, 1], [0, 0], [0.0, 1.0], [0.5, 0.5])
    assert np.nonzero(left)[1].mean() + 30 < np.nonzero(right)[1].mean()


def test_lite_grid_any_resolution_and_colour():
    d = lite()
    assert len(d) == 1536 and d.images(np.arange(len(d))).shape == (1536, 1, 32, 32)
    assert DSprites(size=16, shape=(1.0,)).images([0]).shape == (1, 1, 16, 16)
    c = ColourDSprites(size=32, hues=(0.0, 0.5), posX=(0.5,), posY=(0.5,), orientation=(0.0,))
    assert c.factor_names[0] == "hue" and c.image_shape == (3, 32, 32)
    img = c.images_uint8(c.index(np.array([[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])))
    assert img[0, 0].max() == 255 and img[0, 2].max() == 0       # hue 0 is red
    assert img[1, 0].max() == 0 and img[1, 2].max() == 255       # hue 0.5 is cyan
    assert np.array_equal(img[0, 0] > 0, img[1, 1] > 0)          # same sprite


def test_sample_and_bad_input():
    d = lite()
    s = d.sample_factors(50, make_generator(0))
    assert s.shape == (50, 6) and np.array_equal(s, d.sample_factors(50, make_generator(0)))
    assert d.images_from_factors(s).shape == (50, 1, 32, 32)
    with pytest.raises(ConfigError, match="no factor"):
        d.factor_index("colour")
    with pytest.raises(ConfigError, match="out of range"):
        d.index(np.array([[0, 3, 0, 0, 0, 0]]))
    with pytest.raises(ShapeError):
        d.index(np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="indices"):
        d.images([len(d)])
    with pytest.raises(ConfigError, match="unknown factors"):
        DSprites(rotation=(0.0,))
    with pytest.raises(ConfigError, match="shape values"):
        render_dsprites([4], [1], [0], [0], [0])


def test_dsprites_npz_loader(tmp_path):
    d = DSprites(size=8, scale=(0.5, 1.0), orientation=(0.0,), posX=(0.0, 1.0), posY=(0.0, 0.5, 1.0))
    imgs = d.images_uint8(np.arange(len(d)))[:, 0] // 255
    path = tmp_path / "dsprites.npz"
    np.savez(path, imgs=imgs, latents_classes=d.factor_classes, latents_values=d.factor_values)
    loaded = load_dsprites_npz(path)
    assert len(loaded) == len(d) and loaded.factor_sizes == d.factor_sizes
    assert np.array_equal(loaded.images_uint8(np.arange(len(d))), d.images_uint8(np.arange(len(d))))
    with pytest.raises(DataError, match="no file"):
        load_dsprites_npz(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        load_dsprites_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "nokeys.npz", imgs=imgs)
    with pytest.raises(DataError, match="lacks"):
        load_dsprites_npz(tmp_path / "nokeys.npz")
    np.savez(tmp_path / "shuffled.npz", imgs=imgs, latents_classes=d.factor_classes[::-1],
             latents_values=d.factor_values[::-1])
    with pytest.raises(DataError, match="row-major"):
        load_dsprites_npz(tmp_path / "shuffled.npz")


def test_mpi3d_and_shapes3d_loaders(tmp_path):
    sizes = {"object_color": 2, "object_shape": 3, "horizontal_axis": 2}
    images = np.random.default_rng(0).integers(0, 255, (12, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "mpi3d.npz", images=images)
    m = load_mpi3d_npz(tmp_path / "mpi3d.npz", sizes=sizes)
    assert m.image_shape == (3, 4, 4) and np.array_equal(m.images_uint8([5])[0], np.moveaxis(images[5], -1, 0))
    with pytest.raises(DataError, match="expected images"):
        load_mpi3d_npz(tmp_path / "mpi3d.npz")
    h5py = pytest.importorskip("h5py")
    grid = {"floor_hue": (0.0, 0.5), "shape": (0.0, 1.0, 2.0)}
    ds = FactorDataset("shapes3d", list(grid), list(grid.values()), (3, 4, 4))
    with h5py.File(tmp_path / "3dshapes.h5", "w") as f:
        f["images"] = images[:6]
        f["labels"] = ds.factor_values
    s = load_shapes3d_h5(tmp_path / "3dshapes.h5", grid=grid)
    assert len(s) == 6 and np.array_equal(s.factor_classes, ds.factor_classes)
    with pytest.raises(DataError, match="labels"):
        load_shapes3d_h5(tmp_path / "3dshapes.h5")           # the default grid has 6 factors
    (tmp_path / "bad.h5").write_bytes(b"junk")
    with pytest.raises(DataError, match="HDF5"):
        load_shapes3d_h5(tmp_path / "bad.h5")


def _small_dsprites(tmp_path, **changes):
    d = DSprites(size=8, scale=(0.5, 1.0), orientation=(0.0,), posX=(0.0, 1.0), posY=(0.0, 0.5, 1.0))
    arrays = {"imgs": d.images_uint8(np.arange(len(d)))[:, 0] // 255, "latents_classes": d.factor_classes,
              "latents_values": d.factor_values}
    for k, v in changes.items():
        arrays[k] = v(arrays[k])
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def _huge(classes):
    classes = classes.copy()
    classes[0, 5] = 10**12   # a grid of 7 TiB if allocated
    return classes


@pytest.mark.parametrize("change", [
    {"latents_classes": lambda c: -c},
    {"latents_classes": _huge},
    {"latents_values": lambda v: v * np.nan},
    {"imgs": lambda x: x.astype(float) * 1000},
    {"imgs": lambda x: x.astype(object)},
], ids=["negative-classes", "huge-classes", "nan-values", "pixels-out-of-range", "object-array"])
def test_dsprites_npz_with_impossible_contents_is_a_data_error(tmp_path, change):
    with pytest.raises(DataError):
        load_dsprites_npz(_small_dsprites(tmp_path, **change))


@pytest.mark.parametrize("damage", ["truncate", "cut", "flip"])
def test_damaged_npz_files_are_data_errors(tmp_path, damage):
    path = _small_dsprites(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "cut":
        data = data[len(data) // 3:]
    else:
        for k in range(200, len(data) - 100, 97):
            data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not a readable|row-major|lacks|pixel|classes|values"):
        load_dsprites_npz(path)


def test_shapes3d_in_wrong_layouts_is_a_data_error(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "group.h5", "w") as f:
        f.create_group("images")
        f["labels"] = np.zeros((2, 6))
    with pytest.raises(DataError, match="datasets 'images' and 'labels'"):
        load_shapes3d_h5(tmp_path / "group.h5")
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        f["images"] = np.zeros((2, 4, 4, 3), dtype=np.uint8)
        f["labels"] = np.full((2, 6), np.nan)
    with pytest.raises(DataError, match="NaN"):
        load_shapes3d_h5(tmp_path / "nan.h5")


def test_a_dsprites_size_beyond_the_renderer_is_a_config_error():
    with pytest.raises(ConfigError, match=r"size must be an int in \[8, 256\]"):
        DSprites(size=10**6)
