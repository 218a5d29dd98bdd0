"""The statistics of distance matrices and of groups of distances (Welch, BH-FDR, Cohen's d)."""

import numpy as np
import pytest

from brainlearn.errors import ShapeError
from brainlearn.similarity.stats import cohens_d, compare_groups, fdr_bh, welch_p


def test_distance_matrix_statistics():
    from brainlearn.similarity import classical_mds, condition_average, nn_accuracy, separation_ratio

    points = np.array([0.0, 0.1, 5.0, 5.2])                        # two tight pairs far apart
    D = np.abs(points[:, None] - points[None, :])
    labels = np.array(["a", "a", "b", "b"])
    assert separation_ratio(D, labels) == pytest.approx(D[:2, 2:].mean() / 0.15)
    assert nn_accuracy(D, labels) == 1.0 and nn_accuracy(D, np.array(["a", "b", "a", "b"])) == 0.0
    Y = classical_mds(D, k=2)
    assert Y.shape == (4, 2)
    assert np.allclose(np.abs(Y[:, 0] - Y[0, 0]), np.abs(points - points[0]))   # 1-d points come back exactly
    X = np.arange(4 * 3 * 2, dtype=float).reshape(4, 3, 2)
    assert np.array_equal(condition_average(X), np.stack([X[:2].mean(0), X[2:].mean(0)]))


def test_fdr_bh_matches_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> monotone from the top: 0.04, 0.0533, 0.0533, 0.2
    assert np.allclose(fdr_bh(p), [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.all(fdr_bh(p) >= p)
    with pytest.raises(ShapeError):
        fdr_bh([0.5, 1.5])


def test_effect_size_and_tests():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    assert cohens_d(b, a) == pytest.approx(3.0) and cohens_d(a, b) == pytest.approx(-3.0)
    assert welch_p(a, a) == pytest.approx(1.0) and welch_p(a, b) < 0.05
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    res = compare_groups({"x": a, "y": b, "z": a + 0.1})
    assert list(res) == [("x", "y"), ("x", "z"), ("y", "z")] and all(r["q"] >= r["p"] for r in res.values())
    with pytest.raises(ShapeError):
        cohens_d([1.0], [2.0, 3.0])
