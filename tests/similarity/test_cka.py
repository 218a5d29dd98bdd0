"""CKA: the Gram-matrix closed forms and its invariances (hypothesis)."""

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from brainlearn.similarity import CKA, DSA, cka, pairwise
from tests.similarity.data import SETTINGS, orthogonal, rand, seeds

# ---------------------------------------------------------------- CKA

def test_linear_cka_matches_gram_formula():
    X, Y = rand(0, 40, 5), rand(1, 40, 7)
    H = np.eye(40) - 1 / 40
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    expected = np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))
    assert abs(cka(X, Y) - expected) < 1e-12


def test_debiased_linear_cka_matches_gram_estimator():
    X, Y = rand(2, 30, 4), rand(3, 30, 6)
    lin = cka(X, Y, debiased=True)
    # the same U-statistic through explicit Gram matrices (the RBF code path with a linear Gram)
    from brainlearn.similarity.cka import _gram_hsic
    Xc, Yc = torch.tensor(X - X.mean(0)), torch.tensor(Y - Y.mean(0))
    K, L = Xc @ Xc.T, Yc @ Yc.T
    expected = _gram_hsic(K, L, True) / torch.sqrt(_gram_hsic(K, K, True) * _gram_hsic(L, L, True))
    assert abs(lin - float(expected)) < 1e-10


@SETTINGS
@given(seeds, st.floats(0.1, 10.0))
def test_cka_invariances(seed, scale):
    X = rand(seed, 60, 5)
    Q = orthogonal(seed + 1, 5, det=-1)
    for kernel in ("linear", "rbf"):
        metric = CKA(kernel=kernel)
        assert metric.fit_score(X, X) < 1e-6
        assert metric.fit_score(X, scale * X @ Q + 3.0) < 1e-6
    Y = rand(seed + 2, 60, 3)
    assert abs(CKA().fit_score(X, Y) - CKA().fit_score(Y, X)) < 1e-12
    assert 0 <= cka(X, Y) <= 1


def test_cka_does_not_mutate_inputs():
    X, Y = rand(0, 20, 3).astype(np.float32), rand(1, 20, 3).astype(np.float32)
    X0, Y0 = X.copy(), Y.copy()
    CKA().fit_score(X, Y)
    pairwise([X, Y], DSA(rank=3))
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)
