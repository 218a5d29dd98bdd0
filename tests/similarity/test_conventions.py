"""Reference conventions: each default equals its reference implementation's formula, transcribed here
independently in numpy from the published code's documented maths; the earlier behaviour stays reachable
under a named option."""

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from brainlearn.errors import ConfigError
from brainlearn.similarity import CKA, Procrustes, cka

from .data import rand


def _netrep_whiten(X, alpha):
    """netrep.utils.whiten: d = alpha + (1 - alpha) lambda^(-1/2) on the eigenvalues of X^T X (clipped at
    1e-7), rescaled to preserve the total variance."""
    lam, V = np.linalg.eigh(X.T @ X)
    lam = np.maximum(lam, 1e-7)
    d = alpha + (1 - alpha) * lam ** -0.5
    new_var = np.sum(alpha**2 * lam + 2 * alpha * (1 - alpha) * lam**0.5 + (1 - alpha) ** 2)
    d = d * np.sqrt(lam.sum() / new_var)
    return X @ (V * d) @ V.T


def _netrep_scores(X, Y, alpha):
    """netrep LinearMetric(alpha, center_columns=True): centre, whiten, align Y to X by scipy's orthogonal
    Procrustes; the angle between the aligned matrices and ||X - Y R||_F (score_method "euclidean")."""
    X, Y = _netrep_whiten(X - X.mean(0), alpha), _netrep_whiten(Y - Y.mean(0), alpha)
    R = orthogonal_procrustes(Y, X)[0]
    c = np.sum(X * (Y @ R)) / (np.linalg.norm(X) * np.linalg.norm(Y))
    return np.arccos(np.clip(c, -1, 1)), np.linalg.norm(X - Y @ R)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_procrustes_alpha_matches_netrep_formula(alpha):
    for seed in range(3):
        X = rand(seed, 60, 5) * [1, 2, 3, 0.5, 4]
        Y = X @ rand(seed + 10, 5, 5) + 0.5 * rand(seed + 20, 60, 5)
        angle, euclidean = _netrep_scores(X, Y, alpha)
        assert Procrustes(alpha=alpha).fit_score(X, Y) == pytest.approx(angle, abs=1e-10)
        assert Procrustes(alpha=alpha, score_method="euclidean").fit_score(X, Y) == pytest.approx(
            euclidean, rel=1e-9)


def test_procrustes_shrinkage_whitening_is_the_earlier_formula():
    X = rand(0, 60, 5) * [1, 2, 3, 0.5, 4]
    Y = X @ rand(1, 5, 5) + 0.5 * rand(2, 60, 5)

    def shrink(A, alpha):
        A = A - A.mean(0)
        lam, V = np.linalg.eigh((1 - alpha) * A.T @ A / len(A) + alpha * np.eye(A.shape[1]))
        return A @ (V * lam**-0.5) @ V.T

    Xw, Yw = shrink(X, 0.5), shrink(Y, 0.5)
    s = np.linalg.svd(Xw.T @ Yw, compute_uv=False).sum() / (np.linalg.norm(Xw) * np.linalg.norm(Yw))
    old = Procrustes(alpha=0.5, whitening="shrinkage").fit_score(X, Y)
    assert old == pytest.approx(np.arccos(s), abs=1e-10)
    assert abs(old - Procrustes(alpha=0.5).fit_score(X, Y)) > 1e-3     # the two formulas do differ
    for alpha in (0.0, 1.0):                                            # ... except at the ends
        assert Procrustes(alpha=alpha, whitening="shrinkage").fit_score(X, Y) == pytest.approx(
            Procrustes(alpha=alpha).fit_score(X, Y), abs=1e-9)
    with pytest.raises(ConfigError, match="whitening"):
        Procrustes(whitening="zca")


def _kornblith_rbf_cka(X, Y, threshold=1.0):
    """Kornblith et al.'s gram_rbf (median over all n^2 squared distances, np.median) and biased cka."""
    def gram(x):
        g = x @ x.T
        sq = -2 * g + np.diag(g)[:, None] + np.diag(g)[None, :]
        return np.exp(-sq / (2 * threshold**2 * np.median(sq)))

    def centre(K):
        H = np.eye(len(K)) - 1 / len(K)
        return H @ K @ H

    K, L = centre(gram(X)), centre(gram(Y))
    return np.sum(K * L) / (np.linalg.norm(K) * np.linalg.norm(L))


@pytest.mark.parametrize("n", [20, 21])          # even and odd n: numpy's median averages the middle pair
def test_rbf_cka_bandwidth_matches_kornblith(n):
    X, Y = rand(0, n, 4), rand(1, n, 3) + rand(0, n, 3)
    for sigma in (0.5, 1.0, 2.0):
        assert cka(X, Y, kernel="rbf", sigma=sigma) == pytest.approx(_kornblith_rbf_cka(X, Y, sigma), abs=1e-12)
    old = cka(X, Y, kernel="rbf", median="off_diagonal")
    assert abs(old - cka(X, Y, kernel="rbf")) > 1e-4
    assert CKA(kernel="rbf", median="off_diagonal").similarity(X, Y) == old
    with pytest.raises(ConfigError, match="median"):
        CKA(median="mean")


def _kornblith_debiased_linear_cka(X, Y):
    """Kornblith et al.'s feature_space_linear_cka(debiased=True), transcribed."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    n = len(X)

    def helper(xty, sx, sy, nx, ny):
        return xty - n / (n - 2.0) * sx @ sy + nx * ny / ((n - 1) * (n - 2))

    sx, sy = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)
    xy = helper(np.linalg.norm(X.T @ Y) ** 2, sx, sy, sx.sum(), sy.sum())
    xx = helper(np.linalg.norm(X.T @ X) ** 2, sx, sx, sx.sum(), sx.sum())
    yy = helper(np.linalg.norm(Y.T @ Y) ** 2, sy, sy, sy.sum(), sy.sum())
    return xy / np.sqrt(xx * yy)


def test_debiased_cka_matches_kornblith_feature_space_formula():
    for seed in range(3):
        X, Y = rand(seed, 30, 4), rand(seed + 5, 30, 6) + rand(seed, 30, 6)
        assert cka(X, Y, debiased=True) == pytest.approx(_kornblith_debiased_linear_cka(X, Y), abs=1e-12)
        assert CKA(debiased=True, score_method="cka").fit_score(X, Y) == pytest.approx(
            _kornblith_debiased_linear_cka(X, Y), abs=1e-12)
