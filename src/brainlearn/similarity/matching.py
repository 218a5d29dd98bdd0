"""Soft-matching distance (Khosla & Williams 2023): optimal transport between the units of two networks.

Each unit is a point in sample space, its tuning curve x_i in R^n (a column of X, n samples = trials x
time, centred by default). X with p units and Y with q units are the uniform distributions over their
units' tuning curves, and the distance is the 2-Wasserstein distance between them:

    d(X, Y)^2 = min_{P in T(p, q)} sum_ij P_ij ||x_i - y_j||^2,
    T(p, q) = {P >= 0 : P 1 = 1/p, P^T 1 = 1/q}     (the transport polytope),

in the units of the data. For p = q the optimal plans include a permutation divided by p (Birkhoff-von
Neumann), so d^2 = min_pi (1/p) sum_i ||x_i - y_pi(i)||^2: netrep's ``PermutationMetric`` euclidean
distance divided by sqrt(p). For p != q a unit's mass may be split ("soft" matching), which is what
lets networks of different widths be compared. d is a metric on these distributions: symmetric,
triangle inequality, invariant to relabelling units, and 0 exactly when the two multisets of tuning
curves agree up to multiplicity (so X and [X, X], every unit duplicated, are at distance 0).

**Solver.** Scaled by L = lcm(p, q), the marginals are integers (L/p per unit of X, L/q per unit of Y)
and the transport polytope has integral vertices, so an optimal plan is an assignment between L/p copies
of each x_i and L/q copies of each y_j: one exact linear assignment (scipy's ``linear_sum_assignment``)
of size L. When L exceeds ``max_assignment`` the transport linear program itself is solved (HiGHS via
``scipy.optimize.linprog``, p q variables, p + q constraints).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment, linprog
from scipy.sparse import coo_array

from brainlearn.errors import ConfigError
from brainlearn.similarity._base import MeasureInfo, Metric, center_columns, check_bool, check_paired, samples_by_units


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(p, q) squared euclidean distances between the columns of a (n, p) and b (n, q), by differences
    (no |x|^2 + |y|^2 - 2 x.y cancellation, so identical units are exactly 0 apart)."""
    return torch.cdist(a.T[None], b.T[None], compute_mode="donot_use_mm_for_euclid_dist")[0].square()


def transport_plan(cost: torch.Tensor, max_assignment: int = 4096) -> torch.Tensor:
    """An optimal plan (p, q) of min_P <P, cost> over the transport polytope with uniform marginals 1/p,
    1/q (see the module docstring for the two exact solvers)."""
    p, q = cost.shape
    L = math.lcm(p, q)
    c = cost.numpy()
    if L <= max_assignment:
        rows, cols = linear_sum_assignment(np.repeat(np.repeat(c, L // p, 0), L // q, 1))
        plan = np.zeros((p, q))
        np.add.at(plan, (rows // (L // p), cols // (L // q)), 1.0 / L)
        return torch.from_numpy(plan)
    i, j = np.divmod(np.arange(p * q), q)                            # variable k = i q + j is P_ij
    A_eq = coo_array((np.ones(2 * p * q), (np.concatenate([i, p + j]), np.tile(np.arange(p * q), 2))),
                     shape=(p + q, p * q))
    b_eq = np.concatenate([np.full(p, 1.0 / p), np.full(q, 1.0 / q)])
    res = linprog(c.ravel(), A_eq=A_eq.tocsr(), b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:   # pragma: no cover - a feasible bounded LP; HiGHS failing is a solver fault
        raise RuntimeError(f"transport LP failed: {res.message}")
    return torch.from_numpy(res.x.clip(min=0.0).reshape(p, q))


class SoftMatching(Metric):
    """Soft-matching distance (Khosla & Williams 2023) as a metric object: fit finds the transport plan
    between the units of X and Y, score applies it.

    ``score`` is a distance in the units of the data, in [0, inf): sqrt(sum_ij P_ij ||x_i - y_j||^2) with
    the fitted plan P (module docstring). X (n, p) and Y (n, q) need the same samples but not the same
    number of units; (trials, time, units) inputs are flattened to samples.

    Args:
        center: centre each unit's responses (default True; then translation invariant).
        max_assignment: the largest lcm(p, q) solved as one linear assignment (default 4096); above it
            the transport linear program is solved.

    Fitted attributes: ``plan_`` (p, q), the optimal transport plan (rows sum to 1/p, columns to 1/q), and
    ``n_units_ = (p, q)``. ``transform(X, Y)`` returns (X^, Y^), both (n, s) for the s unit pairs (i, j) the
    plan couples: columns sqrt(P_ij) x_i and sqrt(P_ij) y_j, so that the score is ||X^ - Y^||_F.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(50, 4))
        >>> round(SoftMatching().fit_score(X, np.concatenate([X, X[:, ::-1]], 1)), 12)   # units doubled
        0.0
    """

    def __init__(self, center: bool = True, max_assignment: int = 4096):
        self.center, self.max_assignment = center, max_assignment
        self._validate_params()

    def _validate_params(self) -> None:
        check_bool(self.center, "center")
        if isinstance(self.max_assignment, bool) or not isinstance(self.max_assignment, int) or self.max_assignment < 1:
            raise ConfigError(f"max_assignment must be an integer >= 1, got {self.max_assignment!r}")

    def _fitted_attributes(self) -> tuple[str, ...]:
        return ("plan_", "n_units_")

    @property
    def info(self) -> MeasureInfo:
        inv = ("translation", "permutation") if self.center else ("permutation",)
        return MeasureInfo("distance", (0.0, math.inf), "units of the data", inv, True, True, 0.0,
                           "Khosla & Williams 2023 (soft matching); p = q: netrep PermutationMetric / sqrt(p)")

    def prepare(self, X) -> torch.Tensor:
        self._validate_params()
        X = samples_by_units(X, "X")
        return center_columns(X) if self.center else X

    @staticmethod
    def _check(a: torch.Tensor, b: torch.Tensor) -> None:
        check_paired(a, b)
        if not bool(a.any()) or not bool(b.any()):
            raise ConfigError("soft-matching distance is undefined for a representation with zero variance "
                              "(every unit constant)")

    def _fit_prepared(self, a, b) -> None:
        self._check(a, b)
        self.plan_ = transport_plan(squared_distances(a, b), self.max_assignment)
        self.n_units_ = (a.shape[1], b.shape[1])

    def _plan_for(self, a, b) -> torch.Tensor:
        self._check(a, b)
        self._check_fitted()
        if (a.shape[1], b.shape[1]) != self.n_units_:
            raise ConfigError(f"fitted on {self.n_units_[0]} and {self.n_units_[1]} units, got {a.shape[1]} "
                              f"and {b.shape[1]}")
        return self.plan_

    def _score_prepared(self, a, b) -> float:
        plan = self._plan_for(a, b)
        return math.sqrt(float((plan * squared_distances(a, b)).sum()))

    def _transform_prepared(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        plan = self._plan_for(a, b)
        i, j = plan.nonzero(as_tuple=True)
        w = plan[i, j].sqrt()
        return a[:, i] * w, b[:, j] * w
