"""Inference for measures: permutation tests, group tests, bootstrap intervals, noise ceilings; with the
calibration checks (false-positive rate on null data, bootstrap coverage)."""

import math

import numpy as np
import pytest

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity import CKA, RSA
from brainlearn.similarity.inference import (
    bootstrap_conditions,
    bootstrap_mean,
    group_test,
    permutation_test,
    split_half_ceiling,
)


def _fpr(p_values, alpha=0.05):
    return float(np.mean(np.asarray(p_values) <= alpha))


@pytest.mark.parametrize("c", [5, 6, 7])
def test_rsa_permutation_test_is_calibrated_with_few_conditions(c):
    """1000 null draws (independent X, Y): the false-positive rate at 0.05 lies in [0.03, 0.07]."""
    rng = np.random.default_rng(c)
    m = RSA(compare="spearman")
    p = [permutation_test(rng.normal(size=(c, 4)), rng.normal(size=(c, 4)), m, seed=d).p_value for d in range(1000)]
    assert 0.03 <= _fpr(p) <= 0.07
    assert permutation_test(rng.normal(size=(c, 4)), rng.normal(size=(c, 4)), m).exact == (math.factorial(c) <= 1000)


@pytest.mark.parametrize("compare", ["cosine", "corr", "tau_a"])
def test_rsa_permutation_test_calibrated_for_every_comparison(compare):
    rng = np.random.default_rng(11)
    m = RSA(compare=compare)
    p = [permutation_test(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), m, seed=d).p_value for d in range(1000)]
    assert 0.03 <= _fpr(p) <= 0.07


def test_permutation_test_agrees_with_the_generic_path_and_detects_structure():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 5))
    Y = X @ rng.normal(size=(5, 4)) + 0.3 * rng.normal(size=(6, 4))
    for compare in ("cosine", "corr", "spearman", "tau_a"):
        fast = permutation_test(X, Y, RSA(compare=compare))
        # the same permutations through fit_score on permuted data (the path every other measure takes)
        from brainlearn.similarity.inference import _all_permutations

        slow = np.array([RSA(compare=compare).fit_score(X, Y[p]) for p in _all_permutations(6)])
        np.testing.assert_allclose(fast.null, slow, atol=1e-12)
        assert fast.exact and fast.p_value <= 0.01
    res = permutation_test(X, Y, CKA(), n_permutations=200)               # a distance: small is extreme
    assert not res.exact and res.p_value < 0.05 and len(res.null) == 200
    with pytest.raises(ConfigError, match="DSA"):
        permutation_test(X, Y, "dsa")


def test_group_test_is_calibrated_and_exact_for_small_groups():
    rng = np.random.default_rng(1)
    for n in (5, 6, 7):
        p = [group_test(rng.normal(size=n), rng.normal(size=n)).p_value for _ in range(1000)]
        assert 0.03 <= _fpr(p) <= 0.07
    res = group_test([1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 11.0, 12.0, 13.0, 14.0])
    assert res.exact and len(res.null) == 252 and res.p_value == pytest.approx(2 / 252)   # the two extreme splits
    assert res.statistic == pytest.approx(-9.0)
    with pytest.raises(ShapeError):
        group_test([1.0], [2.0, 3.0])


@pytest.mark.parametrize("n", [7, 10, 20])
def test_bootstrap_mean_covers_at_its_nominal_rate(n):
    """Over 1000 normal samples of n networks, the 95% interval covers the true mean 92-98% of the time."""
    rng = np.random.default_rng(n)
    covered = [(iv := bootstrap_mean(rng.normal(size=n), n_boot=2000, seed=d)).low <= 0 <= iv.high
               for d in range(1000)]
    assert abs(np.mean(covered) - 0.95) <= 0.03


def test_bootstrap_mean_methods_and_errors():
    x = np.arange(10.0)
    wide, narrow = bootstrap_mean(x), bootstrap_mean(x, method="percentile")
    assert wide.estimate == 4.5 and wide.low < narrow.low < 4.5 < narrow.high < wide.high
    with pytest.raises(ConfigError):
        bootstrap_mean(x, method="bca")
    with pytest.raises(ShapeError):
        bootstrap_mean([1.0])


def test_bootstrap_conditions_rsa_drops_duplicate_pairs_and_brackets_the_estimate():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 5))
    Y = X + 0.5 * rng.normal(size=(12, 5))
    iv = bootstrap_conditions(X, Y, RSA(compare="spearman"), n_boot=200)
    assert iv.low <= iv.estimate <= iv.high and len(iv.samples) == 200 and np.all(np.isfinite(iv.samples))
    iv = bootstrap_conditions(X, Y, "measure/kornblith19/cka-kernel=linear-hsic=gretton-score", n_boot=100)
    assert iv.low <= iv.estimate <= iv.high <= 1.0


def test_split_half_ceiling_is_spearman_brown_and_grows_with_trials():
    rng = np.random.default_rng(3)
    signal = rng.normal(size=(8, 20))
    few, many = (signal + 2.0 * rng.normal(size=(t, 8, 20)) for t in (4, 40))
    out_few, out_many = (split_half_ceiling(X, RSA(compare="corr"), n_splits=30) for X in (few, many))
    r = out_few["split_half"]
    assert out_few["ceiling"] == pytest.approx(2 * r / (1 + r))
    assert out_many["ceiling"] > out_few["ceiling"] and out_many["ceiling"] > out_many["split_half"]
    with pytest.raises(ConfigError, match="similarity"):
        split_half_ceiling(many, "procrustes")
    with pytest.raises(ShapeError):
        split_half_ceiling(signal, RSA())
