"""Measurements of generative models on factor datasets: reconstruction, decoded factors, readouts, DCI, MIG,
and where held-out encodings land.

- :func:`reconstruction_loss`: per-image BCE-with-logits or squared error.
- :func:`best_iou_match`: for each binarised image, the grid image of highest intersection-over-union,
  searched in chunks (the full 64 x 64 dSprites grid never sits in memory at once); with
  :func:`decoded_factor_accuracy` it says whether a reconstruction shows the right factors.
- :func:`readout`: linear (R^2, signed bias) or logistic (accuracy) readouts of a factor from latents,
  fitted on training encodings and scored on other sets (in-distribution test, held-out combinations);
  :func:`probe_transfer` puts a held-out accuracy on the scale from chance (0) to the same probe's accuracy on
  in-distribution images of the same class (1).
- :func:`dci`: Eastwood & Williams (2018) disentanglement, completeness, informativeness from an
  importance matrix (:func:`importance_matrix`: gradient-boosted trees as disentanglement_lib, Lasso or
  Spearman), completeness weighted by factor importance as disentanglement_lib.
- :func:`mig`: the mutual information gap (Chen et al. 2018) with histogram-discretised latents.
- :func:`latent_landing`: for held-out encodings, the class of the nearest training encoding and of the
  nearest class centroid (does a held-out square land among training squares?).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from brainlearn.errors import ConfigError, ShapeError


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Per-image reconstruction loss ``(N,)``: BCE with logits (``bce``) or squared error of
    ``sigmoid(logits)`` (``mse``), summed over pixels."""
    if logits.shape != x.shape:
        raise ShapeError(f"logits {tuple(logits.shape)} and images {tuple(x.shape)} differ in shape")
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    if kind == "mse":
        return ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1)
    raise ConfigError(f"unknown reconstruction loss {kind!r}; expected bce or mse")


def best_iou_match(queries, images: Callable[[np.ndarray], np.ndarray], n_grid: int,
                   candidates: np.ndarray | None = None, chunk: int = 4096,
                   device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Index and IoU of the best-matching grid image of each binary query.

    Args:
        queries: ``(m, ...)`` binary images (bool, or floats thresholded at 0.5).
        images: ``images(indices) -> (k, ...)`` uint8 or bool grid images (e.g. a dataset's
            ``images_uint8``); called on `chunk` indices at a time.
        n_grid: number of grid images (searched: ``candidates``, default all of ``range(n_grid)``).
    Returns: ``(best index (m,), best IoU (m,))``; ties go to the lowest index.
    IoU = |q AND g| / |q OR g| (1 for two empty images), computed as a matrix product per chunk.
    """
    q = torch.as_tensor(np.asarray(queries)).to(device)
    q = (q > 0.5 if q.is_floating_point() else q > 0).flatten(1).float()
    cand = np.arange(n_grid) if candidates is None else np.asarray(candidates, dtype=np.int64)
    best = torch.full((len(q),), -1.0, device=device)
    arg = torch.zeros(len(q), dtype=torch.long, device=device)
    q_area = q.sum(1, keepdim=True)
    for lo in range(0, len(cand), chunk):
        idx = cand[lo:lo + chunk]
        g = torch.as_tensor(np.asarray(images(idx))).to(device).flatten(1)
        if g.shape[1] != q.shape[1]:
            raise ShapeError(f"grid images have {g.shape[1]} pixels, queries {q.shape[1]}")
        g = (g > 0).float()
        inter = q @ g.T
        union = q_area + g.sum(1)[None] - inter
        iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
        val, pos = iou.max(1)
        better = val > best
        best = torch.where(better, val, best)
        arg = torch.where(better, torch.as_tensor(idx, device=device)[pos], arg)
    return arg.cpu().numpy(), best.cpu().numpy()


def decoded_factor_accuracy(matched_classes: np.ndarray, true_classes: np.ndarray) -> np.ndarray:
    """Per-factor fraction ``(K,)`` of images whose best-IoU match has the true factor class."""
    a, b = np.asarray(matched_classes), np.asarray(true_classes)
    if a.shape != b.shape:
        raise ShapeError(f"matched classes {a.shape} and true classes {b.shape} differ in shape")
    return (a == b).mean(0)


def readout(z_train: np.ndarray, y_train: np.ndarray, evaluate: dict[str, tuple[np.ndarray, np.ndarray]],
            kind: str = "linear", ridge: float = 1e-3) -> dict[str, dict[str, float]]:
    """Fit a readout of one factor from latents on ``(z_train, y_train)`` and score it on each named set.

    ``kind="linear"``: ridge regression (latents standardised on the training set); each set gets ``r2``
    (``1 - SSE / SST`` about the set's own mean; NaN for a constant target) and ``bias`` (mean prediction
    minus mean target, signed). ``kind="logistic"``: multinomial logistic regression; each set gets
    ``accuracy``. Training-set scores are reported as ``"train"``.
    """
    z_train = np.asarray(z_train, dtype=np.float64)
    if z_train.ndim != 2 or len(z_train) != len(y_train):
        raise ShapeError(f"z_train must be (n, d) with one target per row, got {z_train.shape}, {len(y_train)}")
    mu, sd = z_train.mean(0), z_train.std(0) + 1e-8
    sets = {"train": (z_train, np.asarray(y_train)), **evaluate}
    out: dict[str, dict[str, float]] = {}
    if kind == "linear":
        X = np.c_[(z_train - mu) / sd, np.ones(len(z_train))]
        w = np.linalg.solve(X.T @ X + ridge * len(X) * np.eye(X.shape[1]), X.T @ np.asarray(y_train, float))
        for name, (z, y) in sets.items():
            pred = np.c_[(np.asarray(z, float) - mu) / sd, np.ones(len(z))] @ w
            y = np.asarray(y, float)
            sst = ((y - y.mean()) ** 2).sum()
            out[name] = {"r2": float(1 - ((pred - y) ** 2).sum() / sst) if sst > 0 else float("nan"),
                         "bias": float((pred - y).mean())}
        return out
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(max_iter=2000).fit((z_train - mu) / sd, np.asarray(y_train))
        for name, (z, y) in sets.items():
            out[name] = {"accuracy": float((clf.predict((np.asarray(z, float) - mu) / sd) == np.asarray(y)).mean())}
        return out
    raise ConfigError(f"unknown readout {kind!r}; expected linear or logistic")


def probe_transfer(heldout: float, matched: float, chance: float, margin: float = 0.1) -> float:
    """``(heldout - chance) / (matched - chance)``: how much of a probe's in-distribution skill carries over to
    held-out combinations. `matched` is the same probe's accuracy on in-distribution images whose probed value
    matches the held-out ones' (the other factors cannot match: they make the held-out combination).

    1: held-out combinations are read as well as seen ones (generalisation); 0 or below: no better than chance
    (failure). A raw held-out accuracy cannot tell the two apart when the probe reads that class badly even in
    distribution; then this is NaN: `matched` must beat `chance` by at least `margin`. NaN in, NaN out.
    """
    for name, v in (("heldout", heldout), ("matched", matched), ("chance", chance)):
        if not (0 <= v <= 1 or np.isnan(v)):
            raise ConfigError(f"probe_transfer: {name} must be an accuracy in [0, 1] (or NaN), got {v}")
    if not matched - chance >= margin:  # also NaN in, NaN out
        return float("nan")
    return float((heldout - chance) / (matched - chance))


def importance_matrix(z: np.ndarray, factors: np.ndarray, method: str = "gbt", alpha: float = 0.02,
                      seed: int = 0) -> np.ndarray:
    """``(d latents, K factors)`` importances, by `method`:

    - ``"gbt"`` (default, disentanglement_lib's ``compute_importance_gbt``): the impurity importances of a
      scikit-learn gradient-boosted-trees model (default settings, ``random_state=seed``) per factor, a
      classifier when the factor's values are integers (disentanglement_lib's discrete factors), a
      regressor otherwise;
    - ``"lasso"``: absolute Lasso coefficients (standardised latents and factors, penalty `alpha`);
    - ``"spearman"``: absolute Spearman correlations.
    """
    z, f = np.asarray(z, float), np.asarray(factors, float)
    if z.ndim != 2 or f.ndim != 2 or len(z) != len(f):
        raise ShapeError(f"expected z (n, d) and factors (n, K) with the same n, got {z.shape} and {f.shape}")
    zs = (z - z.mean(0)) / (z.std(0) + 1e-8)
    fs = (f - f.mean(0)) / (f.std(0) + 1e-8)
    if method == "spearman":
        from scipy.stats import rankdata

        rz, rf = rankdata(z, axis=0), rankdata(f, axis=0)
        rz, rf = (rz - rz.mean(0)) / (rz.std(0) + 1e-12), (rf - rf.mean(0)) / (rf.std(0) + 1e-12)
        return np.abs(rz.T @ rf / len(z))
    if method == "gbt":
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        def model(y):
            discrete = np.array_equal(y, np.round(y))
            return (GradientBoostingClassifier if discrete else GradientBoostingRegressor)(random_state=seed)

        return np.abs(np.stack([model(f[:, k]).fit(z, f[:, k]).feature_importances_ for k in range(f.shape[1])],
                               axis=1))
    if method == "lasso":
        from sklearn.linear_model import Lasso

        return np.abs(np.stack([Lasso(alpha=alpha).fit(zs, fs[:, k]).coef_ for k in range(f.shape[1])], axis=1))
    raise ConfigError(f"unknown importance method {method!r}; expected gbt, lasso or spearman")


def _entropy(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    p = np.clip(p, 1e-12, 1)
    return -(p * np.log(p)).sum(axis) / np.log(base)


def dci(R: np.ndarray, errors: np.ndarray | None = None, completeness: str = "weighted") -> dict[str, float]:
    """Disentanglement, completeness (and informativeness ``1 - mean(errors)`` if given) of an importance
    matrix ``R (d latents, K factors)``.

    ``P_ij = R_ij / sum_j R_ij``; ``D_i = 1 - H_K(P_i.)``; ``D = sum_i rho_i D_i`` with
    ``rho_i = sum_j R_ij / sum R``. ``C_j = 1 - H_d(R_.j / sum_i R_ij)``; ``C = sum_j w_j C_j`` with the
    factor importances ``w_j = sum_i R_ij / sum R`` (``completeness="weighted"``, the default, as
    disentanglement_lib), or ``C = mean_j C_j`` (``completeness="mean"``, brainlearn's earlier choice).
    """
    if completeness not in ("weighted", "mean"):
        raise ConfigError(f"completeness={completeness!r} is not valid; expected weighted or mean")
    R = np.abs(np.asarray(R, float))
    if R.ndim != 2 or R.shape[1] < 2 or R.shape[0] < 2:
        raise ShapeError(f"importance matrix must be (d >= 2, K >= 2), got {R.shape}")
    total = R.sum()
    if total <= 0:
        raise ShapeError("importance matrix is all zeros")
    rows = R.sum(1)
    D_i = 1 - _entropy(R / np.maximum(rows[:, None], 1e-12), R.shape[1], axis=1)
    D = float((rows / total * D_i).sum())
    cols = R.sum(0)
    C_j = 1 - _entropy(R / np.maximum(cols[None], 1e-12), R.shape[0], axis=0)
    C = float((cols / total * C_j).sum() if completeness == "weighted" else C_j.mean())
    out = {"disentanglement": D, "completeness": C}
    if errors is not None:
        out["informativeness"] = float(1 - np.mean(errors))
    return out


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information (nats) of two discrete label vectors."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mig(z: np.ndarray, factor_classes: np.ndarray, bins: int = 20) -> dict[str, float | list[float]]:
    """Mutual information gap: ``mean_k (I(z_a; v_k) - I(z_b; v_k)) / H(v_k)`` over factors with more than
    one value, where ``a`` and ``b`` are the latents with the highest and second-highest mutual
    information with factor ``k``; latents are discretised into `bins` equal-width bins."""
    z, v = np.asarray(z, float), np.asarray(factor_classes)
    if z.ndim != 2 or z.shape[1] < 2 or v.ndim != 2 or len(z) != len(v):
        raise ShapeError(f"mig needs z (n, d >= 2) and factors (n, K), got {z.shape} and {v.shape}")
    zd = np.stack([np.digitize(c, np.histogram_bin_edges(c, bins)[1:-1]) for c in z.T], axis=1)
    gaps = []
    for k in range(v.shape[1]):
        h = _mutual_info(v[:, k], v[:, k])
        if h <= 0:
            continue
        mi = np.sort([_mutual_info(zd[:, i], v[:, k]) for i in range(z.shape[1])])[::-1]
        gaps.append((mi[0] - mi[1]) / h)
    if not gaps:
        raise ShapeError("mig: every factor is constant")
    return {"mig": float(np.mean(gaps)), "per_factor": [float(g) for g in gaps]}


def latent_landing(z_train: np.ndarray, c_train: np.ndarray, z_test: np.ndarray, c_test: np.ndarray
                   ) -> dict[str, float | list[float]]:
    """Where held-out encodings land, for one factor with training classes `c_train` and held-out classes
    `c_test`: ``nn_match`` is the fraction whose nearest training encoding has the held-out image's class;
    ``centroid_match`` the fraction nearest to the centroid of their own class; ``nn_classes`` the fraction
    of nearest training neighbours in each class (``0 .. max class``)."""
    zt, zh = torch.as_tensor(np.asarray(z_train, np.float32)), torch.as_tensor(np.asarray(z_test, np.float32))
    ct, ch = np.asarray(c_train), np.asarray(c_test)
    nn_idx = torch.cdist(zh, zt).argmin(1).numpy()
    nn_cls = ct[nn_idx]
    classes = np.unique(ct)
    cents = torch.stack([zt[torch.as_tensor(ct == c)].mean(0) for c in classes])
    cent_cls = classes[torch.cdist(zh, cents).argmin(1).numpy()]
    counts = np.bincount(nn_cls, minlength=int(max(ct.max(), ch.max())) + 1) / max(len(nn_cls), 1)
    return {"nn_match": float((nn_cls == ch).mean()), "centroid_match": float((cent_cls == ch).mean()),
            "nn_classes": counts.tolist()}
