"""Burstprop (Payeur et al. 2021), the two-phase baseline on BurstCCN's layers."""

import pytest
import torch

from brainlearn.analysis import angle
from brainlearn.errors import ConfigError
from brainlearn.models.burstccn import burst_mlp
from brainlearn.models.burstprop import Burstprop, BurstpropConfig


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(n_in, n_out=10, batch=32, seed=1):
    g = _gen(seed)
    return torch.rand(batch, n_in, generator=g), torch.randint(0, n_out, (batch,), generator=g)


def test_burstprop_is_two_phase_and_close_to_backprop_at_the_output():
    net = burst_mlp([64, 50, 10], network=Burstprop, generator=_gen())
    x, y = _batch(64)
    state = net.backward_local(x, y)
    assert state.p_free is not None and not torch.equal(state.p[0], state.p_free[0])
    bp = net.backprop_grads(x, y)
    assert angle(net.layers[-1].weight.grad, bp[-2]) < 1e-3
    assert angle(net.layers[0].weight.grad, bp[0]) < 30.0  # approximate, not exact: gain σ'(z̄)β varies
    net.zero_grad()
    net.backward_local(x, None)
    assert all(p.grad.abs().max() == 0 for p in net.forward_parameters())
    with pytest.raises(ConfigError):
        burst_mlp([4, 3, 2], network=Burstprop, q_mode="learned")
    with pytest.raises(ConfigError):
        Burstprop(BurstpropConfig(q_mode="learned"))
    assert BurstpropConfig().p_baseline == 0.2
