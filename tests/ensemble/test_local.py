"""Stacked local learning rules of the cortical models: BurstCCN (updates through ``.grad``) and the dendritic
microcircuit (updates applied in place); each member equals its network trained alone."""

import pytest
import torch

from brainlearn.ensemble import Ensemble, StackedSGD
from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig
from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig
from brainlearn.runtime import make_generator

# vmap's per-member fallback (an op without a batching rule) would loop over the members: never on these paths
pytestmark = pytest.mark.filterwarnings("error:There is a performance drop")


SEEDS, LRS, STEPS = (0, 4, 8), (0.1, 0.2, 0.3), 100


def _data(n_in, n_out, dtype):
    g = torch.Generator().manual_seed(2)
    return (torch.rand(STEPS, len(SEEDS), 5, n_in, generator=g, dtype=dtype),
            torch.rand(STEPS, len(SEEDS), 5, n_out, generator=g, dtype=dtype))


@pytest.mark.parametrize("feedback, q_mode", [("tied", "tied"), ("random", "learned"), ("learned", "learned")])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_burstccn_members_equal_their_runs_alone(feedback, q_mode, dtype, tol):
    config = BurstCCNConfig(in_shape=(6,), n_hidden=(8, 7), n_out=3, feedback=feedback, q_mode=q_mode)
    ens = Ensemble([BurstCCN(config, generator=make_generator(s)).to(dtype) for s in SEEDS])
    opt = StackedSGD(ens.params, lr=LRS)
    xs, ys = _data(6, 3, dtype)
    for x, y in zip(xs, ys):
        grads, out = ens.run_local(lambda net, xb, yb: net.backward_local(xb, yb).e[-1], x, y)
        opt.step(grads)
    assert out.shape == (len(SEEDS), 5, 3)
    for k, seed in enumerate(SEEDS):
        net = BurstCCN(config, generator=make_generator(seed)).to(dtype)
        alone = torch.optim.SGD(net.parameters(), lr=LRS[k])
        for x, y in zip(xs[:, k], ys[:, k]):
            alone.zero_grad()
            net.backward_local(x, y)
            alone.step()
        for (name, a), b in zip(net.named_parameters(), ens.member(k).parameters()):
            assert float((a - b).detach().abs().max()) <= tol, (k, name)


@pytest.mark.parametrize("feedback", ["tied", "random"])
def test_dendritic_members_equal_their_runs_alone(feedback):
    """The microcircuit applies its own updates (steady state, the config's rates) in place: they land in
    the stack."""
    config = DendriticNetworkConfig(sizes=(6, 8, 3), feedback=feedback)
    ens = Ensemble([DendriticNetwork(config, generator=make_generator(s)).double() for s in SEEDS])
    xs, ys = _data(6, 3, torch.float64)

    def train_step(net, xb, yb):
        net.train_step(xb, yb)  # returns the settled state, which vmap need not stack

    for x, y in zip(xs, ys):
        grads, _ = ens.run_local(train_step, x, y)
    assert all(float(g.abs().max()) == 0 for g in grads.values())  # nothing through .grad
    for k, seed in enumerate(SEEDS):
        net = DendriticNetwork(config, generator=make_generator(seed)).double()
        for x, y in zip(xs[:, k], ys[:, k]):
            net.train_step(x, y)
        for (name, a), b in zip(net.named_parameters(), ens.member(k).parameters()):
            assert float((a - b).abs().max()) <= 1e-10, (k, name)
