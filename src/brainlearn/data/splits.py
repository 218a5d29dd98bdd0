"""Generalisation splits of factor datasets: condition -> variant -> (train mask, test mask).

A split is a boolean function of the factors: ``test(f)`` marks the held-out images, ``train(f)`` the
training images (by default ``~test(f)``); `f` is a :class:`Factors` view with ``f["posX"]`` (the
values of factor posX, one per image) and ``f.cls("posX")`` (their classes). Conditions, after Montero
et al. (2021, 2022): ``interp`` (held-out values inside the trained range), ``recomb2element`` (R2E: one
or a few combinations left out), ``recomb2range`` (R2R: a value of one factor never seen with a whole
range of another), ``extrp`` (values outside the trained range). Modifiers (e.g. ``sparse_posX``) are
ANDed onto both masks.

Register your own split in a few lines::

    from brainlearn.data.splits import register_split, split_masks

    register_split("dsprites", "recomb2range", "heart_left",
                   test=lambda f: (f["shape"] == 3) & (f["posX"] < 0.5))
    train, test = split_masks(DSprites(size=32), "recomb2range", "heart_left")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from brainlearn.data.factors import FactorDataset
from brainlearn.errors import ConfigError, DataError

CONDITIONS = ("interp", "recomb2element", "recomb2range", "extrp")


class Factors:
    """The factors of every image of a dataset, by name: ``f[name]`` values, ``f.cls(name)`` classes."""

    def __init__(self, dataset: FactorDataset, indices: np.ndarray | None = None):
        self.dataset = dataset
        self.classes = dataset.factor_classes if indices is None else dataset.classes_of(indices)
        self.values = dataset.values_of(self.classes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[:, self.dataset.factor_index(name)]

    def cls(self, name: str) -> np.ndarray:
        return self.classes[:, self.dataset.factor_index(name)]

    def __len__(self) -> int:
        return len(self.classes)


Mask = Callable[[Factors], np.ndarray]


@dataclass(frozen=True)
class Split:
    """A registered split: `test` marks held-out images; `train` the training ones (default ``~test``)."""

    test: Mask
    train: Mask | None = None
    description: str = ""

    def masks(self, f: Factors) -> tuple[np.ndarray, np.ndarray]:
        test = np.asarray(self.test(f), dtype=bool)
        train = ~test if self.train is None else np.asarray(self.train(f), dtype=bool)
        return train, test


SPLITS: dict[str, dict[str, dict[str, Split]]] = {}
MODIFIERS: dict[str, dict[str, Mask]] = {}


def register_split(dataset: str, condition: str, variant: str, test: Mask, train: Mask | None = None,
                   description: str = "") -> Split:
    """Register (or replace) the split `variant` of `condition` for datasets named `dataset`."""
    if condition not in CONDITIONS:
        raise ConfigError(f"split condition {condition!r} is not one of {', '.join(CONDITIONS)}")
    split = Split(test, train, description)
    SPLITS.setdefault(dataset, {c: {} for c in CONDITIONS})[condition][variant] = split
    return split


def register_modifier(dataset: str, name: str, mask: Mask) -> None:
    """Register a modifier: a mask ANDed onto both the train and the test mask."""
    MODIFIERS.setdefault(dataset, {})[name] = mask


def get_split(dataset: str, condition: str, variant: str) -> Split:
    """The registered split (ConfigError listing the valid names otherwise)."""
    if dataset not in SPLITS:
        raise ConfigError(f"no splits for dataset {dataset!r}; datasets with splits: {', '.join(SPLITS)}")
    if condition not in CONDITIONS:
        raise ConfigError(f"split condition {condition!r} is not one of {', '.join(CONDITIONS)}")
    variants = SPLITS[dataset][condition]
    if variant not in variants:
        raise ConfigError(f"{dataset} has no {condition} split {variant!r}; variants: "
                          f"{', '.join(variants) or '(none)'}")
    return variants[variant]


def split_masks(dataset: FactorDataset, condition: str, variant: str, modifiers: Sequence[str] = (),
                indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(train, test)`` masks over the images of `dataset` (or over `indices` of it).

    Raises ConfigError for unknown names and DataError when the train or the test mask selects nothing.
    """
    split = get_split(dataset.name, condition, variant)
    if indices is not None and (np.ndim(indices) != 1 or len(indices) == 0):
        raise ConfigError(f"indices: expected a non-empty 1-d array of image indices, got shape {np.shape(indices)}")
    f = Factors(dataset, indices)
    train, test = split.masks(f)
    for name in modifiers:
        mods = MODIFIERS.get(dataset.name, {})
        if name not in mods:
            raise ConfigError(f"{dataset.name} has no split modifier {name!r}; modifiers: {', '.join(mods)}")
        keep = np.asarray(mods[name](f), dtype=bool)
        train, test = train & keep, test & keep
    for what, m in (("training", train), ("test", test)):
        if not m.any():
            raise DataError(f"split {condition}/{variant} selects no {what} images of {dataset!r}")
    return train, test


def list_splits(dataset: str | None = None) -> list[tuple[str, str, str]]:
    """``(dataset, condition, variant)`` of every registered split (of one dataset)."""
    return [(d, c, v) for d, conds in SPLITS.items() if dataset in (None, d) for c, vs in conds.items() for v in vs]


# ------------------------------------------------------------------------------------------- dSprites
# Shape values: 1 square, 2 ellipse, 3 heart. Positions and scales as the official values.

def _dsprites(name: str) -> None:
    def sq(f):
        return f["shape"] == 1

    r = lambda c, v, test, d="", train=None: register_split(name, c, v, test, train, d)  # noqa: E731
    r("recomb2element", "leave1out",
      lambda f: ((f.cls("shape") == 1) & (f["scale"] > 0.6) & (f["orientation"] > 2 * math.pi / 3)
                 & (f["orientation"] < 4 * math.pi / 3) & (f["posX"] > 0.66) & (f["posY"] > 0.66)),
      "ellipses (shape class 1), scale > 0.6, orientation in (2pi/3, 4pi/3), posX and posY > 0.66")
    r("recomb2element", "sqr_corner", lambda f: sq(f) & (f["scale"] == f["scale"].max()) & (f["posX"] > 0.66)
      & (f["posY"] > 0.66), "squares at the largest scale with posX and posY > 0.66")
    r("recomb2element", "sqr_centre", lambda f: sq(f) & (f["scale"] == f["scale"].max()) & (f["posX"] > 0.4)
      & (f["posX"] < 0.6) & (f["posY"] > 0.4) & (f["posY"] < 0.6),
      "squares at the largest scale with posX and posY in (0.4, 0.6)")
    r("recomb2element", "sqr_cornercell", lambda f: sq(f) & (f["scale"] == f["scale"].max()) & (f["posX"] > 0.9)
      & (f["posY"] > 0.9), "squares at the largest scale with posX and posY > 0.9")
    r("recomb2range", "sqr2tx", lambda f: sq(f) & (f["posX"] > 0.5), "squares with posX > 0.5")
    r("recomb2range", "ell2tx", lambda f: (f["shape"] == 2) & (f["posX"] > 0.5), "ellipses with posX > 0.5")
    r("recomb2range", "sqr2scl", lambda f: sq(f) & (f["scale"] > 0.75), "squares with scale > 0.75")
    r("recomb2range", "sqr2tx_cent", lambda f: sq(f) & (f["posX"] > 0.25) & (f["posX"] < 0.75),
      "squares with posX in (0.25, 0.75)")
    r("recomb2range", "sqr2tx_flnk", lambda f: sq(f) & (f["posX"] >= 0.25) & (f["posX"] <= 0.75),
      "squares with posX in [0.25, 0.75]")
    r("recomb2range", "sqr2tx_rs", lambda f: sq(f) & (f["posX"] > 0.4) & (f["posX"] < 0.9),
      "squares with posX in (0.40, 0.90)")
    r("recomb2range", "sqr2tx_ls", lambda f: (f["shape"] == 2) & ((f["posX"] <= 0.1) | (f["posX"] >= 0.6)),
      "ellipses with posX outside (0.10, 0.60)")
    r("recomb2range", "heart2rot", lambda f: (f["shape"] == 3) & (f["orientation"] >= math.pi),
      "hearts with orientation >= pi")
    r("extrp", "blank_side", lambda f: f["posX"] > 0.5, "posX > 0.5 (train on posX < 0.5)",
      train=lambda f: f["posX"] < 0.5)
    register_modifier(name, "sparse_posX", lambda f: np.isin(f.cls("posX"), [0, 7, 15, 23, 31]))
    register_modifier(name, "sparse_posY", lambda f: np.isin(f.cls("posY"), [0, 7, 15, 23, 31]))


_dsprites("dsprites")
_dsprites("colour-dsprites")
register_split("colour-dsprites", "recomb2range", "sqr2hue", lambda f: (f["shape"] == 1) & (f["hue"] >= 0.5),
               description="squares with hue >= 0.5 (the offline stand-in for 3DShapes shape2ohue)")

# ------------------------------------------------------------------------------------------- 3DShapes
_S = "shapes3d"
register_split(_S, "recomb2element", "leave1out",
               lambda f: ((f["object_hue"] >= 0.8) & (f["wall_hue"] >= 0.8) & (f["floor_hue"] >= 0.8)
                          & (f["scale"] >= 1.1) & (f["shape"] == 1) & (f["orientation"] > 20)),
               description="all hues >= 0.8, scale >= 1.1, shape 1, orientation > 20")
register_split(_S, "recomb2element", "shape2ohue", lambda f: (f["shape"] == 3) & (f.cls("object_hue") == 2),
               description="shape 3 with object-hue class 2")
register_split(_S, "recomb2range", "shape2ohue", lambda f: (f["shape"] == 3) & (f["object_hue"] >= 0.5 - 1e-9),
               description="shape 3 with object hue >= 0.5")
register_split(_S, "recomb2range", "shape2fhue", lambda f: (f["shape"] == 3) & (f["floor_hue"] >= 0.5 - 1e-9),
               description="shape 3 with floor hue >= 0.5")
register_split(_S, "recomb2range", "ohue2whue", lambda f: (f["object_hue"] >= 0.75) & (f["wall_hue"] <= 0.5 + 1e-9),
               description="object hue >= 0.75 with wall hue <= 0.5")
register_split(_S, "recomb2range", "fhue2whue", lambda f: (f["floor_hue"] >= 0.75) & (f["wall_hue"] <= 0.5 + 1e-9),
               description="floor hue >= 0.75 with wall hue <= 0.5")
register_split(_S, "recomb2range", "shape2orient", lambda f: (f["shape"] == 3) & (f["orientation"] >= 0),
               description="shape 3 with orientation >= 0")
register_split(_S, "extrp", "missing_fh", lambda f: f["floor_hue"] >= 0.5 - 1e-9,
               description="floor hue >= 0.5 (train on floor hue < 0.5)")
register_modifier(_S, "even_ohues", lambda f: f.cls("object_hue") % 2 == 0)

# ------------------------------------------------------------------------------------------- MPI3D
_M = "mpi3d"
register_split(_M, "recomb2element", "leave1out",
               lambda f: ((f["object_color"] == 5) & (f["object_shape"] == 2) & (f["object_size"] == 1)
                          & (f["camera_height"] == 1) & (f["background_color"] == 1)
                          & (f["horizontal_axis"] > 35) & (f["vertical_axis"] > 35)),
               description="one colour/shape/size/camera/background corner with both axes > 35")
register_split(_M, "recomb2range", "cyl2hx", lambda f: (f["object_shape"] == 2) & (f["horizontal_axis"] < 20),
               description="cylinders with horizontal axis < 20")
register_split(_M, "recomb2range", "cyl2vx", lambda f: (f["object_shape"] == 2) & (f["vertical_axis"] < 20),
               description="cylinders with vertical axis < 20")
register_split(_M, "recomb2range", "redoc2hx", lambda f: (f["object_color"] == 2) & (f["horizontal_axis"] < 20),
               description="red objects with horizontal axis < 20")
register_split(_M, "recomb2range", "bkg2cyl", lambda f: (f["object_shape"] >= 4) & (f["background_color"] == 2),
               description="shapes 4-5 on background 2")
register_split(_M, "extrp", "horz_gt20", lambda f: f["horizontal_axis"] > 20, train=lambda f: f["horizontal_axis"] < 20,
               description="horizontal axis > 20 (train on < 20)")
register_split(_M, "extrp", "objc_gt3", lambda f: f["object_color"] > 3, description="object colour > 3")
