"""brainlearn.data.splits: the registered splits' exact sizes, the lite splits, a user's split, bad input."""

import numpy as np
import pytest

from brainlearn.data.factors import MPI3D_SIZES, SHAPES3D_GRID, DSprites, FactorDataset
from brainlearn.data.splits import list_splits, register_split, split_masks
from brainlearn.errors import ConfigError, DataError
from tests.data.test_factors import lite


def test_split_sizes_exact():
    d = DSprites()
    sizes = {"leave1out": 5808, "sqr2tx": 122880, "ell2tx": 122880, "sqr2scl": 122880}
    for variant, n in sizes.items():
        cond = "recomb2element" if variant == "leave1out" else "recomb2range"
        train, test = split_masks(d, cond, variant)
        assert test.sum() == n and not (train & test).any() and (train | test).all()
    train, test = split_masks(d, "extrp", "blank_side")
    assert test.sum() == train.sum() == 368640 and not (train & test).any() and (train | test).all()
    train, test = split_masks(d, "extrp", "blank_side", modifiers=["sparse_posX"])
    assert test.sum() == 3 * 6 * 40 * 32 * 2 and train.sum() == 3 * 6 * 40 * 32 * 3
    shapes = FactorDataset("shapes3d", list(SHAPES3D_GRID), list(SHAPES3D_GRID.values()), (3, 64, 64))
    got = {v: int(split_masks(shapes, c, v)[1].sum()) for _, c, v in list_splits("shapes3d")}
    assert got == {"leave1out": 72, "shape2ohue": 60000, "shape2fhue": 60000, "ohue2whue": 57600,
                   "fhue2whue": 57600, "shape2orient": 64000, "missing_fh": 240000}
    assert int(split_masks(shapes, "recomb2element", "shape2ohue")[1].sum()) == 12000
    mpi = FactorDataset("mpi3d", list(MPI3D_SIZES), [np.arange(s, dtype=float) for s in MPI3D_SIZES.values()],
                        (3, 64, 64))
    got = {v: int(split_masks(mpi, c, v)[1].sum()) for _, c, v in list_splits("mpi3d")}
    assert got == {"leave1out": 16, "cyl2hx": 86400, "cyl2vx": 86400, "redoc2hx": 86400, "bkg2cyl": 115200,
                   "horz_gt20": 492480, "objc_gt3": 345600}


def test_lite_splits_and_user_split():
    d = lite()
    assert split_masks(d, "recomb2range", "sqr2tx")[1].sum() == 256
    assert split_masks(d, "recomb2element", "sqr_corner")[1].sum() == 36
    assert split_masks(d, "recomb2element", "sqr_centre")[1].sum() == 4
    register_split("dsprites", "recomb2range", "test_heart_left", lambda f: (f["shape"] == 3) & (f["posX"] < 0.5))
    train, test = split_masks(d, "recomb2range", "test_heart_left")
    assert test.sum() == 2 * 8 * 16 and not (train & test).any()
    with pytest.raises(ConfigError, match="variants"):
        split_masks(d, "recomb2range", "nope")
    with pytest.raises(ConfigError, match="condition"):
        split_masks(d, "r2r", "sqr2tx")
    with pytest.raises(ConfigError, match="modifier"):
        split_masks(d, "recomb2range", "sqr2tx", modifiers=["dense"])
    with pytest.raises(DataError, match="selects no test"):
        split_masks(d, "recomb2element", "leave1out")     # the lite grid has one orientation
