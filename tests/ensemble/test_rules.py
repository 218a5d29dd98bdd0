"""Stacked recurrent learning rules: each member's weights after 100 updates equal its rule's alone."""

import pytest
import torch

from brainlearn.ensemble import STACKABLE_RULES, Ensemble, StackedAdam, StackedRule, StackedSGD
from brainlearn.errors import ConfigError
from brainlearn.rules.recurrent import make_rule
from brainlearn.rules.rnn_base import LeakyRNN, LeakyRNNConfig
from brainlearn.rules.spiking import SpikingRNN, SpikingRNNConfig
from brainlearn.runtime import make_generator

# vmap's per-member fallback (an op without a batching rule) would loop over the members: never on these paths
pytestmark = pytest.mark.filterwarnings("error:There is a performance drop")


SEEDS, LRS, STEPS = (0, 5, 9), (0.02, 0.05, 0.1), 100


def _member(name, seed, dtype, **options):
    g = make_generator(seed)
    if name == "eprop_spiking":
        net = SpikingRNN(SpikingRNNConfig(n_in=2, n_hidden=6, n_out=2, beta=0.1, dtype=dtype), generator=g)
    else:
        net = LeakyRNN(LeakyRNNConfig(n_in=2, n_hidden=6, n_out=2, alpha=0.5, dtype=dtype), generator=g)
    if name in ("eprop", "rflo", "eprop_spiking"):
        options = {"feedback": "random", **options}
    return net, make_rule(name, net, loss_fn="mse", generator=g, **options)


# each stackable rule at its defaults, and truncated BPTT (windows of 3 over 5 steps: a window and a remainder)
CASES = [(name, {}) for name in STACKABLE_RULES] + [("bptt", {"window": 3})]


def _data(dtype):
    g = torch.Generator().manual_seed(1)
    dt = getattr(torch, dtype)
    n = len(SEEDS)
    return torch.randn(STEPS, n, 3, 5, 2, generator=g, dtype=dt), torch.randn(STEPS, n, 3, 5, 2, generator=g, dtype=dt)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}{o.get('window', '')}" for n, o in CASES])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-4)])
def test_each_member_equals_its_rule_alone(name, options, optimizer, dtype, tol):
    """100 updates with members differing in seed (weights and random feedback) and learning rate."""
    members = [_member(name, s, dtype, **options) for s in SEEDS]
    ens = Ensemble([net for net, _ in members])
    stacked = StackedRule(ens, [rule for _, rule in members])
    # spiking networks amplify rounding at threshold crossings: rates small enough that they stay tame
    scale = (10 if optimizer == "adam" else 1) * (20 if name == "eprop_spiking" else 1)
    lrs = [lr / scale for lr in LRS]
    opt = (StackedAdam if optimizer == "adam" else StackedSGD)(ens.params, lr=lrs)
    xs, ys = _data(dtype)
    for x, y in zip(xs, ys):
        updates, losses = stacked.accumulate(x, y)
        opt.step(updates)
    assert losses.shape == (len(SEEDS), 3)
    for k, seed in enumerate(SEEDS):
        net, rule = _member(name, seed, dtype, **options)
        alone = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(net.parameters(), lr=lrs[k])
        for x, y in zip(xs[:, k], ys[:, k]):
            alone.zero_grad()
            rule.run(x, y)
            alone.step()
        for (pname, a), b in zip(net.named_parameters(), ens.member(k).parameters()):
            assert float((a - b).detach().abs().max()) <= tol, (name, k, pname)


def test_a_nan_member_leaves_the_others_bit_identical():
    runs = []
    for poison in (False, True):
        members = [_member("eprop", s, "float64") for s in SEEDS]
        ens = Ensemble([net for net, _ in members])
        stacked = StackedRule(ens, [rule for _, rule in members])
        if poison:
            ens.params["cell.weight"][0, 0, 0] = float("nan")
        opt = StackedSGD(ens.params, lr=LRS)
        xs, ys = _data("float64")
        for x, y in zip(xs[:10], ys[:10]):
            opt.step(stacked.accumulate(x, y)[0])
        runs.append(ens)
    assert runs[1].finite().tolist() == [False, True, True]
    for name, t in runs[0].params.items():
        assert torch.equal(t[1:], runs[1].params[name][1:])


def test_rules_that_do_not_stack_say_so():
    members = [_member("dni", s, "float64") for s in SEEDS]
    ens = Ensemble([net for net, _ in members])
    with pytest.raises(ConfigError, match="does not stack"):
        StackedRule(ens, [rule for _, rule in members])
    eprop = [_member("eprop", s, "float64") for s in SEEDS]
    with pytest.raises(ConfigError, match="one rule per member"):
        StackedRule(ens, [rule for _, rule in eprop[:2]])
    with pytest.raises(ConfigError, match="differ in kind"):
        StackedRule(ens, [eprop[0][1], eprop[1][1], _member("rflo", 9, "float64")[1]])
