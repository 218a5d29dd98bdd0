"""brainlearn.replay.buffers: ring and reservoir buffers: FIFO order, uniform sampling, reservoir inclusion,
the sample contract, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.replay import ReservoirBuffer, RingBuffer
from tests.replay.test_prioritized import DEVICES, gen, transitions


@pytest.mark.parametrize("device", DEVICES)
def test_ring_overwrites_the_oldest(device):
    buf = RingBuffer(5, device=device)
    buf.extend(transitions(3))
    buf.extend(transitions(4, start=3))               # 7 items in a ring of 5: 0 and 1 are gone
    assert len(buf) == 5 and buf.capacity == 5
    assert sorted(buf.data["reward"].cpu().mul(2).long().tolist()) == [2, 3, 4, 5, 6]
    buf.add({k: v[0] for k, v in transitions(1, start=7).items()})
    assert sorted(buf.data["action"].cpu().tolist()) == sorted([i % 4 for i in (3, 4, 5, 6, 7)])
    assert buf.data["obs"].device.type == device
    big = RingBuffer(4, device=device)
    slots = big.extend(transitions(10))               # longer than the ring: the last 4 survive, in order
    assert sorted(big.data["reward"].cpu().mul(2).long().tolist()) == [6, 7, 8, 9]
    assert slots.tolist() == [2, 3, 0, 1]


def test_ring_samples_are_uniform_and_come_from_the_generator():
    buf = RingBuffer(200)
    buf.extend(transitions(200))
    g = gen(12)
    batch, idx = (torch.cat(t) for t in zip(*((b["action"], i["index"]) for b, i in (buf.sample(200, generator=g)
                                                                                     for _ in range(500)))))
    assert torch.equal(batch, idx % 4)
    freq = torch.bincount(idx, minlength=200).double() / 1e5
    assert (freq - 0.005).abs().max() < 0.002
    state = torch.random.get_rng_state()
    a = buf.sample(64, generator=gen(13))[1]["index"]
    b = buf.sample(64, generator=gen(13))[1]["index"]
    assert torch.equal(a, b) and torch.equal(state, torch.random.get_rng_state())   # global RNG untouched


def test_reservoir_inclusion_rate_is_capacity_over_n():
    """200 runs over a stream of 10^4 items (offered in uneven chunks): each item is held in about M/n of them."""
    n, m, runs = 10_000, 1_000, 200
    held = torch.zeros(n, dtype=torch.float64)
    cuts = [0, 1, 700, 999, 1000, 1001, 3000, 7777, n]
    for seed in range(runs):
        buf = ReservoirBuffer(m, seed=seed)
        for a, b in zip(cuts, cuts[1:]):
            buf.extend({"id": torch.arange(a, b)})
        assert len(buf) == m
        ids = buf.data["id"]
        assert ids.unique().numel() == m
        held[ids] += 1
    rate, p = held / runs, m / n
    se = math.sqrt(p * (1 - p) / runs)
    assert float(held.sum()) == m * runs                       # exactly M items per run
    outside = float(((rate - p).abs() > 3 * se).double().mean())
    assert outside < 0.01                                      # 0.27 % expected for a binomial
    assert float((rate - p).abs().max()) < 5.5 * se
    early, late = float(rate[:n // 2].mean()), float(rate[n // 2:].mean())
    assert abs(early - late) < 3 * se / math.sqrt(n / 2) * 2   # no bias toward old or new items


def test_reservoir_fills_first_then_replaces():
    buf = ReservoirBuffer(10, seed=0)
    buf.extend({"id": torch.arange(6)})
    assert sorted(buf.data["id"][:6].tolist()) == list(range(6)) and len(buf) == 6
    buf.extend({"id": torch.arange(6, 10)})
    assert sorted(buf.data["id"].tolist()) == list(range(10))


def test_mismatched_keys_and_shapes_in_add_and_extend():
    buf = RingBuffer(8)
    buf.extend(transitions(2))
    with pytest.raises(ShapeError, match="do not match the stored keys"):
        buf.extend({"obs": torch.zeros(2, 3)})
    with pytest.raises(ShapeError, match=r"'obs': expected per-item shape \(3,\), got \(4,\)"):
        buf.extend({**transitions(2), "obs": torch.zeros(2, 4)})
    with pytest.raises(ShapeError, match="same batch length"):
        buf.extend({**transitions(2), "reward": torch.zeros(3)})
    with pytest.raises(ShapeError, match="leading batch axis"):
        buf.extend({**transitions(2), "reward": torch.tensor(1.0)})
    with pytest.raises(ShapeError, match="per-item shape"):
        buf.add({**{k: v[0] for k, v in transitions(1).items()}, "obs": torch.zeros(2)})
    with pytest.raises(ShapeError, match="dict"):
        buf.add(torch.zeros(3))
    assert len(buf) == 2                                       # nothing written by the failed calls
    with pytest.raises(ConfigError, match="RingBuffer"):
        ReservoirBuffer(8).load_state_dict(buf.state_dict())


def test_reservoir_batch_equals_algorithm_r_item_by_item():
    """The vectorised batch decision gives the same memory as the sequential algorithm on the same draws."""
    cap, cuts = 50, [0, 30, 31, 200, 1000]
    buf = ReservoirBuffer(cap, seed=7)
    twin = torch.Generator().set_state(buf.generator.get_state())
    memory: list[int] = []
    for a, b in zip(cuts, cuts[1:]):
        buf.extend({"id": torch.arange(a, b)})
        u = torch.rand(b - a, generator=twin, dtype=torch.float64)
        for n, ui in zip(range(a, b), u.tolist()):
            if n < cap:
                memory.append(n)
            elif (j := math.floor(ui * (n + 1))) < cap:
                memory[j] = n
    assert buf.data["id"].tolist() == memory


def test_every_buffer_owns_a_seeded_generator_and_an_explicit_one_overrides_it():
    from brainlearn.replay import PrioritizedReplayBuffer

    for make in (lambda s: RingBuffer(16, seed=s), lambda s: ReservoirBuffer(16, seed=s),
                 lambda s: PrioritizedReplayBuffer(16, seed=s, stratified=False)):
        a, b, c = make(5), make(5), make(6)
        for buf in (a, b, c):
            buf.extend(transitions(16))
        ia, ib, ic = (torch.cat([buf.sample(16)[1]["index"] for _ in range(4)]) for buf in (a, b, c))
        assert torch.equal(ia, ib) and not torch.equal(ia, ic)
        batch, info = c.sample(8, generator=gen(1))
        assert torch.equal(info["index"], a.sample(8, generator=gen(1))[1]["index"])
        assert set(batch) == set(transitions(1)) and info["index"].shape == (8,)
        assert ("weight" in info) == isinstance(c, PrioritizedReplayBuffer)


@pytest.mark.parametrize("value, column", [
    (torch.tensor([1.7, -2.9]), torch.long),           # fractions into an integer column
    (torch.tensor([300.0, 1.0]), torch.uint8),         # out of range
    (torch.tensor([300, 1]), torch.uint8),
    (torch.tensor([float("nan"), 1.0]), torch.long),
    (torch.tensor([0.5, 1.0]), torch.bool),
    (torch.tensor([1e39, 1.0], dtype=torch.float64), torch.float32),   # overflows float32
])
def test_writes_that_would_change_a_value_are_refused(value, column):
    buf = RingBuffer(10)
    buf.extend({"x": torch.zeros(2, dtype=column)})
    with pytest.raises(ShapeError, match="'x'"):
        buf.extend({"x": value})
    assert len(buf) == 2


def test_casts_that_keep_every_value_are_fine():
    buf = RingBuffer(10)
    buf.extend({"a": torch.zeros(2, dtype=torch.long), "u": torch.zeros(2, dtype=torch.uint8),
                "f": torch.zeros(2, dtype=torch.float32)})
    buf.extend({"a": torch.tensor([1.0, -2.0]), "u": torch.tensor([255, 3]), "f": torch.tensor([0.1, 2.0],
                                                                                              dtype=torch.float64)})
    assert buf.data["a"][2:4].tolist() == [1, -2] and buf.data["u"][2:4].tolist() == [255, 3]


def test_restored_state_is_validated():
    buf = RingBuffer(4)
    buf.extend({"x": torch.arange(3.0)})
    state = buf.state_dict()
    for bad in ({"size": 9}, {"cursor": -1}, {"added": 1}):
        with pytest.raises(ConfigError, match="inconsistent"):
            RingBuffer(4).load_state_dict({**state, **bad})


def test_impossible_sizes_and_seeds_are_config_errors():
    with pytest.raises(ConfigError, match="seed"):
        ReservoirBuffer(5, seed=2**70)
    with pytest.raises(ConfigError, match="more than this machine can allocate"):
        RingBuffer(10**13).add({"x": torch.zeros(1000)})


def test_reservoir_writes_cost_the_batch_not_the_capacity():
    """A reservoir add or extend allocates memory for its batch only: at capacity 10^6 no allocation of the
    call comes near a capacity-sized tensor (8 MB), by the profiler's record of every allocation."""
    from torch.profiler import ProfilerActivity, profile

    def allocations(capacity):
        buf = ReservoirBuffer(capacity, seed=0)
        buf.extend({"x": torch.zeros(1000, 2)})
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            buf.extend({"x": torch.zeros(16, 2)})
            buf.add({"x": torch.zeros(2)})
        sizes = [e.cpu_memory_usage for e in prof.events() if e.cpu_memory_usage > 0]
        return max(sizes, default=0), sum(sizes)

    small, large = allocations(10**3), allocations(10**6)
    assert large[0] < 64 * 1024 and large[1] < 1024 * 1024, large
    assert large[1] <= 2 * small[1] + 4096, (small, large)


def test_an_empty_batch_writes_nothing():
    from brainlearn.replay import PrioritizedReplayBuffer

    for buf in (RingBuffer(4), ReservoirBuffer(4), PrioritizedReplayBuffer(4)):
        buf.extend({"x": torch.zeros(2)})
        assert len(buf.extend({"x": torch.zeros(0)})) == 0 and len(buf) == 2


def test_a_float_at_the_integer_columns_top_is_refused():
    """2**63 as a float passes `<= iinfo.max` (which rounds up to it) and would wrap to -2**63 in the cast."""
    from brainlearn.replay.buffers import _cast

    for value, dtype in ((torch.tensor([2.0 ** 63]), torch.int64), (torch.tensor([2.0 ** 63], dtype=torch.float64),
                                                                    torch.int64), (torch.tensor([256.0]), torch.uint8)):
        with pytest.raises(ShapeError, match="would change in the cast"):
            _cast("x", value, dtype)
    assert _cast("x", torch.tensor([255.0]), torch.uint8).tolist() == [255]
    assert _cast("x", torch.tensor([-2.0 ** 63]), torch.int64).tolist() == [-2 ** 63]
