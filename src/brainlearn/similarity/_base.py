"""Input checks and the small protocol every metric follows (netrep / scikit-learn style).

A metric object has ``fit(X, Y)`` (learn the alignment), ``score(X, Y)`` (the distance under the
fitted alignment, in the units the metric documents) and ``fit_score(X, Y)``. For pairwise work it
also has ``prepare(X)`` (per-system preprocessing, done once) and ``distances(items_a, items_b, pairs)``
(distances between prepared items, batched where the metric allows it). Inputs are never modified.
"""

from __future__ import annotations

import numpy as np
import torch

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


def check_paired(X: torch.Tensor, Y: torch.Tensor) -> None:
    if X.shape[0] != Y.shape[0]:
        raise ShapeError(f"X and Y must have the same number of samples (rows after flattening trials x time); "
                         f"got {X.shape[0]} and {Y.shape[0]}")
    if X.shape[0] < 2:
        raise ShapeError(f"need at least 2 samples, got {X.shape[0]}")


def check_score_method(value: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ConfigError(f"score_method={value!r} is not valid; expected one of {', '.join(options)}")
    return value


class Metric:
    """Base class: subclasses implement ``prepare``, ``_fit_prepared`` and ``_score_prepared``."""

    def prepare(self, X):  # pragma: no cover - interface
        raise NotImplementedError

    def _fit_prepared(self, a, b) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _score_prepared(self, a, b) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def fit(self, X, Y):
        """Learn the alignment between X and Y; returns self."""
        self._fit_prepared(self.prepare(X), self.prepare(Y))
        return self

    def score(self, X, Y) -> float:
        """Distance between X and Y under the alignment learnt by :meth:`fit`."""
        return self._score_prepared(self.prepare(X), self.prepare(Y))

    def fit_score(self, X, Y) -> float:
        """Fit and score on the same data: the metric's distance between X and Y."""
        a, b = self.prepare(X), self.prepare(Y)
        self._fit_prepared(a, b)
        return self._score_prepared(a, b)

    def distances(self, items_a: list, items_b: list, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Distances for index pairs ``(i, j)`` between prepared items ``items_a[i]`` and ``items_b[j]``."""
        return np.array([self._distance(items_a[i], items_b[j]) for i, j in pairs], dtype=np.float64)

    def _distance(self, a, b) -> float:
        self._fit_prepared(a, b)
        return self._score_prepared(a, b)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"
