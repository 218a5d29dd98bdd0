"""Distance matrices for any metric: per-system preprocessing once, pairs batched where possible, and
cross-validated matrices (alignment fitted on one set of data, scored on held-out data) as in netrep."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from brainlearn.errors import ConfigError
from brainlearn.similarity._base import Metric


def make_metric(metric: Metric | str) -> Metric:
    """A metric object, or a new one from a registry identifier or short name (:func:`~brainlearn.similarity.make`)."""
    if isinstance(metric, Metric):
        return metric
    from brainlearn.similarity.registry import make

    return make(metric)


def _check_held_out(held_out: list | None, fitted: list, name: str, of: str) -> None:
    if held_out is not None and len(held_out) != len(fitted):
        raise ConfigError(f"{name} must hold one held-out data set per system of {of}: got {len(held_out)} "
                          f"for {len(fitted)}")


def pairwise(systems: list, metric: Metric | str, others: list | None = None, testdata: list | None = None,
             others_testdata: list | None = None) -> np.ndarray:
    """Distance matrix between systems under `metric`.

    Args:
        systems: a list of data arrays (or prepared items, e.g. :class:`~brainlearn.similarity.dsa.DMDFit`).
        metric: a metric object (``CKA()``, ``Procrustes()``, ``DSA(...)``) or its name. It is used through a
            ``sklearn.base.clone``, so its own fitted state is left as it was.
        others: optional second list; then the result is the (len(systems), len(others)) matrix of
            distances between them. Without it, the symmetric (n, n) matrix with a zero diagonal.
        testdata: optional held-out data, one per system (the same trials/conditions for every system).
            Then each pair's alignment is fitted on ``systems`` and scored on ``testdata``: the
            cross-validated distance. The diagonal is the measure's value for identical inputs by definition
            (``metric.info.identity``: 0 for a distance) and, for a symmetric measure, the matrix is symmetric
            (each pair is fitted once). A measure that is not symmetric (PWCCA, linear predictivity) gets both
            orders, entry (i, j) = score(systems[i], systems[j]). Without it, each pair is fitted and scored
            on ``systems``.
        others_testdata: held-out data for ``others``, one per system; needed when both ``others`` and
            ``testdata`` are given.

    What carries over from the fit to the held-out data: CKA nothing (its held-out score is the plain CKA
    angle of the held-out data); Procrustes the map ``Q_`` (each data set is centred and, for alpha < 1,
    whitened on its own); DSA the map ``C_`` between the two training DMD fits, while each held-out data set
    gets its own DMD fit in its own delay-SVD coordinates, so the angular/euclidean held-out score also
    measures how those coordinates moved (it is not 0 for a rotated copy); the Wasserstein score needs no
    alignment and is the distance of the held-out data.

    Returns:
        float64 array of scores in the measure's units (radians for the angular scores); similarities for a
        measure whose ``info.direction`` is "similarity".
    """
    if isinstance(systems, Metric | str) and not isinstance(metric, Metric | str):
        # netrep's order is pairwise_distances(metric, Xs); say which order this function takes
        raise ConfigError("pairwise takes (systems, metric), the systems first; got a metric first "
                          "(netrep's pairwise_distances order): call pairwise(Xs, metric)")
    if not isinstance(metric, Metric | str):
        raise ConfigError(f"metric: expected a metric object or a name, got {type(metric).__name__}")
    metric = clone(make_metric(metric))
    if len(systems) == 0:
        raise ConfigError("pairwise needs at least one system")
    if testdata is None and others_testdata is not None:
        raise ConfigError("others_testdata needs testdata (held-out data for systems) too")
    if testdata is not None and (others is None) != (others_testdata is None):
        raise ConfigError("cross-validated pairwise with others needs others_testdata (held-out data for others), "
                          "and others_testdata needs others")
    _check_held_out(testdata, systems, "testdata", "systems")
    _check_held_out(others_testdata, others or [], "others_testdata", "others")
    items = [metric.prepare(x) for x in systems]
    tests = None if testdata is None else [metric.prepare(x) for x in testdata]
    if others is None:
        info = metric.info
        n = len(items)
        pairs = [(i, j) for i in range(n) for j in range(n) if i < j or (i > j and not info.symmetric)]
        D = np.full((n, n), float(info.identity))
        if pairs:
            d = (metric.distances(items, items, pairs) if tests is None
                 else metric.cross_distances(items, items, tests, tests, pairs))
            rows, cols = np.array(pairs).T
            D[rows, cols] = d
            if info.symmetric:
                D[cols, rows] = d
        return D
    other_items = [metric.prepare(y) for y in others]
    pairs = [(i, j) for i in range(len(items)) for j in range(len(other_items))]
    if tests is None:
        d = metric.distances(items, other_items, pairs)
    else:
        d = metric.cross_distances(items, other_items, tests, [metric.prepare(y) for y in others_testdata], pairs)
    return d.reshape(len(items), len(other_items))
