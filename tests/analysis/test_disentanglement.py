"""brainlearn.analysis.disentanglement: IoU search, readouts, DCI and MIG on hand-computed toys, landing."""

import math

import numpy as np
import pytest
import torch

from brainlearn.analysis.disentanglement import (
    best_iou_match,
    dci,
    decoded_factor_accuracy,
    importance_matrix,
    latent_landing,
    mig,
    probe_transfer,
    readout,
    reconstruction_loss,
)
from brainlearn.data.factors import DSprites
from brainlearn.errors import ConfigError, ShapeError


def test_best_iou_finds_each_grid_image_in_chunks():
    d = DSprites(size=32, scale=(0.75, 1.0), orientation=(0.0,), posX=np.linspace(0, 1, 16),
                 posY=np.linspace(0, 1, 16))
    idx = np.array([0, 17, 300, 1000, 1100])
    q = d.images(idx)
    for chunk in (100, 4096):
        best, iou = best_iou_match(q, d.images_uint8, len(d), chunk=chunk)
        assert list(best) == list(idx) and np.allclose(iou, 1)
    # a copy shifted off the grid along x matches imperfectly, at the same posY
    shifted = torch.roll(q, 2, dims=3)
    best, iou = best_iou_match(shifted, d.images_uint8, len(d))
    assert (iou < 1).all() and (iou > 0.3).all()
    acc = decoded_factor_accuracy(d.classes_of(best), d.classes_of(idx))
    assert acc.shape == (6,) and acc[5] == 1.0 and acc[4] < 1.0


def test_best_iou_by_hand():
    grid = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.uint8)
    q = np.array([[1, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    best, iou = best_iou_match(q, lambda i: grid[i], 3, chunk=2)
    # q0: IoU 2/3 with rows 0 and 1 (tie -> lowest index); q1: 1/2 with row 2
    assert list(best) == [0, 2] and np.allclose(iou, [2 / 3, 1 / 2])
    with pytest.raises(ShapeError):
        best_iou_match(np.ones((1, 5)), lambda i: grid[i], 3)


def test_reconstruction_loss():
    x = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[0.0, 0.0]])
    assert reconstruction_loss(logits, x).item() == pytest.approx(2 * math.log(2))
    assert reconstruction_loss(logits, x, "mse").item() == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        reconstruction_loss(logits, x, "l1")


def test_readouts_and_signed_bias():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 3))
    y = 2 * z[:, 0] + 0.01 * rng.normal(size=400)
    zt = rng.normal(size=(100, 3))
    out = readout(z, y, {"id": (zt, 2 * zt[:, 0]), "shifted": (zt, 2 * zt[:, 0] - 1.0)})
    assert out["id"]["r2"] > 0.99 and abs(out["id"]["bias"]) < 0.01
    assert out["shifted"]["bias"] == pytest.approx(1.0, abs=0.02)      # predictions 1 above the targets
    labels = (z[:, 1] > 0).astype(int)
    acc = readout(z, labels, {"id": (zt, (zt[:, 1] > 0).astype(int))}, kind="logistic")
    assert acc["id"]["accuracy"] > 0.95
    with pytest.raises(ConfigError):
        readout(z, y, {}, kind="tree")


def test_dci_hand_computed():
    assert dci(np.eye(3)) == {"disentanglement": pytest.approx(1.0), "completeness": pytest.approx(1.0)}
    flat = dci(np.ones((4, 2)))
    assert flat["disentanglement"] == pytest.approx(0.0, abs=1e-9) and flat["completeness"] == pytest.approx(0.0,
                                                                                                           abs=1e-9)
    # one latent codes both factors equally, the other only factor 1:
    R = np.array([[1.0, 1.0], [0.0, 2.0]])
    # D_0 = 1 - H_2(1/2, 1/2) = 0, D_1 = 1; rho = (1/2, 1/2) -> D = 0.5
    # C_0 = 1 - H_2(1, 0) = 1; C_1 = 1 - H_2(1/3, 2/3) = 1 - 0.9183; factor weights (1/4, 3/4)
    # -> C = 1/4 + 3/4 (1 - h) (disentanglement_lib), or the plain mean (1 + 0.0817) / 2
    h = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
    out = dci(R, errors=[0.1, 0.3])
    assert out["disentanglement"] == pytest.approx(0.5)
    assert out["completeness"] == pytest.approx(1 / 4 + 3 / 4 * (1 - h))
    assert out["informativeness"] == pytest.approx(0.8)
    assert dci(R, completeness="mean")["completeness"] == pytest.approx((2 - h) / 2)
    with pytest.raises(ConfigError):
        dci(R, completeness="median")
    with pytest.raises(ShapeError):
        dci(np.zeros((3, 3)))


def test_importance_matrix_recovers_axes():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(500, 2))
    z = np.c_[f[:, 1], f[:, 0], rng.normal(size=500) * 0.01]
    for method in ("gbt", "lasso", "spearman"):
        R = importance_matrix(z, f, method)
        assert R.shape == (3, 2) and R[1, 0] > 0.9 and R[0, 1] > 0.9 and R[0, 0] < 0.1
        assert dci(R)["disentanglement"] > 0.7   # Spearman keeps |rho| ~ 0.04 for independent pairs


def test_mig_hand_computed():
    v = np.stack(np.meshgrid(np.arange(4), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
    # the latents are the factors (and a constant): each factor's best latent carries all of H(v_k), the next 0
    z = np.c_[v[:, 0], v[:, 1], np.zeros(len(v))].astype(float)
    out = mig(z, v)
    assert out["mig"] == pytest.approx(1.0) and out["per_factor"] == [pytest.approx(1.0)] * 2
    # a duplicated latent: the gap for factor 0 is 0, factor 1 still 1
    z2 = np.c_[v[:, 0], v[:, 0], v[:, 1]].astype(float)
    assert mig(z2, v)["per_factor"] == [pytest.approx(0.0), pytest.approx(1.0)]
    with pytest.raises(ShapeError):
        mig(z[:, :1], v)


def test_latent_landing():
    zt = np.array([[0.0, 0], [0.1, 0], [5, 5], [5.1, 5]])
    ct = np.array([0, 0, 1, 1])
    zh = np.array([[0.05, 0.1], [4.9, 5.0], [0.2, 0.0]])
    out = latent_landing(zt, ct, zh, np.array([0, 1, 1]))
    assert out["nn_match"] == pytest.approx(2 / 3) and out["centroid_match"] == pytest.approx(2 / 3)
    assert out["nn_classes"] == [pytest.approx(2 / 3), pytest.approx(1 / 3)]


def _encodings(held_at: int, spread: float, signal: float = 2.0, seed: int = 0):
    """Toy R2R encodings: shape c in {0 = square, 1, 2} at centroid `signal` e_c (+ noise of sd `spread`), posX
    in the last latent. Squares on the right (posX > 0.5) are held out and encoded at shape `held_at`'s centroid."""
    rng = np.random.default_rng(seed)

    def encode(shape, posx, at):
        z = np.zeros((len(shape), 4))
        z[np.arange(len(shape)), at] = signal
        z[:, :3] += spread * rng.standard_normal((len(shape), 3))
        z[:, 3] = posx
        return z

    shape, posx = rng.integers(0, 3, 3000), rng.random(3000)
    seen = ~((shape == 0) & (posx > 0.5))
    shape, posx = shape[seen], posx[seen]
    z = encode(shape, posx, shape)
    held_posx = 0.5 + 0.5 * rng.random(300)
    z_held = encode(np.zeros(300, int), held_posx, np.full(300, held_at))
    return z[:2000], shape[:2000], {"id": (z[2000:], shape[2000:]), "heldout": (z_held, np.zeros(300, int)),
                                    "matched": (z[2000:][shape[2000:] == 0], shape[2000:][shape[2000:] == 0])}


def test_probe_transfer_tells_generalisation_from_failure():
    transfer = {}
    for case, held_at in (("success", 0), ("failure", 1)):
        out = readout(*_encodings(held_at, spread=0.6), kind="logistic")
        transfer[case] = probe_transfer(out["heldout"]["accuracy"], out["matched"]["accuracy"], 1 / 3)
    assert transfer["success"] > 0.8 and transfer["failure"] < 0.1
    # latents that carry no shape: the probe reads squares at chance (or below) in distribution, so it cannot
    # tell, and says so (NaN); the raw held-out accuracy (the old r2r-shape-probe measure) is near 0 all the same
    weak = readout(*_encodings(held_at=0, spread=0.6, signal=0.0), kind="logistic")
    assert weak["heldout"]["accuracy"] <= 0.1
    assert math.isnan(probe_transfer(weak["heldout"]["accuracy"], weak["matched"]["accuracy"], 1 / 3))


def test_probe_transfer_scale_and_input_checks():
    assert probe_transfer(0.8, 0.8, 1 / 3) == pytest.approx(1.0)
    assert probe_transfer(1 / 3, 0.8, 1 / 3) == pytest.approx(0.0)
    assert probe_transfer(0.0, 0.8, 0.5) == pytest.approx(-5 / 3)
    assert math.isnan(probe_transfer(0.9, 0.4, 1 / 3)) and math.isnan(probe_transfer(0.5, float("nan"), 1 / 3))
    with pytest.raises(ConfigError, match="heldout"):
        probe_transfer(1.5, 0.8, 1 / 3)


def _dl_completeness(R):
    """disentanglement_lib's completeness, transcribed: scipy entropy of each factor's column (+1e-11, base d),
    weighted by the factor's share of the total importance."""
    from scipy.stats import entropy

    per_factor = 1.0 - entropy(R + 1e-11, base=R.shape[0])
    return float(np.sum(per_factor * R.sum(0) / R.sum()))


def _dl_disentanglement(R):
    from scipy.stats import entropy

    per_code = 1.0 - entropy(R.T + 1e-11, base=R.shape[1])
    return float(np.sum(per_code * R.sum(1) / R.sum()))


def test_dci_matches_disentanglement_lib_formula():
    rng = np.random.default_rng(3)
    for _ in range(20):
        R = rng.exponential(size=(6, 4)) * (rng.random((6, 4)) < 0.6)
        R[0] += 0.1                                   # no all-zero factor
        out = dci(R)
        assert out["completeness"] == pytest.approx(_dl_completeness(R), abs=1e-8)
        assert out["disentanglement"] == pytest.approx(_dl_disentanglement(R), abs=1e-8)


def test_gbt_importances_are_disentanglement_libs():
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(4)
    z = rng.normal(size=(300, 3))
    f = np.c_[(z[:, 1] > 0).astype(int), np.digitize(z[:, 0], [-0.5, 0.5])]
    R = importance_matrix(z, f)
    for k in range(2):
        ref = GradientBoostingClassifier(random_state=0).fit(z, f[:, k]).feature_importances_
        np.testing.assert_allclose(R[:, k], ref, atol=1e-12)
    assert R[1, 0] > 0.9 and R[0, 1] > 0.9
