"""Prioritised experience replay (Schaul, Quan, Antonoglou & Silver 2016, "Prioritized Experience Replay").

Item i with priority p_i is drawn with probability P(i) = p_i^alpha / sum_j p_j^alpha and carries the
importance weight w_i = (N P(i))^-beta / max_j w_j, which corrects the bias of non-uniform sampling (beta -> 1
over training, see :func:`linear_beta`). New items enter at the largest priority seen so far, so each is
replayed at least about once before its TD error is known.

The masses p^alpha live in a sum-tree and a min-tree (:class:`SumMinTree`): K-ary trees (K = 32) stored as
flat float64 tensors, leaves first and the root last. A batch of priority updates writes the leaves and then
carries the changes up one level at a time (four levels above 10^6 leaves); a batch of draws descends all
queries together. Everything stays on the buffer's device: on a GPU the steps are torch operations and no
sample, add or extend waits for the host; on the CPU they run as compiled loops (numba, the optional extra
``brainlearn[numba]``) or vectorised numpy on views of the same memory, with the same results bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.replay._kernels import best as tree_kernels
from brainlearn.replay.buffers import (
    RingBuffer,
    Transitions,
    allocate,
    check_batch_size,
    check_generator,
    check_seed,
    zeros,
)

#: The largest priority a buffer takes: capacity x MAX_PRIORITY^alpha stays far below float64's range, so the
#: sum tree cannot overflow (|TD errors| are many orders of magnitude smaller).
MAX_PRIORITY = 1e100


def _check_unit(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def linear_beta(step: int, total_steps: int, start: float = 0.4, end: float = 1.0) -> float:
    """beta annealed linearly from ``start`` (step 0) to ``end`` (step >= total_steps), as in the paper."""
    _check_unit(start, "start"), _check_unit(end, "end")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ConfigError(f"total_steps: expected a positive int, got {total_steps!r}")
    frac = min(max(step, 0) / total_steps, 1.0)
    return start + frac * (end - start)


class SumMinTree:
    """A sum-tree and a min-tree over ``capacity`` non-negative leaves (float64, on ``device``), K-ary.

    Each tree is one flat float64 tensor (``sum``, ``min``) holding its levels one after the other: the
    ``capacity`` leaves first, then their parents (one per block of ``branching`` children), and so on up to
    the root; every level is padded to a multiple of ``branching``. Empty leaves hold 0 in the sum-tree and
    +inf in the min-tree, so neither the total nor the minimum counts them. A wide tree is shallow (four levels
    above 10^6 leaves at K = 32), so an update or a draw is a handful of steps. On the CPU they run on numpy
    views of the same memory, as compiled loops where numba is installed (the same results as its numpy
    fallback, bit for bit); on a GPU they are torch operations that never leave the device.
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu", branching: int = 32):
        if isinstance(branching, bool) or not isinstance(branching, int) or branching < 2:
            raise ConfigError(f"branching: expected an int >= 2, got {branching!r}")
        self.capacity, self.branching = capacity, branching
        self.device = torch.device(device)
        sizes, n = [], capacity
        while True:
            padded = -(-n // branching) * branching
            sizes.append(padded)
            if n == 1:
                break
            n = padded // branching
        self.sizes = sizes                                     # padded length of each level, leaves first
        self.offsets = [0]
        for size in sizes[:-1]:
            self.offsets.append(self.offsets[-1] + size)
        total = self.offsets[-1] + sizes[-1]
        self.depth = len(sizes) - 1
        what = f"the priority trees of capacity {capacity}"
        self.sum = allocate(lambda: zeros((total,), torch.float64, self.device), what, 16 * total)
        self.min = allocate(lambda: zeros((total,), torch.float64, self.device).fill_(math.inf), what, 16 * total)
        self._np = self.device.type == "cpu"                  # the host kernels on numpy views, or torch ops
        if self._np:
            self._sum_np, self._min_np = self.sum.numpy(), self.min.numpy()
            self._offsets_np = np.asarray(self.offsets, dtype=np.int64)
            self._kernels = tree_kernels()

    @property
    def leaves(self) -> int:
        """Offset of the leaves in :attr:`sum` and :attr:`min` (0: they come first)."""
        return 0

    def _level(self, arr, level: int):
        return arr[self.offsets[level]:self.offsets[level] + self.sizes[level]]

    def total(self) -> torch.Tensor:
        """Sum of all leaves, a 0-d tensor."""
        return self.sum[self.offsets[-1]]

    def minimum(self) -> torch.Tensor:
        """Smallest filled leaf (+inf when empty), a 0-d tensor."""
        return self.min[self.offsets[-1]]

    def values(self, n: int) -> torch.Tensor:
        """The first ``n`` leaves (a view)."""
        return self.sum[:n]

    def get(self, idx: torch.Tensor) -> torch.Tensor:
        return self.sum.index_select(0, idx.to(self.device, torch.long))

    def set(self, idx: torch.Tensor, values: torch.Tensor, *, unique: bool = False) -> None:
        """Set leaves ``idx`` (shape (B,)) to ``values`` (B,); a leaf given twice takes its last value.

        ``unique=True`` promises distinct indices and skips the de-duplication.
        """
        if self._np:
            idx, vals = _host(idx, np.int64), _host(values, np.float64)
            if idx.shape != vals.shape:
                raise ShapeError(f"SumMinTree.set: {idx.size} indices but {vals.size} values")
            if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
                raise ShapeError(f"SumMinTree.set: indices must be in [0, {self.capacity}), got "
                                 f"[{idx.min()}, {idx.max()}]")
            self._set_np(idx, vals)
            return
        idx = idx.to(self.device, torch.long).flatten()
        vals = values.to(self.device, torch.float64).flatten()
        if idx.numel() == 0:
            return
        if not unique:
            order = torch.sort(idx, stable=True)
            last = torch.searchsorted(order.values, order.values, right=True) - 1
            idx, vals = order.values, vals[order.indices[last]]
        self._set_torch(idx, vals)

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.capacity:
            raise ShapeError(f"SumMinTree: leaves {start} .. {stop - 1} are not in [0, {self.capacity})")

    def _set_np(self, idx: np.ndarray, vals: np.ndarray) -> None:
        """Leaves ``idx`` to ``vals`` by the host kernels, and every ancestor recomputed from its children."""
        if idx.size:
            self._kernels.set_leaves(self._sum_np, self._min_np, self._offsets_np, self.branching, idx, vals)

    def _resync(self) -> None:
        """Recompute every inner node from the leaves."""
        self._kernels.refresh(self._sum_np, self._min_np, self._offsets_np, self.branching, 0, self.capacity)

    def set_range(self, start: int, values) -> None:
        """Set the contiguous leaves ``start .. start + len(values) - 1`` (no wrap-around): the parents form a
        contiguous range too, recomputed from their contiguous children."""
        n = int(values.shape[0])
        if n == 0:
            return
        self._check_range(start, start + n)
        if not self._np:
            self.set(torch.arange(start, start + n, device=self.device), values, unique=True)
            return
        vals = _host(values, np.float64)
        self._sum_np[start:start + n] = vals
        self._min_np[start:start + n] = vals
        self._kernels.refresh(self._sum_np, self._min_np, self._offsets_np, self.branching, start, start + n)

    def fill_range(self, start: int, stop: int, value: float) -> None:
        """Set the contiguous leaves ``start .. stop - 1`` to one ``value`` (:meth:`set_range` of a constant)."""
        self._check_range(start, stop)
        if not self._np:
            self.set_range(start, torch.full((stop - start,), value, dtype=torch.float64, device=self.device))
            return
        self._sum_np[start:stop] = value
        self._min_np[start:stop] = value
        self._kernels.refresh(self._sum_np, self._min_np, self._offsets_np, self.branching, start, stop)

    def _set_torch(self, idx: torch.Tensor, vals: torch.Tensor) -> None:
        K = self.branching
        self.sum.index_copy_(0, idx, vals)
        self.min.index_copy_(0, idx, vals)
        node = idx
        for level in range(self.depth):
            child_s = self._level(self.sum, level).view(-1, K)
            child_m = self._level(self.min, level).view(-1, K)
            up = self.offsets[level + 1]
            node = node // K
            self.sum.index_copy_(0, node + up, child_s.index_select(0, node).sum(1))
            self.min.index_copy_(0, node + up, child_m.index_select(0, node).amin(1))

    def rebuild(self, values: torch.Tensor) -> None:
        """Reset the trees to leaves ``values`` (shape (n,), n <= capacity; the rest empty), level by level."""
        n = values.shape[0]
        self.sum.zero_()
        self.min.fill_(math.inf)
        self.sum[:n] = values.to(self.device, torch.float64)
        self.min[:n] = values.to(self.device, torch.float64)
        if self._np:
            self._resync()
            return
        K = self.branching
        for level in range(self.depth):
            up, count = self.offsets[level + 1], self.sizes[level] // K
            self.sum[up:up + count] = self._level(self.sum, level).view(-1, K).sum(1)
            self.min[up:up + count] = self._level(self.min, level).view(-1, K).amin(1)

    def state_dict(self) -> dict:
        """Both trees, every node (bit-identical futures)."""
        return {"branching": self.branching, "sum": self.sum.clone(), "min": self.min.clone()}

    def load_state_dict(self, state) -> None:
        if tuple(state["sum"].shape) != tuple(self.sum.shape):
            raise ConfigError(f"tree state has {state['sum'].shape[0]} nodes, this tree {self.sum.shape[0]}")
        sums, mins = torch.as_tensor(state["sum"]), torch.as_tensor(state["min"])
        if not (bool(torch.isfinite(sums).all()) and bool((sums >= 0).all()) and bool((mins >= 0).all())
                and not bool(torch.isnan(mins).any())):
            raise ConfigError("tree state holds NaN, infinite or negative masses: not a state this tree wrote")
        self.sum.copy_(state["sum"])
        self.min.copy_(state["min"])      # checkpoints from before exact updates also hold "written": unused

    def find(self, mass: torch.Tensor) -> torch.Tensor:
        """Leaf index i for each query mass u in [0, total) with prefix(i) <= u < prefix(i + 1); shape (B,).

        A query that rounding puts at or past a node's last prefix takes the node's last child of positive
        mass, so every index is a leaf of positive mass while the total is positive."""
        if self._np:
            node = self._kernels.find(self._sum_np, self._offsets_np, self.branching, _host(mass, np.float64))
            return torch.from_numpy(node)
        K = self.branching
        u = mass.to(self.device, torch.float64).flatten().clone()
        node = torch.zeros(u.shape, dtype=torch.long, device=self.device)
        ar = torch.arange(K, device=self.device)
        for level in range(self.depth - 1, -1, -1):
            block = self.sum[self.offsets[level] + node[:, None] * K + ar]
            cum = block.cumsum(1)
            child = (cum <= u[:, None]).sum(1)
            # past the last prefix (rounding): the last child of positive mass, as on the host
            child = torch.where(child < K, child, ((block > 0) * ar).amax(1))
            prev = cum.gather(1, (child - 1).clamp(min=0)[:, None]).squeeze(1)
            u -= torch.where(child > 0, prev, torch.zeros_like(prev))
            node = node * K + child
        return node


def _host(x, dtype) -> np.ndarray:
    """`x` (a tensor, array or sequence) as a flat contiguous numpy array of `dtype` (None: float32 and
    float64 stay as they are, anything else becomes float64), without a copy where it already is one."""
    if not isinstance(x, np.ndarray):
        try:
            x = x.numpy()                  # a CPU tensor without grad: a view
        except (AttributeError, TypeError, RuntimeError):
            x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    if x.ndim == 1 and x.dtype == dtype and x.flags.c_contiguous:       # the usual case, at no cost
        return x
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1)


class PrioritizedReplayBuffer:
    """Proportional prioritised replay over a FIFO ring of tensor dicts.

    ``alpha`` in [0, 1] sets how strongly priorities skew sampling (0 is uniform). ``eps`` is added to every
    priority given to :meth:`update_priorities` (p = |delta| + eps in the paper) so that an item with zero TD
    error stays reachable.

    >>> buf = PrioritizedReplayBuffer(100_000, alpha=0.6, device="cpu", seed=0)
    >>> buf.extend({"obs": torch.zeros(256, 4), "reward": torch.zeros(256)})
    >>> batch, info = buf.sample(32, beta=0.4)        # info["weight"]: importance weights, info["index"]: slots
    >>> buf.update_priorities(info["index"], torch.rand(32))   # |TD error| of each drawn item, in practice

    ``seed`` seeds the buffer's own generator (:attr:`generator`, on the buffer's device, part of
    ``state_dict``), which :meth:`sample` draws from unless a ``generator`` is passed to it.

    On a GPU, ``add``, ``extend`` and ``sample`` never wait for the host (no value is read back);
    ``update_priorities`` reads back four numbers per call, the extremes of the priorities and indices it
    checks, so that bad input raises here rather than corrupting the trees.
    """

    def __init__(self, capacity: int, alpha: float = 0.6, device: str | torch.device = "cpu", *,
                 eps: float = 1e-6, stratified: bool = True, seed: int = 0):
        self.alpha = _check_unit(alpha, "alpha")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps < math.inf:
            raise ConfigError(f"eps: expected a finite number >= 0, got {eps!r}")
        self.eps = float(eps)
        self.stratified = bool(stratified)
        self._ring = RingBuffer(capacity, device)
        self.generator = torch.Generator(self.device).manual_seed(check_seed(seed))
        self.tree = SumMinTree(capacity, device)
        self._max_priority = torch.ones((), dtype=torch.float64, device=self.device)

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    @property
    def device(self) -> torch.device:
        return self._ring.device

    @property
    def data(self) -> Transitions:
        return self._ring.data

    @property
    def max_priority(self) -> torch.Tensor:
        """The largest priority seen (initially 1), 0-d float64; new items enter at this priority."""
        return self._max_priority

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, item: Mapping) -> torch.Tensor:
        """Store one item at the current maximum priority; return its slot, shape (1,)."""
        slots, run = self._ring._add(item)
        self._set_new(slots, run)
        return slots

    def extend(self, batch: Mapping) -> torch.Tensor:
        """Store a batch (leading axis B) at the current maximum priority; return the slots written."""
        slots, run = self._ring._extend(batch)
        self._set_new(slots, run)
        return slots

    def _set_new(self, slots: torch.Tensor, runs: tuple[tuple[int, int], ...]) -> None:
        """New items at the maximum priority, in the contiguous ``runs`` of slots ``(start, stop)``."""
        if slots.shape[0] == 0:                     # an empty batch writes nothing
            return
        if self.tree._np:
            mass = self._max_priority.item() ** self.alpha
            for start, stop in runs:
                self.tree.fill_range(start, stop, mass)
            return
        mass = (self._max_priority ** self.alpha).expand(slots.shape[0])     # stays on the device
        self.tree.set(slots, mass, unique=True)       # a ring's slots in one write are distinct

    def priorities(self, indices: torch.Tensor) -> torch.Tensor:
        """The masses p^alpha stored for ``indices`` (float64)."""
        return self.tree.get(torch.as_tensor(indices, device=self.device))

    def probabilities(self) -> torch.Tensor:
        """P(i) for every stored slot, shape (len(self),), float64."""
        return self.tree.values(len(self)) / self.tree.total()

    def sample(self, batch_size: int, generator: torch.Generator | None = None, *, beta: float = 1.0
               ) -> tuple[Transitions, dict]:
        """Draw ``batch_size`` items with P(i) proportional to p_i^alpha, from `generator` (default: the
        buffer's own).

        With ``stratified`` (the default, as in the paper) the total mass is cut into ``batch_size`` equal
        segments and one item is drawn from each, which lowers the variance of a batch without changing P(i).
        ``beta`` is the importance-sampling exponent (1: the full correction; anneal it with
        :func:`linear_beta`). Returns (batch dict, ``{"index": slot indices (batch_size,) long, "weight":
        importance weights (batch_size,) float32 with maximum weight over the buffer 1}``).
        """
        beta = _check_unit(beta, "beta")
        size = len(self)
        check_batch_size(batch_size, size)
        generator = self.generator if generator is None else check_generator(generator)
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64, device=generator.device)
        if self.tree._np:
            return self._sample_host(batch_size, u.numpy() if u.is_cpu else u.cpu().numpy(), beta, size)
        u = u.to(self.device)
        total = self.tree.total()
        if self.stratified:
            u = (torch.arange(batch_size, dtype=torch.float64, device=self.device) + u) * (total / batch_size)
        else:
            u = u * total
        idx = self.tree.find(u).clamp_(0, size - 1)   # rounding at the right edge can reach an empty leaf
        mass = self.tree.get(idx)
        # w_i / max_j w_j = (P(i) / P_min)^-beta = (m_i / m_min)^-beta; the N and the total cancel
        weights = (mass / self.tree.minimum()).pow(-beta).to(torch.float32)
        return self._ring.gather(idx), {"index": idx, "weight": weights}

    def _sample_host(self, batch_size: int, u: np.ndarray, beta: float, size: int) -> tuple[Transitions, dict]:
        """:meth:`sample` on the CPU: one kernel call draws the leaves and their m_i / m_min."""
        tree = self.tree
        idx, ratio = tree._kernels.draw(tree._sum_np, tree._min_np, tree._offsets_np, tree.branching, u,
                                        self.stratified, size)
        weights = (ratio ** -beta).astype(np.float32)    # (m_i / m_min)^-beta, as on the device path
        return self._ring._storage.take(idx), {"index": torch.from_numpy(idx), "weight": torch.from_numpy(weights)}

    def update_priorities(self, indices, priorities) -> None:
        """Set the priorities of slots ``indices`` (B,) to ``priorities + eps`` (B,), all at once.

        Priorities must be finite and >= 0 (pass |TD error|); a slot given twice takes its last value.
        """
        if self.tree._np:          # the CPU: numpy views and the host kernels (smaller fixed costs than torch's)
            idx, p = _host(indices, np.int64), _host(priorities, None)
            if idx.shape != p.shape:
                raise ShapeError(f"update_priorities: {idx.size} indices but {p.size} priorities")
            if idx.size == 0:
                return
            tree = self.tree          # one kernel call checks the priorities and indices, then writes the masses
            written, lo, hi, ilo, ihi = tree._kernels.set_priorities(
                tree._sum_np, tree._min_np, tree._offsets_np, tree.branching, idx, p, self.eps, self.alpha,
                len(self), MAX_PRIORITY)
            if not written:           # it writes exactly when these checks pass: they raise the reason
                self._check_update(float(lo), float(hi), int(ilo), int(ihi))
            if hi + self.eps > self._max_priority.item():
                self._max_priority = torch.tensor(hi + self.eps, dtype=torch.float64)
            return
        idx = torch.as_tensor(indices, device=self.device).long().flatten()
        p = torch.as_tensor(priorities, device=self.device).to(torch.float64).flatten()
        if idx.shape != p.shape:
            raise ShapeError(f"update_priorities: {idx.numel()} indices but {p.numel()} priorities")
        if idx.numel() == 0:
            return
        # the one read-back of the call: the four extremes the checks need (indices are exact in float64)
        lo, hi, ilo, ihi = torch.stack((p.min(), p.max(), idx.min().double(), idx.max().double())).tolist()
        self._check_update(lo, hi, int(ilo), int(ihi))
        self._max_priority = self._max_priority.clamp(min=hi + self.eps)
        self.tree.set(idx, (p + self.eps) ** self.alpha)

    def _check_update(self, lo: float, hi: float, ilo: int, ihi: int) -> None:
        """A :class:`ShapeError` unless the priorities' extremes (NaN if any is) and the indices' are valid."""
        if not (0 <= lo and hi < math.inf):                         # NaN fails both comparisons
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ShapeError("update_priorities: priorities contain NaN or inf")
            raise ShapeError(f"update_priorities: priorities must be >= 0, got minimum {lo}")
        if lo + self.eps <= 0:
            raise ShapeError("update_priorities: a priority is 0 and eps is 0; it could never be drawn again")
        if hi > MAX_PRIORITY:
            raise ShapeError(f"update_priorities: priorities must be <= {MAX_PRIORITY:g} (so the sum tree cannot "
                             f"overflow), got {hi:g}")
        if ilo < 0 or ihi >= len(self):
            raise ShapeError(f"update_priorities: indices must be in [0, {len(self)}), got [{ilo}, {ihi}]")

    def state_dict(self) -> dict:
        """Tensors, numbers and strings only (``torch.load(..., weights_only=True)`` reads it)."""
        return {"kind": type(self).__name__, "alpha": self.alpha, "eps": self.eps, "stratified": self.stratified,
                "max_priority": self._max_priority.clone(), "ring": self._ring.state_dict(),
                "mass": self.tree.values(len(self)).clone(), "tree": self.tree.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("kind") != type(self).__name__:
            raise ConfigError(f"state_dict is for a {state.get('kind')!r}, not a {type(self).__name__}")
        self.alpha, self.eps = _check_unit(state["alpha"], "alpha"), float(state["eps"])
        self.stratified = bool(state["stratified"])
        self._ring.load_state_dict(state["ring"])
        if "generator" in state:                  # checkpoints written before buffers owned a generator lack it
            self.generator.set_state(state["generator"])
        self._max_priority = torch.as_tensor(state["max_priority"], dtype=torch.float64).to(self.device)
        mass = torch.as_tensor(state["mass"], dtype=torch.float64)
        if not (0 < float(self._max_priority) <= MAX_PRIORITY + self.eps) or mass.shape != (len(self),) or not (
                bool(torch.isfinite(mass).all()) and bool((mass >= 0).all())):
            raise ConfigError("state_dict holds invalid priorities (NaN, infinite, negative or too many masses, or "
                              "a bad max_priority): not a state this buffer wrote")
        if "tree" in state and int(state["tree"]["branching"]) == self.tree.branching:
            self.tree.load_state_dict(state["tree"])     # the inner nodes too: the same rounding from here on
        else:
            self.tree.rebuild(torch.as_tensor(state["mass"]))
