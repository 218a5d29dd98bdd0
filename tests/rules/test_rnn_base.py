"""The leaky rate network, the losses and the rule interface the recurrent rules share (brainlearn.rules.rnn_base)."""

from __future__ import annotations

import math

import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.rules.rnn_base import (
    LOSSES,
    LeakyCell,
    LeakyCellConfig,
    LeakyRNN,
    LeakyRNNConfig,
    LearningRule,
    add_grad,
    check_inputs,
    random_feedback,
)


def test_leaky_rnn_is_its_cell_step_by_step():
    g = torch.Generator().manual_seed(0)
    model = LeakyRNN(LeakyRNNConfig(n_in=2, n_hidden=5, n_out=3, alpha=0.6, gain=0.9, dtype="float64"), generator=g)
    assert model.cell.weight.dtype == torch.float64 and model.cell.weight.shape == (5, 8)
    w_rec = model.cell.w_rec.detach()
    assert torch.allclose(w_rec @ w_rec.T, 0.81 * torch.eye(5, dtype=torch.float64))  # orthogonal times gain
    x = torch.randn(4, 6, 2, generator=g, dtype=torch.float64)
    y, states = model(x)
    a = torch.zeros(4, 5, dtype=torch.float64)
    for t in range(6):
        h = torch.cat([a, x[:, t], torch.ones(4, 1, dtype=torch.float64)], 1) @ model.cell.weight.T
        a = 0.4 * a + 0.6 * torch.tanh(h)
        assert torch.allclose(states[:, t], a)
    assert torch.allclose(y, model.readout(states))
    a1, _, dphi = model.cell.terms(x[:, 0], torch.zeros(4, 5, dtype=torch.float64))
    jac = torch.func.jacrev(lambda s: model.cell(x[:1, 1], s))(a1[:1])[0, :, 0]
    assert torch.allclose(model.cell.jacobian(model.cell.terms(x[:1, 1], a1[:1])[2])[0], jac)


def test_same_generator_same_weights_and_configs_bound_once():
    config = LeakyRNNConfig(n_in=1, n_hidden=4, n_out=2)
    a = LeakyRNN(config, generator=torch.Generator().manual_seed(3))
    b = LeakyRNN(config, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert isinstance(LeakyCell(LeakyCellConfig(n_in=3, n_hidden=2)).weight, torch.nn.Parameter)
    for bad in ({"alpha": 0.0}, {"alpha": 1.5}, {"n_hidden": 0}, {"n_out": 0}, {"gain": 0.0}, {"dtype": "float16"}):
        with pytest.raises(ConfigError):
            LeakyRNNConfig(**bad)
    with pytest.raises(ConfigError):
        LeakyRNN(LeakyCellConfig())  # a cell's config has no readout


def test_check_inputs_and_shared_helpers():
    model = LeakyRNN(LeakyRNNConfig(n_in=2, n_hidden=3, n_out=2))
    x = torch.zeros(2, 4, 2)
    check_inputs(model, x, torch.zeros(2, 4, 2), torch.ones(2, 4))
    for bad in (x[:, :0], x[..., :1], torch.full_like(x, math.nan)):
        with pytest.raises(ShapeError):
            check_inputs(model, bad)
    with pytest.raises(ShapeError):
        check_inputs(model, x, torch.zeros(2, 3, 2))
    with pytest.raises(ShapeError):
        check_inputs(model, x, weights=torch.ones(2, 3))
    p = torch.nn.Parameter(torch.zeros(2))
    add_grad(p, torch.ones(2))
    add_grad(p, torch.ones(2))
    assert p.grad.tolist() == [2.0, 2.0]
    b = random_feedback(model, torch.Generator().manual_seed(0))
    assert b.shape == (2, 3) and b.dtype == model.readout.weight.dtype
    assert set(LOSSES) == {"cross_entropy", "mse"}


def test_the_interface_checks_its_model_loss_and_order():
    model = LeakyRNN(LeakyRNNConfig(n_in=1, n_hidden=3, n_out=2))
    with pytest.raises(ConfigError):
        LearningRule(torch.nn.Linear(1, 1))
    with pytest.raises(ConfigError):
        LearningRule(model, loss_fn="hinge")
    rule = LearningRule(model)
    with pytest.raises(ConfigError):
        rule.step(torch.zeros(1, 1), torch.zeros(1, 2))
    with pytest.raises(ConfigError):
        rule.reset(0)
