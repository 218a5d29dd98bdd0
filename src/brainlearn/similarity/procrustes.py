"""Procrustes shape distance (Williams et al. 2021, netrep's ``LinearMetric``), angular form.

For representations X (n, p) and Y (n, q) of the same n samples (trials x time flattened), centre
the columns, optionally partially whiten each side, zero-pad to a common width m = max(p, q) and
align Y to X by the best orthogonal map Q in O(m):

    Q* = argmin_Q ||X~ - Y~ Q||_F = U V^T   where   Y~^T X~ = U S V^T,

    theta_P = arccos( tr(X~^T Y~ Q*) / (||X~||_F ||Y~||_F) ) = arccos( ||X~^T Y~||_* / (||X~||_F ||Y~||_F) )

in radians, in [0, pi/2] (||.||_* is the nuclear norm; zero-padding never changes it). theta_P is a
metric on shapes: symmetric, 0 iff Y~ = c X~ Q, triangle inequality; invariant to translations,
rotations/reflections and isotropic scaling of either side. arXiv:2410.24070 reports 2 theta_P / pi.

Partial whitening (``alpha``), netrep's formula (``whitening="netrep"``, the default): with the
eigendecomposition X~^T X~ = V diag(lambda) V^T (eigenvalues clipped below at 1e-7), each side is
mapped to X~ V diag(c (alpha + (1-alpha) lambda^(-1/2))) V^T before alignment, the scalar c restoring the
total variance sum(lambda) as netrep does: alpha = 1 (default) is plain Procrustes, alpha = 0 is
CCA-like (invariant to any invertible linear map). For 0 < alpha < 1 the result depends on the scale of
the data, as in netrep. ``whitening="shrinkage"`` is brainlearn's earlier formula,
X~ ((1-alpha) X~^T X~ / n + alpha I)^(-1/2) (no rescaling): the same angles at alpha = 0 and 1, but up to
0.43 rad apart at alpha = 0.5 (200 random 60 x 5 pairs of mixed column scales).

Scores (``score_method``): "angular" theta_P; "euclidean" netrep's min_Q ||X~ - Y~ Q||_F on the (whitened)
data, in the units of the data and not scale invariant (at alpha = 1 it is the Bures distance between the
Gram matrices X~X~^T and Y~Y~^T, sqrt(||X~||^2 + ||Y~||^2 - 2 ||X~^T Y~||_*), Harvey et al. 2023);
"chord", brainlearn's earlier "euclidean", the same between the unit-norm shapes,
||X~/||X~|| - Y~ Q/||Y~|| ||_F = 2 sin(theta/2), dimensionless, in [0, sqrt 2]; all three are metrics.
"nbs" is the normalised Bures similarity cos(theta) = ||X~^T Y~||_* / (||X~|| ||Y~||), a similarity in
[0, 1].

``group="permutation"`` restricts Q to permutation matrices (netrep's ``PermutationMetric``, found by
the linear assignment maximising tr(X~^T Y~ Q)): the distance between representations up to a
relabelling of units, a metric invariant to translation, isotropic scaling and unit permutations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from brainlearn.errors import ConfigError
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

SCORE_METHODS = ("angular", "euclidean", "chord", "nbs")
WHITENINGS = ("netrep", "shrinkage")
GROUPS = ("orthogonal", "permutation")


def _whiten(X: torch.Tensor, alpha: float, whitening: str = "netrep") -> torch.Tensor:
    """X~ times the partial-whitening matrix of `whitening` (see the module docstring)."""
    if alpha == 1.0:
        return X
    if whitening == "netrep":
        lam, V = torch.linalg.eigh(X.T @ X)
        lam = lam.clamp_min(1e-7)                                   # netrep's eigval_tol clip
        d = alpha + (1.0 - alpha) * lam.rsqrt()
        new_var = (alpha**2 * lam + 2 * alpha * (1 - alpha) * lam.sqrt() + (1 - alpha) ** 2).sum()
        d = d * (lam.sum() / new_var).sqrt()                        # keep the total variance (netrep)
    else:
        lam, V = torch.linalg.eigh((1.0 - alpha) * (X.T @ X) / X.shape[0] + alpha * torch.eye(X.shape[1],
                                                                                               dtype=X.dtype))
        d = lam.clamp_min(1e-12).rsqrt()
    return X @ (V * d) @ V.T


def _pad(X: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(X, (0, width - X.shape[1])) if X.shape[1] < width else X


def procrustes_angle(X, Y, alpha: float = 1.0, center: bool = True, whitening: str = "netrep") -> float:
    """Closed-form angular Procrustes distance theta_P in radians (see the module docstring)."""
    metric = Procrustes(alpha=alpha, center=center, whitening=whitening)
    a, b = metric.prepare(X), metric.prepare(Y)
    check_paired(a, b)
    norms = torch.linalg.norm(a) * torch.linalg.norm(b)
    if norms <= 0:
        raise ConfigError("Procrustes distance is undefined for a representation with zero variance")
    nuclear = torch.linalg.svdvals(a.T @ b).sum()
    return math.acos(float((nuclear / norms).clamp(-1.0, 1.0)))


class Procrustes(Metric):
    """Procrustes shape distance as a metric object (fit learns Q, score applies it).

    ``score`` is a distance: the angle theta in radians, in [0, pi/2] (``score_method="angular"``), netrep's
    euclidean distance ||X~ - Y~ Q||_F (``"euclidean"``), or the chord 2 sin(theta/2) between the unit-norm
    shapes (``"chord"``); or the similarity cos(theta) (``"nbs"``). Symmetric, 0 for identical shapes.

    Args:
        alpha: partial-whitening parameter in [0, 1]; 1 = Procrustes (default), 0 = CCA-like.
        center: centre the columns (units) of each representation (default True).
        score_method: "angular" (radians, default), "euclidean" (netrep's, in the units of the data),
            "chord" (brainlearn's earlier "euclidean": between the unit-norm shapes) or "nbs".
        group: "orthogonal" (default) or "permutation" (netrep's PermutationMetric: Q a permutation).
        whitening: the partial-whitening formula for 0 < alpha < 1: "netrep" (default, netrep's
            ``LinearMetric``) or "shrinkage" (brainlearn's earlier ((1-alpha) C + alpha I)^(-1/2)).

    Fitted attributes: ``Q_`` (m, m), the orthogonal map applied to Y (m = max(p, q)), and
    ``n_units_ = (p, q)``. Each call centres (and whitens) its own data, so cross-validated scoring (fit
    on train, score on test) carries over ``Q_`` only.

    ``transform(X, Y)`` returns (X^, Y^) = (X~ / ||X~||_F, Y~ Q / ||Y~||_F), both (n, m): the centred,
    partially whitened representations, zero-padded to width m, Y's rotated by the fitted ``Q_``, each
    scaled to unit Frobenius norm. Then the angular score is arccos <X^, Y^>_F and the chord ||X^ - Y^||_F.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> Q = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]
        >>> round(Procrustes().fit_score(X, 2 * X @ Q + 1), 6)
        0.0
    """

    def __init__(self, alpha: float = 1.0, center: bool = True, score_method: str = "angular",
                 group: str = "orthogonal", whitening: str = "netrep"):
        self.alpha, self.center, self.score_method, self.whitening = alpha, center, score_method, whitening
        self.group = group
        self._validate_params()

    @property
    def info(self) -> MeasureInfo:
        inv = ["translation"] if self.center else []
        # netrep's partial whitening for 0 < alpha < 1, and the euclidean score, depend on the data's scale
        inv += ["isotropic-scaling"] if self.score_method != "euclidean" and self.alpha in (0.0, 1.0) else []
        inv += ["permutation"] if self.group == "permutation" else ["orthogonal", "permutation"]
        if self.alpha == 0.0 and self.group == "orthogonal" and self.score_method != "euclidean":
            inv += ["invertible-linear"]
        ref = "netrep " + ("PermutationMetric" if self.group == "permutation" else "LinearMetric")
        if self.score_method == "nbs":
            return MeasureInfo("similarity", (0.0, 1.0), "dimensionless", tuple(inv), False, True, 1.0,
                               "Harvey et al. 2023 (normalised Bures similarity)")
        if self.score_method == "euclidean":
            return MeasureInfo("distance", (0.0, math.inf), "units of the data", tuple(inv), True, True, 0.0,
                               ref + " (at alpha = 1: the Bures distance, Harvey et al. 2023)")
        if self.score_method == "angular":
            return MeasureInfo("distance", (0.0, math.pi / 2), "radians", tuple(inv), True, True, 0.0, ref)
        return MeasureInfo("distance", (0.0, math.sqrt(2)), "dimensionless", tuple(inv), True, True, 0.0,
                           "brainlearn (chord between unit-norm shapes)")

    def _validate_params(self) -> None:
        alpha = self.alpha
        if isinstance(alpha, bool) or not (isinstance(alpha, int | float) and 0.0 <= alpha <= 1.0):  # NaN fails too
            raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
        check_bool(self.center, "center")
        check_score_method(self.score_method, SCORE_METHODS)
        if self.group not in GROUPS:
            raise ConfigError(f"group={self.group!r} is not valid; expected one of {', '.join(GROUPS)}")
        if self.whitening not in WHITENINGS:
            raise ConfigError(f"whitening={self.whitening!r} is not valid; expected one of {', '.join(WHITENINGS)}")

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("Q_", "n_units_")

    def prepare(self, X) -> torch.Tensor:
        self._validate_params()
        X = samples_by_units(X, "X")
        if self.center:
            X = center_columns(X)
        if self.alpha in (0.0, 1.0) and self.score_method != "euclidean":  # scale-invariant: rescale exactly
            X = power_of_two_scaled(X)
        return _whiten(X, float(self.alpha), self.whitening)

    def _fit_prepared(self, a, b) -> None:
        check_paired(a, b)
        m = max(a.shape[1], b.shape[1])
        M = _pad(b, m).T @ _pad(a, m)
        if self.group == "permutation":
            rows, cols = linear_sum_assignment(M.numpy(), maximize=True)
            Q = torch.zeros_like(M)
            Q[rows, cols] = 1.0
        else:
            U, _, Vh = torch.linalg.svd(M)
            Q = U @ Vh
        self.Q_, self.n_units_ = Q, (a.shape[1], b.shape[1])

    def _aligned(self, a, b) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """a and b Q_ at the fitted width m, and the product of their norms."""
        check_paired(a, b)
        self._check_fitted()
        m = self.Q_.shape[0]
        if max(a.shape[1], b.shape[1]) > m:
            width = max(a.shape[1], b.shape[1])
            raise ConfigError(f"fitted on width {m}, cannot score representations of width {width}")
        a, b = _pad(a, m), _pad(b, m) @ self.Q_
        norms = torch.linalg.norm(a) * torch.linalg.norm(b)
        if norms <= 0:
            raise ConfigError("Procrustes distance is undefined for a representation with zero variance")
        return a, b, norms

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Scores of many pairs: for the orthogonal group in closed form (the nuclear norm of a~^T b~), pairs
        of the same widths batched in memory-bounded blocks; the permutation group pair by pair."""
        if self.group != "orthogonal":
            return super().distances(items_a, items_b, pairs)
        out = np.empty(len(pairs))
        for (sa, sb), ks in pairs_by_shape(items_a, items_b, pairs).items():
            if sa[0] != sb[0] or sa[0] < 2:
                check_paired(items_a[pairs[ks[0]][0]], items_b[pairs[ks[0]][1]])
            block = max(1, 2**22 // (sa[1] * sb[1] + sa[0] * (sa[1] + sb[1])))
            for s in range(0, len(ks), block):
                chunk = ks[s:s + block]
                a = torch.stack([items_a[pairs[k][0]] for k in chunk])
                b = torch.stack([items_b[pairs[k][1]] for k in chunk])
                na, nb = torch.linalg.norm(a, dim=(1, 2)), torch.linalg.norm(b, dim=(1, 2))
                if bool((na * nb <= 0).any()):
                    raise ConfigError("Procrustes distance is undefined for a representation with zero variance")
                nuclear = torch.linalg.svdvals(a.mT @ b).sum(-1)          # zero-padding never changes it
                out[chunk] = self._from_nuclear(nuclear, na, nb).numpy()
        return out

    def _from_nuclear(self, nuclear: torch.Tensor, na: torch.Tensor, nb: torch.Tensor) -> torch.Tensor:
        """The score from ||a~^T b~||_* and the two norms (the closed form of fit then score)."""
        if self.score_method == "euclidean":
            return (na.square() + nb.square() - 2 * nuclear).clamp_min(0).sqrt()
        cos = (nuclear / (na * nb)).clamp(-1.0, 1.0)
        if self.score_method == "nbs":
            return cos
        theta = torch.acos(cos)
        return theta if self.score_method == "angular" else 2 * torch.sin(theta / 2)

    def _score_prepared(self, a, b) -> float:
        a, b, norms = self._aligned(a, b)
        if self.score_method == "euclidean":
            return float((a - b).square().sum().sqrt())
        cos = float(((a * b).sum() / norms).clamp(-1.0, 1.0))
        if self.score_method == "nbs":
            return cos
        theta = math.acos(cos)
        return theta if self.score_method == "angular" else 2.0 * math.sin(theta / 2.0)

    def _transform_prepared(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, _ = self._aligned(a, b)
        return a / torch.linalg.norm(a), b / torch.linalg.norm(b)
