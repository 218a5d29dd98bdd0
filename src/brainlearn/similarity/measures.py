"""Measures with no alignment to learn: CCA (mean rho, mean rho^2, SVCCA, PWCCA), RSA on RDMs, and
linear predictivity. Same estimator contract as the other metrics (``fit`` checks the pair and records
``n_units_``; ``score`` is the measure of the pair it is given; ``info`` says what the score is).

**CCA** (Hotelling 1936). Column-centred X~ (n, p), Y~ (n, q); with orthonormal bases Qx, Qy of their
column spaces (thin SVD, singular values below ``n eps s_max`` dropped), the canonical correlations are
the singular values rho_1 >= ... >= rho_k of Qx^T Qy, k = min(rank X~, rank Y~). Summaries
(``summary``): "mean" = sum rho_i / k (svcca's ``mean``); "mean_squared" = ||Qx^T Qy||_F^2 / k, Yanai's
R^2_CCA (Kornblith et al.'s ``cca``); "pwcca" (Morcos et al. 2018) = sum_i w_i rho_i with
w_i proportional to sum_j |<h_i, x~_j>|, h_i the orthonormalised canonical variates of the side with fewer
units (X on a tie) and x~_j its centred units. (The svcca code computes these weights from the uncentred
activations; on centred data the two agree.) ``keep_variance`` (SVCCA, Raghu et al. 2017) first
projects each side onto its top principal components explaining that fraction of the variance.
CCA needs more samples than units: with rank X~ + rank Y~ > n - 1 a canonical correlation is 1 by
construction, and that raises ShapeError.

**RSA** (Kriegeskorte et al. 2008; rsatoolbox conventions). The samples are conditions. RDMs: rsatoolbox's
"euclidean", the mean squared difference per unit ||x_a - x_b||^2 / p (called ``squared_euclidean`` here,
as in similarity-repository's identifiers); ``euclidean``, its square root; ``correlation``,
1 - Pearson r between the two patterns across units; ``crossnobis`` (Walther et al. 2016) with identity
noise, the cross-validated squared distance for an input of shape (partitions, conditions, units):
sum over ordered pairs of partitions i != j of (x^i_a - x^i_b) . (x^j_a - x^j_b) / (p K (K - 1)), unbiased
(zero in expectation for equal conditions, so it can be negative). The upper triangles of the two RDMs
are compared by ``cosine``, ``corr`` (Pearson), ``spearman`` (Pearson of average ranks) or ``tau_a``
(Kendall's tau_a: concordant minus discordant pairs over all m(m-1)/2 pairs, ties count 0).

**Linear predictivity** (encoding models; Yamins et al. 2014). Ridge regression of Y on X (scikit-learn
``RidgeCV`` over ``alphas``, its efficient leave-one-out choice), scored by R^2 (``r2_score``, averaged over
Y's units as ``multioutput`` says). ``fit_score`` is the ``cv``-fold cross-validated R^2 (contiguous folds,
no shuffling: time series stay in blocks), the registry's one number per pair; ``fit`` then ``score`` on
held-out data gives the held-out R^2. Not symmetric: X predicts Y.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity._base import (
    MeasureInfo,
    Metric,
    as_float64,
    center_columns,
    check_int,
    check_paired,
    check_score_method,
    samples_by_units,
)

CCA_SUMMARIES = ("mean", "mean_squared", "pwcca")
RDMS = ("squared_euclidean", "euclidean", "correlation", "crossnobis")
COMPARES = ("cosine", "corr", "spearman", "tau_a")


class _Direct(Metric):
    """A measure with nothing to align: ``fit`` checks the pair and records the widths ``n_units_``;
    ``transform`` returns the prepared pair."""

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("n_units_",)

    def prepare(self, X) -> torch.Tensor:
        self._validate_params()
        return samples_by_units(X, "X")

    def _check_pair(self, a, b) -> None:
        check_paired(a, b)

    def _fit_prepared(self, a, b) -> None:
        self._check_pair(a, b)
        self.n_units_ = (a.shape[-1], b.shape[-1])

    def _score_prepared(self, a, b) -> float:
        self._check_pair(a, b)
        return self._value(a, b)

    def _transform_prepared(self, a, b):
        self._check_pair(a, b)
        return a, b

    def _value(self, a, b) -> float:  # pragma: no cover - interface
        raise NotImplementedError


def _nonconstant(X: torch.Tensor, name: str, measure: str) -> torch.Tensor:
    X = center_columns(X)
    if not bool(X.any()):
        raise ShapeError(f"{measure} is undefined: {name} is constant across samples (zero variance)")
    return X


# ----------------------------------------------------------------------------------------------
# CCA

def _basis(X: torch.Tensor, keep_variance: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal basis (n, r) of the centred X's column space (its top components explaining
    `keep_variance` of the variance, if given) and the coordinates of X's units in it, (r, p)."""
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    r = int((S > S[0] * X.shape[0] * torch.finfo(X.dtype).eps).sum())
    if keep_variance is not None:
        frac = torch.cumsum(S[:r] ** 2, 0) / (S[:r] ** 2).sum()
        r = int((frac < keep_variance - 1e-12).sum()) + 1     # the fewest components reaching the level
    return U[:, :r], S[:r, None] * Vh[:r]


class CCA(_Direct):
    """Canonical correlation summaries as a measure object; ``score`` is a **similarity** in [0, 1]
    (module docstring).

    Args:
        summary: "mean" (default; mean canonical correlation), "mean_squared" (mean squared) or "pwcca".
        keep_variance: if given, in (0, 1]: SVCCA's reduction of each side to the principal components
            explaining this fraction of its variance (Raghu et al. used 0.99).

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(200, 4))
        >>> round(CCA().fit_score(X, X @ np.random.default_rng(1).normal(size=(4, 4)) + 3), 6)
        1.0
    """

    def __init__(self, summary: str = "mean", keep_variance: float | None = None):
        self.summary, self.keep_variance = summary, keep_variance
        self._validate_params()

    def _validate_params(self) -> None:
        check_score_method(self.summary, CCA_SUMMARIES, "summary")
        v = self.keep_variance
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1):
            raise ConfigError(f"keep_variance must be None or in (0, 1], got {v!r}")

    @property
    def info(self) -> MeasureInfo:
        inv = ["translation", "isotropic-scaling"]
        if self.summary != "pwcca":        # PWCCA's weights sum |.| over units: not rotation invariant
            inv += ["orthogonal", "permutation"] + ([] if self.keep_variance is not None else ["invertible-linear"])
        else:
            inv += ["permutation"]
        ref = {"mean": "svcca (Raghu et al. 2017) mean canonical correlation",
               "mean_squared": "Kornblith et al. 2019 cca (Yanai's R^2_CCA)",
               "pwcca": "Morcos et al. 2018 (google/svcca pwcca)"}[self.summary]
        return MeasureInfo("similarity", (0.0, 1.0), "dimensionless", tuple(inv), False, self.summary != "pwcca",
                           1.0, ref)

    def _basis(self, a: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor, int]:
        """A system's orthonormal basis Q (n, r), its units' coordinates C (r, p), and p."""
        return (*_basis(_nonconstant(a, name, "CCA"), self.keep_variance), a.shape[1])

    def _value(self, a, b) -> float:
        return self._from_bases(self._basis(a, "X"), self._basis(b, "Y"), a.shape[0])

    def _from_bases(self, ba, bb, n: int) -> float:
        (Qa, Ca, pa), (Qb, Cb, pb) = ba, bb
        if Qa.shape[1] + Qb.shape[1] > n - 1:       # two subspaces of the (n-1)-dim centred space then meet
            raise ShapeError(f"CCA needs more samples than units: {n} samples for {Qa.shape[1]} + {Qb.shape[1]} "
                             f"(kept) dimensions; with more than n - 1 together a canonical correlation is 1 "
                             "by construction")
        M = Qa.T @ Qb
        k = min(Qa.shape[1], Qb.shape[1])
        if self.summary == "mean_squared":
            return float(M.square().sum() / k)
        U, rho, Vh = torch.linalg.svd(M, full_matrices=False)
        rho = rho[:k].clamp(0.0, 1.0)
        if self.summary == "mean":
            return float(rho.mean())
        # PWCCA: h_i = Q U_i are the canonical variates of the side with fewer units (X on a tie); with the
        # units x_j = Q C_j, sum_j |<h_i, x_j>| = sum_j |(U^T C)_ij|
        w = ((U[:, :k].T @ Ca) if pa <= pb else (Vh[:k] @ Cb)).abs().sum(1)
        return float((w / w.sum() * rho).sum())

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Scores of many pairs, each system's basis computed once (the per-pair work is a small SVD)."""
        ba = {i: self._basis(items_a[i], "X") for i in {i for i, _ in pairs}}
        bb = {j: self._basis(items_b[j], "Y") for j in {j for _, j in pairs}}
        out = np.empty(len(pairs))
        for k, (i, j) in enumerate(pairs):
            check_paired(items_a[i], items_b[j])
            out[k] = self._from_bases(ba[i], bb[j], items_a[i].shape[0])
        return out


# ----------------------------------------------------------------------------------------------
# RSA

def rdm(X, method: str = "squared_euclidean") -> torch.Tensor:
    """The upper triangle (m = c(c-1)/2,) of the RDM of X (conditions c, units p), row by row; for
    ``crossnobis`` X is (partitions K >= 2, c, p). See the module docstring."""
    if method not in RDMS:
        raise ConfigError(f"rdm={method!r} is not valid; expected one of {', '.join(RDMS)}")
    X = as_float64(X, "X", (3,) if method == "crossnobis" else (2,))
    if method == "crossnobis" and X.shape[0] < 2:
        raise ShapeError(f"crossnobis needs at least 2 partitions (axis 0), got {X.shape[0]}")
    c, p = X.shape[-2], X.shape[-1]
    if c < 3:
        raise ShapeError(f"RSA needs at least 3 conditions (rows), got {c}")
    i, j = torch.triu_indices(c, c, 1)
    if method == "correlation":
        Z = X - X.mean(1, keepdim=True)
        norms = Z.norm(dim=1)
        if bool((norms == 0).any()):
            raise ShapeError("correlation RDM is undefined: a condition's pattern is constant across units")
        Z = Z / norms[:, None]
        return 1.0 - (Z[i] * Z[j]).sum(1)
    if method == "crossnobis":
        D = X[:, i] - X[:, j]                                             # (K, m, p)
        S = D.sum(0)
        K = X.shape[0]
        return ((S * S).sum(1) - (D * D).sum((0, 2))) / (p * K * (K - 1))  # sum over i != j of d^i . d^j
    sq = (X[i] - X[j]).square().sum(1) / p
    return sq if method == "squared_euclidean" else sq.sqrt()


def _ranks(v: torch.Tensor) -> torch.Tensor:
    from scipy.stats import rankdata

    return torch.from_numpy(rankdata(v.numpy())).to(v.dtype)


def _tau_a(v: torch.Tensor, w: torch.Tensor, block: int = 2048) -> torch.Tensor:
    """Kendall's tau_a, by blocks of rows of the m x m sign matrices (memory O(block m))."""
    m = len(v)
    total = v.new_zeros(())
    for s in range(0, m, block):
        total += (torch.sign(v[s:s + block, None] - v) * torch.sign(w[s:s + block, None] - w)).sum()
    return total / (m * (m - 1))                       # each unordered pair was counted twice


def compare_rdms(v: torch.Tensor, w: torch.Tensor, method: str = "cosine") -> float:
    """Similarity of two RDM upper triangles (module docstring)."""
    if method not in COMPARES:
        raise ConfigError(f"compare={method!r} is not valid; expected one of {', '.join(COMPARES)}")
    flat = (lambda u: not bool(u.any())) if method == "cosine" else (lambda u: bool(u.max() == u.min()))
    if flat(v) or flat(w):
        what = "all zero" if method == "cosine" else "constant (all its dissimilarities are equal)"
        raise ShapeError(f"RSA ({method}) is undefined: an RDM is {what}")
    if method == "tau_a":
        return float(_tau_a(v, w))
    if method == "spearman":
        v, w = _ranks(v), _ranks(w)
    if method in ("corr", "spearman"):
        v, w = v - v.mean(), w - w.mean()
    return float((v @ w / (v.norm() * w.norm())).clamp(-1.0, 1.0))


class RSA(_Direct):
    """Representational similarity analysis as a measure object: ``score`` compares the two RDMs, a
    **similarity** in [-1, 1] (module docstring). Inputs are (conditions, units), or
    (partitions, conditions, units) for ``rdm="crossnobis"``.

    Args:
        rdm: "squared_euclidean" (default; rsatoolbox's "euclidean"), "euclidean", "correlation" or
            "crossnobis".
        compare: "cosine" (default, rsatoolbox's default), "corr", "spearman" or "tau_a".

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(10, 5))
        >>> round(RSA(compare="spearman").fit_score(X, 2 * X + 1), 6)
        1.0
    """

    def __init__(self, rdm: str = "squared_euclidean", compare: str = "cosine"):
        self.rdm, self.compare = rdm, compare
        self._validate_params()

    def _validate_params(self) -> None:
        check_score_method(self.rdm, RDMS, "rdm")
        check_score_method(self.compare, COMPARES, "compare")

    @property
    def info(self) -> MeasureInfo:
        if self.rdm == "correlation":       # each pattern is centred across units: only relabelling is free
            inv = ("isotropic-scaling", "permutation")
        else:
            inv = ("translation", "isotropic-scaling", "orthogonal", "permutation")
        return MeasureInfo("similarity", (-1.0, 1.0), "dimensionless", inv, False, True, 1.0,
                           "rsatoolbox calc_rdm / compare")

    def prepare(self, X) -> torch.Tensor:
        self._validate_params()
        return as_float64(X, "X", (3,) if self.rdm == "crossnobis" else (2,))

    def _check_pair(self, a, b) -> None:
        if a.shape[-2] != b.shape[-2]:
            raise ShapeError(f"X and Y must have the same conditions (rows): got {a.shape[-2]} and {b.shape[-2]}")
        if self.rdm == "crossnobis" and a.shape[0] != b.shape[0]:
            raise ShapeError(f"crossnobis: X and Y must have the same partitions: got {a.shape[0]} and {b.shape[0]}")

    def _value(self, a, b) -> float:
        return compare_rdms(rdm(a, self.rdm), rdm(b, self.rdm), self.compare)

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Scores of many pairs: each RDM computed once; cosine, Pearson and Spearman as one product of
        normalised (centred, ranked) RDM vectors, tau_a pair by pair."""
        for i, j in pairs:
            self._check_pair(items_a[i], items_b[j])
        va = {i: rdm(items_a[i], self.rdm) for i in {i for i, _ in pairs}}
        vb = {j: rdm(items_b[j], self.rdm) for j in {j for _, j in pairs}}
        if self.compare == "tau_a":
            return np.array([compare_rdms(va[i], vb[j], "tau_a") for i, j in pairs])
        for v in (*va.values(), *vb.values()):
            compare_rdms(v, v, self.compare)                  # the constant-RDM check, with its message

        def unit(v):
            v = _ranks(v) if self.compare == "spearman" else v
            v = v - v.mean() if self.compare != "cosine" else v
            return v / v.norm()
        ia, ib = sorted(va), sorted(vb)
        A, B = torch.stack([unit(va[i]) for i in ia]), torch.stack([unit(vb[j]) for j in ib])
        ra, rb = {i: r for r, i in enumerate(ia)}, {j: r for r, j in enumerate(ib)}
        rows, cols = torch.tensor([ra[i] for i, _ in pairs]), torch.tensor([rb[j] for _, j in pairs])
        return (A[rows] * B[cols]).sum(1).clamp(-1.0, 1.0).numpy()


# ----------------------------------------------------------------------------------------------
# Linear predictivity

class LinearPredictivity(_Direct):
    """Cross-validated ridge regression of Y on X, scored by R^2: a **similarity** in (-inf, 1], not
    symmetric (module docstring).

    Args:
        alphas: ridge penalties ``RidgeCV`` chooses from (default 10^-8 ... 10^8, 17 values).
        cv: folds of ``fit_score``'s cross-validation (default 5).
        multioutput: how R^2 is averaged over Y's units: "uniform_average" (default, scikit-learn's) or
            "variance_weighted" (then invariant to rotations of Y).

    Fitted attributes: ``n_units_``, ``coef_`` (q, p), ``intercept_`` (q,), ``alpha_``.
    """

    def __init__(self, alphas: tuple[float, ...] = tuple(10.0**k for k in range(-8, 9)), cv: int = 5,
                 multioutput: str = "uniform_average"):
        self.alphas, self.cv, self.multioutput = alphas, cv, multioutput
        self._validate_params()

    def _validate_params(self) -> None:
        a = np.asarray(self.alphas, dtype=float) if np.ndim(self.alphas) == 1 else np.array([])
        if len(a) == 0 or not np.all(np.isfinite(a) & (a > 0)):
            raise ConfigError(f"alphas must be a non-empty sequence of positive numbers, got {self.alphas!r}")
        check_int(self.cv, "cv", 2)
        check_score_method(self.multioutput, ("uniform_average", "variance_weighted"), "multioutput")

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("n_units_", "coef_", "intercept_")

    @property
    def info(self) -> MeasureInfo:
        inv = ("translation",)       # the ridge penalty breaks exact invariance to scaling or rotating X
        return MeasureInfo("similarity", (-math.inf, 1.0), "dimensionless", inv, False, False, 1.0,
                           "scikit-learn RidgeCV + r2_score (linear predictivity, Yamins et al. 2014)")

    def _check_pair(self, a, b) -> None:
        check_paired(a, b)
        _nonconstant(b, "Y", "R^2")

    def _ridge(self, a, b):
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.asarray(self.alphas, dtype=float)).fit(a.numpy(), b.numpy())

    def _fit_prepared(self, a, b) -> None:
        super()._fit_prepared(a, b)
        model = self._ridge(a, b)
        self.coef_, self.intercept_, self.alpha_ = np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_), \
            float(model.alpha_)

    def _value(self, a, b) -> float:
        from sklearn.metrics import r2_score

        pred = a.numpy() @ self.coef_.T + self.intercept_
        return float(r2_score(b.numpy(), pred, multioutput=self.multioutput))

    def fit_score(self, X, Y) -> float:
        """The ``cv``-fold cross-validated R^2 (contiguous folds), pooled over folds; also fits on all data."""
        self._validate_params()
        a, b = self.prepare(X), self.prepare(Y)
        self._fit_prepared(a, b)
        return self._cross_validated(a, b)

    def _distance(self, a, b) -> float:
        self._check_pair(a, b)
        return self._cross_validated(a, b)

    def _cross_validated(self, a, b) -> float:
        from sklearn.metrics import r2_score
        from sklearn.model_selection import KFold

        if a.shape[0] < 2 * self.cv:
            raise ShapeError(f"{self.cv}-fold cross-validation needs at least {2 * self.cv} samples, got {a.shape[0]}")
        A, B = a.numpy(), b.numpy()
        pred = np.empty_like(B)
        for train, test in KFold(self.cv).split(A):              # cv fits, not a loop over samples
            pred[test] = self._ridge(a[train], b[train]).predict(A[test]).reshape(len(test), -1)
        return float(r2_score(B, pred, multioutput=self.multioutput))
