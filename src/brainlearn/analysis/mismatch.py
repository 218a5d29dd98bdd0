"""Mismatch analysis: event-aligned responses, mismatch / omission / SSA indices with trial-shuffle
p-values, nPE / pPE classification, and the shared-vs-distinct test across mismatch types.

Every function takes plain arrays (numpy or torch; computed in float64 numpy), so the same call runs on
model output and on responses read from an NWB file (:mod:`brainlearn.io.nwb`). Responses are
``cells x trials`` (a window average) or ``cells x trials x time`` (an aligned trace).

Indices: ``MI = (R_dev - R_std) / (|R_dev| + |R_std|)`` (0 where both are 0; with non-negative rates this is
the usual (R_dev - R_std) / (R_dev + R_std)); the SSA index is the same contrast against the response to
the same stimulus in the many-standards control; the omission response is the mean in the omitted window
minus the mean in a baseline window.
"""

from __future__ import annotations

import numpy as np

from brainlearn.errors import ShapeError


def _array(x, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in dims:
        raise ShapeError(f"{name} must have {' or '.join(map(str, dims))} dimensions (cells x trials[ x time]), "
                         f"got shape {a.shape}")
    if np.isnan(a).any():
        raise ShapeError(f"{name} contains NaN")
    return a


def align_events(traces, onsets, *, rate: float, start_time: float = 0.0, pre: float = 0.5,
                 post: float = 1.0) -> np.ndarray:
    """Event-aligned responses, cells x trials x time, from `traces` (time x cells, sampled at `rate` Hz
    from `start_time`) around each onset (s): ``pre`` s before to ``post`` s after. Windows that leave the
    recording raise ShapeError."""
    X = _array(traces, "traces", 2)
    on = np.asarray(onsets, dtype=float)
    i0 = np.round((on - start_time) * rate).astype(int) - int(round(pre * rate))
    width = int(round(pre * rate)) + int(round(post * rate))
    if len(on) and (i0.min() < 0 or i0.max() + width > len(X)):
        raise ShapeError(f"event windows [{-pre}, {post}] s leave the recording (frames 0-{len(X)}; windows "
                         f"start at frames {i0.min()}-{i0.max()})")
    idx = i0[:, None] + np.arange(width)[None]
    return np.transpose(X[idx], (2, 0, 1))


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (|a| + |b|), 0 where both are 0."""
    den = np.abs(a) + np.abs(b)
    return np.divide(a - b, den, out=np.zeros(np.broadcast(a, b).shape), where=den > 0)


def _window_mean(R: np.ndarray, window: slice | None) -> np.ndarray:
    return R if R.ndim == 2 else R[:, :, window if window is not None else slice(None)].mean(2)


def _pvalue(null: np.ndarray, observed: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "greater":
        hits = null >= observed[None] - 1e-12
    elif alternative == "less":
        hits = null <= observed[None] + 1e-12
    elif alternative == "two-sided":
        hits = np.abs(null) >= np.abs(observed[None]) - 1e-12
    else:
        raise ShapeError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    return (1 + hits.sum(0)) / (1 + len(null))


def index_test(A, B, *, n_shuffles: int = 1000, seed: int = 0, alternative: str = "greater",
               window: slice | None = None, statistic: str = "contrast") -> dict[str, np.ndarray]:
    """Per-cell contrast of condition A against condition B with a trial-shuffle p-value.

    `A` is cells x trials_A (or cells x trials_A x time, averaged over `window`), `B` likewise. The statistic
    is ``contrast(mean A, mean B)`` (the MI / SSA form) or ``"difference"`` (mean A - mean B, the omission
    response). The null shuffles trial labels between A and B (the same permutations for every cell).
    Returns ``index``, ``p``, ``mean_a``, ``mean_b`` (each per cell)."""
    a, b = _window_mean(_array(A, "A", (2, 3)), window), _window_mean(_array(B, "B", (2, 3)), window)
    if a.shape[0] != b.shape[0] or a.shape[1] < 1 or b.shape[1] < 1:
        raise ShapeError(f"A and B need the same cells and >= 1 trial each; got {a.shape} and {b.shape}")
    if statistic not in ("contrast", "difference"):
        raise ShapeError(f"statistic must be 'contrast' or 'difference', got {statistic!r}")
    stat = contrast if statistic == "contrast" else np.subtract
    observed = stat(a.mean(1), b.mean(1))
    pooled = np.concatenate([a, b], 1)
    n_a, n = a.shape[1], pooled.shape[1]
    rng = np.random.default_rng(seed)
    null = np.empty((n_shuffles, a.shape[0]))
    chunk = max(1, 2_000_000 // max(pooled.size, 1))
    for s in range(0, n_shuffles, chunk):  # chunks of permutations, each vectorised over cells and trials
        k = min(chunk, n_shuffles - s)
        perm = np.argsort(rng.random((k, n)), axis=1)
        shuffled = pooled[:, perm]                                   # cells x k x n
        null[s:s + k] = stat(shuffled[:, :, :n_a].mean(2), shuffled[:, :, n_a:].mean(2)).T
    return {"index": observed, "p": _pvalue(null, observed, alternative), "mean_a": a.mean(1), "mean_b": b.mean(1)}


def mismatch_index(deviant, standard, **kw) -> dict[str, np.ndarray]:
    """MI = (R_dev - R_std) / (R_dev + R_std) per cell, with a trial-shuffle p-value (see :func:`index_test`)."""
    return index_test(deviant, standard, **kw)


def ssa_index(deviant, control, **kw) -> dict[str, np.ndarray]:
    """SSA index = (R_dev - R_ctrl) / (R_dev + R_ctrl): the deviant against the same stimulus in the
    many-standards control, per cell with a trial-shuffle p-value."""
    return index_test(deviant, control, **kw)


def omission_response(omitted, baseline, **kw) -> dict[str, np.ndarray]:
    """Omitted-window mean minus baseline-window mean per cell, with a trial-shuffle p-value."""
    return index_test(omitted, baseline, statistic="difference", **kw)


def classify_pe(matched, negative, positive, *, ratio: float = 5.0, min_response: float = 1.0) -> np.ndarray:
    """Label each cell "nPE", "pPE" or "none" from its mean responses (cells,) to S = P, to P > S (negative
    mismatch) and to S > P (positive mismatch). nPE: the negative-mismatch response is at least `ratio` x
    the matched one and exceeds it by `min_response`, while the positive-mismatch response stays within
    `min_response` of the matched one; pPE symmetrically."""
    m, n, p = (_array(x, name, 1) for x, name in ((matched, "matched"), (negative, "negative"),
                                                   (positive, "positive")))
    if not m.shape == n.shape == p.shape:
        raise ShapeError(f"matched, negative and positive must have one shape; got {m.shape}, {n.shape}, {p.shape}")
    npe = (n >= ratio * m) & (n - m >= min_response) & (p - m < min_response)
    ppe = (p >= ratio * m) & (p - m >= min_response) & (n - m < min_response)
    return np.where(npe, "nPE", np.where(ppe, "pPE", "none"))


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard overlap of boolean cell sets (last axis), 0 for two empty sets."""
    inter, union = (a & b).sum(-1), (a | b).sum(-1)
    return np.divide(inter, union, out=np.zeros(np.shape(inter)), where=union > 0)


def _corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    den = np.sqrt((x ** 2).sum(-1) * (y ** 2).sum(-1))
    return np.divide((x * y).sum(-1), den, out=np.zeros(np.shape(den)), where=den > 0)


def shared_vs_distinct(indices: dict, significant: dict, *, n_permutations: int = 2000, seed: int = 0) -> dict:
    """The shared-vs-distinct test across mismatch types.

    `indices` maps each mismatch type to a per-cell index (cells,), `significant` to a boolean per cell
    (responsive to that type). For each pair of types: the Jaccard overlap of the responsive sets and the
    Pearson correlation of the indices, each with a one-sided permutation p-value (cell identities shuffled
    in the second type: is the overlap / correlation larger than for unrelated populations?). Returns
    ``types``, ``overlap``, ``correlation``, ``p_overlap``, ``p_correlation`` (types x types) and
    ``chance_overlap`` (the permutation mean)."""
    types = list(indices)
    if set(types) != set(significant) or len(types) < 2:
        raise ShapeError(f"indices and significant need the same >= 2 types; got {list(indices)}, {list(significant)}")
    I = np.stack([_array(indices[t], f"indices[{t}]", 1) for t in types])
    S = np.stack([np.asarray(significant[t], dtype=bool) for t in types])
    if S.shape != I.shape:
        raise ShapeError(f"every type needs one value per cell; indices {I.shape}, significant {S.shape}")
    K, n = I.shape
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_permutations, n)), axis=1)
    out = {k: np.eye(K) if k in ("overlap", "correlation") else np.zeros((K, K))
           for k in ("overlap", "correlation", "p_overlap", "p_correlation", "chance_overlap")}
    for i in range(K):
        for j in range(K):
            if i == j:
                continue
            ov, co = jaccard(S[i], S[j]), _corr(I[i], I[j])
            null_ov, null_co = jaccard(S[i][None], S[j][perms]), _corr(I[i][None], I[j][perms])
            out["overlap"][i, j], out["correlation"][i, j] = ov, co
            out["p_overlap"][i, j] = (1 + (null_ov >= ov - 1e-12).sum()) / (1 + n_permutations)
            out["p_correlation"][i, j] = (1 + (null_co >= co - 1e-12).sum()) / (1 + n_permutations)
            out["chance_overlap"][i, j] = null_ov.mean()
    return {"types": types, **out}
