"""Statistics on distance matrices and trial arrays, shared by the similarity experiments.

A distance matrix ``D`` is (n, n), symmetric with a zero diagonal (as :func:`~brainlearn.similarity.pairwise`
returns); ``labels`` is (n,), the type of each system. Everything is deterministic numpy in float64.
"""

from __future__ import annotations

import numpy as np


def separation_ratio(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean between-type distance / mean within-type distance, over the off-diagonal entries.

    Args:
        D: (n, n) distances.
        labels: (n,) type of each system; every type needs at least two systems.
    """
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(D[~same].mean() / max(D[same & off].mean(), 1e-300))


def nn_accuracy(D: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour type accuracy: the fraction of the n systems whose nearest other
    system (smallest off-diagonal entry of its row of the (n, n) `D`) has its label in (n,) `labels`."""
    D = D + np.diag(np.full(len(D), np.inf))
    return float(np.mean(labels[D.argmin(1)] == labels))


def condition_average(X: np.ndarray, n_conditions: int = 2) -> np.ndarray:
    """Trial means per condition: (trials, time, units) -> (n_conditions, time, units).

    The trials are in `n_conditions` consecutive blocks of equal size (the layout of
    :func:`~brainlearn.similarity.testcases.attractor_trio`: the first half of the trials is condition 0).
    """
    return X.reshape(n_conditions, -1, *X.shape[1:]).mean(1)


def classical_mds(D: np.ndarray, k: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of an (n, n) distance matrix: (n, k) coordinates, deterministic.

    The top-k eigenvectors of the double-centred ``-J D^2 J / 2`` (J the centring matrix), each scaled by
    the square root of its eigenvalue (negative eigenvalues clipped to 0).
    """
    n = len(D)
    J = np.eye(n) - 1.0 / n
    evals, evecs = np.linalg.eigh(-0.5 * J @ (D**2) @ J)
    top = np.argsort(evals)[::-1][:k]
    return evecs[:, top] * np.sqrt(np.clip(evals[top], 0, None))
