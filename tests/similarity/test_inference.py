"""Inference for measures: permutation tests, group tests, bootstrap intervals, noise ceilings; with the
calibration checks (false-positive rate on null data, bootstrap coverage)."""

import functools
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
from brainlearn.similarity.testcases import ConditionPopulation


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


def test_bootstrap_conditions_rsa_batch_equals_one_comparison_per_resample():
    """The batched RSA resamples equal compare_rdms on each resample's kept pairs (NaN where undefined), and
    undefined resamples (few distinct conditions) are left out of the interval."""
    import torch

    from brainlearn.similarity.inference import _rsa_resamples
    from brainlearn.similarity.measures import compare_rdms, rdm

    rng = np.random.default_rng(4)
    for c in (4, 7):
        i, j = torch.triu_indices(c, c, 1)
        full = []
        for t in (torch.tensor(rng.normal(size=(c, 3))), torch.tensor(rng.normal(size=(c, 3)))):
            D = torch.zeros(c, c, dtype=torch.float64)
            D[i, j] = D[j, i] = rdm(t, "euclidean")
            full.append(D)
        idx = torch.tensor(rng.integers(0, c, size=(300, c)))
        for compare in ("cosine", "corr", "spearman", "tau_a"):
            one = []
            for s in idx:
                keep = s[i] != s[j]
                try:
                    one.append(compare_rdms(full[0][s[i], s[j]][keep], full[1][s[i], s[j]][keep], compare))
                except (ShapeError, RuntimeError):
                    one.append(math.nan)
            batch = _rsa_resamples(*full, idx, compare)
            assert np.array_equal(np.isnan(batch), np.isnan(one)) and np.nanmax(np.abs(batch - one)) < 1e-12
    iv = bootstrap_conditions(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), RSA(compare="corr"), n_boot=500)
    assert np.all(np.isfinite(iv.samples)) and 250 <= len(iv.samples) < 500     # 5 conditions: some undefined


@functools.cache
def _truth(compare):
    return ConditionPopulation.random().rsa(compare)


def _rsa_coverage(n, compare, draws, n_boot):
    """Share of `draws` data sets of n conditions whose 95% interval covers the population RSA."""
    population, m = ConditionPopulation.random(), RSA(rdm="euclidean", compare=compare)
    covered = []
    for k in range(draws):
        iv = bootstrap_conditions(*population.sample(n, 10_000 + k), m, n_boot=n_boot, seed=k)
        covered.append(iv.low <= _truth(compare) <= iv.high)
    return float(np.mean(covered))


def test_bootstrap_conditions_covers_the_population_rsa():
    """Fast version: 400 data sets of 8 conditions from a population whose RSA (Pearson) is known; the 95%
    interval covers it at 0.95 within 3 points (standard error of the rate: 1.1 points)."""
    assert abs(_rsa_coverage(8, "corr", 400, 500) - 0.95) <= 0.03


@pytest.mark.slow
@pytest.mark.parametrize("n", [6, 10, 20, 40])
def test_bootstrap_conditions_coverage_pearson(n):
    """1000 data sets of n conditions (standard error of the rate 0.7 points): within 3 points of 0.95."""
    assert abs(_rsa_coverage(n, "corr", 1000, 1000) - 0.95) <= 0.03


@pytest.mark.slow
@pytest.mark.parametrize("n", [6, 10, 20])
def test_bootstrap_conditions_coverage_spearman(n):
    """Spearman's interval is conservative with few conditions (it covered 0.997 and 0.988 at 6 and 10 in
    the run recorded in docs/similarity.md): it never under-covers by more than 3 points, and from 20
    conditions it is within 3 points of 0.95."""
    rate = _rsa_coverage(n, "spearman", 1000, 1000)
    assert rate >= 0.92 and (n < 20 or rate <= 0.98)


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
