"""Prioritised experience replay (Schaul, Quan, Antonoglou & Silver 2016, "Prioritized Experience Replay").

Item i with priority p_i is drawn with probability P(i) = p_i^alpha / sum_j p_j^alpha and carries the
importance weight w_i = (N P(i))^-beta / max_j w_j, which corrects the bias of non-uniform sampling (beta -> 1
over training, see :func:`linear_beta`). New items enter at the largest priority seen so far, so each is
replayed at least about once before its TD error is known.

The masses p^alpha live in a sum-tree and a min-tree: complete binary trees stored as flat float64 tensors of
length 2L (L = capacity rounded up to a power of two; node k has children 2k, 2k+1; leaves at L..2L-1; the
root, node 1, holds the total or the minimum). A batch of priority updates writes the leaves and then
recomputes the parents one level at a time (log2 L vectorised steps, no loop over items); a batch of draws
descends all queries together, one level per step. Everything stays on the buffer's device: on a GPU no
step needs a host round-trip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.replay.buffers import Batch, RingBuffer, check_batch_size


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
    """A sum-tree and a min-tree over ``capacity`` non-negative leaves (float64, on ``device``).

    Empty leaves hold 0 in the sum-tree and +inf in the min-tree, so neither the total nor the minimum
    counts them.
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu"):
        self.capacity = capacity
        self.leaves = 1 << max(0, math.ceil(math.log2(capacity)))
        self.depth = int(math.log2(self.leaves))
        self.device = torch.device(device)
        self.sum = torch.zeros(2 * self.leaves, dtype=torch.float64, device=self.device)
        self.min = torch.full((2 * self.leaves,), math.inf, dtype=torch.float64, device=self.device)

    def total(self) -> torch.Tensor:
        """Sum of all leaves, a 0-d tensor."""
        return self.sum[1]

    def minimum(self) -> torch.Tensor:
        """Smallest filled leaf (+inf when empty), a 0-d tensor."""
        return self.min[1]

    def get(self, idx: torch.Tensor) -> torch.Tensor:
        return self.sum.index_select(0, idx.to(self.device, torch.long) + self.leaves)

    def set(self, idx: torch.Tensor, values: torch.Tensor, *, unique: bool = False) -> None:
        """Set leaves ``idx`` (shape (B,)) to ``values`` (B,); a leaf given twice takes its last value.

        ``unique=True`` promises distinct indices and skips the O(B log B) de-duplication.
        """
        idx = idx.to(self.device, torch.long).flatten()
        values = values.to(self.device, torch.float64).flatten()
        if idx.numel() == 0:
            return
        if not unique:
            # every duplicate takes the value of its last occurrence, so the scatter's order does not matter
            order = torch.sort(idx, stable=True)
            last = torch.searchsorted(order.values, order.values, right=True) - 1
            idx, values = order.values, values[order.indices[last]]
        node = idx + self.leaves
        self.sum.index_copy_(0, node, values)
        self.min.index_copy_(0, node, values)
        pair_sum, pair_min = self.sum.view(self.leaves, 2), self.min.view(self.leaves, 2)
        for _ in range(self.depth):   # parents, one level at a time; duplicate parents get equal values
            node = node >> 1
            self.sum.index_copy_(0, node, pair_sum.index_select(0, node).sum(1))
            self.min.index_copy_(0, node, pair_min.index_select(0, node).amin(1))

    def rebuild(self, values: torch.Tensor) -> None:
        """Reset the trees to leaves ``values`` (shape (n,), n <= capacity; the rest empty), level by level."""
        n = values.shape[0]
        self.sum.zero_()
        self.min.fill_(math.inf)
        self.sum[self.leaves:self.leaves + n] = values.to(self.device, torch.float64)
        self.min[self.leaves:self.leaves + n] = values.to(self.device, torch.float64)
        width = self.leaves
        while width > 1:
            lo = width // 2
            self.sum[lo:width] = self.sum[width:2 * width:2] + self.sum[width + 1:2 * width:2]
            self.min[lo:width] = torch.minimum(self.min[width:2 * width:2], self.min[width + 1:2 * width:2])
            width = lo

    def find(self, mass: torch.Tensor) -> torch.Tensor:
        """Leaf index i for each query mass u in [0, total) with prefix(i) <= u < prefix(i + 1); shape (B,)."""
        u = mass.to(self.device, torch.float64).clone()
        node = torch.ones(u.shape, dtype=torch.long, device=self.device)
        for _ in range(self.depth):
            node = node << 1
            left = self.sum.index_select(0, node)
            right = u >= left
            u -= left * right
            node += right
        return node - self.leaves


class PrioritizedReplayBuffer:
    """Proportional prioritised replay over a FIFO ring of tensor dicts.

    ``alpha`` in [0, 1] sets how strongly priorities skew sampling (0 is uniform). ``eps`` is added to every
    priority given to :meth:`update_priorities` (p = |delta| + eps in the paper) so that an item with zero TD
    error stays reachable.

    >>> buf = PrioritizedReplayBuffer(100_000, alpha=0.6, device="cpu")
    >>> buf.extend({"obs": torch.zeros(256, 4), "reward": torch.zeros(256)})
    >>> batch, weights, idx = buf.sample(32, beta=0.4, generator=torch.Generator().manual_seed(0))
    >>> buf.update_priorities(idx, torch.rand(32))          # |TD error| of each drawn item, in practice
    """

    def __init__(self, capacity: int, alpha: float = 0.6, device: str | torch.device = "cpu", *,
                 eps: float = 1e-6, stratified: bool = True):
        self.alpha = _check_unit(alpha, "alpha")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps < math.inf:
            raise ConfigError(f"eps: expected a finite number >= 0, got {eps!r}")
        self.eps = float(eps)
        self.stratified = bool(stratified)
        self._ring = RingBuffer(capacity, device)
        self.tree = SumMinTree(capacity, device)
        self._max_priority = torch.ones((), dtype=torch.float64, device=self.device)

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    @property
    def device(self) -> torch.device:
        return self._ring.device

    @property
    def data(self) -> Batch:
        return self._ring.data

    @property
    def max_priority(self) -> torch.Tensor:
        """The largest priority seen (initially 1), 0-d float64; new items enter at this priority."""
        return self._max_priority

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, item: Mapping) -> torch.Tensor:
        """Store one item at the current maximum priority; return its slot, shape (1,)."""
        slots = self._ring.add(item)
        self._set_new(slots)
        return slots

    def extend(self, batch: Mapping) -> torch.Tensor:
        """Store a batch (leading axis B) at the current maximum priority; return the slots written."""
        slots = self._ring.extend(batch)
        self._set_new(slots)
        return slots

    def _set_new(self, slots: torch.Tensor) -> None:
        mass = (self._max_priority ** self.alpha).expand(slots.shape[0])
        self.tree.set(slots, mass, unique=True)   # a ring's slots in one write are distinct

    def priorities(self, indices: torch.Tensor) -> torch.Tensor:
        """The masses p^alpha stored for ``indices`` (float64)."""
        return self.tree.get(torch.as_tensor(indices, device=self.device))

    def probabilities(self) -> torch.Tensor:
        """P(i) for every stored slot, shape (len(self),), float64."""
        return self.tree.sum[self.tree.leaves:self.tree.leaves + len(self)] / self.tree.total()

    def sample(self, batch_size: int, *, beta: float, generator: torch.Generator
               ) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        """Draw ``batch_size`` items with P(i) proportional to p_i^alpha.

        With ``stratified`` (the default, as in the paper) the total mass is cut into ``batch_size`` equal
        segments and one item is drawn from each, which lowers the variance of a batch without changing P(i).
        Returns (batch dict, importance weights (batch_size,) float32 with maximum weight over the buffer 1,
        slot indices (batch_size,) long).
        """
        beta = _check_unit(beta, "beta")
        size = len(self)
        check_batch_size(batch_size, size)
        if not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
        u = torch.rand(batch_size, generator=generator, dtype=torch.float64, device=generator.device).to(self.device)
        total = self.tree.total()
        if self.stratified:
            u = (torch.arange(batch_size, dtype=torch.float64, device=self.device) + u) * (total / batch_size)
        else:
            u = u * total
        idx = self.tree.find(u).clamp_(0, size - 1)   # rounding at the right edge can reach an empty leaf
        mass = self.tree.get(idx)
        # w_i / max_j w_j = (P(i) / P_min)^-beta = (m_i / m_min)^-beta; the N and the total cancel
        weights = (mass / self.tree.minimum()).pow(-beta).to(torch.float32)
        return self._ring._storage.gather(idx), weights, idx

    def update_priorities(self, indices, priorities) -> None:
        """Set the priorities of slots ``indices`` (B,) to ``priorities + eps`` (B,), all at once.

        Priorities must be finite and >= 0 (pass |TD error|); a slot given twice takes its last value.
        """
        idx = torch.as_tensor(indices, device=self.device).long().flatten()
        p = torch.as_tensor(priorities, device=self.device).to(torch.float64).flatten()
        if idx.shape != p.shape:
            raise ShapeError(f"update_priorities: {idx.numel()} indices but {p.numel()} priorities")
        if idx.numel() == 0:
            return
        lo, hi = torch.aminmax(p)
        if not (0 <= float(lo) and float(hi) < math.inf):           # NaN fails both comparisons
            if not bool(torch.isfinite(p).all()):
                raise ShapeError("update_priorities: priorities contain NaN or inf")
            raise ShapeError(f"update_priorities: priorities must be >= 0, got minimum {float(lo)}")
        if float(lo) + self.eps <= 0:
            raise ShapeError("update_priorities: a priority is 0 and eps is 0; it could never be drawn again")
        p = p + self.eps
        ilo, ihi = torch.aminmax(idx)
        if int(ilo) < 0 or int(ihi) >= len(self):
            raise ShapeError(f"update_priorities: indices must be in [0, {len(self)}), got "
                             f"[{int(idx.min())}, {int(idx.max())}]")
        self._max_priority = torch.maximum(self._max_priority, hi + self.eps)
        self.tree.set(idx, p ** self.alpha)

    def state_dict(self) -> dict:
        """Tensors, numbers and strings only (``torch.load(..., weights_only=True)`` reads it)."""
        return {"kind": type(self).__name__, "alpha": self.alpha, "eps": self.eps, "stratified": self.stratified,
                "max_priority": self._max_priority.clone(), "ring": self._ring.state_dict(),
                "mass": self.tree.sum[self.tree.leaves:self.tree.leaves + len(self)].clone()}

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("kind") != type(self).__name__:
            raise ConfigError(f"state_dict is for a {state.get('kind')!r}, not a {type(self).__name__}")
        self.alpha, self.eps = _check_unit(state["alpha"], "alpha"), float(state["eps"])
        self.stratified = bool(state["stratified"])
        self._ring.load_state_dict(state["ring"])
        self._max_priority = torch.as_tensor(state["max_priority"], dtype=torch.float64).to(self.device)
        self.tree.rebuild(torch.as_tensor(state["mass"]))
