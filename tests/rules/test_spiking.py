"""e-prop for LIF / ALIF networks (brainlearn.rules.spiking)."""

from __future__ import annotations

import pytest
import torch

from brainlearn.errors import ConfigError
from brainlearn.rules.recurrent import make_rule
from brainlearn.rules.spiking import SpikingEProp, SpikingRNN, SpikingRNNConfig, pseudo_derivative

F64 = torch.float64


def test_lif_alif_pseudo_derivative_and_traces_by_hand():
    """Two neurons (one LIF, one ALIF), one input, three steps, computed by hand."""
    m = SpikingRNN(SpikingRNNConfig(n_in=1, n_hidden=2, n_out=1, alpha=0.5, rho=0.8, kappa=0.0, theta=1.0,
                                    beta=(0.0, 2.0), gamma=0.3, dtype="float64"))
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.0, 0.0, 1.5], [0.0, 0.0, 0.8]], dtype=F64))
    assert torch.allclose(pseudo_derivative(torch.tensor([0.5, 1.0, 2.5]), 1.0, 1.0, 0.3),
                          torch.tensor([0.15, 0.3, 0.0]))
    rule = make_rule("eprop_spiking", m)
    rule.reset(1)
    traces = []
    for _ in range(3):
        rule.step(torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
        traces.append(rule.last_trace[0, :, 2].tolist())
    # t=1: v1 = 1.5 (LIF spikes: z1 = 1), v1' = 0.8 (no spike)
    #   psi = 0.3 (1 - |1.5 - 1|) = 0.15 ; psi' = 0.3 (1 - 0.2) = 0.24 ; eps_v = 1 ; eps_a = 0
    #   e = (0.15, 0.24)
    # t=2: LIF v = 0.75 + 1.5 - 1 = 1.25 ; A = 1 -> psi = 0.3 * 0.75 = 0.225 ; eps_v = 1.5 -> e = 0.3375
    #   ALIF v = 0.4 + 0.8 = 1.2 ; b = 0 -> A = 1 ; psi' = 0.24 ; eps_a = 0.24 * 1 + 0.8 * 0 = 0.24
    #   e' = 0.24 (1.5 - 2 * 0.24) = 0.2448 ; it spikes (1.2 >= 1) ; eps_a = 0.24 * 1.5 + (0.8 - 0.48) * 0.24 = 0.4368
    # t=3: LIF v = 0.625 + 1.5 - 1 = 1.125 -> psi = 0.2625 ; eps_v = 1.75 -> e = 0.459375
    #   ALIF: v = 0.6 + 0.8 - 1 = 0.4 ; b = 0.8 * 0 + 1 = 1 -> A = 3 ; psi' = 0 (|0.4 - 3| > 1)
    #   e' = 0 ; then eps_a = 0 * 1.75 + (0.8 - 0) * 0.4368 = 0.34944
    expected = [[0.15, 0.24], [0.3375, 0.2448], [0.459375, 0.0]]
    assert torch.allclose(torch.tensor(traces, dtype=F64), torch.tensor(expected, dtype=F64))
    assert abs(float(rule.eps_a[0, 1, 2]) - 0.34944) < 1e-12


def test_spiking_eprop_learns_direction():
    g = torch.Generator().manual_seed(0)
    m = SpikingRNN(SpikingRNNConfig(n_in=2, n_hidden=6, n_out=1, beta=0.5, dtype="float64"), generator=g)
    x = (torch.rand(4, 15, 2, generator=g) < 0.3).double()
    y = torch.randn(4, 15, 1, generator=g, dtype=F64)
    rule = make_rule("eprop_spiking", m, feedback="random", generator=g)
    rule.run(x, y)
    assert m.weight.grad.isfinite().all() and (m.weight.grad.diagonal() == 0).all()


def test_spiking_config_bounds_and_rule_class():
    with pytest.raises(ConfigError):
        SpikingRNNConfig(alpha=1.0)
    with pytest.raises(ConfigError):
        SpikingRNNConfig(theta=0.0)
    with pytest.raises(ConfigError):
        SpikingRNNConfig(n_hidden=3, beta=(0.0, 1.0))
    assert SpikingRNN(SpikingRNNConfig(n_hidden=3, beta=(0.0, 1.0, 2.0))).beta.tolist() == [0.0, 1.0, 2.0]
    m = SpikingRNN(SpikingRNNConfig(n_hidden=3), generator=torch.Generator().manual_seed(0))
    rule = SpikingEProp(m)
    assert rule.loss_fn(torch.ones(1, 1), torch.zeros(1, 1)).item() == 0.5  # the squared error by default
    with pytest.raises(ConfigError):
        make_rule("eprop_spiking", m, feedback="sideways")
