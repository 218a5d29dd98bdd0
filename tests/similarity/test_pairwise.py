"""pairwise: distance matrices, and cross-validated matrices (fitted on systems, scored on test data)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity import CKA, DSA, Procrustes, pairwise
from tests.similarity.data import orthogonal, rand


def test_pairwise_matches_one_at_a_time_and_is_symmetric():
    systems = [np.random.default_rng(s).normal(size=(5, 100, 2)).cumsum(1) * 0.1 for s in range(4)]
    for metric in (CKA(), Procrustes(), DSA(n_delays=2, rank=4), DSA(n_delays=2, score_method="wasserstein")):
        D = pairwise(systems, metric)
        assert D.shape == (4, 4) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
        assert abs(D[0, 1] - metric.fit_score(systems[0], systems[1])) < 1e-6
    B = pairwise(systems[:2], "cka", others=systems)
    assert B.shape == (2, 4) and B[1, 1] < 1e-6


def walk(seed, trials=6, time=80, units=3):
    """A random walk (trials, time, units): data with dynamics for DSA."""
    return rand(seed, trials, time, units).cumsum(1) * 0.1


# ---------------------------------------------------------------- cross-validated pairwise

def _split(systems):
    return [s[: len(s) // 2] for s in systems], [s[len(s) // 2:] for s in systems]


@pytest.mark.parametrize("metric", [CKA(), Procrustes(), Procrustes(alpha=0.5), DSA(n_delays=2, rank=4),
                                    DSA(n_delays=2, rank=4, score_method="euclidean"),
                                    DSA(n_delays=2, rank=4, score_method="wasserstein")], ids=repr)
def test_cross_validated_pairwise_fits_on_systems_and_scores_on_testdata(metric):
    if isinstance(metric, DSA):
        train, test = _split([walk(s, trials=8) for s in range(4)])     # split by trials
    else:
        train, test = _split([rand(s, 60, 3) @ rand(10 + s, 3, 3) for s in range(4)])
    D = pairwise(train, metric, testdata=test)
    assert D.shape == (4, 4) and np.array_equal(D, D.T) and np.all(np.diag(D) == 0)
    for i in range(4):
        for j in range(i + 1, 4):
            one = clone(metric).fit(train[i], train[j]).score(test[i], test[j])
            assert D[i, j] == pytest.approx(one, abs=1e-9)
    R = pairwise(train[:2], metric, others=train, testdata=test[:2], others_testdata=test)
    assert R.shape == (2, 4) and np.allclose(R[:, 2:], D[:2, 2:], atol=1e-9)
    same = pairwise(train, metric, testdata=train)                      # held-out = fitted data: the plain matrix
    assert np.allclose(same, pairwise(train, metric), atol=1e-7)


def test_cross_validation_tells_a_shared_map_from_overfitting():
    """Pure-noise systems look alike in-sample at high width, not out of sample; a real shared map holds."""
    rng = np.random.default_rng(0)
    noise = [rng.normal(size=(40, 20)) for _ in range(3)]
    X = rng.normal(size=(200, 20))
    shared = [X, X @ orthogonal(1, 20) + 0.1 * rng.normal(size=(200, 20))]
    fitted = pairwise([n[:20] for n in noise], Procrustes())
    held_out = pairwise([n[:20] for n in noise], Procrustes(), testdata=[n[20:] for n in noise])
    assert held_out[0, 1] > fitted[0, 1] + 0.3                         # the in-sample map does not generalise
    cv = pairwise([s[:100] for s in shared], Procrustes(), testdata=[s[100:] for s in shared])
    assert cv[0, 1] < 0.2


def test_pairwise_leaves_the_metric_as_it_was():
    X, Y = rand(0, 30, 3), rand(1, 30, 3)
    m = Procrustes().fit(X, Y)
    Q = m.Q_.clone()
    pairwise([rand(s, 30, 3) for s in range(3)], m)
    pairwise([rand(s, 30, 3) for s in range(3)], m, testdata=[rand(s + 5, 30, 3) for s in range(3)])
    assert torch.equal(m.Q_, Q)
    assert not hasattr(unfitted := CKA(), "n_units_") and pairwise([X, Y], unfitted).shape == (2, 2)
    assert not hasattr(unfitted, "n_units_")


def test_cross_validated_pairwise_errors():
    systems = [rand(s, 30, 3) for s in range(3)]
    with pytest.raises(ConfigError, match="one held-out data set per system.*got 2 for 3"):
        pairwise(systems, "procrustes", testdata=systems[:2])
    with pytest.raises(ConfigError, match="needs others_testdata"):
        pairwise(systems, "procrustes", others=systems, testdata=systems)
    with pytest.raises(ConfigError, match="needs testdata"):
        pairwise(systems, "procrustes", others=systems, others_testdata=systems)
    with pytest.raises(ConfigError, match="others_testdata must hold.*got 1 for 3"):
        pairwise(systems, "procrustes", others=systems, testdata=systems, others_testdata=systems[:1])
    train = [walk(0), walk(1)]
    with pytest.raises(ShapeError, match="differ in size"):
        pairwise(train, DSA(n_delays=2, rank=4), testdata=[DSA(n_delays=2, rank=3).prepare(x) for x in train])


def test_pairwise_linear_equals_the_measures_in_bounded_blocks():
    from brainlearn.similarity import CCA
    from brainlearn.similarity.pairwise import pairwise_linear

    rng = np.random.default_rng(0)
    systems = rng.normal(size=(7, 30, 4)) @ rng.normal(size=(7, 4, 6))          # rank 4 of 6 units
    systems[3] = systems[1] @ np.linalg.qr(rng.normal(size=(6, 6)))[0] * 2 + 1   # same shape as system 1
    for measure, ref in (("cka", CKA(score_method="cka")), ("cca", CCA(summary="mean_squared"))):
        expected = pairwise(list(systems), ref)
        for memory in (2**12, 2**28):                                          # many blocks, and one
            S = pairwise_linear(systems, measure, dtype=torch.float64, memory=memory)
            np.testing.assert_allclose(S, expected, atol=1e-10)
        assert abs(pairwise_linear(systems, measure)[1, 3] - 1) < 1e-5         # float32 default
    mixed = [rng.normal(size=(30, w)) for w in (3, 5, 5, 8)]                   # widths may differ
    np.testing.assert_allclose(pairwise_linear(mixed, "cka", dtype=torch.float64),
                               pairwise(mixed, CKA(score_method="cka")), atol=1e-10)
    with pytest.raises(ShapeError, match="zero variance"):
        pairwise_linear(np.ones((2, 5, 3)), "cka")
    with pytest.raises(ConfigError):
        pairwise_linear(systems, "procrustes")


def _assert_pairwise_is_fit_score(systems, metric):
    D = pairwise(systems, metric)
    for i in range(len(systems)):
        for j in range(len(systems)):
            if i != j:
                assert D[i, j] == pytest.approx(metric.fit_score(systems[i], systems[j]), abs=1e-10)


@pytest.mark.parametrize("score_method", ["angular", "euclidean", "chord", "nbs"])
def test_batched_procrustes_pairs_equal_fit_score(score_method):
    rng = np.random.default_rng(4)
    systems = [rng.normal(size=(25, w)) for w in (3, 4, 4, 6, 3)]            # mixed widths: grouped batches
    _assert_pairwise_is_fit_score(systems, Procrustes(score_method=score_method))


@pytest.mark.parametrize("score_method", ["angular", "cka"])
def test_batched_cka_pairs_equal_fit_score(score_method):
    rng = np.random.default_rng(5)
    systems = [rng.normal(size=(25, w)) * 10.0 ** e for w, e in ((3, 0), (4, 5), (4, -5), (6, 0))]
    _assert_pairwise_is_fit_score(systems, CKA(score_method=score_method))


@pytest.mark.parametrize("name", ["measure/svcca/cca-score", "measure/svcca/pwcca-score",
                                  "measure/kornblith19/cca-mean_sq_corr-score",
                                  "measure/rsatoolbox/rsa-rdm=correlation-compare=spearman",
                                  "measure/rsatoolbox/rsa-rdm=squared_euclidean-compare=cosine",
                                  "measure/rsatoolbox/rsa-rdm=euclidean-compare=corr",
                                  "measure/rsatoolbox/rsa-rdm=squared_euclidean-compare=tau_a"])
def test_batched_cca_and_rsa_pairs_equal_fit_score(name):
    from brainlearn.similarity import make

    rng = np.random.default_rng(6)
    systems = [rng.normal(size=(30, w)) for w in (3, 4, 5, 4)]
    m = make(name)
    D = pairwise(systems, m)
    for i in range(4):
        for j in range(4):
            if i != j:
                assert D[i, j] == pytest.approx(m.fit_score(systems[i], systems[j]), abs=1e-12)
