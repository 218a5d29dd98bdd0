"""Procrustes: closed form, metric axioms (hypothesis), the CCA limit and the cross-validated score."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from brainlearn.similarity import Procrustes, procrustes_angle
from tests.similarity.data import SETTINGS, orthogonal, rand, seeds

# ---------------------------------------------------------------- Procrustes

def test_procrustes_closed_form_and_object_agree():
    X, Y = rand(4, 50, 6), rand(5, 50, 4)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    nuclear = np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum()
    expected = math.acos(nuclear / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))
    assert abs(procrustes_angle(X, Y) - expected) < 1e-8
    assert abs(Procrustes().fit_score(X, Y) - expected) < 1e-8
    assert abs(Procrustes(score_method="chord").fit_score(X, Y) - 2 * math.sin(expected / 2)) < 1e-8


@SETTINGS
@given(seeds, st.floats(0.1, 10.0))
def test_procrustes_metric_axioms(seed, scale):
    X, Y, Z = rand(seed, 40, 4), rand(seed + 1, 40, 4), rand(seed + 2, 40, 4)
    Q = orthogonal(seed + 3, 4, det=-1)
    m = Procrustes()
    assert m.fit_score(X, X) < 1e-6
    assert m.fit_score(X, scale * X @ Q - 2.0) < 1e-6                    # rotation, reflection, scale, shift
    assert abs(m.fit_score(X, Y) - m.fit_score(Y, X)) < 1e-10
    assert m.fit_score(X, Z) <= m.fit_score(X, Y) + m.fit_score(Y, Z) + 1e-9
    assert 0 <= m.fit_score(X, Y) <= math.pi / 2 + 1e-12


def test_procrustes_cca_limit_is_invariant_to_invertible_maps():
    X = rand(6, 80, 4)
    M = rand(7, 4, 4) + 3 * np.eye(4)
    assert Procrustes(alpha=1.0).fit_score(X, X @ M) > 1e-3
    assert Procrustes(alpha=0.0).fit_score(X, X @ M) < 1e-6


def test_procrustes_cross_validated_score_uses_fitted_map():
    X = rand(8, 100, 3)
    Q = orthogonal(9, 3)
    m = Procrustes().fit(X[:50], X[:50] @ Q)
    assert m.score(X[50:], X[50:] @ Q) < 1e-6
