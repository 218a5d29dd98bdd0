"""Input checks and the protocol every metric follows: a scikit-learn estimator (netrep style).

A metric object has ``fit(X, Y)`` (learn the alignment), ``score(X, Y)`` (the distance under the fitted
alignment, in the units the metric documents), ``transform(X, Y)`` (the two representations as the score
compares them, aligned) and ``fit_score(X, Y)``. It is a ``sklearn.base.BaseEstimator``: the constructor
stores its arguments unchanged, so ``get_params``/``set_params``/``sklearn.base.clone`` work, and
``_validate_params`` runs again at the start of every fit/score/transform/prepare, so values set by
``set_params`` are checked too. Fitted attributes end in ``_``; ``score``/``transform`` before ``fit`` raise
:class:`brainlearn.errors.NotFittedError`. For pairwise work a metric also has ``prepare(X)`` (per-system
preprocessing, done once) and ``distances(items_a, items_b, pairs)`` (distances between prepared items,
batched where the metric allows it). Inputs are never modified.
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator

from brainlearn import errors
from brainlearn.errors import ConfigError, ShapeError


def as_float64(X, name: str, ndims: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    """`X` (array-like or tensor) as a float64 CPU tensor, checked for shape and NaNs; never a view we write to."""
    if isinstance(X, torch.Tensor):
        if X.is_complex():
            raise ShapeError(f"{name}: expected a real array, got complex {X.dtype}")
        t = X.detach().to("cpu", torch.float64)
    else:
        if np.iscomplexobj(X):
            raise ShapeError(f"{name}: expected a real array, got a complex one")
        try:
            t = torch.as_tensor(np.asarray(X, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise ShapeError(f"{name}: expected a numeric array, got {type(X).__name__} ({e})") from None
    if t.ndim not in ndims:
        raise ShapeError(f"{name}: expected a {' or '.join(f'{d}-d' for d in ndims)} array, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ShapeError(f"{name}: is empty (shape {tuple(t.shape)})")
    if not bool(torch.isfinite(t).all()):
        raise ShapeError(f"{name}: contains NaN or inf values")
    return t


def power_of_two_scaled(X: torch.Tensor) -> torch.Tensor:
    """`X` divided by the power of two nearest its largest magnitude: an exact rescaling (no rounding) that
    keeps the products a metric forms far from overflow and underflow, so scale-invariant metrics stay
    invariant at any scale. A zero array is returned as it is."""
    peak = X.abs().max()
    if peak == 0:
        return X
    return torch.ldexp(X, -torch.frexp(peak).exponent)


def samples_by_units(X, name: str) -> torch.Tensor:
    """(samples, units) float64: a (trials, time, units) array is flattened to (trials*time, units)."""
    t = as_float64(X, name)
    return t.reshape(-1, t.shape[-1])


def center_columns(X: torch.Tensor) -> torch.Tensor:
    """X minus its column means, with every column that is constant up to rounding set exactly to 0.

    Centring a constant column whose value is not exactly representable (1/3) leaves rounding noise of
    about eps |x|; a scale-invariant measure would normalise that noise up into a shape. A column whose
    centred values are all below ``4 n eps max|x|`` is constant to working precision and becomes exactly
    0, so a constant representation is reported as zero variance, whatever its value.
    """
    centred = X - X.mean(0)
    noise = 4 * X.shape[0] * torch.finfo(X.dtype).eps * X.abs().amax(0)
    return torch.where(centred.abs().amax(0) <= noise, torch.zeros_like(centred), centred)


def pairs_by_shape(items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> dict[tuple, list[int]]:
    """The positions in `pairs` grouped by the shapes of their two items: ``{(shape_a, shape_b): [k, ...]}`` (the
    pairs a batched ``distances`` can stack together)."""
    groups: dict[tuple, list[int]] = {}
    for k, (i, j) in enumerate(pairs):
        groups.setdefault((tuple(items_a[i].shape), tuple(items_b[j].shape)), []).append(k)
    return groups


def check_paired(X: torch.Tensor, Y: torch.Tensor) -> None:
    if X.shape[0] != Y.shape[0]:
        raise ShapeError(f"X and Y must have the same number of samples (rows after flattening trials x time); "
                         f"got {X.shape[0]} and {Y.shape[0]}")
    if X.shape[0] < 2:
        raise ShapeError(f"need at least 2 samples, got {X.shape[0]}")


def check_score_method(value: str, options: tuple[str, ...], name: str = "score_method") -> str:
    """`value` must be one of `options`; the error names the parameter `name`."""
    if value not in options:
        raise ConfigError(f"{name}={value!r} is not valid; expected one of {', '.join(options)}")
    return value


def check_int(value, name: str, minimum: int | None = None) -> None:
    """`value` must be an integer (not a bool), >= `minimum` if one is given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (minimum is not None and value < minimum):
        raise ConfigError(f"{name} must be an integer{'' if minimum is None else f' >= {minimum}'}, got {value!r}")


def check_bool(value, name: str) -> None:
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be True or False, got {value!r}")


INVARIANCES = ("translation", "isotropic-scaling", "orthogonal", "permutation", "invertible-linear")


@dataclass(frozen=True)
class MeasureInfo:
    """What a measure's ``score`` is, as its settings make it.

    Attributes:
        direction: "distance" (0 for identical inputs, larger = more different) or "similarity" (largest
            for identical inputs).
        range: (low, high) of the score; ``math.inf`` where unbounded.
        units: "radians", "dimensionless", or "units of the data".
        invariances: transforms of *either* input that leave the score unchanged, from
            ``INVARIANCES``: translation (adding a constant to every sample), isotropic-scaling,
            orthogonal (X -> X Q), permutation (of units), invertible-linear (X -> X M).
        metric: the score is a metric (identity, symmetry, triangle inequality) on the classes of
            representations the invariances identify.
        symmetric: score(X, Y) == score(Y, X).
        identity: the score of identical inputs (0 for a distance).
        reference: the implementation or paper whose convention is the default.
    """

    direction: str
    range: tuple[float, float]
    units: str
    invariances: tuple[str, ...]
    metric: bool
    symmetric: bool
    identity: float
    reference: str


class Metric(BaseEstimator):
    """Base class of the metrics; subclasses implement ``_validate_params``, ``prepare``, ``_fit_prepared``,
    ``_score_prepared``, ``_transform_prepared``, declare themselves in ``info`` (:class:`MeasureInfo`;
    :func:`~brainlearn.similarity.pairwise` reads its direction, symmetry and identity value) and name what
    fit sets in ``_fitted_attributes``."""

    def _validate_params(self) -> None:  # pragma: no cover - interface
        """Raise ConfigError for an invalid constructor argument (also after set_params)."""
        raise NotImplementedError

    def _fitted_attributes(self) -> tuple[str, ...]:  # pragma: no cover - interface
        """The attributes ``fit`` sets that ``score`` needs under the current parameters."""
        raise NotImplementedError

    @property
    def info(self) -> MeasureInfo:  # pragma: no cover - interface
        """What ``score`` is under the current settings: direction, range, units, invariances, metric."""
        raise NotImplementedError

    def prepare(self, X):  # pragma: no cover - interface
        raise NotImplementedError

    def _fit_prepared(self, a, b) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare_held_out(self, X, fitted):
        """`X` prepared for scoring under an alignment fitted on the prepared item `fitted` of the same
        system (cross-validation); by default exactly ``prepare(X)`` (DSA uses the fitted coordinates)."""
        return self.prepare(X)

    def _score_prepared(self, a, b) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def _transform_prepared(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def __sklearn_is_fitted__(self) -> bool:
        """What ``sklearn.utils.validation.check_is_fitted`` asks: has fit set what score needs?"""
        return all(hasattr(self, name) for name in self._fitted_attributes())

    def _check_fitted(self) -> None:
        missing = [name for name in self._fitted_attributes() if not hasattr(self, name)]
        if missing:
            raise errors.NotFittedError(f"this {type(self).__name__} is not fitted yet (no {', '.join(missing)}): "
                                        "call fit(X, Y) before score or transform, or use fit_score(X, Y)")

    def fit(self, X, Y):
        """Learn the alignment between X and Y; returns self."""
        self._validate_params()
        self._fit_prepared(self.prepare(X), self.prepare(Y))
        return self

    def score(self, X, Y) -> float:
        """Distance between X and Y under the alignment learnt by :meth:`fit` (NotFittedError before it)."""
        self._validate_params()
        self._check_fitted()
        return self._score_prepared(self.prepare(X), self.prepare(Y))

    def transform(self, X, Y) -> tuple[torch.Tensor, torch.Tensor]:
        """X and Y as the score compares them, Y aligned to X by the fitted alignment (float64 tensors);
        what exactly each metric returns is in its docstring."""
        self._validate_params()
        self._check_fitted()
        return self._transform_prepared(self.prepare(X), self.prepare(Y))

    def fit_score(self, X, Y) -> float:
        """Fit and score on the same data: the metric's distance between X and Y."""
        self._validate_params()
        a, b = self.prepare(X), self.prepare(Y)
        self._fit_prepared(a, b)
        return self._score_prepared(a, b)

    def fit_transform(self, X, Y) -> tuple[torch.Tensor, torch.Tensor]:
        """Fit and transform on the same data."""
        self._validate_params()
        a, b = self.prepare(X), self.prepare(Y)
        self._fit_prepared(a, b)
        return self._transform_prepared(a, b)

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Distances for index pairs ``(i, j)`` between prepared items ``items_a[i]`` and ``items_b[j]``."""
        return np.array([self._distance(items_a[i], items_b[j]) for i, j in pairs], dtype=np.float64)

    def _distance(self, a, b) -> float:
        self._fit_prepared(a, b)
        return self._score_prepared(a, b)

    def cross_distances(self, fit_a: list, fit_b: list, test_a: list, test_b: list,
                        pairs: list[tuple[int, int]]) -> np.ndarray:
        """Cross-validated distances: for each pair ``(i, j)``, the alignment is fitted on the prepared items
        ``fit_a[i]``, ``fit_b[j]`` and scored on the held-out ``test_a[i]``, ``test_b[j]``."""
        out = np.empty(len(pairs))
        for k, (i, j) in enumerate(pairs):
            self._fit_prepared(fit_a[i], fit_b[j])
            out[k] = self._score_prepared(test_a[i], test_b[j])
        return out

    def __repr__(self) -> str:
        """Every parameter, in constructor order (scikit-learn's default repr shows only the changed ones)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in names)})"
