"""Seeding: named seed streams and explicit generators; the global RNGs are never left changed.

Every random draw in brainlearn comes from a ``torch.Generator`` (or ``numpy.random.Generator``) built
from a seed, and every such seed comes from :func:`replicate_seed`: the weights of replicate ``r`` of a run
at seed ``s`` come from ``replicate_seed(s, r, "init")``, its training data from
``replicate_seed(s, r, "data")``, and so on. A stream that needs one generator per item (per system, per
task, per condition) names the item with `index`. No other code does arithmetic on seeds.

**Scheme 2** (the current one): the seed of (run seed, replicate, stream, index) is drawn from
``numpy.random.SeedSequence(seed, spawn_key=(replicate + 1 or 0, stream id, *index))``, whose spawn keys
give statistically independent streams: no two (run seed, replicate, stream, index) share a sequence, and
replicates of a claim are independent draws.

**Scheme 1** (runs made before 2026-12-07): the base seed was ``1000 seed + replicate`` plus a fixed
offset per stream, so replicate r's ``data`` stream was replicate r + 1's ``init`` stream; the items of a run
without replicates (its tasks, its probes) were numbered as replicates, which ``index`` reproduces. It is kept
only so that resuming a run directory made under it (its config.json has no ``seed_scheme``, or 1) draws
exactly the numbers it started with; :func:`seed_scheme` selects it for the duration of such a run.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
from collections.abc import Iterator

import numpy as np
import torch

from brainlearn.errors import ConfigError

#: The seed scheme new runs use (recorded in config.json as ``seed_scheme``).
SCHEME = 2
SCHEMES = (1, 2)

#: Each named stream's id in scheme 2's spawn key (fixed forever: changing one changes every number).
STREAMS: dict[str, int] = {
    "init": 0,        # initial weights (and the random fixed feedback drawn with them)
    "data": 1,        # training data, its order, and within-training noise of a non-replicate run
    "test": 2,        # held-out data generated for a replicate
    "noise": 3,       # noise a generated test case or a simulated recording adds
    "batches": 4,     # the training sequences / batch order of a replicate's learners
    "probe": 5,       # probe inputs a replicate is measured on
    "eval": 6,        # evaluation data shared by every replicate of a run
    "systems": 7,     # the initial points of a generated test system (one per index)
    "analysis": 8,    # shuffles, permutations and bootstraps of an analysis (one per index)
}

#: Scheme 1's offsets from the base seed, and the formulas of its indexed streams (see the module text).
_LEGACY_OFFSETS = {"init": 0, "data": 1, "test": 2, "noise": 7, "batches": 7919, "probe": 104729,
                   "eval": 10_000_019}
_LEGACY_INDEXED = {
    "systems": lambda base, i: 100 * base + i,   # Lorenz configuration i (50 + i for mixing patterns)
    "analysis": lambda base, i: base + i,        # condition i's shuffles
}
#: Replicates of one run seed occupy ``[REPLICATE_STRIDE * seed, REPLICATE_STRIDE * (seed + 1))`` in scheme 1.
REPLICATE_STRIDE = 1000
MAX_REPLICATES = 1_000_000

_scheme: contextvars.ContextVar[int] = contextvars.ContextVar("brainlearn_seed_scheme", default=SCHEME)


def current_scheme() -> int:
    """The seed scheme in force (:data:`SCHEME` unless a :func:`seed_scheme` block says otherwise)."""
    return _scheme.get()


def _check_scheme(scheme) -> int:
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown seed scheme {scheme!r}; expected one of {', '.join(map(str, SCHEMES))}")
    return scheme


@contextlib.contextmanager
def seed_scheme(scheme: int) -> Iterator[None]:
    """Derive seeds with `scheme` inside the block (the runner uses it to resume a scheme-1 run)."""
    token = _scheme.set(_check_scheme(scheme))
    try:
        yield
    finally:
        _scheme.reset(token)


def set_scheme(scheme: int) -> None:
    """Set the seed scheme for the rest of this process (pool workers inherit their parent's)."""
    _scheme.set(_check_scheme(scheme))


def _index_key(index) -> tuple[int, ...]:
    items = () if index is None else (index,) if isinstance(index, int | np.integer) else tuple(index)
    for i in items:
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < 0:
            raise ConfigError(f"a seed stream index must be a non-negative integer, got {index!r}")
    return tuple(int(i) for i in items)


def replicate_seed(seed: int, replicate: int | None = None, stream: str = "init",
                   index: int | tuple[int, ...] | None = None) -> int:
    """The seed of `stream` (item `index`, if the stream has several) for replicate `replicate` of run
    seed `seed`; ``replicate=None`` is a run without replicates.

    Under scheme 2 the seed is a 63-bit integer drawn from ``SeedSequence(seed, spawn_key=(replicate + 1
    or 0, STREAMS[stream], *index))``: distinct arguments give independent streams.

    >>> replicate_seed(3) == replicate_seed(3)
    True
    >>> len({replicate_seed(0, r, s) for r in range(3) for s in ("init", "data", "test")})
    9
    """
    if stream not in STREAMS:
        raise ConfigError(f"unknown seed stream {stream!r}; expected one of {', '.join(STREAMS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"a seed must be a non-negative integer, got {seed!r}")
    if replicate is not None and (isinstance(replicate, bool) or not isinstance(replicate, int | np.integer)
                                  or not 0 <= replicate < MAX_REPLICATES):
        raise ConfigError(f"replicate must be an integer in [0, {MAX_REPLICATES}), got {replicate!r}")
    key = _index_key(index)
    if current_scheme() == 1:
        return _legacy_seed(int(seed), replicate, stream, key)
    spawn_key = (0 if replicate is None else int(replicate) + 1, STREAMS[stream], *key)
    state = np.random.SeedSequence(int(seed), spawn_key=spawn_key).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def _legacy_seed(seed: int, replicate: int | None, stream: str, key: tuple[int, ...]) -> int:
    if replicate is not None and replicate >= REPLICATE_STRIDE:
        raise ConfigError(f"replicate must be in [0, {REPLICATE_STRIDE}) under seed scheme 1, got {replicate}")
    base = seed if replicate is None else REPLICATE_STRIDE * seed + int(replicate)
    if stream in _LEGACY_INDEXED:
        if len(key) != 1:
            raise ConfigError(f"seed stream {stream!r} takes one index")
        return _LEGACY_INDEXED[stream](base, key[0])
    if key:
        # scheme 1 numbered the items of a run without replicates (tasks, probes) as its replicates
        if replicate is not None or len(key) != 1 or key[0] >= REPLICATE_STRIDE:
            raise ConfigError(f"seed stream {stream!r} takes one index below {REPLICATE_STRIDE}, and no "
                              "replicate with it, under seed scheme 1")
        base = REPLICATE_STRIDE * seed + key[0]
    return base + _LEGACY_OFFSETS[stream]


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed` (an int in [0, 2**64))."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise ConfigError(f"seed: expected an int in [0, 2**64), got {seed!r}")
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
