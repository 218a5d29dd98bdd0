"""The compositional-learning networks: the leaky RNN and GRU against their equations, the selective SSM's
parallel scan against its sequential reference, causality, hidden states, seeded noise and bad settings."""

import numpy as np
import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.compositional import (
    CompositionalGRU,
    CompositionalGRUConfig,
    CompositionalNetworkConfig,
    CompositionalRNN,
    CompositionalRNNConfig,
    SelectiveSSM,
    SelectiveSSMConfig,
    build_network,
    parallel_scan,
    sequential_scan,
)


def test_parallel_scan_matches_sequential_scan_and_its_gradient():
    g = torch.Generator().manual_seed(0)
    for T in (1, 2, 7, 33):
        a = torch.rand(3, T, 5, 4, generator=g, dtype=torch.float64).requires_grad_()
        b = torch.randn(3, T, 5, 4, generator=g, dtype=torch.float64).requires_grad_()
        fast, slow = parallel_scan(a, b), sequential_scan(a, b)
        assert torch.allclose(fast, slow, atol=1e-12)
        w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
        ga = torch.autograd.grad((fast * w).sum(), (a, b), allow_unused=True)   # a_0 multiplies h_{-1} = 0
        gs = torch.autograd.grad((slow * w).sum(), (a, b))
        ga = [torch.zeros_like(y) if x is None else x for x, y in zip(ga, gs)]
        assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(ga, gs))


def test_ssm_parallel_and_sequential_scans_give_the_same_network():
    x = torch.randn(2, 19, 37, generator=torch.Generator().manual_seed(3))
    nets = [SelectiveSSM(SelectiveSSMConfig(n_in=37, n_hidden=8, n_out=17, n_layers=2, scan=s),
                         generator=torch.Generator().manual_seed(1)) for s in ("parallel", "sequential")]
    (y1, h1), (y2, h2) = nets[0](x), nets[1](x)
    assert torch.allclose(y1, y2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5) and h1.shape == (2, 19, 8)


def test_ssm_is_causal():
    net = SelectiveSSM(SelectiveSSMConfig(n_in=37, n_hidden=8, n_out=17), generator=torch.Generator().manual_seed(1))
    x = torch.randn(1, 12, 37, generator=torch.Generator().manual_seed(2))
    y = x.clone()
    y[:, 8:] += 1.0
    assert torch.allclose(net(x)[1][:, :8], net(y)[1][:, :8], atol=1e-6)


def test_compositional_rnn_follows_its_equation():
    net = CompositionalRNN(CompositionalRNNConfig(n_in=3, n_hidden=4, n_out=2, dt=20, tau=100, sigma_rec=0.0,
                                                  activation="relu"), generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1))
    _, h = net(x)
    a = np.exp(-0.2)
    prev = torch.zeros(2, 4)
    for t in range(5):
        prev = a * prev + (1 - a) * torch.relu(net.input(x[:, t]) + net.recurrent(prev))
        assert torch.allclose(h[:, t], prev, atol=1e-6)


def test_compositional_gru_reduces_to_its_equation():
    net = CompositionalGRU(CompositionalGRUConfig(n_in=3, n_hidden=4, n_out=2, dt=100, tau=100, sigma_rec=0.0),
                           generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1))
    _, h = net(x)
    W_u, W_r, W_c = net.recurrent.weight.split(4)
    d = net.input(x[:, 0])
    u, r = torch.sigmoid(d[:, :4]), torch.sigmoid(d[:, 4:8])      # h_0 = 0
    assert torch.allclose(h[:, 0], (1 - np.exp(-1)) * u * torch.tanh(d[:, 8:]), atol=1e-6)
    assert r.shape == (2, 4)


@pytest.mark.parametrize("arch", ["rnn", "gru", "ssm"])
def test_networks_expose_hidden_states_and_input_layer(arch):
    net = build_network(CompositionalNetworkConfig(architecture=arch, n_in=37, n_out=17, n_hidden=8),
                        generator=torch.Generator().manual_seed(0))
    y, h = net(torch.zeros(3, 6, 37), noise=torch.Generator().manual_seed(1))
    assert y.shape == (3, 6, 17) and h.shape == (3, 6, 8)
    assert {id(p) for p in net.input_parameters()} == {id(p) for p in net.input.parameters()}
    with pytest.raises(ShapeError, match="inputs"):
        net(torch.zeros(3, 6, 36))


def test_recurrent_noise_is_seeded():
    net = CompositionalRNN(CompositionalRNNConfig(n_in=3, n_hidden=4, n_out=2, sigma_rec=0.1),
                           generator=torch.Generator().manual_seed(0))
    x = torch.ones(1, 4, 3)
    run = [net(x, noise=torch.Generator().manual_seed(s))[1] for s in (5, 5, 6)]
    assert torch.equal(run[0], run[1]) and not torch.equal(run[0], run[2])


def test_networks_reject_bad_settings():
    with pytest.raises(ConfigError, match="activation"):
        CompositionalRNN(CompositionalRNNConfig(n_in=3, n_hidden=4, n_out=2, activation="sigmoid"))
    with pytest.raises(ConfigError, match="architecture"):
        build_network(CompositionalNetworkConfig(architecture="lstm", n_in=3, n_out=2, n_hidden=4))
    with pytest.raises(ConfigError, match="same shape"):
        parallel_scan(torch.zeros(1, 3, 2), torch.zeros(1, 4, 2))
