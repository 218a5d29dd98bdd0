"""CKA, Procrustes and DSA: closed forms, metric axioms and invariances (hypothesis), bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity import CKA, DSA, Procrustes, cka, dsa, pairwise, procrustes_angle
from brainlearn.similarity.dsa import align_operators, delay_embed, eigenvalue_wasserstein, fit_havok

SETTINGS = settings(max_examples=15, deadline=None)
seeds = st.integers(0, 2**31 - 1)


def rand(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def orthogonal(seed, n, det=1):
    Q, R = np.linalg.qr(rand(seed, n, n))
    Q = Q * np.sign(np.diag(R))
    if np.sign(np.linalg.det(Q)) != det:
        Q[:, 0] *= -1
    return Q


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


# ---------------------------------------------------------------- Procrustes

def test_procrustes_closed_form_and_object_agree():
    X, Y = rand(4, 50, 6), rand(5, 50, 4)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    nuclear = np.linalg.svd(Xc.T @ Yc, compute_uv=False).sum()
    expected = math.acos(nuclear / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))
    assert abs(procrustes_angle(X, Y) - expected) < 1e-8
    assert abs(Procrustes().fit_score(X, Y) - expected) < 1e-8
    assert abs(Procrustes(score_method="euclidean").fit_score(X, Y) - 2 * math.sin(expected / 2)) < 1e-8


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


# ---------------------------------------------------------------- DSA: embedding and DMD

def test_delay_embedding_layout():
    X = np.arange(12.0).reshape(1, 6, 2)
    H = delay_embed(X, n_delays=3, delay_interval=2)
    assert H.shape == (1, 2, 6)
    # row 0 = [x_4, x_2, x_0]
    assert H[0, 0].tolist() == [8, 9, 4, 5, 0, 1]


def test_dmd_recovers_linear_system_eigenvalues():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 5))
    A *= 0.95 / np.abs(np.linalg.eigvals(A)).max()
    x = rng.normal(size=(20, 5))
    traj = [x]
    for _ in range(30):
        x = x @ A.T
        traj.append(x)
    X = np.stack(traj, 1)                                                # (20 trials, 31, 5)
    fit = fit_havok(X)
    assert fit.rank == 5
    ours = np.sort_complex(np.round(fit.eigenvalues, 12))
    true = np.sort_complex(np.round(np.linalg.eigvals(A), 12))
    assert np.max(np.abs(ours - true)) < 1e-6
    assert eigenvalue_wasserstein(fit, A) < 1e-6


def test_full_rank_dsa_is_invariant_to_invertible_maps():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 300, 3)).cumsum(1) * 0.05
    M = rng.normal(size=(3, 3)) + 2 * np.eye(3)
    metric = DSA(n_delays=3)
    assert metric.fit_score(X, X @ M) < 0.03
    assert metric.fit_score(X, X @ orthogonal(2, 3, det=-1)) < 1e-6


# ---------------------------------------------------------------- DSA: the solver

@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("det", [1, -1])
def test_exactly_conjugate_pair_scores_zero(n, det):
    A = rand(n, n, n)
    A *= 0.95 / np.abs(np.linalg.eigvals(A)).max()
    Q = orthogonal(n + 1, n, det)
    res = align_operators(A, Q @ A @ Q.T)
    assert float(res.angle[0]) < 0.02
    C = res.C[0].numpy()
    assert np.abs(C.T @ C - np.eye(n)).max() < 1e-10


@settings(max_examples=8, deadline=None)
@given(seeds)
def test_dsa_angle_axioms(seed):
    n = 6
    A, B, Z = (torch.tensor(rand(seed + k, n, n)) for k in range(3))
    Q = torch.tensor(orthogonal(seed, n, det=-1))
    lefts, rights = zip((A, A), (A, B), (B, A), (A, Z), (B, Z), (A, Q @ A @ Q.T), (A, 3.0 * A))
    d_aa, d_ab, d_ba, d_az, d_bz, d_conj, d_scaled = align_operators(torch.stack(lefts), torch.stack(rights)).angle
    assert d_aa < 1e-3 and d_scaled < 1e-6 and d_conj < 0.02
    assert abs(d_ab - d_ba) < 0.02
    assert d_az <= d_ab + d_bz + 0.02


def test_hessian_diagonal_matches_autograd():
    """The preconditioner: the diagonal of the Hessian of w -> g(C cayley(Omega(w))) at 0, by autograd."""
    n = 5
    A0, B0 = (dsa._traceless(torch.tensor(rand(k, 1, n, n))) for k in (1, 2))
    C = torch.tensor(orthogonal(3, n))[None]
    i, j = torch.triu_indices(n, n, 1)

    def g(w):
        Om = torch.zeros(n, n, dtype=torch.float64).index_put((i, j), w).index_put((j, i), -w)
        X = C[0] @ dsa._cayley(Om[None])[0]
        return torch.trace(A0[0].T @ X @ B0[0] @ X.T)

    w0 = torch.zeros(len(i), dtype=torch.float64)
    H = torch.autograd.functional.hessian(g, w0)
    At = dsa._conjugated(C, A0)
    grad = torch.autograd.functional.jacobian(g, w0)
    assert torch.allclose(2 * dsa._value_and_gradient(At, B0)[1][0, i, j], grad, atol=1e-12)
    assert torch.allclose(dsa._hessian_diagonal(At, B0)[0, i, j], H.diagonal(), atol=1e-12)


def test_alignment_is_exactly_symmetric_and_blocks_do_not_change_it(monkeypatch):
    A, B = (torch.tensor(rand(k, 6, 7, 7)) for k in (4, 5))
    ab, ba = align_operators(A, B), align_operators(B, A)
    assert torch.allclose(ab.angle, ba.angle, atol=1e-12, rtol=0) and torch.equal(ab.C, ba.C.mT)
    monkeypatch.setattr(dsa, "_chunk_size", lambda *args: 1)      # one pair per batch
    one = align_operators(A, B)
    assert torch.allclose(one.angle, ab.angle, atol=1e-12, rtol=0) and bool(ab.converged.all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_alignment_on_cuda_matches_cpu():
    A, B = (torch.tensor(rand(k, 20, 10, 10)) for k in (6, 7))
    cpu, gpu = align_operators(A, B), align_operators(A.cuda(), B.cuda())
    assert gpu.angle.device.type == "cuda" and torch.allclose(gpu.angle.cpu(), cpu.angle, atol=1e-8)
    X = rand(8, 5, 100, 3).cumsum(1) * 0.1
    Y = X[..., ::-1] + rand(9, 5, 100, 3) * 0.01
    assert abs(DSA(n_delays=2, device="cuda").fit_score(X, Y) - DSA(n_delays=2).fit_score(X, Y)) < 1e-8


def test_pairwise_matches_one_at_a_time_and_is_symmetric():
    systems = [np.random.default_rng(s).normal(size=(5, 100, 2)).cumsum(1) * 0.1 for s in range(4)]
    for metric in (CKA(), Procrustes(), DSA(n_delays=2, rank=4), DSA(n_delays=2, score_method="wasserstein")):
        D = pairwise(systems, metric)
        assert D.shape == (4, 4) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
        assert abs(D[0, 1] - metric.fit_score(systems[0], systems[1])) < 1e-6
    B = pairwise(systems[:2], "cka", others=systems)
    assert B.shape == (2, 4) and B[1, 1] < 1e-6


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
