"""Soft-matching distance against independent solves: brute force over permutations and scipy's
linear_sum_assignment for equal widths, the transport linear program (scipy's linprog, written out here)
for unequal widths; the metric axioms across widths."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from scipy.optimize import linear_sum_assignment, linprog

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity import Procrustes, SoftMatching, make, pairwise

from .data import rand, seeds


def _costs(X, Y):
    """Squared distances between the centred units (columns), by broadcasting."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    return ((X[:, :, None] - Y[:, None, :]) ** 2).sum(0)


def _linprog_distance(X, Y):
    """sqrt of the transport LP's optimum with marginals 1/p, 1/q, the constraints written out densely."""
    C = _costs(X, Y)
    p, q = C.shape
    A_eq = np.vstack([np.kron(np.eye(p), np.ones(q)), np.kron(np.ones(p), np.eye(q))])
    res = linprog(C.ravel(), A_eq=A_eq, b_eq=np.r_[np.full(p, 1 / p), np.full(q, 1 / q)], bounds=(0, None))
    assert res.status == 0
    return math.sqrt(res.fun)


@pytest.mark.parametrize("seed", range(3))
def test_equal_widths_is_the_best_permutation(seed):
    X, Y = rand(seed, 20, 6), rand(seed + 10, 20, 6)
    C = _costs(X, Y)
    brute = min(C[np.arange(6), list(pi)].sum() for pi in itertools.permutations(range(6)))
    rows, cols = linear_sum_assignment(C)
    d = SoftMatching().fit_score(X, Y)
    assert d == pytest.approx(math.sqrt(brute / 6), abs=1e-12)
    assert d == pytest.approx(math.sqrt(C[rows, cols].sum() / 6), abs=1e-12)
    # netrep's permutation metric (euclidean, unnormalised) is the same distance times sqrt(p)
    netrep = Procrustes(group="permutation", score_method="euclidean").fit_score(X, Y)
    assert d == pytest.approx(netrep / math.sqrt(6), rel=1e-10)


@pytest.mark.parametrize(("p", "q"), [(5, 3), (4, 6), (7, 2), (6, 9), (1, 4)])
def test_unequal_widths_match_the_transport_linear_program(p, q):
    X, Y = rand(p * q, 15, p), rand(p * q + 1, 15, q)
    m = SoftMatching()
    d = m.fit_score(X, Y)
    assert d == pytest.approx(_linprog_distance(X, Y), abs=1e-9)
    assert torch.allclose(m.plan_.sum(1), torch.full((p,), 1 / p, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(m.plan_.sum(0), torch.full((q,), 1 / q, dtype=torch.float64), atol=1e-12)
    # the LP path (lcm above max_assignment) gives the same optimum as the assignment path
    assert SoftMatching(max_assignment=1).fit_score(X, Y) == pytest.approx(d, abs=1e-9)
    Xh, Yh = m.transform(X, Y)
    assert float(torch.linalg.norm(Xh - Yh)) == pytest.approx(d, abs=1e-12)


AXIOMS = settings(max_examples=15, deadline=None)


@AXIOMS
@given(seed=seeds)
def test_axioms_across_widths(seed):
    """Identity, symmetry, triangle inequality and invariances for networks of 3, 4 and 6 units; duplicated
    units leave the distance 0 (it compares distributions of tuning curves)."""
    rng = np.random.default_rng(seed)
    X, Y, Z = rand(seed, 12, 3), rand(seed + 1, 12, 4), rand(seed + 2, 12, 6)
    m = SoftMatching()
    xy, yz, xz = m.fit_score(X, Y), m.fit_score(Y, Z), m.fit_score(X, Z)
    assert xz <= xy + yz + 1e-9 and xy <= xz + yz + 1e-9 and yz <= xy + xz + 1e-9
    assert m.fit_score(Y, X) == pytest.approx(xy, abs=1e-12)
    assert m.fit_score(X, X) == 0.0
    assert m.fit_score(X, np.concatenate([X, X[:, rng.permutation(3)]], 1)) == pytest.approx(0.0, abs=1e-12)
    shifted = Y[:, rng.permutation(4)] + rng.normal(size=4)
    assert m.fit_score(X, shifted) == pytest.approx(xy, abs=1e-9)
    assert SoftMatching(center=False).fit_score(X, Y + 5.0) != pytest.approx(xy, abs=1e-3)


def test_fit_carries_the_plan_to_held_out_data_and_checks_shapes():
    X, Y = rand(0, 40, 5), rand(1, 40, 3)
    m = SoftMatching().fit(X[:20], Y[:20])
    C = _costs(X[20:], Y[20:])
    assert m.score(X[20:], Y[20:]) == pytest.approx(math.sqrt((m.plan_.numpy() * C).sum()), abs=1e-12)
    with pytest.raises(ConfigError, match="units"):
        m.score(X[20:, :4], Y[20:])
    with pytest.raises(ConfigError, match="zero variance"):
        SoftMatching().fit_score(X, np.ones((40, 3)))
    with pytest.raises(ShapeError):
        SoftMatching().fit_score(X, Y[:30])
    with pytest.raises(ConfigError, match="max_assignment"):
        SoftMatching(max_assignment=0)


def test_registry_and_pairwise_across_widths():
    m = make("measure/khosla23/soft_matching-distance=euclidean")
    assert isinstance(m, SoftMatching) and m.info.metric and m.info.units == "units of the data"
    nets = [rand(k, 16, w) for k, w in enumerate((3, 5, 4))]
    D = pairwise(nets, m)
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert D[0, 1] == pytest.approx(_linprog_distance(nets[0], nets[1]), abs=1e-9)
