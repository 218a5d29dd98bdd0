"""Centred kernel alignment (Kornblith et al. 2019) and its angular dissimilarity.

For representations X (n, p) and Y (n, q) of the same n samples (a sample is one trial-timepoint: a
(trials, time, units) array is flattened to (trials*time, units)), with kernel matrices K = k(X, X)
and L = k(Y, Y) and the centring matrix H = I - 11^T/n,

    HSIC(K, L) = tr(K H L H) / (n-1)^2,        CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) in [0, 1].

Linear kernel: CKA = ||Y~^T X~||_F^2 / (||X~^T X~||_F ||Y~^T Y~||_F) with column-centred X~, Y~,
computed in feature space (O(n p q), no n x n matrix). RBF kernel: k(x, x') = exp(-||x-x'||^2 / (2 s^2))
with s = `sigma` * sqrt(m), O(n^2) memory. Kornblith's code (``median="kornblith"``, the default) takes
m = the median of all n^2 squared distances, the zero diagonal included, averaging the two middle
values (numpy's median); ``median="off_diagonal"`` is brainlearn's earlier choice, the lower median of
the n(n-1) off-diagonal squared distances (a larger bandwidth: the diagonal zeros pull Kornblith's down).

The debiased option replaces HSIC by the unbiased U-statistic of Song et al. (2012),

    HSIC_u = [tr(K'L') + 1^T K' 1 1^T L' 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K' L' 1] / (n(n-3)),

where K', L' are K, L with zeroed diagonals (needs n >= 4; debiased CKA can be slightly negative).

Score convention: :meth:`CKA.score` is a **distance**, the angle arccos(CKA) in radians, in [0, pi/2]
(up to pi for negative debiased values); it is 0 for identical representations, symmetric, and
invariant to isotropic scaling and orthogonal transforms of either side. The dissimilarity of
arXiv:2410.24070 is 2*angle/pi. :func:`cka` and :meth:`CKA.similarity` return CKA itself (a
similarity, dimensionless, 1 for identical representations).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity._base import (
    MeasureInfo,
    Metric,
    center_columns,
    check_bool,
    check_paired,
    check_score_method,
    pairs_by_shape,
    power_of_two_scaled,
    samples_by_units,
)

KERNELS = ("linear", "rbf")
MEDIANS = ("kornblith", "off_diagonal")
SCORE_METHODS = ("angular", "cka")


def _linear_hsic_terms(X: torch.Tensor, Y: torch.Tensor, debiased: bool) -> torch.Tensor:
    """HSIC(X,Y) for the linear kernel on centred X, Y (up to the common 1/(n-1)^2 factor when biased)."""
    n = X.shape[0]
    if not debiased:
        if X.shape[1] * Y.shape[1] <= n * (X.shape[1] + Y.shape[1]):
            return (Y.T @ X).square().sum()
        return ((X @ X.T) * (Y @ Y.T)).sum()
    kd, ld = X.square().sum(1), Y.square().sum(1)             # diagonals of K and L
    tr_kl = (Y.T @ X).square().sum() - (kd * ld).sum()           # tr(K'L')
    k1, l1 = X @ X.sum(0) - kd, Y @ Y.sum(0) - ld               # K'1 and L'1
    return (tr_kl + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1)) / (n * (n - 3))


def _gram_hsic(K: torch.Tensor, L: torch.Tensor, debiased: bool) -> torch.Tensor:
    n = K.shape[0]
    if not debiased:
        Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
        return (Kc * L).sum()                                     # tr(HKH L) = tr(HKH HLH)
    K, L = K - torch.diag(K.diagonal()), L - torch.diag(L.diagonal())
    k1, l1 = K.sum(1), L.sum(1)
    return ((K * L).sum() + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1)) / (n * (n - 3))


def rbf_gram(X: torch.Tensor, sigma: float = 1.0, median: str = "kornblith") -> torch.Tensor:
    """RBF kernel matrix (n, n) with bandwidth `sigma` * sqrt(median squared pairwise distance), the median
    taken as `median` says (module docstring)."""
    sq = torch.cdist(X, X).square()
    if median == "kornblith":
        v = sq.flatten().sort().values
        med = (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2                 # numpy's median: the middle pair's mean
    else:
        med = sq[~torch.eye(len(X), dtype=torch.bool)].median() if len(X) > 1 else sq.new_tensor(1.0)
    if med <= 0:
        med = sq.new_tensor(1.0)
    return torch.exp(-sq / (2.0 * sigma**2 * med))


def _check(kernel: str, sigma: float, debiased: bool, n: int, median: str = "kornblith") -> None:
    if kernel not in KERNELS:
        raise ConfigError(f"kernel={kernel!r} is not valid; expected one of {', '.join(KERNELS)}")
    if median not in MEDIANS:
        raise ConfigError(f"median={median!r} is not valid; expected one of {', '.join(MEDIANS)}")
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a finite number > 0, got {sigma!r}")
    if debiased and n < 4:
        raise ShapeError(f"debiased CKA needs at least 4 samples, got {n}")


def cka(X, Y, kernel: str = "linear", sigma: float = 1.0, debiased: bool = False, median: str = "kornblith"
        ) -> float:
    """CKA similarity between X (n, p) and Y (n, q) (or (trials, time, units) arrays); see the module doc."""
    X, Y = samples_by_units(X, "X"), samples_by_units(Y, "Y")
    check_paired(X, Y)
    _check(kernel, sigma, debiased, X.shape[0], median)
    return _cka_centred(center_columns(X), center_columns(Y), kernel, sigma, debiased, median)


def _cka_centred(X: torch.Tensor, Y: torch.Tensor, kernel: str, sigma: float, debiased: bool,
                 median: str = "kornblith") -> float:
    X, Y = power_of_two_scaled(X), power_of_two_scaled(Y)  # CKA is scale-invariant; the products are not
    if kernel == "linear":
        xy, xx, yy = (_linear_hsic_terms(a, b, debiased) for a, b in ((X, Y), (X, X), (Y, Y)))
    else:
        K, L = rbf_gram(X, sigma, median), rbf_gram(Y, sigma, median)
        xy, xx, yy = _gram_hsic(K, L, debiased), _gram_hsic(K, K, debiased), _gram_hsic(L, L, debiased)
    den = torch.sqrt(xx.clamp_min(0) * yy.clamp_min(0))
    if den <= 0:
        raise ShapeError("CKA is undefined: a representation is constant across samples (zero variance)")
    return float((xy / den).clamp(-1.0, 1.0))


def _unit_gram(X: torch.Tensor, name: str) -> torch.Tensor:
    """Centred X scaled so that ||X^T X||_F = 1 (exactly rescaled by a power of two first, against overflow)."""
    X = power_of_two_scaled(X)
    gram = X.T @ X if X.shape[1] <= X.shape[0] else X @ X.T               # the same Frobenius norm
    norm = torch.linalg.matrix_norm(gram)
    if norm <= 0:
        raise ShapeError(f"CKA is undefined: {name} is constant across samples (zero variance)")
    return X / norm.sqrt()


class CKA(Metric):
    """CKA as a metric object. ``score`` is a distance: the angle arccos(CKA) in radians, in [0, pi/2]
    ([0, pi] when debiased); :meth:`similarity` is CKA itself.

    Args:
        kernel: "linear" (default) or "rbf".
        sigma: RBF bandwidth as a fraction of the median pairwise distance (default 1.0).
        debiased: use the unbiased HSIC estimator (default False).
        score_method: "angular" (default; the distance arccos(CKA) in radians, netrep's LinearCKA score)
            or "cka" (CKA itself, a similarity, as Kornblith's code returns it).
        median: how the RBF bandwidth's median is taken: "kornblith" (default; all n^2 squared distances,
            numpy's median, as Kornblith's code) or "off_diagonal" (brainlearn's earlier lower median of
            the off-diagonal ones).

    CKA has no alignment to learn. ``fit(X, Y)`` checks the pair (same number of samples, enough
    samples for the estimator, neither side constant) and records ``n_units_ = (p, q)``, the widths it
    saw; ``score`` and ``transform`` need that fit (NotFittedError before it, as for every metric) but
    then work on any pair, of any width: ``fit(X, Y).score(X2, Y2)`` is the CKA angle of X2 and Y2.

    ``transform(X, Y)`` returns (X^, Y^): the column-centred (n, p) and (n, q) representations, each
    scaled so that ||X^T X^||_F = 1 (whatever the kernel). For the linear, biased estimator
    CKA = ||Y^^T X^||_F^2 exactly; for every option ``score(*transform(X, Y))`` equals ``score(X, Y)``
    to rounding (CKA is invariant to centring and scaling).

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 5))
        >>> round(CKA().fit_score(X, 3 * X @ np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))[0]), 6)
        0.0
    """

    def __init__(self, kernel: str = "linear", sigma: float = 1.0, debiased: bool = False,
                 score_method: str = "angular", median: str = "kornblith"):
        self.kernel, self.sigma, self.debiased, self.median = kernel, sigma, debiased, median
        self.score_method = score_method
        self._validate_params()

    def _validate_params(self) -> None:
        _check(self.kernel, self.sigma, False, 4, self.median)
        check_bool(self.debiased, "debiased")
        check_score_method(self.score_method, SCORE_METHODS)

    @property
    def info(self) -> MeasureInfo:
        # arccos of a cosine between (centred, or U-centred when debiased) kernel matrices: an angle, a metric
        invariances = ("translation", "isotropic-scaling", "orthogonal", "permutation")
        ref = "Kornblith et al. 2019 (google-research representation_similarity)"
        if self.score_method == "angular":
            high = math.pi if self.debiased else math.pi / 2
            return MeasureInfo("distance", (0.0, high), "radians", invariances, True, True, 0.0, "netrep LinearCKA")
        low = -1.0 if self.debiased else 0.0
        return MeasureInfo("similarity", (low, 1.0), "dimensionless", invariances, False, True, 1.0, ref)

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("n_units_",)

    def prepare(self, X) -> torch.Tensor:
        self._validate_params()
        X = samples_by_units(X, "X")
        return center_columns(X)

    def _fit_prepared(self, a, b) -> None:
        check_paired(a, b)
        _check(self.kernel, self.sigma, self.debiased, a.shape[0])
        if not (bool(a.any()) and bool(b.any())):
            raise ShapeError("CKA is undefined: a representation is constant across samples (zero variance)")
        self.n_units_ = (a.shape[1], b.shape[1])

    def _score_prepared(self, a, b) -> float:
        check_paired(a, b)
        _check(self.kernel, self.sigma, self.debiased, a.shape[0])
        c = _cka_centred(a, b, self.kernel, self.sigma, self.debiased, self.median)
        return math.acos(c) if self.score_method == "angular" else c

    def _transform_prepared(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        check_paired(a, b)
        return _unit_gram(a, "X"), _unit_gram(b, "Y")

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Scores of many pairs; linear biased CKA batched over pairs of the same widths (memory-bounded
        blocks), the other options pair by pair."""
        if self.kernel != "linear" or self.debiased:
            return super().distances(items_a, items_b, pairs)
        out = np.empty(len(pairs))
        for (sa, sb), ks in pairs_by_shape(items_a, items_b, pairs).items():
            first = pairs[ks[0]]
            self._fit_prepared(items_a[first[0]], items_b[first[1]])      # shape checks, once per shape
            block = max(1, 2**22 // (sa[1] * sb[1] + sa[1] ** 2 + sb[1] ** 2 + sa[0] * (sa[1] + sb[1])))
            for s in range(0, len(ks), block):
                chunk = ks[s:s + block]
                a = power_of_two_scaled(torch.stack([items_a[pairs[k][0]] for k in chunk]))
                b = power_of_two_scaled(torch.stack([items_b[pairs[k][1]] for k in chunk]))
                xy = (b.mT @ a).square().sum((1, 2))
                den = torch.linalg.matrix_norm(a.mT @ a) * torch.linalg.matrix_norm(b.mT @ b)
                if bool((den <= 0).any()):
                    raise ShapeError("CKA is undefined: a representation is constant across samples (zero variance)")
                c = (xy / den).clamp(-1.0, 1.0)
                out[chunk] = (torch.acos(c) if self.score_method == "angular" else c).numpy()
        return out

    def similarity(self, X, Y) -> float:
        """CKA itself (1 for identical representations); needs no fit."""
        self._validate_params()
        return cka(X, Y, self.kernel, self.sigma, self.debiased, self.median)
