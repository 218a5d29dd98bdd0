"""Distance matrices for any metric: per-system preprocessing once, pairs batched where possible, and
cross-validated matrices (alignment fitted on one set of data, scored on held-out data) as in netrep."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone

from brainlearn.errors import ConfigError, ShapeError
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
    whitened on its own); DSA the training fits' delay coordinates and the map ``C_`` between them (each
    held-out data set's operator is fitted in its system's training coordinates, ``metric.prepare_held_out``,
    so a rotated copy scores 0 held out; ``DSA(held_out="own_fit")`` fits it afresh instead); the
    Wasserstein score needs no alignment.

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
    tests = None if testdata is None else [metric.prepare_held_out(x, items[i]) for i, x in enumerate(testdata)]
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
        other_tests = [metric.prepare_held_out(y, other_items[j]) for j, y in enumerate(others_testdata)]
        d = metric.cross_distances(items, other_items, tests, other_tests, pairs)
    return d.reshape(len(items), len(other_items))


# ----------------------------------------------------------------------------------------------
# All pairs of the linear measures at scale, through the n x n Gram matrices

GRAM_MEASURES = ("cka", "cca")


def _gram_features(X: torch.Tensor, measure: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, n, r) factors F with F F^T the centred linear kernel (CKA) or the projection onto the centred
    column space (CCA), and (B,) the rank r used by the CCA normalisation."""
    X = X - X.mean(1, keepdim=True)
    if measure == "cka":
        return X, torch.full((X.shape[0],), X.shape[2], dtype=X.dtype, device=X.device)
    U, S, _ = torch.linalg.svd(X, full_matrices=False)
    keep = S > S[:, :1] * X.shape[1] * torch.finfo(X.dtype).eps
    return U * keep[:, None, :], keep.sum(1).to(X.dtype)


def pairwise_linear(systems, measure: str = "cka", dtype=torch.float32, device=None,
                    memory: int = 2**28) -> np.ndarray:
    """All-pairs matrix of linear CKA or CCA's mean squared canonical correlation for many networks, in
    bounded memory.

    Both are normalised inner products of n x n matrices, one per network: the centred Gram matrix
    K_i = X~_i X~_i^T (CKA = <K_i, K_j> / (||K_i|| ||K_j||)) or the projection P_i = Q_i Q_i^T onto the centred
    column space (R^2_CCA = <P_i, P_j> / min(r_i, r_j)). So the N x N matrix is G = F F^T with F the
    flattened matrices, accumulated over blocks of their rows: for a block of b rows, every network's
    b x n slab is formed (blocks of networks at a time) and G += F_b F_b^T. Working memory is about
    `memory` bytes whatever N; the cost is O(N n^2 p) for the slabs and O(N^2 n^2) for G, on any torch
    device, one pass over the networks per block of rows (for "cca" each pass recomputes every network's
    SVD, O(N n p^2) more per block: a larger `memory` means fewer blocks).

    Args:
        systems: (N, n, p) array or tensor (a numpy memmap works: networks are read a block at a time),
            or a list of (n, p) arrays of the same n (the widths p may differ).
        measure: "cka" (linear, biased: :class:`~brainlearn.similarity.CKA` with ``score_method="cka"``) or
            "cca" (:class:`~brainlearn.similarity.CCA` with ``summary="mean_squared"``).
        dtype: computing precision (float32 default, about 1e-6 relative; float64 for exactness).
        device: torch device (default CPU).
        memory: working-memory budget in bytes for one block (default 256 MiB).
    Returns:
        (N, N) float64 similarities (1 on the diagonal).
    """
    if measure not in GRAM_MEASURES:
        raise ConfigError(f"measure={measure!r} is not valid; expected one of {', '.join(GRAM_MEASURES)}")
    N = len(systems)
    if N == 0:
        raise ConfigError("pairwise_linear needs at least one system")
    n = systems[0].shape[-2]
    device = torch.device(device or "cpu")
    itemsize = torch.finfo(dtype).bits // 8

    def block(i0: int, i1: int) -> torch.Tensor:
        if isinstance(systems, list):
            if len({tuple(x.shape) for x in systems[i0:i1]}) > 1:   # unequal widths: one at a time
                return [torch.as_tensor(np.asarray(x), dtype=dtype, device=device)[None] for x in systems[i0:i1]]
            return torch.as_tensor(np.stack([np.asarray(x) for x in systems[i0:i1]]), dtype=dtype, device=device)
        return torch.as_tensor(np.asarray(systems[i0:i1]) if not isinstance(systems, torch.Tensor)
                               else systems[i0:i1], dtype=dtype, device=device)

    first = block(0, 1)
    first = first[0] if isinstance(first, list) else first
    if first.ndim != 3 or first.shape[1] < 2:
        raise ShapeError(f"systems: expected (N, n >= 2, p) data, got a first system of shape {tuple(first.shape[1:])}")
    p = max(int(first.shape[2]), 1)
    rows = max(1, min(n, memory // max(1, N * n * itemsize)))            # rows of the slab F_b per block
    nets = max(1, min(N, memory // max(1, (n * p + rows * n) * itemsize * 2)))
    G = torch.zeros(N, N, dtype=dtype, device=device)
    ranks = torch.empty(N, dtype=dtype, device=device)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        F = torch.empty(N, r1 - r0, n, dtype=dtype, device=device)
        for i0 in range(0, N, nets):
            i1 = min(N, i0 + nets)
            data = block(i0, i1)
            parts = data if isinstance(data, list) else [data]
            k = i0
            for X in parts:
                if X.shape[1] != n:
                    raise ShapeError(f"every system needs the same {n} conditions (rows), got {X.shape[1]}")
                if not bool(torch.isfinite(X).all()):
                    raise ShapeError("systems contain NaN or inf values")
                Fx, rk = _gram_features(X, measure)
                F[k:k + len(X)] = Fx[:, r0:r1] @ Fx.mT                   # rows r0:r1 of K_i (or P_i)
                ranks[k:k + len(X)] = rk
                k += len(X)
        flat = F.reshape(N, -1)
        G += flat @ flat.T
        del F, flat
    G = G.double().cpu()
    if measure == "cka":
        d = G.diagonal().sqrt()
        if bool((d == 0).any()):
            raise ShapeError("CKA is undefined: a system is constant across conditions (zero variance)")
        S = G / d[:, None] / d[None, :]
    else:
        r = ranks.double().cpu()
        if bool((r == 0).any()):
            raise ShapeError("CCA is undefined: a system is constant across conditions (zero variance)")
        S = G / torch.minimum(r[:, None], r[None, :])
    S = S.clamp(-1.0, 1.0)
    S.fill_diagonal_(1.0)
    return S.numpy()
