"""The CPU kernels of :class:`~brainlearn.replay.SumMinTree`: numba-compiled loops where numba is installed
(``pip install 'brainlearn[numba]'``), vectorised numpy otherwise. Both give the same results bit for bit.

An update writes its leaves and recomputes every ancestor from its children, so each inner node always equals
what a rebuild gives. The compiled loops do not check bounds: callers pass leaf indices in [0, capacity)
(``SumMinTree`` checks them; ``set_priorities`` checks its own, before it writes). A tree is two flat float64
arrays ``S`` (sums) and ``M`` (minima), its levels one after the other (leaves first, root last, see
``SumMinTree``), ``offsets`` (int64, one per level) and the branching ``K``. Every sum of a block of K children
is taken left to right (``np.cumsum``'s order), the order the compiled loops use too, so both kernel sets round
alike and a draw does not depend on which one ran.

Why compiled: a batch of 256 draws or updates is a few µs of arithmetic, but each vectorised numpy step costs
about a µs of dispatch, and a tree walk takes some 30 of them; one compiled call runs the whole walk. A
prioritised buffer's update is one call too: checks, the masses (p + eps)^alpha, the leaves and their ancestors.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from brainlearn.runtime.compiled import compiled

# --- vectorised numpy (the fallback; every kernel mirrors its compiled twin) ---------------------------------

def find_np(S: np.ndarray, offsets: np.ndarray, K: int, mass: np.ndarray) -> np.ndarray:
    """Leaf i for each query u in [0, total) with prefix(i) <= u < prefix(i + 1), all queries level by level.

    A query that rounding puts past its node's last prefix takes the node's last child of positive mass (or
    child 0 if none has any), so a walk never enters an empty or padded node and every leaf is in range."""
    u = mass.copy()
    node = np.zeros(u.shape, dtype=np.int64)
    rows, ks = np.arange(u.size), np.arange(K)
    for level in range(len(offsets) - 2, -1, -1):
        block = S[offsets[level] + node[:, None] * K + ks]                    # (B, K) children
        cum = torch.cumsum(torch.from_numpy(block), 1).numpy()  # np.cumsum's sums (left to right), 5x faster
        child = np.count_nonzero(cum <= u[:, None], axis=1)
        past = child == K
        if past.any():
            child[past] = ((block[past] > 0) * ks).max(1)
        u -= np.where(child > 0, cum[rows, child - 1], 0.0)
        node = node * K + child
    return node


def set_leaves_np(S, M, offsets, K, idx, vals) -> None:
    """Leaves ``idx`` to ``vals`` (a leaf given twice takes its last value), then every ancestor recomputed from
    its K children, level by level: each inner node always equals the left-to-right sum (and the minimum) of
    its children, exactly as a rebuild would give, so the sums never drift whatever the history of changes."""
    if idx.size > 1:
        _, first_of_reversed = np.unique(idx[::-1], return_index=True)      # the last occurrence of each index
        if first_of_reversed.size < idx.size:
            last = np.sort(idx.size - 1 - first_of_reversed)
            idx, vals = idx[last], vals[last]
    S[idx] = vals
    M[idx] = vals
    node, ks = idx, np.arange(K)
    for level in range(len(offsets) - 1):
        lo, up = offsets[level], offsets[level + 1]
        node = np.unique(node // K)                                         # the parents, each once
        block = lo + node[:, None] * K + ks
        S[up + node] = np.cumsum(S[block], 1)[:, -1]
        M[up + node] = M[block].min(1)


def refresh_np(S, M, offsets, K, lo: int, hi: int) -> None:
    """Recompute every ancestor of the leaves ``lo .. hi - 1`` from its children (contiguous at each level)."""
    for level in range(len(offsets) - 1):
        base, up = offsets[level], offsets[level + 1]
        plo, phi = lo // K, (hi - 1) // K + 1
        S[up + plo:up + phi] = np.cumsum(S[base + plo * K:base + phi * K].reshape(-1, K), 1)[:, -1]
        M[up + plo:up + phi] = M[base + plo * K:base + phi * K].reshape(-1, K).min(1)
        lo, hi = plo, phi


def set_priorities_np(S, M, offsets, K, idx, p, eps: float, alpha: float, size: int, limit: float
                      ) -> tuple[bool, float, float, int, int]:
    """Leaves ``idx`` (non-empty) to the masses (p + eps)^alpha and their ancestors (:func:`set_leaves_np`), if
    every p is in [0, limit] with p + eps > 0 and every index in [0, size); nothing is written otherwise.
    Returns (written, min p, max p, min idx, max idx); a NaN in ``p`` makes both of its extremes NaN.

    The power is libm's ``pow`` item by item (a Python float's ``**``), as in the compiled loop: numpy's
    vectorised ``power`` may differ in the last bit."""
    lo, hi, ilo, ihi = float(p.min()), float(p.max()), int(idx.min()), int(idx.max())
    written = 0 <= lo and hi <= limit and lo + eps > 0 and 0 <= ilo and ihi < size     # NaN fails
    if written:
        mass = np.power(np.add(p, eps, dtype=np.float64).astype(object), alpha).astype(np.float64)
        set_leaves_np(S, M, offsets, K, idx, mass)
    return written, lo, hi, ilo, ihi


def draw_np(S, M, offsets, K, u: np.ndarray, stratified: bool, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A prioritised draw from uniform numbers ``u`` in [0, 1) (overwritten): the leaves (below ``size``) and
    their masses over the smallest mass, m_i / m_min. Stratified: query j is (j + u_j) · total / B."""
    root = offsets[-1]
    if stratified:
        u += np.arange(u.size)
        u *= S[root] / u.size
    else:
        u *= S[root]
    idx = np.minimum(find_np(S, offsets, K, u), size - 1)     # rounding at the right edge can reach an empty leaf
    return idx, S[idx] / M[root]


NUMPY = SimpleNamespace(name="numpy", find=find_np, set_leaves=set_leaves_np, refresh=refresh_np,
                        set_priorities=set_priorities_np, draw=draw_np)


# --- numba (the same algorithms as one loop over the items) ---------------------------------------------------

#: An update first touches the children's blocks of the levels at least this long (2^15 nodes: 512 KB of sums
#: and minima, beyond the fast caches), so that their cache misses overlap; smaller levels stay cached, and
#: touching them costs more than it saves (measured at 10^6 leaves, batches 32 and 256)
TOUCHED_LEVEL = 2 ** 15


def _compile():
    import numba

    jit = numba.njit(cache=True, nogil=True)

    @jit
    def find(S, offsets, K, mass):
        u = mass.copy()
        node = np.zeros(mass.shape[0], dtype=np.int64)
        touched = 0.0
        for level in range(offsets.shape[0] - 2, -1, -1):
            # level by level, like the numpy twin: first touch every query's block (independent loads, many
            # cache misses in flight), then walk each block, now in cache: 1.5x faster at 10^6 leaves
            for b in range(u.shape[0]):
                for j in range(0, K, 8):
                    touched += S[offsets[level] + node[b] * K + j]
            for b in range(u.shape[0]):
                base = offsets[level] + node[b] * K
                acc, child, last, last_acc = 0.0, -1, 0, 0.0     # last: the last child of positive mass
                for j in range(K):
                    nxt = acc + S[base + j]
                    if nxt > u[b]:
                        child = j
                        break
                    if S[base + j] > 0:
                        last, last_acc = j, acc
                    acc = nxt
                if child < 0:                            # past the last prefix (rounding)
                    child, acc = last, last_acc
                u[b] -= acc
                node[b] = node[b] * K + child
        if touched < 0:                                  # never (masses are >= 0): keeps the touches
            node[0] = -1
        return node

    @jit
    def recompute(S, M, first, K, dest):
        """Node `dest` from its K children at `first`: their left-to-right sum and their minimum."""
        sums, mins = S[first:first + K], M[first:first + K]    # views: no negative-index wrap per load (-18%)
        s, m = sums[0], mins[0]
        for j in range(1, K):
            s += sums[j]
            m = min(m, mins[j])
        S[dest] = s
        M[dest] = m

    @jit
    def set_leaves(S, M, offsets, K, idx, vals):
        node = np.sort(idx)                              # ascending: each level's parents come in runs
        # every block the update reads follows from the indices alone: touch the large levels' blocks first,
        # all levels at once, so that their cache misses overlap (one load per 64-byte line, independent)
        block, touched = node.copy(), 0.0
        for level in range(offsets.shape[0] - 1):
            lo, touch = offsets[level], offsets[level + 1] - offsets[level] >= TOUCHED_LEVEL
            for r in range(node.shape[0]):
                block[r] //= K
                if touch:
                    first, line = lo + block[r] * K, 0.0
                    for j in range(0, K, 8):
                        line += S[first + j] * M[first + j]
                    touched += line
        for i in range(idx.shape[0]):                    # in batch order: a leaf's last value wins
            S[idx[i]] = vals[i]
            M[idx[i]] = vals[i]
        for level in range(offsets.shape[0] - 1):
            lo, up = offsets[level], offsets[level + 1]
            previous = -1
            for r in range(node.shape[0]):
                parent = node[r] // K
                node[r] = parent
                if parent == previous:
                    continue
                previous = parent
                recompute(S, M, lo + parent * K, K, up + parent)
        return touched                                   # returned, so that the touches are not optimised away

    @jit
    def refresh(S, M, offsets, K, lo, hi):
        for level in range(offsets.shape[0] - 1):
            base, up = offsets[level], offsets[level + 1]
            plo, phi = lo // K, (hi - 1) // K + 1
            for p in range(plo, phi):
                recompute(S, M, base + p * K, K, up + p)
            lo, hi = plo, phi

    @jit
    def draw(S, M, offsets, K, u, stratified, size):
        root = offsets[offsets.shape[0] - 1]
        if stratified:
            step = S[root] / u.shape[0]
            for j in range(u.shape[0]):
                u[j] = (j + u[j]) * step
        else:
            for j in range(u.shape[0]):
                u[j] = u[j] * S[root]
        idx = find(S, offsets, K, u)
        ratio = np.empty(u.shape[0])
        for j in range(u.shape[0]):
            idx[j] = min(idx[j], size - 1)
            ratio[j] = S[idx[j]] / M[root]
        return idx, ratio

    @jit
    def set_priorities(S, M, offsets, K, idx, p, eps, alpha, size, limit):
        lo, hi, ilo, ihi = np.float64(p[0]), np.float64(p[0]), idx[0], idx[0]
        for i in range(p.shape[0]):
            if p[i] != p[i]:
                lo = hi = np.nan                         # NaN: nothing is written whatever the rest
                break
            lo, hi = min(lo, np.float64(p[i])), max(hi, np.float64(p[i]))
        for i in range(idx.shape[0]):
            ilo, ihi = min(ilo, idx[i]), max(ihi, idx[i])
        written = 0 <= lo and hi <= limit and lo + eps > 0 and 0 <= ilo and ihi < size
        if written:
            mass = np.empty(p.shape[0])
            for i in range(p.shape[0]):
                mass[i] = (np.float64(p[i]) + eps) ** alpha
            set_leaves(S, M, offsets, K, idx, mass)
        return written, lo, hi, ilo, ihi

    return SimpleNamespace(name="numba", find=find, set_leaves=set_leaves, refresh=refresh,
                           set_priorities=set_priorities, draw=draw)


def best() -> SimpleNamespace:
    """The compiled kernels if numba imports (compiled once per process, cached on disk), else :data:`NUMPY`.
    ``BRAINLEARN_NUMBA=0`` in the environment forces the numpy kernels."""
    return compiled(_compile) or NUMPY
