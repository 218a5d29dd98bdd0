import numpy as np
import pytest

from brainlearn.analysis.mismatch import (
    align_events,
    classify_pe,
    contrast,
    index_test,
    jaccard,
    mismatch_index,
    omission_response,
    shared_vs_distinct,
    ssa_index,
)
from brainlearn.errors import ShapeError


def test_align_events_windows_and_bounds():
    X = np.arange(100, dtype=float)[:, None] * np.array([1.0, 10.0])
    R = align_events(X, [1.0, 2.0], rate=10.0, pre=0.2, post=0.3)
    assert R.shape == (2, 2, 5) and R[0, 0].tolist() == [8, 9, 10, 11, 12] and R[1, 1, 0] == 180
    with pytest.raises(ShapeError):
        align_events(X, [0.1], rate=10.0, pre=0.5)
    with pytest.raises(ShapeError):
        align_events(X[:, 0], [1.0], rate=10.0)


def test_indices_formulas_and_shuffle_pvalues():
    rng = np.random.default_rng(0)
    dev = rng.normal(3.0, 0.5, (4, 30))
    dev[0] = rng.normal(1.0, 0.5, 30)              # cell 0: no mismatch response
    std = rng.normal(1.0, 0.5, (4, 60))
    r = mismatch_index(dev, std, n_shuffles=500, seed=1)
    assert np.allclose(r["index"], (dev.mean(1) - std.mean(1)) / (dev.mean(1) + std.mean(1)))
    assert r["p"][0] > 0.05 and (r["p"][1:] < 0.01).all()
    again = mismatch_index(dev, std, n_shuffles=500, seed=1)
    assert np.array_equal(again["p"], r["p"])
    assert np.allclose(ssa_index(dev, std)["index"], r["index"])
    om = omission_response(dev, std, n_shuffles=200)
    assert np.allclose(om["index"], dev.mean(1) - std.mean(1))
    assert contrast(np.zeros(2), np.zeros(2)).tolist() == [0.0, 0.0]


def test_index_test_on_traces_uses_the_window_and_rejects_bad_input():
    A = np.zeros((2, 5, 4))
    A[:, :, 2:] = 1.0
    B = np.zeros((2, 6, 4))
    assert index_test(A, B, window=slice(0, 2), n_shuffles=10)["index"].tolist() == [0.0, 0.0]
    assert index_test(A, B, window=slice(2, 4), n_shuffles=10)["index"].tolist() == [1.0, 1.0]
    with pytest.raises(ShapeError):
        index_test(np.zeros((3, 4)), np.zeros((2, 4)))
    with pytest.raises(ShapeError):
        index_test(np.full((2, 3), np.nan), np.zeros((2, 3)))
    with pytest.raises(ShapeError):
        index_test(np.zeros((2, 3)), np.zeros((2, 3)), alternative="bigger")


def test_classify_pe():
    labels = classify_pe([1, 1, 1, 3], [8, 1, 9, 12], [1, 7, 9, 3])
    assert labels.tolist() == ["nPE", "pPE", "none", "none"]


def test_shared_vs_distinct_tells_overlap_from_independence():
    rng = np.random.default_rng(0)
    n = 200
    base = rng.random(n) < 0.3
    idx_a = base + 0.1 * rng.normal(size=n)
    shared = shared_vs_distinct({"a": idx_a, "b": idx_a + 0.1 * rng.normal(size=n)},
                                {"a": base, "b": base.copy()}, n_permutations=500)
    assert shared["p_overlap"][0, 1] < 0.01 and shared["overlap"][0, 1] == 1.0
    other = rng.random(n) < 0.3
    distinct = shared_vs_distinct({"a": idx_a, "b": other + 0.1 * rng.normal(size=n)}, {"a": base, "b": other},
                                  n_permutations=500)
    assert distinct["p_overlap"][0, 1] > 0.01
    assert abs(distinct["overlap"][0, 1] - distinct["chance_overlap"][0, 1]) < 0.15
    assert jaccard(np.zeros(3, bool), np.zeros(3, bool)) == 0
    with pytest.raises(ShapeError):
        shared_vs_distinct({"a": idx_a}, {"a": base})
