"""The measure registry, each measure against its reference formula (independent numpy/scipy/sklearn
transcriptions; rsatoolbox itself where it is installed), and the axioms every measure declares, as
property tests over all identifiers."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import pdist
from scipy.stats import kendalltau, spearmanr

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity import CCA, RSA, LinearPredictivity, Procrustes, identifiers, make, pairwise
from brainlearn.similarity._base import INVARIANCES
from brainlearn.similarity.measures import rdm

from .data import orthogonal, rand, seeds

AXIOMS = settings(max_examples=10, deadline=None)


# ---------------------------------------------------------------------------------------------- registry

def test_registry_resolves_every_identifier_and_declares_it():
    ids = identifiers()
    assert len(ids) >= 25 and all(i.startswith("measure/") and i.count("/") == 2 for i in ids)
    for name in ids:
        m = make(name)
        info = m.info
        assert info.direction in ("similarity", "distance")
        assert info.range[0] <= info.identity <= info.range[1]
        assert set(info.invariances) <= set(INVARIANCES)
        assert not info.metric or (info.direction == "distance" and info.symmetric)
        assert make(name) is not m                                   # a new object each call
    p = make("measure/netrep/procrustes-distance=angular")
    assert isinstance(p, Procrustes) and p.score_method == "angular" and p.alpha == 1.0


def test_registry_numbered_families_and_errors():
    m = make("measure/netrep/shape_metric-alpha=0.25-distance=euclidean")
    assert (m.alpha, m.score_method) == (0.25, "euclidean")
    assert make("measure/svcca/svcca-var=0.95-score").keep_variance == 0.95
    assert make("measure/kornblith19/cka-kernel=rbf-sigma=0.5-hsic=gretton-score").sigma == 0.5
    assert make("cka").info.units == "radians"
    with pytest.raises(ConfigError, match="unknown metric"):
        make("measure/netrep/procrustes-distance=cosine")
    with pytest.raises(ConfigError):
        make("measure/netrep/shape_metric-alpha=2-distance=angular")     # alpha out of [0, 1]
    with pytest.raises(ConfigError):
        make(3)


# ---------------------------------------------------------------------------------------------- references

def _canonical_correlations(X, Y):
    """sqrt of the eigenvalues of Sxx^-1 Sxy Syy^-1 Syx (Hotelling), and X's canonical weights."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = X.T @ X, Y.T @ Y, X.T @ Y
    M = np.linalg.solve(Sxx, Sxy) @ np.linalg.solve(Syy, Sxy.T)
    ev, W = np.linalg.eig(M)
    order = np.argsort(-ev.real)[: min(X.shape[1], Y.shape[1])]
    return np.sqrt(np.clip(ev.real[order], 0, 1)), W.real[:, order]


def test_cca_family_matches_closed_forms():
    X = rand(0, 80, 4)
    Y = X[:, :3] @ rand(1, 3, 6) + rand(2, 80, 6)
    rho, Wx = _canonical_correlations(X, Y)
    assert CCA().fit_score(X, Y) == pytest.approx(rho.mean(), abs=1e-10)
    qx, qy = np.linalg.qr(X - X.mean(0))[0], np.linalg.qr(Y - Y.mean(0))[0]       # Kornblith's cca
    r2 = np.linalg.norm(qx.T @ qy) ** 2 / 4
    assert CCA(summary="mean_squared").fit_score(X, Y) == pytest.approx(r2, abs=1e-10)
    # PWCCA (Morcos et al.): X has fewer units; its canonical variates, orthonormalised, weight the rho
    H = np.linalg.qr((X - X.mean(0)) @ Wx)[0]
    w = np.abs(H.T @ (X - X.mean(0))).sum(1)
    assert CCA(summary="pwcca").fit_score(X, Y) == pytest.approx(np.sum(w / w.sum() * rho), abs=1e-8)
    # SVCCA: keep the top components reaching 99% of the variance, then CCA
    def reduce(A, v):
        A = A - A.mean(0)
        U, S, _ = np.linalg.svd(A, full_matrices=False)
        r = int(np.searchsorted(np.cumsum(S**2) / np.sum(S**2), v) + 1)
        return U[:, :r] * S[:r]
    Z = np.c_[X, 1e-3 * rand(3, 80, 2)]                                  # 2 near-empty directions dropped
    rho_r, _ = _canonical_correlations(reduce(Z, 0.99), reduce(Y, 0.99))
    assert CCA(keep_variance=0.99).fit_score(Z, Y) == pytest.approx(rho_r.mean(), abs=1e-10)
    # netrep's alpha = 0 shape metric whitens both sides: arccos(sum rho / sqrt(p q))
    assert make("measure/netrep/cca-distance=angular").fit_score(X, Y) == pytest.approx(
        math.acos(rho.sum() / math.sqrt(4 * 6)), abs=1e-8)
    with pytest.raises(ShapeError, match="more samples than"):
        CCA().fit_score(X[:10], Y[:10])


def test_shape_metric_family_matches_scipy():
    X, Y = rand(0, 50, 5), rand(1, 50, 5) + rand(0, 50, 5)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    R = orthogonal_procrustes(Yc, Xc)[0]
    cos = np.sum(Xc * (Yc @ R)) / (np.linalg.norm(Xc) * np.linalg.norm(Yc))
    assert make("measure/netrep/nbs-score").fit_score(X, Y) == pytest.approx(cos, abs=1e-12)
    assert make("measure/netrep/bures-distance").fit_score(X, Y) == pytest.approx(np.linalg.norm(Xc - Yc @ R),
                                                                                   abs=1e-10)
    # permutation: brute force over all 5! relabellings
    best = max(np.sum(Xc * Yc[:, list(p)]) for p in itertools.permutations(range(5)))
    angle = math.acos(best / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))
    assert make("measure/netrep/permutation-distance=angular").fit_score(X, Y) == pytest.approx(angle, abs=1e-12)
    p = max(itertools.permutations(range(5)), key=lambda p: np.sum(Xc * Yc[:, list(p)]))
    assert make("measure/netrep/permutation-distance=euclidean").fit_score(X, Y) == pytest.approx(
        np.linalg.norm(Xc - Yc[:, list(p)]), abs=1e-10)                      # netrep: unnormalised


@pytest.mark.parametrize("compare", ["cosine", "corr", "spearman", "tau_a"])
def test_rsa_matches_scipy(compare):
    X, Y = rand(0, 15, 6), rand(1, 15, 4) + rand(0, 15, 6)[:, :4]
    refs = {"squared_euclidean": lambda Z: pdist(Z, "sqeuclidean") / Z.shape[1],
            "euclidean": lambda Z: np.sqrt(pdist(Z, "sqeuclidean") / Z.shape[1]),
            "correlation": lambda Z: pdist(Z, "correlation")}
    cmp = {"cosine": lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b),
           "corr": lambda a, b: np.corrcoef(a, b)[0, 1],
           "spearman": lambda a, b: spearmanr(a, b).statistic,
           "tau_a": lambda a, b: kendalltau(a, b).statistic}[compare]       # tau_b = tau_a without ties
    for name, ref in refs.items():
        np.testing.assert_allclose(rdm(X, name).numpy(), ref(X), atol=1e-12)
        assert RSA(name, compare).fit_score(X, Y) == pytest.approx(cmp(ref(X), ref(Y)), abs=1e-10)


def test_crossnobis_is_the_cross_validated_distance():
    X = rand(0, 4, 8, 5)
    i, j = np.triu_indices(8, 1)
    ref = np.mean([(X[a, i] - X[a, j]) @ (X[b, i] - X[b, j]).T for a in range(4) for b in range(4) if a != b],
                  axis=0).diagonal() / 5
    np.testing.assert_allclose(rdm(X, "crossnobis").numpy(), ref, atol=1e-12)
    # unbiased: for pure noise around identical conditions its mean is ~0, where the plain distance is > 0
    noise = rand(1, 6, 20, 200)
    assert abs(rdm(noise, "crossnobis").mean()) < 0.05 < rdm(noise[0], "squared_euclidean").mean()


def test_rsa_matches_rsatoolbox_when_installed():
    rt = pytest.importorskip("rsatoolbox")
    X, Y = rand(0, 12, 6), rand(1, 12, 5)
    for ours, theirs in (("squared_euclidean", "euclidean"), ("correlation", "correlation")):
        rx, ry = (rt.rdm.calc_rdm(rt.data.Dataset(Z), method=theirs) for Z in (X, Y))
        for c in ("cosine", "corr", "spearman", "tau_a"):
            ref = rt.rdm.compare(rx, ry, method=c.replace("_", "-"))[0, 0]
            assert RSA(ours, c).fit_score(X, Y) == pytest.approx(ref, abs=1e-10)


def test_linear_predictivity_is_sklearns_cross_validated_ridge():
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict

    X = rand(0, 100, 6)
    Y = X @ rand(1, 6, 3) + 0.5 * rand(2, 100, 3)
    pred = cross_val_predict(RidgeCV(alphas=10.0 ** np.arange(-8, 9)), X, Y, cv=KFold(5))
    m = LinearPredictivity()
    assert m.fit_score(X, Y) == pytest.approx(r2_score(Y, pred), abs=1e-10)
    assert m.score(X, Y) == pytest.approx(r2_score(Y, RidgeCV(alphas=10.0 ** np.arange(-8, 9)).fit(X, Y).predict(X)))
    assert LinearPredictivity(multioutput="variance_weighted").fit_score(X, Y) == pytest.approx(
        r2_score(Y, pred, multioutput="variance_weighted"), abs=1e-10)
    with pytest.raises(ConfigError):
        LinearPredictivity(alphas=())
    D = pairwise([X, Y, X + 1], m)                                    # not symmetric: both orders
    assert D[0, 1] == pytest.approx(m.fit_score(X, Y)) and D[1, 0] == pytest.approx(m.fit_score(Y, X))
    assert np.all(np.diag(D) == 1.0)


# ---------------------------------------------------------------------------------------------- axioms

def _data(name, seed, width=5):
    """Inputs of the kind the measure takes: (samples, units), (conditions, units), (partitions, conditions,
    units) or (trials, time, units)."""
    if "crossnobis" in name:
        return rand(seed, 3, 12, width)
    if "/rsatoolbox/" in name:
        return rand(seed, 12, width)
    if "/dsa/" in name:
        rng = np.random.default_rng(seed)
        A = np.linalg.qr(rng.normal(size=(3, 3)))[0] * 0.9
        X = np.empty((4, 40, 3))
        X[:, 0] = rng.normal(size=(4, 3))
        for t in range(1, 40):
            X[:, t] = X[:, t - 1] @ A.T + 0.1 * rng.normal(size=(4, 3))
        return X @ rng.normal(size=(3, width)) if width != 3 else X
    return rand(seed, 60, width) @ np.diag(np.linspace(0.5, 2, width))


def _transformed(kind, X, seed):
    p = X.shape[-1]
    return {"translation": lambda: X + rand(seed, p),
            "isotropic-scaling": lambda: 3.7 * X,
            "orthogonal": lambda: X @ orthogonal(seed, p),
            "permutation": lambda: X[..., np.random.default_rng(seed).permutation(p)],
            "invertible-linear": lambda: X @ (np.eye(p) + 0.3 * rand(seed, p, p))}[kind]()


def _tol(name):
    return 1e-3 if "ridge" in name else 1e-6


IDS = identifiers()


@pytest.mark.parametrize("name", IDS)
@AXIOMS
@given(seed=seeds)
def test_axioms_identity_symmetry_range_invariances(name, seed):
    m, tol = make(name), _tol(name)
    info = m.info
    dsa = "/dsa/" in name
    X = _data(name, seed, 3 if dsa else 5)
    Y = 0.7 * X + _data(name, seed + 1, 3 if dsa else 5)
    assert m.fit_score(X, X) == pytest.approx(info.identity, abs=tol)
    xy = m.fit_score(X, Y)
    assert info.range[0] - 1e-12 <= xy <= info.range[1] + 1e-12
    if info.symmetric:
        assert m.fit_score(Y, X) == pytest.approx(xy, abs=tol)
    for kind in info.invariances:
        assert m.fit_score(X, _transformed(kind, Y, seed)) == pytest.approx(xy, abs=tol), kind
        assert m.fit_score(_transformed(kind, X, seed), Y) == pytest.approx(xy, abs=tol), kind


@pytest.mark.parametrize("name", [n for n in IDS if make(n).info.metric])
@AXIOMS
@given(seed=seeds)
def test_axioms_triangle_inequality(name, seed):
    m = make(name)
    dsa = "/dsa/" in name
    X, Y, Z = (_data(name, seed + k, 3 if dsa else 5) for k in range(3))
    Y = Y + 0.5 * X
    assert m.fit_score(X, Z) <= m.fit_score(X, Y) + m.fit_score(Y, Z) + 1e-9


@pytest.mark.parametrize("name", IDS)
def test_bad_input_raises_clear_errors(name):
    m = make(name)
    dsa = "/dsa/" in name
    X = _data(name, 0, 3 if dsa else 5)
    bad = X.copy()
    bad.flat[3] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        m.fit_score(X, bad)
    with pytest.raises((ShapeError, ConfigError), match="constant|zero variance|undefined|does not change"):
        m.fit_score(X, np.ones_like(X))
    # too few: 1 sample; 2 conditions (RSA); 1 partition (crossnobis); 1 time point (DSA)
    few = X[:1] if "crossnobis" in name else X[:, :1] if dsa else X[:2] if "/rsatoolbox/" in name else X[:1]
    with pytest.raises(ShapeError):
        m.fit_score(few, few)


def test_bad_options_name_the_parameter():
    for build, name in ((lambda: CCA(summary="max"), "summary"), (lambda: RSA(rdm="cosine"), "rdm"),
                        (lambda: RSA(compare="kendall"), "compare"),
                        (lambda: LinearPredictivity(multioutput="raw_values"), "multioutput"),
                        (lambda: CCA(keep_variance=1.5), "keep_variance")):
        with pytest.raises(ConfigError, match=name):
            build()
