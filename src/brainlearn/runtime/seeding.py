"""Seeding: named seed streams and explicit generators; the global RNGs are never left changed.

Every random draw in brainlearn comes from a ``torch.Generator`` (or ``numpy.random.Generator``) built
from a seed. A run at seed ``s`` derives the seed of each of its streams with :func:`replicate_seed`:
the weights of replicate ``r`` come from ``replicate_seed(s, r, "init")``, its training data from
``replicate_seed(s, r, "data")``, and so on, so two streams never share a sequence by accident and a
resumed or re-ordered run draws the same numbers.

The stream values are the ones brainlearn has used since its first release, kept so that published
numbers reproduce; a stream name says what the draws are for.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from brainlearn.errors import ConfigError

#: Offset of each named stream from a run's (or replicate's) base seed.
STREAMS: dict[str, int] = {
    "init": 0,             # initial weights (and the random fixed feedback drawn with them)
    "data": 1,             # training data, its order, and within-training noise of a non-replicate run
    "test": 2,             # held-out data generated for a replicate
    "noise": 7,            # noise a generated test case adds to its systems
    "batches": 7919,       # the training sequences / batch order of a replicate's learners
    "probe": 104729,       # probe inputs a replicate is measured on
    "eval": 10_000_019,    # evaluation data shared by every replicate of a run
}
#: Replicates of one run seed occupy ``[REPLICATE_STRIDE * seed, REPLICATE_STRIDE * (seed + 1))``.
REPLICATE_STRIDE = 1000


def replicate_seed(seed: int, replicate: int | None = None, stream: str = "init") -> int:
    """The seed of `stream` for replicate `replicate` of run seed `seed`.

    ``replicate=None`` is a run without replicates (base seed ``seed``); replicate ``r`` has base seed
    ``1000 * seed + r``. The stream's offset (:data:`STREAMS`) is added to the base.

    >>> replicate_seed(3), replicate_seed(3, stream="data"), replicate_seed(3, 2, "batches")
    (3, 4, 10921)
    """
    if stream not in STREAMS:
        raise ConfigError(f"unknown seed stream {stream!r}; expected one of {', '.join(STREAMS)}")
    if replicate is not None and not 0 <= replicate < REPLICATE_STRIDE:
        raise ConfigError(f"replicate must be in [0, {REPLICATE_STRIDE}), got {replicate}")
    base = int(seed) if replicate is None else REPLICATE_STRIDE * int(seed) + int(replicate)
    return base + STREAMS[stream]


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed`."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run a block with Python's, NumPy's and torch's global RNGs seeded with `seed`, then put them back.

    brainlearn's own code draws from explicit generators; this guards against third-party code that
    draws from the global RNGs (``torch.nn`` initialisers, for one), so that such draws are a function
    of the seed and a run leaves the caller's global RNG state exactly as it found it.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
