"""Distance matrices for any metric: per-system preprocessing once, pairs batched where possible."""

from __future__ import annotations

import numpy as np

from brainlearn.errors import ConfigError
from brainlearn.similarity._base import Metric


def make_metric(metric: Metric | str) -> Metric:
    """A metric object, or one with default settings from its name ("cka", "procrustes", "dsa")."""
    if isinstance(metric, Metric):
        return metric
    from brainlearn.similarity.cka import CKA
    from brainlearn.similarity.dsa import DSA
    from brainlearn.similarity.procrustes import Procrustes

    names = {"cka": CKA, "procrustes": Procrustes, "dsa": DSA}
    if metric not in names:
        raise ConfigError(f"unknown metric {metric!r}; expected a metric object or one of {', '.join(names)}")
    return names[metric]()


def pairwise(systems: list, metric: Metric | str, others: list | None = None) -> np.ndarray:
    """Distance matrix between systems under `metric`.

    Args:
        systems: a list of data arrays (or prepared items, e.g. :class:`~brainlearn.similarity.dsa.DMDFit`).
        metric: a metric object (``CKA()``, ``Procrustes()``, ``DSA(...)``) or its name.
        others: optional second list; then the result is the (len(systems), len(others)) matrix of
            distances between them. Without it, the symmetric (n, n) matrix with a zero diagonal.

    Returns:
        float64 array of distances in the metric's units (radians for the angular scores).
    """
    metric = make_metric(metric)
    if len(systems) == 0:
        raise ConfigError("pairwise needs at least one system")
    items = [metric.prepare(x) for x in systems]
    if others is None:
        pairs = [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))]
        D = np.zeros((len(items), len(items)))
        if pairs:
            d = metric.distances(items, items, pairs)
            rows, cols = np.array(pairs).T
            D[rows, cols] = D[cols, rows] = d
        return D
    other_items = [metric.prepare(y) for y in others]
    pairs = [(i, j) for i in range(len(items)) for j in range(len(other_items))]
    return metric.distances(items, other_items, pairs).reshape(len(items), len(other_items))
