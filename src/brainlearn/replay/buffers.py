"""Ring (FIFO) and reservoir replay buffers of tensor dicts, on CPU or GPU.

An item is a dict of tensors (a transition ``{"obs", "action", "reward", "next_obs", "done"}``, or anything
else); ``extend`` takes the same dict with a leading batch axis. Storage is allocated on the first write from
that item's keys, per-item shapes and dtypes (lazily, like TorchRL's ``LazyTensorStorage``), on the device
given at construction; later writes must match the keys and shapes. Sampling is uniform with replacement.

**The sample contract** (every buffer of :mod:`brainlearn.replay`): ``sample(batch_size, generator=None) ->
(batch, info)``, where ``batch`` is a dict of ``(batch_size, ...)`` tensors and ``info["index"]`` the slots drawn
(prioritised buffers add ``info["weight"]``, the importance weights). Every buffer owns a ``torch.Generator``
seeded at construction (``seed=``) and draws from it; a ``generator=`` passed to ``sample`` overrides it for
that call. Nothing draws from the global RNG.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import torch

from brainlearn.errors import ConfigError, ShapeError

Transitions = dict[str, torch.Tensor]
"""A dict of tensors sharing a leading batch axis (a batch of transitions, or of any items)."""


def _check_capacity(capacity) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ConfigError(f"capacity: expected a positive int, got {capacity!r}")
    return capacity


def allocate(make, what: str, nbytes: int):
    """``make()``, with an allocation that cannot be had turned into a ConfigError saying how much it needed."""
    try:
        return make()
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "alloc" not in str(e).lower() and "memory" not in str(e).lower():
            raise
        raise ConfigError(f"{what} needs {nbytes / 2**30:.3g} GiB, more than this machine can allocate: "
                          "choose a smaller capacity") from None


def zeros(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.zeros``, but on the CPU through numpy's allocator, which asks the kernel for transparent huge
    pages for a large array (torch's does not): a random slot or tree leaf of a large buffer then costs fewer
    TLB misses (update_priorities at 10^6 leaves, batch 32: 0.80x cpprb with torch's pages, 0.90x with these)."""
    if device.type == "cpu":
        try:
            numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        except TypeError:                                   # no numpy twin (bfloat16, ...): torch's allocator
            pass
        else:
            return torch.from_numpy(np.zeros(shape, dtype=numpy_dtype))
    return torch.zeros(shape, dtype=dtype, device=device)


def _cast(key: str, value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`value` in the stored column's `dtype`, or ShapeError where the cast would change a value (a float
    into an integer column, 300 into uint8, a fraction into bool): buffers never corrupt data silently."""
    if value.dtype == dtype:
        return value
    if value.is_complex() and not dtype.is_complex:
        raise ShapeError(f"{key!r}: complex values cannot go into a {dtype} column")
    if dtype.is_floating_point or dtype.is_complex:
        cast = value.to(dtype)
        if bool((torch.isinf(cast) & ~torch.isinf(value)).any()):
            raise ShapeError(f"{key!r}: values overflow the stored {dtype} column")
        return cast
    ok = bool(torch.isfinite(value).all()) if value.is_floating_point() else True
    if ok and value.is_floating_point():
        ok = bool((value == value.round()).all())
    if ok and value.numel() and dtype != torch.bool:
        info = torch.iinfo(dtype)
        lo, hi = value.min(), value.max()
        # a float's bound is the power of two above info.max (exact in any float): info.max itself rounds up
        # to it in float32, so 2**63 would pass `<= info.max` and wrap around in the cast
        top = hi < float(info.max + 1) if value.is_floating_point() else hi <= info.max
        ok = bool(lo >= info.min) and bool(top)
    elif ok and value.numel() and dtype == torch.bool:
        ok = bool(((value == 0) | (value == 1)).all())
    if not ok:
        raise ShapeError(f"{key!r}: the stored column is {dtype}; these {value.dtype} values would change in the "
                         "cast (fractions, out-of-range or non-finite values): convert them yourself")
    return value.to(dtype)


def check_batch_size(batch_size, stored: int, name: str = "batch_size") -> int:
    """Validate a sample size against the buffer's content; raise :class:`ConfigError` saying both."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{name}: expected a positive int, got {batch_size!r}")
    if stored == 0:
        raise ConfigError(f"cannot sample {batch_size} items from an empty buffer (add items first)")
    if batch_size > stored:
        raise ConfigError(f"{name}: asked for {batch_size} items but the buffer holds only {stored}")
    return batch_size


class _Storage:
    """Fixed-capacity tensor columns, one per key, allocated on the first write."""

    def __init__(self, capacity: int, device):
        self.capacity, self.device = capacity, torch.device(device)
        self.host = self.device.type == "cpu"            # CPU storage: copies by numpy on views of the columns
        self.data: Transitions = {}
        self._views: list = []                           # (key, numpy view) per column, on the CPU
        self._views_of: Transitions | None = None        # the columns _views describes (rebuilt when replaced)

    def views(self) -> list:
        """(key, numpy view) of every column, on the CPU."""
        if self._views_of is not self.data:
            self._views = [(k, c.numpy() if self.host else None) for k, c in self.data.items()]
            self._views_of = self.data
        return self._views

    def matching(self, batch, lead: int) -> list | None:
        """The values of `batch` as numpy arrays in column order when they already fit the columns as they are
        (a dict with the stored keys, of CPU tensors without grad of the stored dtypes and per-item shapes,
        with ``lead`` leading axes): the lean path of writes, which needs no conversion; None otherwise (the
        full checks then run)."""
        views = self.views()
        if not self.host or not views or type(batch) is not dict or len(batch) != len(views):
            return None
        out = []
        try:
            for k, col in views:
                a = batch[k].numpy()             # raises for what is not a plain CPU tensor
                if a.dtype != col.dtype or a.ndim != col.ndim - 1 + lead or a.shape[lead:] != col.shape[1:]:
                    return None
                out.append(a)
        except (KeyError, AttributeError, TypeError, RuntimeError):
            return None
        if lead and any(a.shape[0] != out[0].shape[0] for a in out):
            return None
        return out

    def as_batch(self, batch: Mapping) -> tuple[Transitions, int]:
        """``batch`` as tensors with a shared leading axis, checked against the stored keys and shapes."""
        if (fit := self.matching(batch, 1)) is not None:
            return batch, len(fit[0])
        if not isinstance(batch, Mapping) or not batch:
            raise ShapeError(f"expected a non-empty dict of tensors, got {type(batch).__name__}")
        out = {str(k): torch.as_tensor(v) for k, v in batch.items()}
        for k, v in out.items():
            if v.ndim == 0:
                raise ShapeError(f"extend: {k!r} needs a leading batch axis, got a scalar (use add for one item)")
        lengths = {k: v.shape[0] for k, v in out.items()}
        if len(set(lengths.values())) != 1:
            raise ShapeError(f"extend: every key needs the same batch length, got {lengths}")
        if self.data:
            if set(out) != set(self.data):
                raise ShapeError(f"keys {sorted(out)} do not match the stored keys {sorted(self.data)}")
            for k, v in out.items():
                want = tuple(self.data[k].shape[1:])
                if tuple(v.shape[1:]) != want:
                    raise ShapeError(f"{k!r}: expected per-item shape {want}, got {tuple(v.shape[1:])}")
                out[k] = _cast(k, v, self.data[k].dtype)
        return out, next(iter(lengths.values()))

    def write(self, slots: torch.Tensor, batch: Transitions, rows: torch.Tensor | slice = slice(None),
              run: tuple[int, int] | None = None) -> None:
        """``data[k][slots] = batch[k][rows]`` for every key (slots must be distinct). ``run=(start, stop)``
        says that ``slots`` is ``start, ..., stop - 1``: a plain block copy then."""
        if not self.data:
            nbytes = sum(self.capacity * v[:1].numel() * v.element_size() for v in batch.values())
            self.data = allocate(lambda: {k: zeros((self.capacity, *v.shape[1:]), v.dtype, self.device)
                                          for k, v in batch.items()}, f"a buffer of capacity {self.capacity}", nbytes)
        if run is not None and self.host:
            # one contiguous block of slots on the CPU: numpy block copies (smaller fixed cost than torch's)
            for k, col in self.views():
                src = batch[k]
                if not src.is_cpu or src.requires_grad:
                    src = src.detach().cpu()
                col[run[0]:run[1]] = src.numpy()[rows]
            return
        for k, v in batch.items():
            col = self.data[k]
            v = v[rows].to(device=self.device, dtype=col.dtype)
            if run is not None:
                col[run[0]:run[1]] = v             # one contiguous block of slots: a plain copy
            else:
                col.index_copy_(0, slots, v)

    def gather(self, idx: torch.Tensor) -> Transitions:
        return {k: v.index_select(0, idx) for k, v in self.data.items()}

    def take(self, idx) -> Transitions:
        """:meth:`gather` of slots known to be valid (drawn by a sampler): numpy's take on the CPU (a numpy
        array or a CPU tensor of slots), index_select on a device."""
        if not self.host:
            return self.gather(idx)
        idx = idx.numpy() if isinstance(idx, torch.Tensor) else idx
        return {k: torch.from_numpy(col.take(idx, 0)) for k, col in self.views()}

    def state(self, size: int) -> Transitions:
        return {k: v[:size].clone() for k, v in self.data.items()}

    def load(self, data: Mapping, size: int) -> None:
        self.data = {}
        if data:
            cols = {k: torch.as_tensor(v) for k, v in data.items()}
            for k, v in cols.items():
                if v.shape[0] != size:
                    raise ShapeError(f"state_dict: {k!r} holds {v.shape[0]} items but size is {size}")
            self.write(torch.arange(size, device=self.device), cols)


def check_generator(generator) -> torch.Generator:
    """`generator` if it is a ``torch.Generator``; otherwise a :class:`ConfigError` naming what was given."""
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    return generator


def check_seed(seed) -> int:
    """`seed` if it is an int in [0, 2**64) (what a torch.Generator takes); otherwise a :class:`ConfigError`."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise ConfigError(f"seed: expected an int in [0, 2**64), got {seed!r}")
    return int(seed)


def _as_one(item: Mapping) -> Transitions:
    """One item (a dict of tensors without batch axis) as a batch of one."""
    if not isinstance(item, Mapping) or not item:
        raise ShapeError(f"add: expected a non-empty dict of tensors, got {type(item).__name__}")
    return {k: torch.as_tensor(v).unsqueeze(0) for k, v in item.items()}


def _draw_indices(n: int, size: int, generator: torch.Generator, device) -> torch.Tensor:
    idx = torch.randint(0, size, (n,), generator=generator, device=generator.device)
    return idx if idx.device == device else idx.to(device)


class RingBuffer:
    """FIFO replay memory of ``capacity`` items: once full, each new item overwrites the oldest.

    >>> buf = RingBuffer(10_000, device="cpu", seed=0)
    >>> buf.extend({"obs": torch.zeros(32, 4), "action": torch.zeros(32, dtype=torch.long)})
    >>> batch, info = buf.sample(8)            # batch["obs"]: (8, 4); info["index"]: the slots drawn

    ``seed`` seeds the buffer's own generator (:attr:`generator`, on the buffer's device, so that a draw never
    leaves it), which :meth:`sample` draws from unless a ``generator`` is passed to it; its state is part of
    ``state_dict``.
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu", *, seed: int = 0):
        self._storage = _Storage(_check_capacity(capacity), device)
        self.generator = torch.Generator(self._storage.device).manual_seed(check_seed(seed))
        self._size = 0
        self._cursor = 0          # the slot the next item is written to
        self._added = 0           # items ever offered, for bookkeeping and checkpoints

    @property
    def capacity(self) -> int:
        return self._storage.capacity

    @property
    def device(self) -> torch.device:
        return self._storage.device

    def __len__(self) -> int:
        return self._size

    @property
    def data(self) -> Transitions:
        """The storage columns, ``(capacity, *item_shape)`` each; only the first ``len(self)`` rows are filled
        (in slot order, not insertion order)."""
        return self._storage.data

    def add(self, item: Mapping) -> torch.Tensor:
        """Store one item (a dict of tensors without batch axis); return its slot, shape (1,)."""
        return self._add(item)[0]

    def _add(self, item: Mapping) -> tuple[torch.Tensor, tuple[tuple[int, int], ...] | None]:
        """:meth:`add`, and the runs of slots written (see :meth:`_extend`)."""
        fit = self._storage.matching(item, 0)
        if fit is not None:                         # the lean path: one numpy row copy per column
            slot = self._cursor
            for a, (_, col) in zip(fit, self._storage.views()):
                col[slot] = a
            self._cursor = (slot + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)
            self._added += 1
            return torch.full((1,), slot), ((slot, slot + 1),)
        return self._extend(_as_one(item))

    def extend(self, batch: Mapping) -> torch.Tensor:
        """Store a batch (dict of tensors with leading axis B); return the slots written, shape (min(B, cap),).

        If B exceeds the capacity, only the last ``capacity`` items are kept, as if added one by one.
        """
        return self._extend(batch)[0]

    def _extend(self, batch: Mapping) -> tuple[torch.Tensor, tuple[tuple[int, int], ...] | None]:
        """:meth:`extend`, and the runs of slots written: ``((start, stop),)``, or two runs where the write
        wraps around the end of the ring."""
        fit = self._storage.matching(batch, 1)
        cols, n = (batch, len(fit[0])) if fit is not None else self._storage.as_batch(batch)
        cap = self.capacity
        keep = min(n, cap)
        first = (self._cursor + n - keep) % cap      # slot of the first kept item
        head = min(keep, cap - first)                # items before the end of the ring
        runs = ((first, first + head),) if head == keep else ((first, cap), (0, keep - head))
        if self._storage.host:
            slots = torch.from_numpy(np.arange(first, first + keep) % cap if len(runs) == 2 else
                                     np.arange(first, first + keep))
        else:
            slots = (torch.arange(keep, device=self.device) + first) % cap
        if fit is not None:                          # the lean path: numpy block copies, one per column and run
            skip = n - keep
            for a, (_, col) in zip(fit, self._storage.views()):
                col[first:first + head] = a[skip:skip + head]
                if head < keep:
                    col[:keep - head] = a[skip + head:]
        else:
            self._storage.write(slots, cols, slice(n - keep, n), runs[0] if len(runs) == 1 else None)
        self._cursor = (self._cursor + n) % cap
        self._size = min(self._size + n, cap)
        self._added += n
        return slots, runs

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> tuple[Transitions, dict]:
        """Uniform draw with replacement from `generator` (default: the buffer's own): (dict of
        (batch_size, ...) tensors, ``{"index": slot indices (batch_size,) long}``)."""
        check_batch_size(batch_size, self._size)
        gen = self.generator if generator is None else check_generator(generator)
        idx = _draw_indices(batch_size, self._size, gen, self.device)
        return self._storage.take(idx), {"index": idx}

    def gather(self, idx: torch.Tensor) -> Transitions:
        """The stored items at slots `idx` (B,): a dict of (B, ...) tensors."""
        return self._storage.gather(idx)

    def state_dict(self) -> dict:
        """Tensors, ints and strings only, so that ``torch.load(..., weights_only=True)`` reads it."""
        return {"kind": type(self).__name__, "capacity": self.capacity, "size": self._size,
                "cursor": self._cursor, "added": self._added, "data": self._storage.state(self._size),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping) -> None:
        if state.get("kind") != type(self).__name__:
            raise ConfigError(f"state_dict is for a {state.get('kind')!r}, not a {type(self).__name__}")
        if int(state["capacity"]) != self.capacity:
            raise ConfigError(f"state_dict has capacity {state['capacity']}, this buffer {self.capacity}")
        size, cursor, added = int(state["size"]), int(state["cursor"]), int(state["added"])
        if not (0 <= size <= self.capacity and 0 <= cursor < self.capacity and added >= size):
            raise ConfigError(f"state_dict is inconsistent: size {size}, cursor {cursor}, added {added} for "
                              f"capacity {self.capacity}")
        self._size, self._cursor, self._added = size, cursor, added
        self._storage.load(state["data"], self._size)
        if "generator" in state:                  # checkpoints written before buffers owned a generator lack it
            self.generator.set_state(state["generator"])


class ReservoirBuffer(RingBuffer):
    """Reservoir sampling (Vitter's algorithm R): after n items have been offered, each is held with probability
    ``capacity / n``, so the memory stays a uniform sample of the whole stream (continual-learning replay).

    The keep/replace decisions draw from the buffer's own generator (seeded with ``seed``), whose state is
    part of ``state_dict``; ``sample`` draws from it too unless a ``generator`` is passed, as in
    :class:`RingBuffer`. That generator stays on the CPU whatever the device: which items are kept decides
    the shape of each write, so the decisions are made on the host and only the kept slots go to the device.
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu", *, seed: int = 0):
        super().__init__(capacity, device, seed=seed)
        self.generator = torch.Generator().manual_seed(check_seed(seed))

    def _add(self, item: Mapping) -> tuple[torch.Tensor, None]:
        return self._extend(_as_one(item))

    def extend(self, batch: Mapping) -> torch.Tensor:
        """Offer a batch; return the slots written (items not kept write nothing). Exactly equivalent to
        offering the items one by one: when two items of the batch draw the same slot, the later one wins."""
        return self._extend(batch)[0]

    def _extend(self, batch: Mapping) -> tuple[torch.Tensor, None]:
        cols, n = self._storage.as_batch(batch)
        cap = self.capacity
        seen = self._added + torch.arange(n, dtype=torch.float64)      # items offered before each one
        fill = max(0, min(n, cap - self._size))                         # items that go into free slots
        # item m (0-based in the stream) replaces slot j ~ U{0..m} if j < capacity
        u = torch.rand(n, generator=self.generator, dtype=torch.float64, device=self.generator.device).cpu()
        j = torch.floor(u * (seen + 1)).long()
        j[:fill] = torch.arange(self._size, self._size + fill)
        rows = torch.nonzero(j < cap).flatten()
        # of the rows that drew one slot, the last wins: sort by slot (stably, so rows stay in stream order within
        # a slot) and keep each slot's last row; O(B log B), whatever the capacity
        order = torch.argsort(j[rows], stable=True)
        drawn = j[rows][order]
        last = torch.ones_like(drawn, dtype=torch.bool)
        last[:-1] = drawn[1:] != drawn[:-1]
        winners = rows[order[last]].sort().values     # back in stream order, as an item-by-item offer returns them
        slots = j[winners].to(self.device)
        self._storage.write(slots, cols, winners.to(cols[next(iter(cols))].device))
        self._size = min(self._size + n, cap)
        self._added += n
        self._cursor = self._size % cap
        return slots, None

