"""Statistics on distance matrices, trial arrays and groups of dissimilarities, shared by the similarity
experiments.

A distance matrix ``D`` is (n, n), symmetric with a zero diagonal (as :func:`~brainlearn.similarity.pairwise`
returns); ``labels`` is (n,), the type of each system.

For groups of dissimilarity values (one value per network, e.g. each network's distance to its
reference network), :func:`compare_groups` tests every pair of groups with Welch's unequal-variance
t-test, adjusts the p-values for the false discovery rate over all the pairs (Benjamini & Hochberg
1995) and gives each pair's effect size, Cohen's d with the pooled standard deviation,

    d = (mean_a - mean_b) / sqrt( ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2) ),

positive when group a has the larger values. Everything is deterministic numpy/scipy in float64.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy import stats

from brainlearn.errors import ShapeError


def separation_ratio(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean between-type distance / mean within-type distance, over the off-diagonal entries.

    Args:
        D: (n, n) distances.
        labels: (n,) type of each system; every type needs at least two systems.
    """
    D, labels = _distances_and_labels(D, labels)
    types, counts = np.unique(labels, return_counts=True)
    if len(types) < 2 or counts.min() < 2:
        raise ShapeError(f"labels: the separation ratio needs at least two types of at least two systems each, "
                         f"got counts {dict(zip(types.tolist(), counts.tolist()))}")
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(D[~same].mean() / max(D[same & off].mean(), 1e-300))


def _distances_and_labels(D, labels) -> tuple[np.ndarray, np.ndarray]:
    """(n, n) distances and (n,) labels (any sequence: a list of names works) as arrays, or ShapeError. A NaN
    distance (a failed fit) is let through: the statistic is then NaN, and the run reports it."""
    D = np.asarray(D, dtype=np.float64)
    labels = np.asarray(labels)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ShapeError(f"D: expected a square matrix of distances, got shape {D.shape}")
    if labels.shape != (len(D),):
        raise ShapeError(f"labels: expected one label per system ({len(D)}), got shape {labels.shape}")
    return D, labels


def nn_accuracy(D: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour type accuracy: the fraction of the n systems whose nearest other
    system (smallest off-diagonal entry of its row of the (n, n) `D`) has its label in (n,) `labels`."""
    D, labels = _distances_and_labels(D, labels)
    if len(D) < 2:
        raise ShapeError("nearest-neighbour accuracy needs at least two systems")
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


def fdr_bh(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) of the (m,) p-values `p`, in the same order.

    q_(i) = min_{k >= i} min(1, m p_(k) / k) over the ascending order p_(1) <= ... <= p_(m); rejecting
    q <= alpha controls the false discovery rate at alpha for independent (or positively dependent) tests.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ShapeError(f"p: expected a 1-d array of p-values in [0, 1], got {p!r}")
    if len(p) == 0:
        return p.copy()
    return stats.false_discovery_control(p, method="bh")


def cohens_d(a, b) -> float:
    """Cohen's d of (n_a,) `a` against (n_b,) `b` with the pooled sd (0 when both groups are constant)."""
    a, b = _sample(a, "a"), _sample(b, "b")
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    diff = a.mean() - b.mean()
    if pooled <= 0:
        return 0.0 if diff == 0 else float(np.sign(diff) * np.inf)
    return float(diff / np.sqrt(pooled))


def welch_p(a, b) -> float:
    """Two-sided p-value of Welch's t-test between (n_a,) `a` and (n_b,) `b` (1 for two identical constants)."""
    a, b = _sample(a, "a"), _sample(b, "b")
    if a.var() == 0 and b.var() == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def compare_groups(samples: dict[str, np.ndarray]) -> dict[tuple[str, str], dict[str, float]]:
    """Every pair (a, b) of the groups in `samples` (name -> (n,) values, n >= 2), in insertion order:
    ``{"p": Welch p, "q": FDR-adjusted p over all pairs, "d": Cohen's d of a against b}``."""
    pairs = list(combinations(samples, 2))
    p = np.array([welch_p(samples[a], samples[b]) for a, b in pairs])
    q = fdr_bh(p) if pairs else p
    return {(a, b): {"p": float(p[k]), "q": float(q[k]), "d": cohens_d(samples[a], samples[b])}
            for k, (a, b) in enumerate(pairs)}


def _sample(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) < 2 or not np.all(np.isfinite(x)):
        raise ShapeError(f"{name}: expected at least 2 finite values, got {x!r}")
    return x
