"""The metrics as scikit-learn estimators (similarity._base): parameters, clone, validation after set_params,
fitted-state checks, transform, clear errors on bad input, sklearn model-selection utilities, and the
self-distance / symmetry properties of every metric and score method (hypothesis)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, cross_validate
from sklearn.utils.validation import check_is_fitted

from brainlearn.errors import ConfigError, NotFittedError, ShapeError
from brainlearn.similarity import CKA, DSA, Procrustes, cka, pairwise
from tests.similarity.data import orthogonal, rand, seeds


def walk(seed, trials=6, time=80, units=3):
    """A random walk (trials, time, units): data with dynamics for DSA."""
    return rand(seed, trials, time, units).cumsum(1) * 0.1


# Every metric and score method, with non-default arguments where there are some.
ALL_METRICS = [
    CKA(), CKA(kernel="rbf", sigma=0.5), CKA(debiased=True), CKA(kernel="rbf", debiased=True),
    Procrustes(), Procrustes(alpha=0.5), Procrustes(alpha=0.0), Procrustes(score_method="euclidean"),
    DSA(n_delays=2, rank=4), DSA(n_delays=2, rank=4, score_method="euclidean"),
    DSA(n_delays=2, rank=4, score_method="wasserstein"),
]


def _data(metric, seed):
    return walk(seed) if isinstance(metric, DSA) else rand(seed, 40, 3)


# ---------------------------------------------------------------- parameters, clone, validation

@pytest.mark.parametrize("metric, kwargs", [
    (CKA, {"kernel": "rbf", "sigma": 2, "debiased": True}),
    (Procrustes, {"alpha": 0, "center": False, "score_method": "euclidean"}),
    (DSA, {"n_delays": 3, "delay_interval": 2, "rank_explained_variance": 0.9, "lamb": 1, "score_method": "wasserstein",
           "n_random": 0, "max_iter": 10, "tol": 1e-3, "seed": 5, "device": "cpu"}),
])
def test_constructor_arguments_are_stored_unchanged_and_clone(metric, kwargs):
    m = metric(**kwargs)
    params = m.get_params()
    assert all(params[k] is v for k, v in kwargs.items())          # unchanged: the same objects, not converted
    c = clone(m)
    assert c is not m and c.get_params() == params
    assert m.set_params(**{next(iter(kwargs)): kwargs[next(iter(kwargs))]}) is m
    assert repr(m).startswith(f"{metric.__name__}(") and all(f"{k}=" in repr(m) for k in params)


def test_clone_drops_the_fitted_state():
    X = rand(0, 30, 3)
    m = Procrustes().fit(X, X)
    assert hasattr(m, "Q_") and not hasattr(clone(m), "Q_")


def test_set_params_is_validated_when_used():
    X, Y = rand(0, 30, 3), rand(1, 30, 3)
    cases = [
        (Procrustes(), {"alpha": 2.0}, "alpha must be in"),
        (Procrustes(), {"center": "yes"}, "center must be True or False"),
        (Procrustes(), {"score_method": "cosine"}, "score_method='cosine'"),
        (CKA(), {"kernel": "cosine"}, "kernel='cosine'"),
        (CKA(), {"sigma": -1.0}, "sigma must be"),
        (CKA(), {"debiased": "no"}, "debiased must be True or False"),
        (DSA(rank=3), {"rank_thresh": 0.1}, "at most one"),
        (DSA(), {"n_delays": 0}, "n_delays must be an integer >= 1"),
        (DSA(), {"n_delays": 2.5}, "n_delays must be an integer"),
        (DSA(), {"lamb": float("nan")}, "lamb"),
        (DSA(), {"tol": 0.0}, "tol"),
        (DSA(), {"seed": 1.5}, "seed must be an integer"),
        (DSA(), {"rank_explained_variance": 1.5}, r"rank_explained_variance must be in \(0, 1\]"),
    ]
    for metric, bad, message in cases:
        with pytest.raises(ConfigError, match=message):                 # the constructor rejects it ...
            type(metric)(**{**metric.get_params(), **bad})
        metric.set_params(**bad)                                         # ... set_params stores it (sklearn style)
        data = walk(0) if isinstance(metric, DSA) else X
        uses = (lambda m, d: m.fit(d, d), lambda m, d: m.fit_score(d, d), lambda m, d: m.prepare(d),
                lambda m, d: m.score(d, d), lambda m, d: m.transform(d, d), lambda m, d: pairwise([d, d], m))
        for use in uses:
            with pytest.raises(ConfigError, match=message):              # ... and every use validates it
                use(metric, data)
    assert Procrustes().set_params(alpha=0.5).fit_score(X, Y) == Procrustes(alpha=0.5).fit_score(X, Y)


# ---------------------------------------------------------------- fitted state

@pytest.mark.parametrize("metric", ALL_METRICS, ids=repr)
def test_score_and_transform_need_fit(metric):
    metric = clone(metric)
    X = _data(metric, 0)
    for call in (metric.score, metric.transform):
        with pytest.raises(NotFittedError, match="not fitted yet.*call fit") as info:
            call(X, X)
        assert isinstance(info.value, ConfigError) and isinstance(info.value, SklearnNotFittedError)
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(metric)
    assert metric.fit(X, X) is metric
    check_is_fitted(metric)
    assert metric.score(X, X) < 1e-6


def test_fitted_attributes_follow_the_parameters():
    X = walk(0)
    m = DSA(n_delays=2, rank=4, score_method="wasserstein").fit(X, X)
    assert len(m.fits_) == 2 and not hasattr(m, "C_")
    m.set_params(score_method="angular")                                # now score needs C_, which fit never made
    with pytest.raises(NotFittedError, match="no C_"):
        m.score(X, X)
    m.fit(X, X)
    assert m.C_.shape == (4, 4) and isinstance(m.converged_, bool) and m.score(X, X) < 1e-6


def test_cka_fit_checks_and_records_then_scores_any_pair():
    X, Y = rand(0, 50, 3), rand(1, 50, 5)
    m = CKA().fit(X, Y)
    assert m.n_units_ == (3, 5)
    X2, Y2 = rand(2, 20, 4), rand(3, 20, 2)                           # other samples and widths
    assert m.score(X2, Y2) == pytest.approx(math.acos(cka(X2, Y2)), abs=1e-12)
    with pytest.raises(ShapeError, match="same number of samples"):
        CKA().fit(X, Y[:40])
    with pytest.raises(ShapeError, match="at least 4 samples"):
        CKA(debiased=True).fit(X[:3], Y[:3])
    with pytest.raises(ShapeError, match="zero variance"):
        CKA().fit(np.ones((10, 2)), X[:10])
    assert CKA().similarity(X, Y) == cka(X, Y)                           # the similarity needs no fit


# ---------------------------------------------------------------- transform

def test_procrustes_transform_is_what_the_score_compares():
    X, Y = rand(0, 60, 4), rand(1, 60, 3)
    for alpha in (1.0, 0.5, 0.0):
        m = Procrustes(alpha=alpha).fit(X, Y)
        Xh, Yh = m.transform(X, Y)
        assert Xh.shape == Yh.shape == (60, 4)
        assert float(torch.linalg.norm(Xh)) == pytest.approx(1) and float(torch.linalg.norm(Yh)) == pytest.approx(1)
        assert math.acos(float((Xh * Yh).sum())) == pytest.approx(m.score(X, Y), abs=1e-10)
        euclid = Procrustes(alpha=alpha, score_method="chord").fit(X, Y)
        assert float(torch.linalg.norm(Xh - Yh)) == pytest.approx(euclid.score(X, Y), abs=1e-10)
    Xc = X - X.mean(0)
    Xh, Yh = Procrustes().fit_transform(X, 3 * X @ orthogonal(2, 4) + 1)   # a rotated, scaled, shifted copy
    assert np.allclose(Xh.numpy(), Xc / np.linalg.norm(Xc)) and np.allclose(Yh.numpy(), Xh.numpy())


def test_cka_transform_is_centred_and_scaled():
    X, Y = rand(0, 60, 4), rand(1, 60, 7) * 1e3 + 5
    m = CKA().fit(X, Y)
    Xh, Yh = m.transform(X, Y)
    assert Xh.shape == (60, 4) and Yh.shape == (60, 7)
    for R in (Xh, Yh):
        assert float(R.mean(0).abs().max()) < 1e-12 and float(torch.linalg.matrix_norm(R.T @ R)) == pytest.approx(1)
    assert float(torch.linalg.matrix_norm(Yh.T @ Xh) ** 2) == pytest.approx(cka(X, Y), abs=1e-12)
    for metric in (CKA(kernel="rbf"), CKA(debiased=True)):
        metric.fit(X, Y)
        assert metric.score(*metric.transform(X, Y)) == pytest.approx(metric.score(X, Y), abs=1e-9)


def test_dsa_transform_returns_the_aligned_operators():
    X = walk(0, trials=10, time=100)
    Y = X @ orthogonal(1, 3)                                            # same dynamics in a rotated basis
    m = DSA(n_delays=2).fit(X, Y)
    A, CBC = m.transform(X, Y)
    assert A.shape == CBC.shape == (6, 6)
    assert [float(torch.linalg.matrix_norm(T)) for T in (A, CBC)] == pytest.approx([1, 1])
    assert float(torch.linalg.matrix_norm(A - CBC)) < 1e-6
    Z = walk(2, trials=10, time=100)
    m.fit(X, Z)
    A, CBC = m.transform(X, Z)
    assert 2 * math.asin(float(torch.linalg.matrix_norm(A - CBC)) / 2) == pytest.approx(m.score(X, Z), abs=1e-12)
    w = DSA(n_delays=2, score_method="wasserstein").fit(X, Z)
    A, B = w.transform(X, Z)
    # transform refits X and Z in the fitted coordinates (held_out="training_basis"): the fitted operators,
    # to rounding; with held_out="own_fit" it fits them afresh, exactly as fit did
    assert torch.allclose(A, w.fits_[0].A, rtol=0, atol=1e-10) and torch.allclose(B, w.fits_[1].A, rtol=0, atol=1e-10)
    own = DSA(n_delays=2, score_method="wasserstein", held_out="own_fit").fit(X, Z)
    A, B = own.transform(X, Z)
    assert torch.equal(A, own.fits_[0].A) and torch.equal(B, own.fits_[1].A)


def _split(systems):
    return [s[: len(s) // 2] for s in systems], [s[len(s) // 2:] for s in systems]


# ---------------------------------------------------------------- scikit-learn utilities

def test_a_grid_over_a_metric_parameter_with_clone_and_set_params():
    """The documented example: one cross-validated distance matrix per alpha."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 4))
    systems = [base @ (rng.normal(size=(4, 4)) + 2 * np.eye(4)) + 0.05 * rng.normal(size=(80, 4)) for _ in range(3)]
    train, test = _split(systems)
    template = Procrustes(score_method="angular")
    mean_distance = {}
    for params in ParameterGrid({"alpha": [0.0, 0.5, 1.0]}):
        metric = clone(template).set_params(**params)
        assert metric.get_params()["alpha"] == params["alpha"]
        D = pairwise(train, metric, testdata=test)
        mean_distance[params["alpha"]] = D[np.triu_indices(3, 1)].mean()
    # the systems differ by invertible maps: the CCA end (alpha = 0) is invariant to them, Procrustes is not
    assert mean_distance[0.0] < mean_distance[0.5] < mean_distance[1.0]
    assert template.get_params()["alpha"] == 1.0                        # the template is untouched


def test_cross_validate_and_grid_search_use_fit_and_score():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    Y = X @ np.diag([3.0, 1.0, 0.5, 0.2]) @ orthogonal(2, 4) + 0.01 * rng.normal(size=(200, 4))   # anisotropic map
    cv = KFold(4)
    scores = cross_validate(Procrustes(), X, Y, cv=cv)["test_score"]  # fit(X_train, Y_train), score(X_test, Y_test)
    manual = [Procrustes().fit(X[tr], Y[tr]).score(X[te], Y[te]) for tr, te in cv.split(X)]
    assert np.allclose(scores, manual, atol=1e-12)
    # sklearn maximises scores and ours is a distance: select with its negative. Only the CCA end (alpha = 0)
    # undoes the anisotropic stretch
    search = GridSearchCV(Procrustes(), {"alpha": [0.0, 0.5, 1.0]}, scoring=lambda m, A, B: -m.score(A, B), cv=cv)
    search.fit(X, Y)
    assert search.best_params_ == {"alpha": 0.0} and hasattr(search.best_estimator_, "Q_")
    X3, Y3 = walk(3, trials=8, time=60), walk(4, trials=8, time=60)  # DSA: folds of whole trials
    dsa_scores = cross_validate(DSA(n_delays=2, rank=4), X3, Y3, cv=KFold(2))["test_score"]
    manual = [DSA(n_delays=2, rank=4).fit(X3[tr], Y3[tr]).score(X3[te], Y3[te]) for tr, te in KFold(2).split(X3)]
    assert np.allclose(dsa_scores, manual, atol=1e-12)


# ---------------------------------------------------------------- properties of every metric and score method

@settings(max_examples=10, deadline=None)
@given(seeds, st.floats(0.1, 10.0))
def test_self_distance_is_zero_and_every_metric_is_symmetric(seed, scale):
    for metric in ALL_METRICS:
        m = clone(metric)
        X, Y = scale * _data(m, seed), _data(m, seed + 1)
        assert m.fit_score(X, X) < 1e-6, m
        assert m.fit(X, X).score(X, X) < 1e-6, m
        assert abs(m.fit_score(X, Y) - m.fit_score(Y, X)) < 1e-6, m
        assert m.fit_score(X, Y) >= 0, m


# ---------------------------------------------------------------- bad input

def test_bad_input_gives_clear_errors():
    X = rand(0, 50, 3)
    with pytest.raises(ShapeError, match="same number of samples"):
        CKA().fit_score(X, X[:40])
    with pytest.raises(ShapeError, match="same number of samples"):
        Procrustes().fit_score(X, X[:40])
    bad = X.copy()
    bad[3, 1] = np.nan
    for metric in (CKA(), Procrustes(), DSA()):
        with pytest.raises(ShapeError, match="NaN"):
            metric.fit_score(X, bad)
    with pytest.raises(ShapeError, match="rank=7"):
        DSA(rank=7).fit_score(X, X)
    with pytest.raises(ShapeError, match="time points"):
        DSA(n_delays=60).fit_score(X, X)
    with pytest.raises(ShapeError, match="different sizes"):
        pairwise([X, rand(1, 50, 2)], DSA())
    with pytest.raises(ConfigError):
        DSA(rank=3, rank_thresh=0.1)
    with pytest.raises(ConfigError, match="torch device"):
        DSA(device="abacus")
    with pytest.raises(ConfigError):
        CKA(kernel="cosine")
    with pytest.raises(ConfigError, match="unknown metric"):
        pairwise([X], "rsa")
    with pytest.raises(ShapeError, match="expected a 2-d or 3-d"):
        CKA().fit_score(X[0], X[0])


def test_dsa_held_out_scores_use_the_fitted_coordinates():
    """cross_validate(DSA) on an exactly rotated copy: 0 held out in the fitted coordinates (the default),
    far from 0 when each held-out fold gets a DMD fit of its own (held_out="own_fit", the earlier way)."""
    from sklearn.model_selection import KFold, cross_validate

    X = walk(0, trials=16, time=120)
    Y = X @ orthogonal(1, 3)
    default = cross_validate(DSA(n_delays=3, rank=6), X, Y, cv=KFold(4))["test_score"]
    own = cross_validate(DSA(n_delays=3, rank=6, held_out="own_fit"), X, Y, cv=KFold(4))["test_score"]
    assert np.all(default < 1e-8) and np.all(own > 1e-3)
    train, test = [X[:8], Y[:8]], [X[8:], Y[8:]]
    assert pairwise(train, DSA(n_delays=3, rank=6), testdata=test)[0, 1] < 1e-8
    with pytest.raises(ConfigError, match="held_out"):
        DSA(held_out="refit")
