"""Ground-truth-factor image datasets: a factor grid, its index map, a procedural dSprites, file loaders.

A :class:`FactorDataset` is a full grid of generative factors (in the style of disentanglement_lib's
``GroundTruthData``): factor ``k`` takes ``factor_sizes[k]`` values ``factor_grid[k]``; the images are
ordered row-major over the factors, so the index of the image with factor classes ``c`` (one class per
factor) is ``c @ bases`` with ``bases = prod(sizes) / cumprod(sizes)``.

:class:`DSprites` regenerates dSprites (Matthey et al. 2017) on the official grid and ordering:
colour (1 value), shape (1 = square, 2 = ellipse, 3 = heart), scale ``linspace(0.5, 1, 6)``, orientation
``linspace(0, 2 pi, 40)``, posX and posY ``linspace(0, 1, 32)``: 737,280 binary 64 x 64 images, bases
``[737280, 245760, 40960, 1024, 32, 1]``. DeepMind's rasteriser is not public, so the images come from a
documented deterministic renderer, ``dsprites_procedural_v1`` (:func:`render_dsprites`), at any
resolution, rendered lazily in blocks and cached. Any sub-grid (fewer scales, one orientation, 16
positions) is the same class with other grid values. :class:`ColourDSprites` adds an object-hue factor.

User-supplied files: :func:`load_dsprites_npz` (the official ``.npz``), :func:`load_shapes3d_h5`
(3DShapes ``.h5``, needs the optional ``h5py``) and :func:`load_mpi3d_npz` (MPI3D ``.npz``).
"""

from __future__ import annotations

import colorsys
import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from brainlearn.errors import ConfigError, DataError, ShapeError, quoted

RENDERER = "dsprites_procedural_v1"
SHAPES = {1: "square", 2: "ellipse", 3: "heart"}


class FactorDataset:
    """A full grid of ground-truth factors and the images they generate.

    Subclasses implement :meth:`_render` (images of a batch of factor-class rows) or pass stored images.

    Attributes:
        name: dataset name (the split registry is keyed by it).
        factor_names: one name per factor, in index order.
        factor_sizes: number of values of each factor.
        factor_grid: the values of each factor (a float array per factor).
        bases: ``idx = classes @ bases``.
        image_shape: ``(C, H, W)`` of one image.
    """

    block = 4096  # images rendered (and cached) together

    def __init__(self, name: str, factor_names: Sequence[str], factor_grid: Sequence[Sequence[float]],
                 image_shape: tuple[int, int, int], cache_blocks: int = 256):
        if len(factor_names) != len(factor_grid):
            raise ConfigError(f"{name}: {len(factor_names)} factor names for {len(factor_grid)} factor grids")
        self.name = name
        self.factor_names = tuple(factor_names)
        self.factor_grid = [np.asarray(v, dtype=np.float64) for v in factor_grid]
        self.factor_sizes = tuple(len(v) for v in self.factor_grid)
        if min(self.factor_sizes) < 1:
            raise ConfigError(f"{name}: every factor needs at least one value, got sizes {self.factor_sizes}")
        n = int(np.prod(self.factor_sizes))
        self.bases = (n // np.cumprod(self.factor_sizes)).astype(np.int64)
        self.image_shape = tuple(image_shape)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_blocks = cache_blocks
        self._classes: np.ndarray | None = None

    # ------------------------------------------------------------------ the grid and the index map
    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def factor_index(self, name: str) -> int:
        """The position of factor `name` (ConfigError naming the valid names if unknown)."""
        if name not in self.factor_names:
            raise ConfigError(f"{self.name} has no factor {name!r}; factors: {', '.join(self.factor_names)}")
        return self.factor_names.index(name)

    @property
    def factor_classes(self) -> np.ndarray:
        """``(N, K)`` int64: the class of every factor of every image, in index order."""
        if self._classes is None:
            self._classes = self.classes_of(np.arange(len(self)))
        return self._classes

    @property
    def factor_values(self) -> np.ndarray:
        """``(N, K)`` float64: the value of every factor of every image."""
        return self.values_of(self.factor_classes)

    def classes_of(self, indices) -> np.ndarray:
        """Factor classes ``(n, K)`` of image indices ``(n,)``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ConfigError(f"{self.name}: image indices must be in [0, {len(self)}), got "
                              f"[{idx.min()}, {idx.max()}]")
        return (idx[:, None] // self.bases[None, :]) % np.asarray(self.factor_sizes)[None, :]

    def index(self, classes) -> np.ndarray:
        """Image indices ``(n,)`` of factor classes ``(n, K)``: ``classes @ bases``."""
        c = np.asarray(classes, dtype=np.int64)
        if c.ndim != 2 or c.shape[1] != self.num_factors:
            raise ShapeError(f"{self.name}: classes must be (n, {self.num_factors}), got {c.shape}")
        if ((c < 0) | (c >= np.asarray(self.factor_sizes))).any():
            raise ConfigError(f"{self.name}: factor classes out of range for sizes {self.factor_sizes}")
        return c @ self.bases

    def values_of(self, classes) -> np.ndarray:
        """Factor values ``(n, K)`` of factor classes ``(n, K)``."""
        c = np.asarray(classes, dtype=np.int64)
        return np.stack([self.factor_grid[k][c[:, k]] for k in range(self.num_factors)], axis=1)

    def sample_factors(self, n: int, generator: torch.Generator) -> np.ndarray:
        """`n` factor-class rows drawn uniformly from the grid with `generator`."""
        cols = [torch.randint(0, s, (n,), generator=generator).numpy() for s in self.factor_sizes]
        return np.stack(cols, axis=1).astype(np.int64)

    # ------------------------------------------------------------------ images
    def images_from_factors(self, classes) -> torch.Tensor:
        """float32 images ``(n, C, H, W)`` in [0, 1] of factor classes ``(n, K)``."""
        return self.images(self.index(classes))

    def images(self, indices) -> torch.Tensor:
        """float32 images ``(n, C, H, W)`` in [0, 1] of image indices ``(n,)`` (rendered once, cached)."""
        return torch.from_numpy(self.images_uint8(indices).astype(np.float32) / 255.0)

    def images_uint8(self, indices) -> np.ndarray:
        """uint8 images ``(n, C, H, W)`` (0 or 255 for binary datasets) of image indices ``(n,)``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ConfigError(f"{self.name}: image indices must be in [0, {len(self)})")
        out = np.empty((len(idx), *self.image_shape), dtype=np.uint8)
        blocks = idx // self.block
        for b in np.unique(blocks):
            sel = blocks == b
            out[sel] = self._block(int(b))[idx[sel] - int(b) * self.block]
        return out

    def _block(self, b: int) -> np.ndarray:
        if b in self._cache:
            self._cache.move_to_end(b)
            return self._cache[b]
        lo, hi = b * self.block, min(len(self), (b + 1) * self.block)
        imgs = self._render(self.classes_of(np.arange(lo, hi)))
        self._cache[b] = imgs
        if len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return imgs

    def _render(self, classes: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return f"{type(self).__name__}({self.name}: {len(self)} images {self.image_shape}; {sizes})"


# ---------------------------------------------------------------------------------------- dSprites

DSPRITES_GRID = {
    "color": (1.0,),
    "shape": (1.0, 2.0, 3.0),
    "scale": tuple(np.linspace(0.5, 1.0, 6)),
    "orientation": tuple(np.linspace(0.0, 2 * math.pi, 40)),
    "posX": tuple(np.linspace(0.0, 1.0, 32)),
    "posY": tuple(np.linspace(0.0, 1.0, 32)),
}


def render_dsprites(shape, scale, orientation, pos_x, pos_y, size: int = 64, chunk: int = 1024) -> np.ndarray:
    """The ``dsprites_procedural_v1`` renderer: binary uint8 images ``(n, size, size)`` (0 or 1).

    In 64-pixel units: the sprite's centre is ``(10 + 44 posX, 10 + 44 posY)`` (x is the column, y the
    row), its radius ``R = 10 scale``; each pixel is sampled at 2 x 2 sub-pixel points, rotated by
    ``-orientation`` about the centre into sprite coordinates ``(u, v)``, and set when at least half of the
    four points are inside: square ``max(|u|, |v|) <= 0.8 R``; ellipse ``(u / R)^2 + (v / 0.5 R)^2 <= 1``;
    heart ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0`` with ``(x, y) = (1.15 u / R, -1.15 v / R + 0.15)`` (pointing
    down at orientation 0). Other resolutions scale every length by ``size / 64``. Deterministic (no
    randomness); vectorised over images in chunks of `chunk`.
    """
    f = [np.asarray(a, dtype=np.float64).reshape(-1) for a in (shape, scale, orientation, pos_x, pos_y)]
    n = len(f[0])
    if any(len(a) != n for a in f):
        raise ShapeError(f"render_dsprites: factor arrays must have one length, got {[len(a) for a in f]}")
    if not set(np.unique(f[0])) <= {1.0, 2.0, 3.0}:
        raise ConfigError(f"render_dsprites: shape values must be 1, 2 or 3, got {sorted(set(f[0]))}")
    px = size / 64.0
    half = int(math.ceil(1.15 * 10 * px * max(float(f[1].max(initial=0.0)), 1e-3))) + 1
    P = 2 * half                                                  # patch side (pixels) around the centre
    sub = torch.arange(2 * P, dtype=torch.float32) * 0.5 + 0.25   # sub-pixel centres within the patch
    ar = torch.arange(P)
    out = np.empty((n, size, size), dtype=np.uint8)
    for lo in range(0, n, chunk):
        s, sc, th, x, y = (torch.from_numpy(a[lo:lo + chunk]).float() for a in f)
        m = len(s)
        cx, cy, R = (10 + 44 * x) * px, (10 + 44 * y) * px, 10 * sc * px
        ox, oy = torch.floor(cx).long() - half, torch.floor(cy).long() - half
        gx = ((ox.float() - cx)[:, None] + sub[None]) / R[:, None]          # (m, 2P) columns
        gy = ((oy.float() - cy)[:, None] + sub[None]) / R[:, None]          # (m, 2P) rows
        c, si = torch.cos(th)[:, None, None], torch.sin(th)[:, None, None]
        u = c * gx[:, None, :] + si * gy[:, :, None]
        v = c * gy[:, :, None] - si * gx[:, None, :]
        inside = torch.zeros(m, 2 * P, 2 * P, dtype=torch.bool)
        for value, test in ((1, _square), (2, _ellipse), (3, _heart)):
            k = (s == value).nonzero().squeeze(1)
            if len(k):
                inside[k] = test(u[k], v[k])
        patch = (inside.view(m, P, 2, P, 2).sum(dim=(2, 4)) >= 2).to(torch.uint8)
        canvas = torch.zeros(m, size + 2 * P, size + 2 * P, dtype=torch.uint8)
        rows = (oy + P)[:, None, None] + ar[None, :, None]
        cols = (ox + P)[:, None, None] + ar[None, None, :]
        canvas[torch.arange(m)[:, None, None], rows, cols] = patch
        out[lo:lo + m] = canvas[:, P:P + size, P:P + size].numpy()
    return out


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 0.8


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u * u + 4 * v * v <= 1.0


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x, y = 1.15 * u, 0.15 - 1.15 * v
    x2 = x * x
    return (x2 + y * y - 1) ** 3 - x2 * y ** 3 <= 0


#: The largest image side :class:`DSprites` renders (a cached block of 4,096 images is then 256 MB).
MAX_SIZE = 256


class DSprites(FactorDataset):
    """Procedural dSprites on the official grid (default) or a sub-grid, at resolution `size`.

    Factors ``color, shape, scale, orientation, posX, posY``; pass any of them as a keyword to replace
    its grid values (e.g. ``DSprites(size=32, scale=(0.75, 1.0), orientation=(0.0,), posX=np.linspace(0,
    1, 16), posY=np.linspace(0, 1, 16))``, the 1,536-image dSprites-lite grid). Images are binary,
    ``(1, size, size)``, rendered lazily by :func:`render_dsprites` and cached by blocks of 4,096 (at most
    `cache_blocks` blocks, least recently used dropped first: the whole 64 x 64 grid is 3.0 GB as uint8).
    """

    def __init__(self, size: int = 64, name: str = "dsprites", cache_blocks: int = 256, **grid):
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= MAX_SIZE:
            raise ConfigError(f"DSprites: size must be an int in [8, {MAX_SIZE}] pixels, got {size!r}")
        unknown = set(grid) - set(DSPRITES_GRID)
        if unknown:
            raise ConfigError(f"DSprites: unknown factors {sorted(unknown)}; factors: {', '.join(DSPRITES_GRID)}")
        values = {k: tuple(grid.get(k, v)) for k, v in DSPRITES_GRID.items()}
        self.size = size
        super().__init__(name, list(values), list(values.values()), (1, size, size), cache_blocks)

    def _render(self, classes: np.ndarray) -> np.ndarray:
        v = self.values_of(classes)
        return (render_dsprites(v[:, 1], v[:, 2], v[:, 3], v[:, 4], v[:, 5], self.size) * 255)[:, None]


def hue_rgb(hue) -> np.ndarray:
    """RGB in [0, 1] ``(n, 3)`` of hues in [0, 1) at full saturation and value."""
    return np.array([colorsys.hsv_to_rgb(float(h), 1.0, 1.0) for h in np.asarray(hue).reshape(-1)])


class ColourDSprites(DSprites):
    """dSprites with an object-hue factor in place of the constant colour: RGB images ``(3, size, size)``,
    the sprite drawn in ``hsv(hue, 1, 1)`` on black. `hues` are the hue values in [0, 1)."""

    def __init__(self, size: int = 64, hues: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8),
                 name: str = "colour-dsprites", **grid):
        super().__init__(size, name, color=tuple(hues), **grid)
        self.factor_names = ("hue", *self.factor_names[1:])
        self.image_shape = (3, size, size)

    def _render(self, classes: np.ndarray) -> np.ndarray:
        v = self.values_of(classes)
        mask = render_dsprites(v[:, 1], v[:, 2], v[:, 3], v[:, 4], v[:, 5], self.size)
        rgb = np.round(hue_rgb(v[:, 0]) * 255).astype(np.uint8)
        return mask[:, None] * rgb[:, :, None, None]


# ---------------------------------------------------------------------------------------- stored files

class ArrayFactorDataset(FactorDataset):
    """A factor dataset whose images are stored (a user-supplied file), ordered by the index map."""

    def __init__(self, name: str, factor_names, factor_grid, images: np.ndarray, channels_last: bool = False):
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[:, None]
        elif channels_last:
            images = np.moveaxis(images, -1, 1)
        super().__init__(name, factor_names, factor_grid, tuple(images.shape[1:]), cache_blocks=0)
        if len(images) != len(self):
            raise DataError(f"{name}: {len(images)} images for a factor grid of {len(self)} "
                            f"(sizes {self.factor_sizes})")
        self._images = images
        self._scale = 255 if images.max(initial=0) <= 1 else 1      # binary 0/1 files (dSprites) -> 0/255

    def images_uint8(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ConfigError(f"{self.name}: image indices must be in [0, {len(self)})")
        return (self._images[idx] * self._scale).astype(np.uint8)


def _open_npz(path, keys: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The arrays `keys` of the .npz file at `path`, read in full; a missing, truncated, corrupt or
    code-carrying file (object arrays) raises DataError naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{what}: no file at {quoted(path)}; download it and pass its path")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise DataError(f"{what}: {quoted(path)} lacks the arrays {missing}; expected {list(keys)}, "
                                f"found {data.files}")
            return {k: data[k] for k in keys}
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile, zlib and numpy raise many kinds on a damaged file
        raise DataError(f"{what}: {quoted(path)} is not a readable .npz file of plain arrays "
                        f"({type(e).__name__}: {e})") from None


def _check_pixels(name: str, images: np.ndarray, path) -> None:
    if images.dtype.kind not in "biuf" or (images.dtype.kind == "f" and not np.isfinite(images).all()):
        raise DataError(f"{name}: {quoted(path)} holds images of dtype {images.dtype} or non-finite pixels; "
                        "expected numbers in [0, 1] or [0, 255]")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(f"{name}: {quoted(path)} holds pixel values outside [0, 255] "
                        f"({images.min()} to {images.max()})")


def _grid_from_classes(name: str, classes: np.ndarray, values: np.ndarray, names, path) -> list[np.ndarray]:
    """Per-factor grids from per-image classes and values; checks the file is the full row-major grid."""
    if classes.dtype.kind not in "iu" or (classes.size and classes.min() < 0):
        raise DataError(f"{name}: {quoted(path)} holds factor classes that are not non-negative integers")
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all():
        raise DataError(f"{name}: {quoted(path)} holds NaN, infinite or non-numeric factor values")
    sizes = [int(classes[:, k].max()) + 1 if len(classes) else 0 for k in range(classes.shape[1])]
    if math.prod(sizes) != len(classes):   # checked before anything the size of the grid is allocated
        raise DataError(f"{name}: {quoted(path)} is not the full factor grid in row-major order "
                        f"({len(classes)} images, class counts {sizes})")
    grid = []
    for k in range(classes.shape[1]):
        n_k = int(classes[:, k].max()) + 1
        g = np.zeros(n_k)
        g[classes[:, k]] = values[:, k]
        grid.append(g)
    probe = FactorDataset(name, names, grid, (1, 1, 1))
    if len(probe) != len(classes) or not np.array_equal(classes @ probe.bases, np.arange(len(classes))):
        raise DataError(f"{name}: {quoted(path)} is not the full factor grid in row-major order "
                        f"({len(classes)} images, sizes {probe.factor_sizes})")
    return grid


def load_dsprites_npz(path) -> ArrayFactorDataset:
    """The official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (arrays ``imgs``, ``latents_classes``,
    ``latents_values``) as a factor dataset with the factors of :class:`DSprites`."""
    data = _open_npz(path, ("imgs", "latents_classes", "latents_values"), "dSprites")
    imgs, classes, values = data["imgs"], data["latents_classes"], data["latents_values"]
    if imgs.ndim != 3 or classes.shape != (len(imgs), 6) or values.shape != (len(imgs), 6):
        raise DataError(f"dSprites: expected imgs (N, H, W) and latents (N, 6), got {imgs.shape}, "
                        f"{classes.shape}, {values.shape}")
    _check_pixels("dSprites", imgs, path)
    grid = _grid_from_classes("dsprites", classes, values, list(DSPRITES_GRID), path)
    return ArrayFactorDataset("dsprites", list(DSPRITES_GRID), grid, imgs)


SHAPES3D_GRID = {
    "floor_hue": tuple(np.linspace(0, 0.9, 10)), "wall_hue": tuple(np.linspace(0, 0.9, 10)),
    "object_hue": tuple(np.linspace(0, 0.9, 10)), "scale": tuple(np.linspace(0.75, 1.25, 8)),
    "shape": (0.0, 1.0, 2.0, 3.0), "orientation": tuple(np.linspace(-30, 30, 15)),
}
MPI3D_SIZES = {"object_color": 6, "object_shape": 6, "object_size": 2, "camera_height": 3,
               "background_color": 3, "horizontal_axis": 40, "vertical_axis": 40}


def load_shapes3d_h5(path, grid: dict[str, Sequence[float]] | None = None) -> ArrayFactorDataset:
    """3DShapes ``3dshapes.h5`` (datasets ``images`` (N, 64, 64, 3) uint8 and ``labels`` (N, 6)); the
    factors and their values are :data:`SHAPES3D_GRID` (or `grid`). Needs ``h5py`` (``pip install
    brainlearn[h5]``). The whole file is read into memory (about 5.9 GB for the full dataset)."""
    try:
        import h5py
    except ImportError:
        raise DataError("3DShapes .h5 files need h5py: pip install 'brainlearn[h5]'") from None
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"3DShapes: no file at {quoted(path)}; download 3dshapes.h5 and pass its path")
    try:
        with h5py.File(path, "r") as f:
            if not all(isinstance(f.get(k), h5py.Dataset) for k in ("images", "labels")):
                raise DataError(f"3DShapes: {quoted(path)} lacks the datasets 'images' and 'labels'; found {list(f)}")
            images, labels = np.asarray(f["images"][()]), np.asarray(f["labels"][()])
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - h5py raises many kinds on a damaged or foreign file
        raise DataError(f"3DShapes: {quoted(path)} is not a readable HDF5 file ({type(e).__name__}: {e})") from None
    grid = {k: np.asarray(v, dtype=np.float64) for k, v in (grid or SHAPES3D_GRID).items()}
    if images.ndim != 4 or images.shape[-1] != 3 or labels.shape != (len(images), len(grid)):
        raise DataError(f"3DShapes: expected images (N, H, W, 3) and labels (N, {len(grid)}), got "
                        f"{images.shape} and {labels.shape}")
    _check_pixels("3DShapes", images, path)
    if labels.dtype.kind not in "iuf" or not np.isfinite(labels).all():
        raise DataError(f"3DShapes: {quoted(path)} holds NaN, infinite or non-numeric labels")
    classes = np.stack([np.abs(labels[:, k][:, None] - g[None]).argmin(1) for k, g in enumerate(grid.values())], 1)
    _grid_from_classes("shapes3d", classes, np.stack([g[classes[:, k]] for k, g in enumerate(grid.values())], 1),
                       list(grid), path)
    return ArrayFactorDataset("shapes3d", list(grid), list(grid.values()), images, channels_last=True)


def load_mpi3d_npz(path, sizes: dict[str, int] | None = None) -> ArrayFactorDataset:
    """MPI3D (``mpi3d_toy.npz`` / ``mpi3d_real.npz``, array ``images`` (N, 64, 64, 3)), ordered row-major
    over :data:`MPI3D_SIZES` (or `sizes`); each factor's values are its class indices 0, 1, ..."""
    data = _open_npz(path, ("images",), "MPI3D")
    images = data["images"]
    sizes = sizes or MPI3D_SIZES
    n = int(np.prod(list(sizes.values())))
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) != n:
        raise DataError(f"MPI3D: expected images ({n}, H, W, 3) for factor sizes {list(sizes.values())}, "
                        f"got {images.shape}")
    _check_pixels("MPI3D", images, path)
    return ArrayFactorDataset("mpi3d", list(sizes), [np.arange(s, dtype=float) for s in sizes.values()], images,
                              channels_last=True)
