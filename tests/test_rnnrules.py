"""The recurrent learning rules (brainlearn.rules.recurrent / .spiking) and their tasks (brainlearn.data.rnn_tasks)."""

from __future__ import annotations

import math

import pytest
import torch

from brainlearn.data import rnn_tasks as tasks
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.online_rnn import OnlineRNN, online_gradients
from brainlearn.rules.bplambda import BPLambda
from brainlearn.rules.recurrent import RULES, LeakyRNN, LinearSynthesiser, make_rule, soft_cross_entropy
from brainlearn.rules.sg_rnn import SyntheticGradientRNN
from brainlearn.rules.spiking import SpikingRNN, pseudo_derivative

F64 = torch.float64


def _setup(alpha=0.7, n=8, T=30, B=3, dtype=F64, gain=0.9, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = LeakyRNN(2, n, 2, alpha=alpha, gain=gain, generator=g, dtype=dtype)
    x = torch.randn(B, T, 2, generator=g, dtype=torch.float64).to(dtype)
    p = torch.rand(B, T, 1, generator=g, dtype=torch.float64).to(dtype)
    return model, x, torch.cat([p, 1 - p], -1), g


def _grads(model, name, x, y, **kw):
    for q in model.parameters():
        q.grad = None
    make_rule(name, model, **kw).run(x, y)
    return [torch.zeros_like(q) if q.grad is None else q.grad.clone() for q in model.parameters()]


def _autograd(model, x, y):
    for q in model.parameters():
        q.grad = None
    out, _ = model(x)
    soft_cross_entropy(out, y).sum(1).mean().backward()
    return [q.grad.clone() for q in model.parameters()]


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0))


def test_rtrl_equals_autograd_bptt_float64():
    model, x, y, _ = _setup(n=8, T=30)
    ref = _autograd(model, x, y)
    for name in ("rtrl", "bptt"):
        for a, b in zip(_grads(model, name, x, y), ref):
            assert _rel(a, b) < 1e-6, name


def test_truncated_bptt_over_whole_sequence_equals_full():
    model, x, y, _ = _setup(T=12)
    full = _grads(model, "bptt", x, y)
    for window in (12, 50):
        for a, b in zip(_grads(model, "bptt", x, y, window=window), full):
            assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    short = _grads(model, "bptt", x, y, window=3)
    assert _rel(short[0], full[0]) > 1e-3  # truncation changes the recurrent gradient


def test_uoro_mean_aligns_with_rtrl():
    model, x, y, g = _setup(n=8, T=10, B=1)
    exact = _grads(model, "rtrl", x, y)[0]
    draws = 2000
    mean = _grads(model, "uoro", x.expand(draws, -1, -1), y.expand(draws, -1, -1), generator=g)[0]
    assert _cos(mean, exact) > 0.95
    single = _grads(model, "uoro", x, y, generator=g)[0]
    assert _cos(single, exact) < _cos(mean, exact)


def test_eprop_and_rflo_limits():
    model, x, y, g = _setup(alpha=1.0)
    with torch.no_grad():
        model.cell.weight[:, :8].fill_diagonal_(0.0)
    eprop = _grads(model, "eprop", x, y)[0]
    rflo = make_rule("rflo", model)
    rflo.feedback_matrix = model.readout.weight.detach().clone()  # B = W_o^T
    for q in model.parameters():
        q.grad = None
    rflo.run(x, y)
    assert torch.allclose(eprop, model.cell.weight.grad, rtol=1e-12, atol=1e-14)
    # alpha = 1: the RFLO trace is the immediate influence D_t = phi'(h_t) a_hat_t
    rule = make_rule("rflo", model)
    rule.reset(3)
    rule.step(x[:, 0], y[:, 0])
    a, ahat, dphi = model.cell.terms(x[:, 1], rule.state)
    rule.step(x[:, 1], y[:, 1])
    assert torch.allclose(rule.trace, dphi[:, :, None] * ahat[:, None, :])


def test_eprop_equals_rtrl_for_a_diagonal_network():
    model, x, y, _ = _setup(alpha=0.6)
    with torch.no_grad():
        w = model.cell.weight[:, :8]
        w.copy_(torch.diag(torch.linspace(-0.8, 0.8, 8, dtype=F64)))
    assert _rel(_grads(model, "eprop", x, y)[0], _grads(model, "rtrl", x, y)[0]) < 1e-10


def test_dni_equals_the_synthetic_gradient_module():
    model, x, y, _ = _setup(alpha=1.0, T=9)
    synth = LinearSynthesiser(8, F64)
    with torch.no_grad():
        synth.layers[0].weight.copy_(0.1 * torch.randn(8, 8, generator=torch.Generator().manual_seed(3), dtype=F64))
    ours = _grads(model, "dni", x, y, window=3, sg_scale=0.5, synthesiser=synth) + [synth.layers[0].weight.grad]
    # the existing module on an nn.RNNCell holding the same weights
    cell = torch.nn.RNNCell(2, 8, dtype=F64)
    readout = torch.nn.Linear(8, 2, dtype=F64)
    synth2 = LinearSynthesiser(8, F64)
    with torch.no_grad():
        w = model.cell.weight
        cell.weight_hh.copy_(w[:, :8])
        cell.weight_ih.copy_(w[:, 8:10])
        cell.bias_ih.copy_(w[:, 10])
        cell.bias_hh.zero_()
        readout.load_state_dict(model.readout.state_dict())
        synth2.load_state_dict(synth.state_dict())
    net = SyntheticGradientRNN(cell, readout, synth2, window=3, sg_scale=0.5)
    net.accumulate_gradients(x, lambda out, t0: soft_cross_entropy(out, y[:, t0:t0 + out.shape[1]]).sum(1).mean())
    theirs = [torch.cat([cell.weight_hh.grad, cell.weight_ih.grad, cell.bias_ih.grad[:, None]], 1),
              readout.weight.grad, readout.bias.grad, synth2.layers[0].weight.grad]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_bplambda_equals_the_online_learner():
    model, x, y, _ = _setup(alpha=1.0, T=10)
    synth = LinearSynthesiser(8, F64)
    rule = make_rule("bplambda", model, synthesiser=synth, beta=1.0, lam=0.5, sequence_length=10)
    for q in rule.parameters():
        q.grad = None
    rule.run(x, y)
    ours = [q.grad.clone() for q in rule.parameters()]
    ref = OnlineRNN(2, 8, 2, cell="rnn").double()
    synth2 = LinearSynthesiser(8, F64)
    with torch.no_grad():
        w = model.cell.weight
        ref.cell.w_rec.copy_(w[:, :8])
        ref.cell.w_in.copy_(w[:, 8:10])
        ref.cell.bias.copy_(w[:, 10])
        ref.readout.load_state_dict(model.readout.state_dict())
    learner = BPLambda(synth2, gamma=1.0, lam=0.5)
    online_gradients(ref, x, y, torch.ones(10, dtype=torch.bool), soft_cross_entropy, learner=learner, beta=1.0)
    learner.accumulate_grad()
    theirs = [torch.cat([ref.cell.w_rec.grad, ref.cell.w_in.grad, ref.cell.bias.grad[:, None]], 1),
              ref.readout.weight.grad, ref.readout.bias.grad, synth2.layers[0].weight.grad, synth2.layers[0].bias.grad]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_float32_shapes_and_finite(name):
    model, x, y, g = _setup(dtype=torch.float32, T=6)
    kw = {"generator": g} if name in ("uoro", "kernl") else {}
    grads = _grads(model, name, x, y, **kw)
    assert all(q.dtype == torch.float32 and q.isfinite().all() for q in grads)
    if name != "readout":
        assert grads[0].abs().sum() > 0


def test_bad_input():
    model, x, y, _ = _setup(T=4)
    rule = make_rule("rtrl", model)
    with pytest.raises(ShapeError):
        rule.run(x[:, :0], y[:, :0])
    with pytest.raises(ShapeError):
        rule.run(torch.full_like(x, math.nan), y)
    with pytest.raises(ShapeError):
        rule.run(x[..., :1], y)
    with pytest.raises(ShapeError):
        rule.run(x, y[:2])
    with pytest.raises(ConfigError):
        make_rule("bogus", model)
    with pytest.raises(ConfigError):
        make_rule("eprop", model, feedback="sideways")
    with pytest.raises(ConfigError):
        make_rule("eprop_spiking", model)


def test_lif_alif_pseudo_derivative_and_traces_by_hand():
    """Two neurons (one LIF, one ALIF), one input, three steps, computed by hand."""
    m = SpikingRNN(1, 2, 1, alpha=0.5, rho=0.8, kappa=0.0, theta=1.0, beta=torch.tensor([0.0, 2.0]), gamma=0.3,
                   dtype=F64)
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
    m = SpikingRNN(2, 6, 1, beta=0.5, generator=g, dtype=F64)
    x = (torch.rand(4, 15, 2, generator=g) < 0.3).double()
    y = torch.randn(4, 15, 1, generator=g, dtype=F64)
    rule = make_rule("eprop_spiking", m, feedback="random", generator=g)
    rule.run(x, y)
    assert m.weight.grad.isfinite().all() and (m.weight.grad.diagonal() == 0).all()


# ---- tasks -----------------------------------------------------------------------------------------
def test_add_task_floors_and_statistics():
    floors = tasks.add_task_floors((5, 9))
    assert [round(f, 3) for f in floors] == [0.662, 0.519, 0.454]
    g = torch.Generator().manual_seed(0)
    x, y, w = tasks.add_task(4, 2000, generator=g)
    assert x.shape == (4, 2000, 1) and y.shape == (4, 2000, 2) and bool((w == 1).all())
    p = y[..., 0]
    assert torch.allclose(p[:, 9:], 0.5 + 0.5 * x[:, 4:-5, 0] - 0.25 * x[:, :-9, 0])
    ce = -(y * torch.log(y.clamp_min(1e-12))).sum(-1).mean()  # the entropy of the true p: the last floor
    assert abs(float(ce) - floors[-1]) < 0.02
    with pytest.raises(ConfigError):
        tasks.add_task(1, 10, lags=(5,), coefs=(0.7,))
    with pytest.raises(ConfigError):
        tasks.add_task(1, 0)


def test_other_tasks():
    g = torch.Generator().manual_seed(1)
    x, y, w = tasks.flip_flop(2, 50, 2, 0.2, generator=g)
    last = torch.zeros(2, 2)
    for t in range(50):
        last = torch.where(x[:, t] != 0, x[:, t], last)
        assert torch.equal(y[:, t], last)
    x, y, w = tasks.delayed_nonmatch(3, 2, delay=2, generator=g)
    assert x.shape == (3, 10, 3) and w.sum() == 6
    match = (x[:, 0, :2].argmax(1) == x[:, 3, :2].argmax(1)).long()
    assert torch.equal(y[:, 4].argmax(1), match)
    x, y, w = tasks.sine_generation(2, 20, (10.0,), generator=g)
    assert torch.allclose(y[0, :, 0], 0.5 * torch.sin(2 * math.pi * torch.arange(20) / 10.0))
    x, y, w = tasks.sequential_digits(5, generator=g)
    assert x.shape == (5, 8, 8) and float(x.max()) <= 1 and w[:, -1].sum() == 5
    for name, task in tasks.TASKS.items():
        x, y, w = task.sample(2, 12, g)
        assert x.shape[-1] == task.n_in and y.shape[-1] == task.n_out, name
