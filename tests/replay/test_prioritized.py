"""brainlearn.replay: ring, reservoir and prioritised buffers: sampling exactness, checkpoints, bad input."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.replay import PrioritizedReplayBuffer, ReservoirBuffer, RingBuffer, SumMinTree, linear_beta

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def transitions(n: int, start: int = 0) -> dict:
    i = torch.arange(start, start + n)
    return {"obs": i[:, None].float().expand(n, 3).clone(), "action": i % 4, "reward": i.float() * 0.5,
            "done": i % 7 == 0}


def filled_per(priorities, alpha: float, device: str = "cpu", **kw) -> PrioritizedReplayBuffer:
    p = torch.as_tensor(priorities, dtype=torch.float64)
    buf = PrioritizedReplayBuffer(len(p), alpha=alpha, device=device, eps=0.0, **kw)
    buf.extend(transitions(len(p)))
    buf.update_priorities(torch.arange(len(p)), p)
    return buf


def draw_counts(buf, n_draws: int, batch: int, seed: int = 0) -> torch.Tensor:
    g = gen(seed, buf.device.type)
    counts = torch.zeros(len(buf), dtype=torch.float64, device=buf.device)
    for _ in range(n_draws // batch):
        _, info = buf.sample(batch, beta=0.4, generator=g)
        idx = info["index"]
        counts += torch.bincount(idx, minlength=len(buf)).double()
    return counts.cpu()


# --- prioritised replay: sampling exactness -------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stratified", [True, False])
def test_per_frequencies_match_p_alpha_over_1e5_draws(device, stratified):
    """1000 items with heavy-tailed priorities (the largest P(i) are several %), drawn in batches of 1000."""
    from scipy.stats import chisquare

    p = torch.exp(3 * torch.randn(1000, generator=gen(1), dtype=torch.float64))
    alpha = 0.6
    buf = filled_per(p, alpha, device, stratified=stratified)
    counts = draw_counts(buf, 100_000, 1000)
    expected = p ** alpha / (p ** alpha).sum()
    assert float(expected.max()) > 0.02
    assert (counts / 100_000 - expected).abs().max() < 0.01
    assert chisquare(counts.numpy(), 100_000 * expected.numpy()).pvalue > 0.01
    assert torch.allclose(buf.probabilities().cpu(), expected, rtol=1e-12, atol=0)


def test_alpha_zero_is_uniform_chi_square():
    from scipy.stats import chisquare

    buf = filled_per(torch.rand(500, generator=gen(2), dtype=torch.float64) * 100 + 1, alpha=0.0, stratified=False)
    counts = draw_counts(buf, 100_000, 500, seed=3)
    assert chisquare(counts.numpy()).pvalue > 0.01
    assert (counts / 100_000 - 1 / 500).abs().max() < 0.01
    assert torch.allclose(buf.probabilities(), torch.full((500,), 1 / 500, dtype=torch.float64))


def test_importance_weights_follow_the_formula_and_peak_at_one():
    p = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64)
    alpha, beta = 0.7, 0.5
    buf = filled_per(p, alpha)
    P = p ** alpha / (p ** alpha).sum()
    w_all = (len(p) * P) ** -beta
    w_ref = w_all / w_all.max()
    w, idx = zip(*((i["weight"], i["index"]) for g in [gen(4)] for _ in range(1000)
                   for i in [buf.sample(5, beta=beta, generator=g)[1]]))
    w, idx = torch.cat(w), torch.cat(idx)
    assert torch.allclose(w.double(), w_ref[idx], rtol=1e-6)
    assert float(w.max()) == 1.0                     # the lowest-priority item is drawn in 5000 draws
    assert bool((w <= 1.0).all()) and bool((w > 0).all())
    w0 = buf.sample(5, beta=0.0, generator=gen(5))[1]["weight"]
    assert bool((w0 == 1).all())                    # beta = 0: no correction


def test_new_items_enter_at_the_current_maximum_priority():
    buf = PrioritizedReplayBuffer(8, alpha=0.5, eps=0.0)
    buf.extend(transitions(3))
    assert torch.equal(buf.priorities(torch.arange(3)), torch.ones(3, dtype=torch.float64))  # initial max 1
    buf.update_priorities(torch.tensor([0, 1]), torch.tensor([9.0, 0.25]))
    buf.add({k: v[0] for k, v in transitions(1).items()})
    assert float(buf.max_priority) == 9.0
    assert float(buf.priorities(torch.tensor([3]))) == pytest.approx(3.0)      # 9 ** 0.5
    buf.update_priorities(torch.tensor([0]), torch.tensor([1.0]))              # the maximum never decreases
    assert float(buf.max_priority) == 9.0


def test_update_changes_root_sum_by_exactly_the_change():
    buf = filled_per(torch.arange(1, 101, dtype=torch.float64), alpha=1.0)     # integers: exact in float64
    before = float(buf.tree.total())
    assert before == 5050.0
    buf.update_priorities(torch.tensor([3, 10, 99]), torch.tensor([40.0, 1.0, 7.0]))
    change = (40 - 4) + (1 - 11) + (7 - 100)
    assert float(buf.tree.total()) - before == change
    # arbitrary reals: float64 rounding only (a few ulps of the total per level)
    buf = filled_per(torch.rand(1000, generator=gen(6), dtype=torch.float64) + 0.1, alpha=0.6)
    old = buf.priorities(torch.arange(1000)).clone()
    before = buf.tree.total().item()
    idx = torch.randperm(1000, generator=gen(7))[:64]
    new = torch.rand(64, generator=gen(8), dtype=torch.float64) * 5
    buf.update_priorities(idx, new)
    delta = math.fsum((new ** 0.6 - old[idx]).tolist())
    assert abs(buf.tree.total().item() - before - delta) <= 1e-13 * before


def test_duplicate_indices_in_one_update_take_the_last_value():
    buf = filled_per(torch.ones(16, dtype=torch.float64), alpha=1.0)
    buf.update_priorities(torch.tensor([2, 5, 2, 2]), torch.tensor([3.0, 4.0, 5.0, 6.0]))
    assert float(buf.priorities(torch.tensor([2]))) == 6.0
    assert float(buf.tree.total()) == 14 + 6 + 4


def test_min_tree_gives_the_true_minimum_and_ignores_empty_slots():
    buf = PrioritizedReplayBuffer(100, alpha=1.0, eps=0.0)
    buf.extend(transitions(37))                       # 63 empty slots must not count
    p = torch.rand(37, generator=gen(9), dtype=torch.float64) * 3 + 0.5
    buf.update_priorities(torch.arange(37), p)
    assert float(buf.tree.minimum()) == float(p.min())
    assert float(buf.tree.total()) == pytest.approx(float(p.sum()), rel=1e-14)
    idx = buf.sample(37, beta=1.0, generator=gen(10))[1]["index"]
    assert int(idx.max()) < 37


def test_tree_rebuild_equals_incremental_updates():
    tree, ref = SumMinTree(300), SumMinTree(300)
    vals = torch.rand(300, generator=gen(11), dtype=torch.float64)
    for chunk in torch.arange(300).split(37):
        tree.set(chunk, vals[chunk])
    ref.rebuild(vals)
    # an update recomputes every ancestor from its children, as a rebuild does: the same nodes, bit for bit
    assert torch.equal(tree.min, ref.min) and torch.equal(tree.sum, ref.sum)
    tree.set(torch.arange(0, 300, 7), vals[::7] * 3)
    ref_vals = vals.clone()
    ref_vals[::7] *= 3
    ref.rebuild(ref_vals)
    assert torch.equal(tree.min, ref.min) and torch.equal(tree.sum, ref.sum)


def test_find_returns_the_leaf_holding_each_prefix_mass():
    tree = SumMinTree(5)
    tree.set(torch.arange(5), torch.tensor([1.0, 0.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    u = torch.tensor([0.0, 0.999, 1.0, 2.5, 3.0, 5.9, 6.0, 9.99], dtype=torch.float64)
    assert tree.find(u).tolist() == [0, 0, 2, 2, 3, 3, 4, 4]


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 200),
       updates=st.lists(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1e6)), min_size=1, max_size=40),
                        min_size=1, max_size=8))
def test_property_sum_tree_root_is_the_sum_of_leaves(capacity, updates):
    tree = SumMinTree(capacity)
    ref = {}
    for batch in updates:
        idx = torch.tensor([i % capacity for i, _ in batch])
        vals = torch.tensor([v for _, v in batch], dtype=torch.float64)
        tree.set(idx, vals)
        for i, v in zip(idx.tolist(), vals.tolist()):
            ref[i] = v
    assert tree.total().item() == pytest.approx(math.fsum(ref.values()), rel=1e-12, abs=1e-300)
    assert tree.minimum().item() == min(ref.values())


def test_linear_beta_anneals_to_one():
    assert linear_beta(0, 100) == pytest.approx(0.4)
    assert linear_beta(50, 100) == pytest.approx(0.7)
    assert linear_beta(500, 100) == 1.0
    assert linear_beta(10, 20, start=0.0, end=0.5) == pytest.approx(0.25)


# --- ring and reservoir ------------------------------------------------------------------------------------


# --- checkpoints -------------------------------------------------------------------------------------------

def roundtrip(state: dict) -> dict:
    f = io.BytesIO()
    torch.save(state, f)
    f.seek(0)
    return torch.load(f, weights_only=True)


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_round_trip_gives_identical_samples(device):
    bufs = [RingBuffer(64, device=device), ReservoirBuffer(64, device=device, seed=3),
            PrioritizedReplayBuffer(64, alpha=0.6, device=device)]
    fresh = [RingBuffer(64, device=device), ReservoirBuffer(64, device=device, seed=99),
             PrioritizedReplayBuffer(64, alpha=0.1, device=device)]
    for buf, new in zip(bufs, fresh):
        buf.extend(transitions(100))
        if isinstance(buf, PrioritizedReplayBuffer):
            buf.update_priorities(torch.arange(0, 64, 3), torch.linspace(0, 5, 22))
        new.load_state_dict(roundtrip(buf.state_dict()))
        assert len(new) == len(buf)
        for b in (buf, new):                                  # the same future on both: more data, then samples
            b.extend(transitions(10, start=100))
        if isinstance(buf, PrioritizedReplayBuffer):
            (x, ix), (y, iy) = (b.sample(32, beta=0.5, generator=gen(5, device)) for b in (buf, new))
            wx, wy, ix, iy = ix["weight"], iy["weight"], ix["index"], iy["index"]
            assert torch.equal(wx, wy) and torch.equal(buf.tree.sum, new.tree.sum)
        else:
            (x, ix), (y, iy) = (b.sample(32, generator=gen(5, device)) for b in (buf, new))
            ix, iy = ix["index"], iy["index"]
        assert torch.equal(ix, iy)
        assert all(torch.equal(x[k], y[k]) and y[k].device.type == device for k in x)


# --- bad input ---------------------------------------------------------------------------------------------

def test_sampling_errors_say_what_was_asked_and_what_is_stored():
    for buf in (RingBuffer(8), ReservoirBuffer(8), PrioritizedReplayBuffer(8)):
        kw = {"beta": 0.4} if isinstance(buf, PrioritizedReplayBuffer) else {}
        with pytest.raises(ConfigError, match="empty buffer"):
            buf.sample(4, generator=gen(), **kw)
        buf.extend(transitions(3))
        with pytest.raises(ConfigError, match=r"asked for 4 items but the buffer holds only 3"):
            buf.sample(4, generator=gen(), **kw)
        with pytest.raises(ConfigError, match="positive int"):
            buf.sample(0, generator=gen(), **kw)
        with pytest.raises(ConfigError, match="torch.Generator"):
            buf.sample(2, generator=3, **kw)      # None is the buffer's own generator


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), 1e101])
def test_bad_priorities_are_rejected_before_anything_is_written(bad, kernels):
    buf = PrioritizedReplayBuffer(8, eps=0.0)
    buf.extend(transitions(4))
    assert buf.tree._kernels is kernels
    before = buf.tree.sum.clone(), buf.tree.min.clone(), buf.max_priority.clone()

    def unchanged():
        return all(torch.equal(a, b) for a, b in zip(before, (buf.tree.sum, buf.tree.min, buf.max_priority)))
    with pytest.raises(ShapeError, match="priorit"):
        buf.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0, bad]))
    assert unchanged()
    with pytest.raises(ShapeError, match="0 and eps is 0"):
        buf.update_priorities(torch.tensor([0]), torch.tensor([0.0]))
    with pytest.raises(ShapeError, match=r"2 indices but 3 priorities"):
        buf.update_priorities(torch.tensor([0, 1]), torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match=r"indices must be in \[0, 4\)"):
        buf.update_priorities(torch.tensor([5, 1]), torch.tensor([1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"indices must be in \[0, 4\)"):
        buf.update_priorities(torch.tensor([-1]), torch.tensor([1.0]))
    assert unchanged()


def test_alpha_beta_and_capacity_out_of_range():
    for alpha in (-0.1, 1.5, float("nan"), "0.5"):
        with pytest.raises(ConfigError, match="alpha"):
            PrioritizedReplayBuffer(8, alpha=alpha)
    buf = PrioritizedReplayBuffer(8)
    buf.extend(transitions(4))
    for beta in (-0.5, 1.01, float("inf")):
        with pytest.raises(ConfigError, match="beta"):
            buf.sample(2, beta=beta, generator=gen())
    for cap in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="capacity"):
            RingBuffer(cap)
    with pytest.raises(ConfigError, match="eps"):
        PrioritizedReplayBuffer(8, eps=-1e-3)


def test_per_overwritten_slots_restart_at_the_maximum_priority():
    buf = PrioritizedReplayBuffer(4, alpha=1.0, eps=0.0)
    buf.extend(transitions(4))
    buf.update_priorities(torch.arange(4), torch.tensor([0.5, 2.0, 0.25, 0.75]))
    slots = buf.extend(transitions(6, start=4))        # longer than the ring: slots 0..3 all rewritten
    assert sorted(slots.tolist()) == [0, 1, 2, 3]
    assert torch.equal(buf.priorities(torch.arange(4)), torch.full((4,), 2.0, dtype=torch.float64))
    assert float(buf.tree.total()) == 8.0 and float(buf.tree.minimum()) == 2.0


def test_torch_tree_path_matches_the_numpy_path():
    """The GPU code path (torch operations), run on the CPU, agrees with the CPU path (numpy views)."""
    for capacity, k in ((1, 2), (300, 4), (5000, 32)):
        a, b = SumMinTree(capacity, branching=k), SumMinTree(capacity, branching=k)
        b._np = False
        g = gen(capacity)
        for _ in range(5):
            idx = torch.randint(0, capacity, (min(64, 2 * capacity),), generator=g)
            vals = torch.rand(len(idx), generator=g, dtype=torch.float64)
            a.set(idx, vals)
            b.set(idx, vals)
        assert torch.allclose(a.sum, b.sum, rtol=1e-14) and torch.equal(a.min, b.min)
        u = torch.rand(200, generator=g, dtype=torch.float64) * float(a.total())
        assert torch.equal(a.find(u), b.find(u))


def test_incremental_trees_match_a_rebuild_after_many_updates():
    """Raised and lowered minima, duplicate indices, several levels: every inner node stays right."""
    for capacity, k in ((1000, 4), (5000, 32)):
        tree, ref = SumMinTree(capacity, branching=k), SumMinTree(capacity, branching=k)
        g = gen(k)
        vals = torch.rand(capacity, generator=g, dtype=torch.float64)
        tree.set(torch.arange(capacity), vals, unique=True)
        for step in range(30):
            idx = torch.randint(0, capacity, (97,), generator=g)
            new = torch.rand(97, generator=g, dtype=torch.float64) * (10 if step % 2 else 0.1)
            tree.set(idx, new)
            vals[idx] = new            # torch's scatter of duplicates is unordered: set them from the tree
            vals[idx] = tree.get(idx)
        ref.rebuild(vals)
        assert torch.equal(tree.min, ref.min) and torch.equal(tree.sum, ref.sum)


def test_set_range_equals_set():
    a, b = SumMinTree(3000, branching=8), SumMinTree(3000, branching=8)
    vals = torch.rand(3000, generator=gen(12), dtype=torch.float64)
    a.set(torch.arange(3000), vals, unique=True)
    b.set(torch.arange(3000), vals, unique=True)
    for start, n in ((0, 1), (5, 300), (2990, 10), (1234, 777)):
        v = torch.rand(n, generator=gen(start), dtype=torch.float64)
        a.set_range(start, v)
        b.set(torch.arange(start, start + n), v, unique=True)
        assert torch.equal(a.min, b.min) and torch.allclose(a.sum, b.sum, rtol=1e-13, atol=0)


def test_huge_priorities_cannot_overflow_the_sum_tree():
    buf = PrioritizedReplayBuffer(10)
    buf.extend({"x": torch.zeros(3)})
    with pytest.raises(ShapeError, match="priorities must be <="):
        buf.update_priorities([0, 1], [1e308, 1e308])
    buf.update_priorities([0, 1], [1e99, 1e99])
    assert math.isfinite(float(buf.tree.total())) and buf.sample(3)[1]["index"].max() <= 2


def test_a_state_with_nan_masses_is_refused():
    buf = PrioritizedReplayBuffer(10)
    buf.extend({"x": torch.zeros(3)})
    state = buf.state_dict()
    for change in ({"mass": state["mass"] * float("nan")}, {"max_priority": torch.tensor(float("nan"))},
                   {"tree": {**state["tree"], "sum": state["tree"]["sum"] * float("nan")}}):
        with pytest.raises(ConfigError):
            PrioritizedReplayBuffer(10).load_state_dict({**state, **change})


def test_a_capacity_beyond_the_machine_is_a_config_error():
    with pytest.raises(ConfigError, match="priority trees of capacity 1000000000000"):
        PrioritizedReplayBuffer(10**12)


# --- the CPU kernels: compiled (numba) and numpy, the same results bit for bit --------------------------------

def _kernel_sets():
    from brainlearn.replay import _kernels

    sets = [_kernels.NUMPY]
    try:
        sets.append(_kernels._compile())
    except ImportError:
        pass
    return sets


@pytest.fixture(params=["numpy", "numba"])
def kernels(request, monkeypatch):
    """Trees built inside the test use this kernel set (numba's only where it is installed)."""
    from brainlearn.replay import _kernels

    if request.param == "numba":
        pytest.importorskip("numba")
        return _kernels.best()
    monkeypatch.setenv("BRAINLEARN_NUMBA", "0")
    return _kernels.NUMPY


@pytest.mark.parametrize("capacity,k", [(1, 2), (5, 32), (300, 4), (5000, 32), (40_000, 32)])
def test_compiled_and_numpy_kernels_agree_bit_for_bit(capacity, k):
    """The same writes (duplicates, zeros, runs, raised and lowered minima, past a resync) on one tree per
    kernel set give identical trees and identical leaves for every query, those at and past the total too."""
    sets = _kernel_sets()
    if len(sets) < 2:
        pytest.skip("numba is not installed")
    trees = [SumMinTree(capacity, branching=k) for _ in sets]
    for tree, ks in zip(trees, sets):
        tree._kernels = ks
    g = gen(capacity)
    for step in range(12):
        n = min(97, 2 * capacity)
        idx = torch.randint(0, capacity, (n,), generator=g)
        vals = torch.rand(n, generator=g, dtype=torch.float64) * (10.0 if step % 2 else 0.1)
        vals[::7] = 0
        start = int(torch.randint(0, capacity, (), generator=g))
        run = torch.rand(min(50, capacity - start), generator=g, dtype=torch.float64)
        for tree in trees:
            tree.set(idx, vals)
            tree.set_range(start, run)
            tree.fill_range(0, min(3, capacity), 0.5)
        assert all(torch.equal(t.sum, trees[0].sum) and torch.equal(t.min, trees[0].min) for t in trees)
        total = float(trees[0].total())
        u = torch.cat([torch.rand(500, generator=g, dtype=torch.float64) * total,
                       torch.tensor([0.0, total, total * (1 + 1e-12), 2 * total])])
        found = [t.find(u) for t in trees]
        assert all(torch.equal(f, found[0]) for f in found)
        assert int(found[0].max()) < capacity
        assert bool((trees[0].get(found[0][:500]) > 0).all())     # a draw never lands on an empty leaf


def test_compiled_and_numpy_buffers_draw_the_same_items():
    """Whole buffers, one per kernel set: the same slots and weights, bit for bit, after the same history."""
    sets = _kernel_sets()
    if len(sets) < 2:
        pytest.skip("numba is not installed")
    bufs = [PrioritizedReplayBuffer(3000, alpha=0.6, seed=4) for _ in sets]
    for buf, ks in zip(bufs, sets):
        buf.tree._kernels = ks
    for step in range(8):
        for buf in bufs:
            buf.extend(transitions(700, start=700 * step))
            buf.add({k: v[0] for k, v in transitions(1).items()})
        draws = [buf.sample(256, beta=0.5) for buf in bufs]
        for (batch, info), (batch0, info0) in zip(draws, draws[:1] * len(draws)):
            assert torch.equal(info["index"], info0["index"]) and torch.equal(info["weight"], info0["weight"])
            assert all(torch.equal(batch[k], batch0[k]) for k in batch)
        p = torch.rand(256, generator=gen(step), dtype=torch.float64) * 3     # float32 on odd steps
        p = p.float() if step % 2 else p
        for buf, (_, info) in zip(bufs, draws):
            buf.update_priorities(info["index"], p)


def test_sampling_is_exact_with_either_kernel_set(kernels):
    """P(i) and the importance weights of the heavy-tailed 1000-item buffer, with each kernel set."""
    p = torch.exp(3 * torch.randn(1000, generator=gen(1), dtype=torch.float64))
    alpha, beta = 0.6, 0.4
    buf = filled_per(p, alpha)
    assert buf.tree._kernels is kernels
    counts = draw_counts(buf, 100_000, 1000)
    expected = p ** alpha / (p ** alpha).sum()
    assert (counts / 100_000 - expected).abs().max() < 0.01
    _, info = buf.sample(1000, beta=beta, generator=gen(2))
    w_all = (len(p) * expected) ** -beta
    assert torch.allclose(info["weight"].double(), (w_all / w_all.max())[info["index"]], rtol=1e-6)


def test_tree_writes_out_of_range_are_shape_errors():
    tree = SumMinTree(10)
    with pytest.raises(ShapeError, match=r"indices must be in \[0, 10\)"):
        tree.set(torch.tensor([3, 10]), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ShapeError, match=r"indices must be in \[0, 10\)"):
        tree.set(torch.tensor([-1]), torch.ones(1, dtype=torch.float64))
    with pytest.raises(ShapeError, match="not in"):
        tree.set_range(8, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ShapeError, match="2 indices but 3 values"):
        tree.set(torch.tensor([1, 2]), torch.ones(3, dtype=torch.float64))
    assert float(tree.total()) == 0.0


def test_lean_and_checked_writes_store_the_same():
    """Tensors that fit the columns take the lean path (no conversion); anything else the checked one, with
    the same stored result: other dtypes (cast when exact), lists, grad-carrying and non-contiguous tensors."""
    ref, buf = PrioritizedReplayBuffer(16, seed=0), PrioritizedReplayBuffer(16, seed=0)
    base = {"obs": torch.arange(12.0).view(4, 3), "action": torch.arange(4)}
    for b in (ref, buf):
        b.extend(base)
    lean = {"obs": torch.full((2, 3), 7.0), "action": torch.tensor([1, 2])}
    other = {"obs": torch.full((3, 2), 7.0, requires_grad=True).t(), "action": [1.0, 2.0]}
    ref.extend(lean)
    buf.extend(other)
    ref.add({"obs": torch.ones(3), "action": torch.tensor(3)})
    buf.add({"obs": torch.ones(3, dtype=torch.float64), "action": 3})
    for k in ref.data:
        assert torch.equal(ref.data[k], buf.data[k])
    assert torch.equal(ref.tree.sum, buf.tree.sum)
    with pytest.raises(ShapeError, match="per-item shape"):
        buf.add({"obs": torch.ones(4), "action": torch.tensor(3)})
    with pytest.raises(ShapeError, match="scalar"):
        buf.extend({"obs": torch.ones(3), "action": torch.tensor(3)})
    assert len(buf) == len(ref) == 7


def test_the_device_path_never_reads_back_to_the_host(monkeypatch):
    """The GPU code path (torch operations), run on CPU tensors: add, extend and sample read nothing back to
    the host (every read-back method of a tensor raises), and update_priorities reads back once."""
    buf = PrioritizedReplayBuffer(1000, alpha=0.6, seed=0)
    buf.tree._np, buf._ring._storage.host = False, False
    buf.extend(transitions(300))
    reads = []

    def refuse(*args, **kwargs):
        raise AssertionError("a host read-back on the device path")

    for name in ("item", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    tolist = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: reads.append(t.shape) or tolist(t))
    one = {k: v[0] for k, v in transitions(1).items()}
    for _ in range(3):
        buf.extend(transitions(64))
        buf.add(one)
        batch, info = buf.sample(128, beta=0.4)
    assert reads == []
    buf.update_priorities(info["index"], torch.rand(128, generator=gen(1)))
    assert len(reads) == 1
    monkeypatch.undo()
    assert int(info["index"].max()) < len(buf) and bool((info["weight"] <= 1).all())
    assert torch.allclose(buf.tree.total(), buf.tree.values(len(buf)).sum(), rtol=1e-12)
