"""The seed scheme: every (run seed, replicate, stream, index) has its own stream; scheme 1 stays reproducible."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.errors import ConfigError
from brainlearn.runtime import make_generator, replicate_seed
from brainlearn.runtime.seeding import SCHEME, STREAMS, current_scheme, seed_scheme


def test_no_two_triples_share_a_stream():
    triples = list(itertools.product(range(12), [None, *range(12)], STREAMS))  # 12 x 13 x 9 = 1404
    seeds = [replicate_seed(s, r, stream) for s, r, stream in triples]
    assert len(set(seeds)) == len(triples)
    indexed = [replicate_seed(s, r, "systems", i) for s in range(4) for r in (None, 0, 1) for i in range(60)]
    assert len(set(indexed) | set(seeds)) == len(indexed) + len(seeds)


def test_the_old_collisions_are_gone():
    # scheme 1: replicate r's data stream was replicate r + 1's weights
    with seed_scheme(1):
        assert replicate_seed(0, 0, "data") == replicate_seed(0, 1, "init") == 1
    assert replicate_seed(0, 0, "data") != replicate_seed(0, 1, "init")
    assert replicate_seed(1) != replicate_seed(0, stream="data")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**31 - 1), st.one_of(st.none(), st.integers(0, 10**5)),
                          st.sampled_from(sorted(STREAMS))), min_size=2, max_size=40, unique=True))
def test_distinct_arguments_give_distinct_seeds(triples):
    seeds = [replicate_seed(*t) for t in triples]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**63 for s in seeds)


def test_streams_are_deterministic_and_usable_by_torch_and_numpy():
    s = replicate_seed(7, 3, "batches")
    assert s == replicate_seed(7, 3, "batches")
    a = torch.rand(3, generator=make_generator(s))
    assert torch.equal(a, torch.rand(3, generator=make_generator(s)))
    np.random.default_rng(s).random()


def test_scheme_one_reproduces_the_old_seeds():
    with seed_scheme(1):
        assert current_scheme() == 1
        assert replicate_seed(3) == 3 and replicate_seed(3, stream="data") == 4
        assert replicate_seed(3, 2) == 3002 and replicate_seed(3, 2, "batches") == 3002 + 7919
        assert replicate_seed(2, stream="systems", index=4) == 204
        assert replicate_seed(5, stream="analysis", index=2) == 7
        assert replicate_seed(5, stream="data", index=2) == replicate_seed(5, 2, "data") == 5003
        with pytest.raises(ConfigError, match="no replicate with it"):
            replicate_seed(5, 1, "data", index=2)
        with pytest.raises(ConfigError, match="replicate must be in"):
            replicate_seed(0, 1000)
    assert current_scheme() == SCHEME == 2


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="unknown seed stream 'nope'"):
        replicate_seed(0, stream="nope")
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match="seed"):
            replicate_seed(bad)
    with pytest.raises(ConfigError, match="replicate"):
        replicate_seed(0, -1)
    with pytest.raises(ConfigError, match="index"):
        replicate_seed(0, stream="systems", index=-2)
    with pytest.raises(ConfigError, match="unknown seed scheme"):
        with seed_scheme(3):
            pass
