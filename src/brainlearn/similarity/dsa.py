"""Dynamical similarity analysis (Ostrow, Eisen, Kozachkov & Fiete, NeurIPS 2023), with a fast solver.

1. **Delay embedding.** X (trials K, time T, units N) becomes the Hankel tensor H (K, T', N d),
   T' = T - (d-1) tau, whose row t is [x_{t+(d-1)tau}, ..., x_{t+tau}, x_t] (newest first).
2. **HAVOK / DMD.** With the thin SVD of the stacked embedding H = V S U^T (V: (K T', p) whitened
   "eigen-time-delay" coordinates), keep r columns of V, split them within each trial into V- (times
   t) and V+ (times t+1) and fit the ridge regression

       A = [ (V-^T V- + lambda I)^(-1) V-^T V+ ]^T        (r, r),

   the linear operator advancing the whitened state one step. At full rank A is invariant, up to
   an orthogonal change of basis, to any invertible linear map of the data; rank truncation breaks
   that (the order of the singular values changes).
3. **Similarity-transform distance** between operators A and B (unit Frobenius norm):

       theta(A, B) = min_{C in O(r)} arccos( tr(A^T C B C^T) ),    in radians, in [0, pi].

   Solved here directly on the orthogonal group (no over-parametrised network): Riemannian L-BFGS
   on g(C) = tr(A0^T C B0 C^T) (A0, B0 the traceless parts, which have the same maximiser),
   preconditioned by the inverse of the Hessian's diagonal, with Cayley-retraction steps and Armijo
   backtracking. Starts: identity, a reflection (det -1), two eigenbasis warm starts (the symmetric
   parts, and A^T A against B^T B) with signs fixed from the operators, their reflections, and random
   Haar orthogonal matrices (with their transposes). Each pair is solved in one canonical order, so
   the distance is exactly symmetric. Blocks of pairs x starts run as one batched tensor program (on
   any torch device); a start stops when its Riemannian gradient is below ``tol``, and the best start
   per pair is kept.
4. **Eigenvalue-Wasserstein variant** (Redman et al.): the 2-Wasserstein distance between the
   eigenvalues of A and B as uniform point clouds in the complex plane (the shorter list padded with
   zeros). Needs no optimisation and is similarity invariant by construction.

Units (every score is a **distance**, 0 for identical dynamics, symmetric): ``score_method="angular"``
radians, in [0, pi]; ``"euclidean"`` ||A^ - C B^ C^T||_F = 2 sin(theta/2) on unit-norm operators,
dimensionless, in [0, 2]; ``"wasserstein"`` W2 between eigenvalues, in the units of the eigenvalues
(per-step multipliers, dimensionless), in [0, inf) (the reference library ``DSA`` reports W2 squared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity._base import MeasureInfo, Metric, as_float64, check_int, check_score_method

SCORE_METHODS = ("angular", "euclidean", "wasserstein")


# ----------------------------------------------------------------------------------------------
# 1-2. Delay embedding and the HAVOK/DMD fit

def delay_embed(X, n_delays: int = 1, delay_interval: int = 1) -> torch.Tensor:
    """Hankel embedding (K, T', N*d) of X (T, N) or (K, T, N); row t is [x_{t+(d-1)tau}, ..., x_t]."""
    X = as_float64(X, "X")
    if X.ndim == 2:
        X = X[None]
    if n_delays < 1 or delay_interval < 1:
        raise ConfigError(f"n_delays and delay_interval must be >= 1, got {n_delays} and {delay_interval}")
    K, T, N = X.shape
    T_emb = T - (n_delays - 1) * delay_interval
    if T_emb < 1:
        raise ShapeError(f"X has {T} time points but n_delays={n_delays}, delay_interval={delay_interval} "
                         f"need more than {(n_delays - 1) * delay_interval}")
    lags = (n_delays - 1 - torch.arange(n_delays)) * delay_interval          # newest first
    index = torch.arange(T_emb)[:, None] + lags[None, :]                     # (T', d)
    return X[:, index, :].reshape(K, T_emb, n_delays * N)


@dataclass(frozen=True)
class DMDFit:
    """A fitted HAVOK/DMD model: ``A`` (r, r) float64 is what DSA compares.

    Attributes:
        A: the operator in whitened delay coordinates, V+ ~= V- A^T.
        singular_values: all singular values of the delay embedding (descending).
        rank: r, the number of kept components.
        n_delays, delay_interval, lamb: the settings used.
        basis: (N d, r) the map from an embedded row to the whitened coordinates, Vh_r^T / S_r (so that
            V = H basis); :func:`fit_in_basis` fits other data's operator in these coordinates.
    """

    A: torch.Tensor
    singular_values: torch.Tensor
    rank: int
    n_delays: int
    delay_interval: int
    lamb: float
    basis: torch.Tensor | None = None

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of A (complex, unsorted)."""
        return torch.linalg.eigvals(self.A).numpy()

    @property
    def explained_variance(self) -> float:
        """Fraction of the embedding's variance (S^2) in the kept components."""
        s2 = self.singular_values.square()
        return float(s2[: self.rank].sum() / s2.sum())


def select_rank(singular_values: torch.Tensor, rank: int | None = None, rank_thresh: float | None = None,
                rank_explained_variance: float | None = None) -> int:
    """The rank chosen by at most one of: an int, a singular-value threshold, an explained-variance level.

    With none of them, the numerical rank (singular values above 10 p eps s_max) is kept.
    """
    given = [v is not None for v in (rank, rank_thresh, rank_explained_variance)]
    if sum(given) > 1:
        raise ConfigError("give at most one of rank, rank_thresh, rank_explained_variance")
    p = len(singular_values)
    if rank is not None:
        if not 1 <= rank <= p:
            raise ShapeError(f"rank={rank} must be between 1 and the embedding dimension {p} "
                             f"(units x n_delays, or the number of samples if smaller)")
        return int(rank)
    if rank_thresh is not None:
        return max(1, int((singular_values > rank_thresh).sum()))
    if rank_explained_variance is not None:
        if not 0 < rank_explained_variance <= 1:
            raise ConfigError(f"rank_explained_variance must be in (0, 1], got {rank_explained_variance}")
        cum = torch.cumsum(singular_values.square(), 0) / singular_values.square().sum()
        return min(p, int((cum < rank_explained_variance - 1e-12).sum()) + 1)
    # full rank = numerical rank: components at rounding level would make the regression meaningless
    return max(1, int((singular_values > singular_values[0] * p * torch.finfo(torch.float64).eps * 10).sum()))


def _check_lamb(lamb: float) -> None:
    if not (isinstance(lamb, int | float) and math.isfinite(lamb) and lamb >= 0):
        raise ConfigError(f"lamb must be a finite number >= 0, got {lamb!r}")


def _check_rank_thresh(rank_thresh: float | None) -> None:
    if rank_thresh is not None and not (isinstance(rank_thresh, int | float) and math.isfinite(rank_thresh)
                                        and rank_thresh >= 0):
        raise ConfigError(f"rank_thresh must be a finite number >= 0, got {rank_thresh!r}")


def fit_havok(X, n_delays: int = 1, delay_interval: int = 1, rank: int | None = None,
              rank_thresh: float | None = None, rank_explained_variance: float | None = None,
              lamb: float = 0.0) -> DMDFit:
    """Fit the HAVOK/DMD operator of X (T, N) or (K, T, N) in float64; see the module docstring."""
    _check_lamb(lamb)
    _check_rank_thresh(rank_thresh)
    H = delay_embed(X, n_delays, delay_interval)
    if bool((H[:, 1:] == H[:, :-1]).all()):
        raise ShapeError("X does not change over time: a system without dynamics has no DMD operator to compare")
    K, T_emb, D = H.shape
    if T_emb < 2:
        raise ShapeError(f"need at least 2 time points after delay embedding, got {T_emb}")
    if K * T_emb < D:
        raise ShapeError(f"the delay embedding has {K * T_emb} samples but {D} dimensions; "
                         "use fewer delays (or more data)")
    U, S, Vh = torch.linalg.svd(H.reshape(K * T_emb, D), full_matrices=False)
    r = select_rank(S, rank, rank_thresh, rank_explained_variance)
    A = _regress(U[:, :r].reshape(K, T_emb, r), lamb)
    return DMDFit(A, S, r, n_delays, delay_interval, float(lamb), Vh[:r].T / S[:r])


def _regress(V: torch.Tensor, lamb: float) -> torch.Tensor:
    """A with V+ ~= V- A^T, V (K, T', r) split within each trial; ridge `lamb` as augmented least squares."""
    r = V.shape[-1]
    V_minus, V_plus = V[:, :-1].reshape(-1, r), V[:, 1:].reshape(-1, r)
    if lamb > 0:
        eye = math.sqrt(lamb) * torch.eye(r, dtype=V.dtype)
        V_minus, V_plus = torch.cat([V_minus, eye]), torch.cat([V_plus, torch.zeros_like(eye)])
    return torch.linalg.lstsq(V_minus, V_plus, driver="gelsd").solution.T.contiguous()   # V- coef = V+


def fit_in_basis(X, fit: DMDFit) -> DMDFit:
    """The DMD operator of X (T, N) or (K, T, N) in the whitened delay coordinates of another fit: X is
    embedded with ``fit``'s delays, mapped by ``fit.basis`` and regressed as in :func:`fit_havok`. This is
    how DSA scores held-out data: in the coordinates, and so under the alignment C, learnt on training data.
    The result keeps ``fit``'s singular values, rank and basis."""
    if fit.basis is None:
        raise ConfigError("this DMDFit has no basis (made by hand?): fit it with fit_havok")
    H = delay_embed(X, fit.n_delays, fit.delay_interval)
    if H.shape[2] != fit.basis.shape[0]:
        raise ShapeError(f"X has {H.shape[2] // fit.n_delays} units, the fit {fit.basis.shape[0] // fit.n_delays}")
    if H.shape[1] < 2:
        raise ShapeError(f"need at least 2 time points after delay embedding, got {H.shape[1]}")
    if bool((H[:, 1:] == H[:, :-1]).all()):
        raise ShapeError("X does not change over time: a system without dynamics has no DMD operator to compare")
    return DMDFit(_regress(H @ fit.basis, fit.lamb), fit.singular_values, fit.rank, fit.n_delays,
                  fit.delay_interval, fit.lamb, fit.basis)


@dataclass(frozen=True)
class EmbeddingChoice:
    """The result of :func:`select_embedding`: the chosen ``n_delays`` and ``rank``, and ``errors``, the
    held-out one-step normalised prediction error of every (delays, rank) cell (NaN where the rank exceeds
    the embedding), indexed as ``errors[delays.index(d), ranks.index(r)]``."""

    n_delays: int
    rank: int
    delays: tuple[int, ...]
    ranks: tuple[int, ...]
    errors: np.ndarray


def select_embedding(X, delays=(1, 2, 5, 10, 20), ranks=(2, 5, 10, 15, 20), delay_interval: int = 1,
                     test_fraction: float = 0.25, tolerance: float = 0.01) -> EmbeddingChoice:
    """Choose DSA's delays and rank by held-out one-step prediction.

    Every m-th trial of X (K trials, T, N units), m = round(1 / test_fraction), is held out (interleaved,
    so trials stored in blocks by condition are held out from every block). For every number
    of delays d, the training trials' delay embedding H = W S Vh is decomposed once; for every rank r the
    DMD operator A is fitted in the whitened coordinates v = H Vh_r^T / S_r (as :func:`fit_havok` does) and
    the held-out trials are predicted one step ahead, ^x_{t+1} = the newest block of (v_t A^T) S_r Vh_r. The
    score is the error of that prediction relative to the persistence forecast x_t,
    NMSE = sum ||^x_{t+1} - x_{t+1}||^2 / sum ||x_t - x_{t+1}||^2 (1: no better than "nothing changes"; the
    same held-out steps for every cell, so comparable across d and r). **The rule:** among the cells whose
    NMSE is within ``tolerance`` (absolute; default 0.01) of the smallest, take the simplest model: the
    fewest parameters r^2, then the fewest delays.
    """
    X = as_float64(X, "X", (3,))
    K = X.shape[0]
    if K < 2:
        raise ShapeError(f"select_embedding holds out trials: X needs at least 2 trials, got {K}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    delays, ranks = tuple(int(d) for d in delays), tuple(int(r) for r in ranks)
    if not delays or not ranks or min(delays) < 1 or min(ranks) < 1:
        raise ConfigError(f"delays and ranks must be non-empty positive integers, got {delays} and {ranks}")
    m = max(2, round(1 / test_fraction))
    held = torch.arange(K) % m == m - 1 if K >= m else torch.arange(K) == K - 1
    train, test = X[~held], X[held]
    N = X.shape[2]
    errors = np.full((len(delays), len(ranks)), np.nan)
    for a, d in enumerate(delays):                              # one SVD per delay count, not per cell
        Htr, Hte = delay_embed(train, d, delay_interval), delay_embed(test, d, delay_interval)
        if Htr.shape[1] < 2:
            continue
        _, S, Vh = torch.linalg.svd(Htr.reshape(-1, Htr.shape[2]), full_matrices=False)
        target = Hte[:, 1:, :N].reshape(-1, N)                  # newest block of the next embedded row
        var = (target - Hte[:, :-1, :N].reshape(-1, N)).square().sum()   # the persistence forecast's error
        for b, r in enumerate(ranks):
            if r > int((S > S[0] * len(S) * torch.finfo(S.dtype).eps * 10).sum()):
                continue
            basis = Vh[:r].T / S[:r]                            # embedding -> whitened coordinates
            v = (Htr @ basis)
            coef = torch.linalg.lstsq(v[:, :-1].reshape(-1, r), v[:, 1:].reshape(-1, r), driver="gelsd").solution
            pred = ((Hte[:, :-1] @ basis) @ coef) @ (S[:r, None] * Vh[:r])
            errors[a, b] = float((pred[..., :N].reshape(-1, N) - target).square().sum() / var)
    if np.all(np.isnan(errors)):
        raise ShapeError("no (delays, rank) cell could be fitted: too few time points or too small an embedding")
    ok = errors <= np.nanmin(errors) + tolerance
    cells = [(ranks[b] ** 2, delays[a], a, b) for a, b in zip(*np.nonzero(ok))]
    _, _, a, b = min(cells)
    return EmbeddingChoice(delays[a], ranks[b], delays, ranks, errors)


# ----------------------------------------------------------------------------------------------
# 3. The similarity-transform distance, solved on O(n), batched over pairs and restarts

@dataclass
class Alignment:
    """Result of :func:`align_operators` for P pairs.

    Attributes:
        angle: (P,) theta(A_i, B_i) in radians.
        C: (P, n, n) orthogonal maps, A_i ~= C_i B_i C_i^T (after unit-norm scaling).
        converged: (P,) whether the best angle is confirmed: the best start reached the gradient
            tolerance and another start reached the same angle (see :func:`align_operators`).
        n_iter: (P,) iterations the best start ran.
    """

    angle: torch.Tensor
    C: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor


def _unit(A: torch.Tensor) -> torch.Tensor:
    return A / torch.linalg.matrix_norm(A)[:, None, None].clamp_min(1e-300)


def _traceless(A: torch.Tensor) -> torch.Tensor:
    n = A.shape[-1]
    return A - (A.diagonal(dim1=-2, dim2=-1).sum(-1) / n)[:, None, None] * torch.eye(n, dtype=A.dtype, device=A.device)


def _skew(M: torch.Tensor) -> torch.Tensor:
    return (M - M.mT) / 2


#: the symmetric matrices whose eigenbases the warm starts align
_BASES = {"symmetric": lambda A: (A + A.mT) / 2, "gram": lambda A: A.mT @ A}
_WARM_BASES = ("symmetric", "gram")


def _warm_starts(A0: torch.Tensor, B0: torch.Tensor, basis: str = "symmetric") -> tuple[torch.Tensor, torch.Tensor]:
    """Align the eigenbases of a symmetric matrix made from each operator (the symmetric part, or A^T A),
    sorted by eigenvalue; signs from the operators in those bases. Both det signs."""
    _, VA = torch.linalg.eigh(_BASES[basis](A0))
    _, VB = torch.linalg.eigh(_BASES[basis](B0))
    agree = (VA.mT @ A0 @ VA) * (VB.mT @ B0 @ VB)       # >0 where D_i D_j should be +1
    agree = agree - torch.diag_embed(agree.diagonal(dim1=-2, dim2=-1))
    pivot = agree.abs().sum(-1).argmax(-1)              # the row with the most sign information
    ar = torch.arange(len(A0), device=A0.device)
    row = agree[ar, pivot]                              # (P, n)
    signs = torch.where(row < 0, -1.0, 1.0).to(A0.dtype)
    signs[ar, pivot] = 1.0
    C = VA @ torch.diag_embed(signs) @ VB.mT
    is_pivot = torch.arange(A0.shape[-1], device=A0.device)[None] == pivot[:, None]
    weakest = torch.where(is_pivot, torch.inf, row.abs()).argmin(-1)
    flip = torch.ones_like(signs)
    flip[ar, weakest] = -1.0
    C_flip = VA @ torch.diag_embed(signs * flip) @ VB.mT
    return C, C_flip


def _haar(count: int, n: int, generator: torch.Generator) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(count, n, n, generator=generator, dtype=torch.float64))
    Q = Q * torch.sign(R.diagonal(dim1=-2, dim2=-1))[:, None, :]
    Q[1::2, :, 0] *= -1.0                               # Haar on O(n): det is +-1 at random either way
    return Q


def _inner(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    return (X * Y).sum((-2, -1))


def _cayley(D: torch.Tensor) -> torch.Tensor:
    """(I - D/2)^(-1) (I + D/2): orthogonal for skew D, det +1."""
    eye = torch.eye(D.shape[-1], dtype=D.dtype, device=D.device)
    return torch.linalg.solve(eye - D / 2, eye + D / 2)


def _conjugated(C: torch.Tensor, A0: torch.Tensor) -> torch.Tensor:
    """C^T A0 C: in these coordinates g(C X) = tr(At^T X B0 X^T) with At = C^T A0 C."""
    return C.mT @ (A0 @ C)


def _value_and_gradient(At: torch.Tensor, B0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g = tr(At^T B0) and the Riemannian gradient W = skew(At B0^T + At^T B0) in the Lie algebra."""
    return _inner(At, B0), _skew(At @ B0.mT + At.mT @ B0)


def _hessian_diagonal(At: torch.Tensor, B0: torch.Tensor) -> torch.Tensor:
    """The diagonal of the Riemannian Hessian, in O(n^2), as an (M, n, n) symmetric array.

    With f(w) = g(C cayley(sum_{i<j} w_ij E_ij)), E_ij = e_i e_j^T - e_j e_i^T, entry (i, j), i != j, is
    d^2 f / d w_ij^2 at w = 0: -(S_ii + S_jj) - 2 (At_ij B0_ji + At_ji B0_ij - At_ii B0_jj - At_jj B0_ii),
    S = B0 At^T + At^T B0 (the Cayley map agrees with exp to second order, so this is exact).
    """
    S = B0 @ At.mT + At.mT @ B0
    d, a, b = S.diagonal(dim1=-2, dim2=-1), At.diagonal(dim1=-2, dim2=-1), B0.diagonal(dim1=-2, dim2=-1)
    cross = At * B0.mT
    return (-(d[:, :, None] + d[:, None, :]) - 2 * (cross + cross.mT)
            + 2 * (a[:, :, None] * b[:, None, :] + b[:, :, None] * a[:, None, :]))


def _ascend(C: torch.Tensor, A0: torch.Tensor, B0: torch.Tensor, max_iter: int, tol: float, memory: int = 6,
            precondition: bool = True):
    """Maximise g over O(n) from the starts C (M, n, n), all starts in one batch.

    Tangent vectors at C are written C Omega with Omega skew (the Lie algebra); a step is
    C <- C U with U = cayley(t D), Armijo backtracking on t from a step of norm at most 1 (a Cayley
    step never changes det C). The direction D is Riemannian L-BFGS with its memory pairs kept in the
    Lie algebra (moved along by left translation, which costs nothing) and, with `precondition`, the
    inverse of the Hessian's diagonal (:func:`_hessian_diagonal`, O(n^2)) as the initial inverse
    Hessian instead of a scalar: the problem is badly conditioned and this halves the iterations. The
    value and gradient come from At = C^T A0 C, carried along as U^T At U (4 products per step).
    A start stops when its Riemannian gradient norm is below `tol`, or when no step along its direction
    increases g; finished starts are frozen and leave the batch once they are a quarter of it.
    Returns C, g(C), iterations and whether each start stopped on the gradient tolerance.
    """
    M, n, _ = C.shape
    dtype, device = C.dtype, C.device
    out_C, out_g = C.clone(), torch.empty(M, dtype=dtype, device=device)
    n_iter = torch.zeros(M, dtype=torch.long, device=device)
    done = torch.zeros(M, dtype=torch.bool, device=device)
    At = _conjugated(C, A0)
    g, W = _value_and_gradient(At, B0)
    rows, live = torch.arange(M, device=device), torch.ones(M, dtype=torch.bool, device=device)
    S = torch.zeros(M, memory, n, n, dtype=dtype, device=device)   # L-BFGS memory, slot it % memory
    Y = torch.zeros_like(S)
    rho = torch.zeros(M, memory, dtype=dtype, device=device)
    for it in range(max_iter + 1):
        wnorm = torch.linalg.matrix_norm(W)
        finished = live & (wnorm < tol)
        done[rows[finished]] = True
        live = live & ~finished
        n_live = int(live.sum())
        if it == max_iter or n_live == 0 or n_live < 0.75 * len(rows):   # write out, drop the frozen rows
            out_C[rows], out_g[rows] = C, g
            if it == max_iter or n_live == 0:
                break
            rows, C, At, g, W, wnorm, B0 = rows[live], C[live], At[live], g[live], W[live], wnorm[live], B0[live]
            S, Y, rho, live = S[live], Y[live], rho[live], live[live]
        # two-loop recursion for the ascent direction D ~ H W (H: inverse Hessian of -g), newest first
        slots = [(it - 1 - k) % memory for k in range(min(it, memory))]
        q, alphas = W.clone(), []
        for s in slots:
            a = rho[:, s] * _inner(S[:, s], q)
            q -= a[:, None, None] * Y[:, s]
            alphas.append(a)
        scale = 0.1 / wnorm.clamp_min(1e-300)
        if slots:
            yy = rho[:, slots[0]] * _inner(Y[:, slots[0]], Y[:, slots[0]])
            scale = torch.where(rho[:, slots[0]] > 0, 1 / yy.clamp_min(1e-300), scale)
        if precondition:   # initial inverse Hessian: the inverse of the Hessian's diagonal (in matrix units)
            h = _hessian_diagonal(At, B0).abs_()
            D = q.mul_(2 / h.clamp_min_(1e-3 * h.mean((-2, -1), keepdim=True).clamp_min(1e-300)))
        else:             # a scalar: the Barzilai-Borwein step of the newest pair
            D = q.mul_(scale[:, None, None])
        for s, a in zip(reversed(slots), reversed(alphas)):
            D += S[:, s] * (a - rho[:, s] * _inner(Y[:, s], D))[:, None, None]
        slope = _inner(W, D)
        uphill = slope > 0
        D = torch.where(uphill[:, None, None], D, W)                 # safeguard: plain gradient ascent
        slope = torch.where(uphill, slope, wnorm.square())
        D[~live] = 0.0                                                # frozen rows stay where they are
        # Armijo backtracking from t = 1 (steps capped at norm 1), batched over the starts still searching
        t = 1 / torch.linalg.matrix_norm(D).clamp_min(1.0)
        U = _cayley(t[:, None, None] * D)
        At_new = U.mT @ At @ U
        g_new, W_new = _value_and_gradient(At_new, B0)
        searching = live & (g_new < g + 1e-4 * t * slope)
        for _ in range(30):
            idx = searching.nonzero().squeeze(1)
            if len(idx) == 0:
                break
            t[idx] *= 0.5
            u = _cayley(t[idx, None, None] * D[idx])
            at = u.mT @ At[idx] @ u
            gc, wc = _value_and_gradient(at, B0[idx])
            hit = gc >= g[idx] + 1e-4 * t[idx] * slope[idx]
            sel = idx[hit]
            U[sel], At_new[sel], g_new[sel], W_new[sel] = u[hit], at[hit], gc[hit], wc[hit]
            searching[sel] = False
        n_iter[rows[live]] += 1
        if bool(searching.any()):                                     # no ascent left: numerical optimum
            done[rows[searching]] = True
            live = live & ~searching
            t[searching] = 0.0
            U[searching], At_new[searching] = torch.eye(n, dtype=dtype, device=device), At[searching]
            g_new[searching], W_new[searching] = g[searching], W[searching]
        slot = it % memory
        step, dgrad = t[:, None, None] * D, W - W_new                  # y of the minimisation of -g
        sy = _inner(step, dgrad)
        S[:, slot], Y[:, slot] = step, dgrad
        rho[:, slot] = torch.where(sy > 1e-16, 1 / sy.clamp_min(1e-300), 0.0)
        C, At, g, W = C @ U, At_new, g_new, W_new
    return out_C, out_g, n_iter, done


def _chunk_size(n: int, starts: int, device: torch.device) -> int:
    """Pairs per batch: about 2^12 starts of size 10 on a CPU (cache-sized), 2^17 on an accelerator."""
    budget = (2 ** 17 if device.type != "cpu" else 2 ** 12) * 100
    return max(1, budget // (starts * n * n))

def default_random(n: int, n_random: int | None = None, max_random: int | None = None) -> tuple[int, int]:
    """The random rotations per pair for (n, n) operators: ``n_random`` in the first round and ``max_random``
    over all rounds, where None gives the defaults max(16, ceil(n (n-1) / 3)) (two rotations, four starts
    with their transposes, per three dimensions of O(n)) and max(32, 2 n_random).

    Why the dimension: local optima multiply with it, and agreement between starts cannot tell a local
    optimum from the global one when their basins are alike in size; only enough starts can. On random pairs
    of the solver experiment's kind the share of starts that reach the best angle is a median 12% at n = 10
    and 5.5% at n = 20 (192 starts per pair); the number of starts that leaves about one pair in a hundred
    short of the best grows in proportion to n (n-1) (docs/similarity.md)."""
    if n_random is None:
        n_random = max(16, math.ceil(n * (n - 1) / 3))
    return n_random, max(32, 2 * n_random) if max_random is None else max_random


def align_operators(A, B, n_random: int | None = None, max_iter: int = 500, tol: float = 1e-6, seed: int = 0,
                    warm_start: bool = True, device=None, max_random: int | None = None, agree_tol: float = 1e-6,
                    confirm: int = 2) -> Alignment:
    """theta(A_i, B_i) = min_{C in O(n)} arccos tr(A_i^T C B_i C^T) for a batch of pairs.

    Every pair gets 6 structured starts (identity, a reflection, and two eigenbasis warm starts, from the
    symmetric parts and from A^T A, B^T B, each with its reflection, so both det signs) and `n_random`
    random Haar-distributed orthogonal matrices (the same for every pair of the batch), each also used
    transposed. Each pair is solved in one canonical order of its two operators and C is transposed back
    when the order was swapped, so theta(A, B) = theta(B, A) and C_BA = C_AB^T. All starts of a block of
    pairs run as one batch (preconditioned Riemannian L-BFGS on the traceless parts, see :func:`_ascend`;
    blocks of about 4,000 starts on a CPU, 130,000 on an accelerator) and the best one per pair is kept.

    **Confirmed optimum.** The problem has local optima. A pair's best angle counts as found when at least
    two different starts reach it (within `agree_tol` rad) and the best start met the gradient tolerance;
    pairs without such agreement get rounds of max(n_random, 4) fresh random rotations (each also
    transposed), until they agree or `max_random` rotations were tried. ``converged`` reports exactly
    this agreement: False means the angle may still be above the global optimum.

    Args:
        A, B: (P, n, n) or (n, n) operators (any norm; each is scaled to unit Frobenius norm).
        n_random: random rotations per pair in the first round; default None: max(16, ceil(n (n-1) / 3)),
            growing with the dimension of O(n) as its local optima do (:func:`default_random`): 30 at
            n = 10, 127 at n = 20. The earlier default 2 left 29 of 100 random 10 x 10 pairs more than 1e-3
            rad above a 30-restart solve.
        max_iter: iteration cap per start (default 500).
        tol: stop when the norm of the Riemannian gradient (unit-norm operators) is below `tol`.
        seed: seed of the random starts.
        warm_start: include the eigenbasis warm starts (default True; off to test the iteration alone).
        device: where to compute ("cpu", "cuda", ...); default the device of A if it is a tensor, else
            the CPU. Every step is batched tensor code in float64; results come back on that device.
        max_random: the most random rotations per pair over all rounds; default None: max(32, 2 n_random)
            (n_random or less turns the extra rounds off).
        agree_tol: how close (radians) two starts' angles must be to confirm the best one (default 1e-6).
        confirm: how many starts must reach the best angle to confirm it (default 2).
    """
    if device is None:
        device = A.device if isinstance(A, torch.Tensor) else "cpu"
    A, B = as_float64(A, "A", (2, 3)).to(device), as_float64(B, "B", (2, 3)).to(device)
    A, B = (A[None], B[None]) if A.ndim == 2 else (A, B)
    if A.shape != B.shape or A.shape[-1] != A.shape[-2]:
        raise ShapeError(f"A and B must be square and of the same shape, got {tuple(A.shape)} and {tuple(B.shape)}; "
                         "use the same rank for both systems, or score_method='wasserstein'")
    P, n, _ = A.shape
    n_random, max_random = default_random(n, n_random, max_random)
    _check_solver(n_random, max_iter, tol)
    check_int(max_random, "max_random", 0)
    zero = (torch.linalg.matrix_norm(A) == 0) | (torch.linalg.matrix_norm(B) == 0)
    if bool(zero.any()):
        raise ShapeError("the angle between operators is undefined for a zero operator (a system with no "
                         "dynamics, e.g. constant data)")
    A, B = _unit(A), _unit(B)
    # theta(A, B) = theta(B, A) with C_BA = C_AB^T: each pair is solved in one canonical order (the
    # lexicographically larger operator first), so the result does not depend on the order given
    diff = (A - B).flatten(1)
    first = (diff != 0).to(torch.int8).argmax(1)
    swap = diff.gather(1, first[:, None])[:, 0] < 0
    A1, B1 = torch.where(swap[:, None, None], B, A), torch.where(swap[:, None, None], A, B)
    A0, B0 = _traceless(A1), _traceless(B1)

    # Starts (P, R, n, n): identity, reflection, warm start and its reflection, random rotations.
    eye = torch.eye(n, dtype=torch.float64, device=A.device).expand(P, n, n)
    reflect = eye.clone()
    reflect[:, 0, 0] = -1.0
    starts = [eye, reflect, *(c for b in (_WARM_BASES if warm_start else ()) for c in _warm_starts(A0, B0, b))]
    gen = torch.Generator().manual_seed(seed)            # one stream: later rounds continue it
    if n_random:  # the same rotations for every pair, each with its transpose (see the docstring)
        Q = _haar(n_random, n, gen).to(A.device)
        starts += [q.expand(P, n, n) for q in (*Q, *Q.mT)]
    if n == 1:
        starts = starts[:2]
    C = torch.stack(starts, 1)                                                   # (P, R, n, n)
    # pairs that a structured start already aligns exactly (identical or exactly conjugate) need no search
    exact = (torch.linalg.matrix_norm(A1[:, None] - C @ B1[:, None] @ C.mT) < 1e-12).any(1)
    C, angles, n_iter, done = _solve_starts(A1, B1, A0, B0, C, exact, max_iter, tol)
    tried = n_random
    while n > 1:
        best = angles.min(1).values
        agree = (angles <= best[:, None] + agree_tol).sum(1)
        pending = (~exact & (agree < confirm)).nonzero().squeeze(1)
        if len(pending) == 0 or tried >= max_random:
            break
        k = min(max(n_random, 4), max_random - tried)
        Q = _haar(k, n, gen).to(A.device)
        extra = torch.cat([Q, Q.mT])[None].expand(len(pending), 2 * k, n, n)
        no = torch.zeros(len(pending), dtype=torch.bool, device=A.device)
        Cx, ax, ix, dx = _solve_starts(A1[pending], B1[pending], A0[pending], B0[pending], extra, no, max_iter, tol)
        C, angles, n_iter, done = (_pad_starts(C, 2 * k, 0.0), _pad_starts(angles, 2 * k, torch.inf),
                                   _pad_starts(n_iter, 2 * k, 0), _pad_starts(done, 2 * k, False))
        C[pending, -2 * k:], angles[pending, -2 * k:], n_iter[pending, -2 * k:], done[pending, -2 * k:] = \
            Cx, ax, ix, dx
        tried += k
    best = angles.argmin(1)
    rows = torch.arange(P, device=A.device)
    agree = (angles <= angles[rows, best][:, None] + agree_tol).sum(1)
    confirmed = exact | (done[rows, best] & ((agree >= confirm) | (n == 1)))
    C = C[rows, best]
    C = torch.where(swap[:, None, None], C.mT, C)
    chord = torch.linalg.matrix_norm(A - C @ B @ C.mT)
    angle = 2 * torch.asin((chord / 2).clamp(max=1.0))
    return Alignment(angle, C, confirmed, n_iter[rows, best])


def _pad_starts(t: torch.Tensor, k: int, fill) -> torch.Tensor:
    """`t` (P, R, ...) with k more starts along dim 1, filled with `fill`."""
    return torch.cat([t, torch.full((t.shape[0], k, *t.shape[2:]), fill, dtype=t.dtype, device=t.device)], 1)


def _solve_starts(A1, B1, A0, B0, C, exact, max_iter: int, tol: float):
    """Run every start C (P, R, n, n) of every pair not `exact`; the starts' final C, angles (P, R),
    iterations and gradient-tolerance flags."""
    P, R, n, _ = C.shape
    C = C.clone()
    n_iter = torch.zeros(P, R, dtype=torch.long, device=C.device)
    done = exact[:, None].expand(P, R).clone()
    todo = (~exact).nonzero().squeeze(1)
    for part in todo.split(_chunk_size(n, R, C.device)):
        k = len(part)
        Cs, _, its, dn = _ascend(C[part].reshape(k * R, n, n), A0[part].repeat_interleave(R, 0),
                                 B0[part].repeat_interleave(R, 0), max_iter, tol)
        C[part], n_iter[part], done[part] = Cs.reshape(k, R, n, n), its.reshape(k, R), dn.reshape(k, R)
    chord = torch.linalg.matrix_norm(A1[:, None] - C @ B1[:, None] @ C.mT)       # (P, R)
    return C, 2 * torch.asin((chord / 2).clamp(max=1.0)), n_iter, done


def similarity_transform_distance(A, B, **solver) -> float:
    """theta(A, B) in radians for two (n, n) operators; `solver` goes to :func:`align_operators`."""
    return float(align_operators(A, B, **solver).angle[0])


def eigenvalue_wasserstein(A, B) -> float:
    """2-Wasserstein distance between the eigenvalues of A and B (uniform weights, zero-padded).

    With equal-size uniform point sets the optimal plan is a permutation, so this is an assignment
    problem: W2^2 = min_pi mean_i |a_i - b_pi(i)|^2.
    """
    return _wasserstein(_eigenvalues(A, "A"), _eigenvalues(B, "B"))


def _eigenvalues(A, name: str) -> np.ndarray:
    if isinstance(A, DMDFit):
        return A.eigenvalues
    A = as_float64(A, name, (2,))
    if A.shape[0] != A.shape[1]:
        raise ShapeError(f"{name} must be a square operator to have eigenvalues, got shape {tuple(A.shape)}")
    return np.linalg.eigvals(A.numpy())


def _check_solver(n_random: int, max_iter: int, tol: float) -> None:
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0) or max_iter < 0 or n_random < 0:
        raise ConfigError(f"need max_iter >= 0, n_random >= 0 and a finite tol > 0; got {max_iter}, {n_random}, "
                          f"{tol!r}")


def _wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    m = max(len(a), len(b))
    a, b = np.pad(a, (0, m - len(a))), np.pad(b, (0, m - len(b)))
    cost = np.abs(a[:, None] - b[None, :]) ** 2
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


# ----------------------------------------------------------------------------------------------
# The metric object

class DSA(Metric):
    """Dynamical similarity analysis as a metric object.

    ``score`` is a distance (symmetric, 0 for identical dynamics): the angle theta in radians, in
    [0, pi] (``score_method="angular"``); the chord 2 sin(theta/2) between unit-norm operators,
    dimensionless, in [0, 2] (``"euclidean"``); or the W2 distance between the operators' eigenvalues,
    dimensionless, in [0, inf) (``"wasserstein"``).

    Args:
        n_delays, delay_interval: delay embedding (d, tau); defaults 1, 1 (plain DMD).
        rank, rank_thresh, rank_explained_variance: at most one; default None keeps full rank.
        lamb: ridge parameter (default 0).
        score_method: "angular" (radians, default), "euclidean" or "wasserstein" (W2 of eigenvalues).
        n_random, max_iter, tol, seed, max_random: solver settings, see :func:`align_operators`
            (defaults None, 500, 1e-6, 0, None: random rotations scale with the operator size,
            :func:`default_random`). ``converged_`` is True when two starts reached the best angle (the
            measured rate of a wrong confirmation is in docs/similarity.md).
        device: where the angular solver runs ("cpu", "cuda", ...; default None, the CPU). The DMD
            fits and the Wasserstein score stay on the CPU; results are CPU float64 either way.

    ``prepare(X)`` fits the DMD (a :class:`DMDFit` passes through). ``fit(X, Y)`` records the two fits
    (``fits_``) and, for the angular and euclidean scores, finds C (``C_``, ``converged_``, ``n_iter_``);
    ``score(X, Y)`` evaluates the distance of the DMD operators of X and Y under that C. With
    ``held_out="training_basis"`` (default) the operators of X and Y are fitted in the whitened delay
    coordinates of the fitted X and Y (:func:`fit_in_basis`), so C carries over to held-out trials and a
    rotated copy scores 0 out of sample too; on the fitted data themselves this is the fitted operator.
    ``held_out="own_fit"`` (brainlearn's earlier behaviour) gives X and Y DMD fits of their own, each in
    its own delay-SVD coordinates, which C does not map onto each other (a rotated copy then scores far
    from 0 held out). DMDFit inputs are used as they are. The Wasserstein score needs no C: it compares
    eigenvalues, which every similarity transform keeps.
    Inputs are (time, units) or (trials, time, units) arrays, or DMDFit objects.

    ``transform(X, Y)`` returns the operators (A, B) of X and Y as the score compares them, (r, r)
    each: angular/euclidean (A / ||A||_F, C B C^T / ||B||_F) with the fitted ``C_``, so that the chord
    is ||A^ - B^||_F; Wasserstein (A, B) as fitted, unscaled and unaligned.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(20, 200, 3)).cumsum(1) * 0.1
        >>> DSA(n_delays=2).fit_score(X, X @ np.diag([1.0, -2.0, 0.5])) < 0.02   # invertible map, full rank
        True
    """

    def __init__(self, n_delays: int = 1, delay_interval: int = 1, rank: int | None = None,
                 rank_thresh: float | None = None, rank_explained_variance: float | None = None,
                 lamb: float = 0.0, score_method: str = "angular", n_random: int | None = None,
                 max_iter: int = 500, tol: float = 1e-6, seed: int = 0, device: str | None = None,
                 max_random: int | None = None,
                 held_out: str = "training_basis"):
        self.n_delays, self.delay_interval, self.rank = n_delays, delay_interval, rank
        self.rank_thresh, self.rank_explained_variance, self.lamb = rank_thresh, rank_explained_variance, lamb
        self.score_method = score_method
        self.n_random, self.max_iter, self.tol, self.seed = n_random, max_iter, tol, seed
        self.max_random, self.held_out = max_random, held_out
        self.device = device
        self._validate_params()

    def _validate_params(self) -> None:
        check_int(self.n_delays, "n_delays", 1)
        check_int(self.delay_interval, "delay_interval", 1)
        if sum(v is not None for v in (self.rank, self.rank_thresh, self.rank_explained_variance)) > 1:
            raise ConfigError("give at most one of rank, rank_thresh, rank_explained_variance")
        if self.rank is not None:
            check_int(self.rank, "rank", 1)
        ev = self.rank_explained_variance
        if ev is not None and not (isinstance(ev, int | float) and 0 < ev <= 1):
            raise ConfigError(f"rank_explained_variance must be in (0, 1], got {ev!r}")
        _check_lamb(self.lamb)
        _check_rank_thresh(self.rank_thresh)
        if self.n_random is not None:
            check_int(self.n_random, "n_random", 0)
        check_int(self.max_iter, "max_iter", 0)
        _check_solver(self.n_random or 0, self.max_iter, self.tol)
        check_int(self.seed, "seed")
        if self.max_random is not None:
            check_int(self.max_random, "max_random", 0)
        check_score_method(self.held_out, ("training_basis", "own_fit"), "held_out")
        check_score_method(self.score_method, SCORE_METHODS)
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ConfigError(f"device must be None or a torch device name such as 'cpu' or 'cuda', "
                                  f"got {self.device!r}") from None

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("fits_",) if self.score_method == "wasserstein" else ("fits_", "C_")

    @property
    def info(self) -> MeasureInfo:
        # the operator lives in whitened delay coordinates: rotations and scalings of the data only rotate it
        # (at full rank any invertible map does); a translation is a constant input, which changes it
        inv = ("isotropic-scaling", "orthogonal", "permutation")
        ref = "Ostrow et al. 2023 (mitchellostrow/DSA)"
        if self.score_method == "wasserstein":
            return MeasureInfo("distance", (0.0, math.inf), "dimensionless", inv, True, True, 0.0,
                               "Redman et al. 2024 (eigenvalue Wasserstein); " + ref)
        if self.score_method == "angular":
            return MeasureInfo("distance", (0.0, math.pi), "radians", inv, True, True, 0.0, ref)
        return MeasureInfo("distance", (0.0, 2.0), "dimensionless", inv, True, True, 0.0, ref)

    def prepare(self, X) -> DMDFit:
        self._validate_params()
        if isinstance(X, DMDFit):
            return X
        return fit_havok(X, self.n_delays, self.delay_interval, self.rank, self.rank_thresh,
                         self.rank_explained_variance, self.lamb)

    def prepare_held_out(self, X, fitted: DMDFit) -> DMDFit:
        """X's operator in the coordinates of `fitted` (``held_out="training_basis"``), or its own fit."""
        self._validate_params()
        if isinstance(X, DMDFit) or self.held_out == "own_fit" or fitted.basis is None:
            return self.prepare(X)
        return fit_in_basis(X, fitted)

    def score(self, X, Y) -> float:
        """Distance of X and Y under the fitted alignment, their operators fitted in the coordinates of the
        fitted systems (``held_out``); NotFittedError before :meth:`fit`."""
        self._validate_params()
        self._check_fitted()
        return self._score_prepared(self.prepare_held_out(X, self.fits_[0]), self.prepare_held_out(Y, self.fits_[1]))

    def transform(self, X, Y) -> tuple[torch.Tensor, torch.Tensor]:
        """The operators of X and Y as :meth:`score` compares them (see the class docstring)."""
        self._validate_params()
        self._check_fitted()
        return self._transform_prepared(self.prepare_held_out(X, self.fits_[0]),
                                        self.prepare_held_out(Y, self.fits_[1]))

    def _solver(self) -> dict:
        return {"n_random": self.n_random, "max_iter": self.max_iter, "tol": self.tol, "seed": self.seed,
                "device": self.device or "cpu", "max_random": self.max_random}

    def _fit_prepared(self, a: DMDFit, b: DMDFit) -> None:
        self.fits_ = (a, b)
        if self.score_method == "wasserstein":
            return
        res = align_operators(a.A, b.A, **self._solver())
        self.C_, self.converged_, self.n_iter_ = res.C[0].cpu(), bool(res.converged[0]), int(res.n_iter[0])

    def _aligned(self, a: DMDFit, b: DMDFit) -> tuple[torch.Tensor, torch.Tensor]:
        """The unit-norm A and C_ B C_^T."""
        self._check_fitted()
        if a.A.shape != self.C_.shape or b.A.shape != self.C_.shape:
            raise ShapeError(f"fitted C is {tuple(self.C_.shape)} but the operators are {tuple(a.A.shape)} "
                             f"and {tuple(b.A.shape)}")
        A, B = _unit(a.A[None])[0], _unit(b.A[None])[0]
        return A, self.C_ @ B @ self.C_.T

    def _score_prepared(self, a: DMDFit, b: DMDFit) -> float:
        if self.score_method == "wasserstein":
            return _wasserstein(a.eigenvalues, b.eigenvalues)
        A, CBC = self._aligned(a, b)
        chord = float(torch.linalg.matrix_norm(A - CBC))
        return chord if self.score_method == "euclidean" else 2 * math.asin(min(chord / 2, 1.0))

    def _transform_prepared(self, a: DMDFit, b: DMDFit) -> tuple[torch.Tensor, torch.Tensor]:
        if self.score_method == "wasserstein":
            return a.A.clone(), b.A.clone()
        return self._aligned(a, b)

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """All pairs in one batched solve per operator size (angular/euclidean); Wasserstein per pair."""
        if self.score_method == "wasserstein":
            return _wasserstein_pairs(items_a, items_b, pairs)
        out = np.empty(len(pairs))
        for ks in _by_size(items_a, items_b, pairs).values():
            A = torch.stack([items_a[pairs[k][0]].A for k in ks])
            B = torch.stack([items_b[pairs[k][1]].A for k in ks])
            angle = align_operators(A, B, **self._solver()).angle.cpu()
            out[ks] = (angle if self.score_method == "angular" else 2 * torch.sin(angle / 2)).numpy()
        return out

    def cross_distances(self, fit_a: list, fit_b: list, test_a: list, test_b: list,
                        pairs: list[tuple[int, int]]) -> np.ndarray:
        """Each pair's C fitted on the operators of ``fit_a``/``fit_b``, all pairs of a size in one batched
        solve, then applied to the held-out operators; Wasserstein compares the held-out eigenvalues."""
        if self.score_method == "wasserstein":
            return _wasserstein_pairs(test_a, test_b, pairs)
        out = np.empty(len(pairs))
        for ks in _by_size(fit_a, fit_b, pairs).values():
            C = align_operators(torch.stack([fit_a[pairs[k][0]].A for k in ks]),
                                torch.stack([fit_b[pairs[k][1]].A for k in ks]), **self._solver()).C.cpu()
            for k in ks:
                i, j = pairs[k]
                if test_a[i].A.shape != C.shape[1:] or test_b[j].A.shape != C.shape[1:]:
                    raise ShapeError(f"held-out operators {tuple(test_a[i].A.shape)} and {tuple(test_b[j].A.shape)} "
                                     f"differ in size from the fitted ones {tuple(C.shape[1:])}; use a fixed rank")
            A = _unit(torch.stack([test_a[pairs[k][0]].A for k in ks]))
            B = _unit(torch.stack([test_b[pairs[k][1]].A for k in ks]))
            chord = torch.linalg.matrix_norm(A - C @ B @ C.mT)
            angle = 2 * torch.asin((chord / 2).clamp(max=1.0))
            out[ks] = (chord if self.score_method == "euclidean" else angle).numpy()
        return out


def _wasserstein_pairs(items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Eigenvalue-Wasserstein distance of each pair (i, j) of DMD fits, each fit's eigenvalues computed once."""
    eig_a = [x.eigenvalues for x in items_a]
    eig_b = eig_a if items_b is items_a else [x.eigenvalues for x in items_b]
    return np.array([_wasserstein(eig_a[i], eig_b[j]) for i, j in pairs])


def _by_size(items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> dict[int, list[int]]:
    """Pair indices grouped by operator size (angular DSA needs equal sizes within a pair)."""
    sizes: dict[int, list[int]] = {}
    for k, (i, j) in enumerate(pairs):
        if items_a[i].A.shape != items_b[j].A.shape:
            raise ShapeError(f"operators of different sizes {tuple(items_a[i].A.shape)} and "
                             f"{tuple(items_b[j].A.shape)}; use a fixed rank or score_method='wasserstein'")
        sizes.setdefault(items_a[i].A.shape[0], []).append(k)
    return sizes
