"""The rate-network learning rules (brainlearn.rules.recurrent): exactness against autograd and each other, limits,
bad input, and make_rule's keywords."""

from __future__ import annotations

import math

import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig, online_gradients
from brainlearn.rules.bplambda import BPLambda, BPLambdaConfig
from brainlearn.rules.recurrent import (
    RECURRENT_RULES,
    BPTTConfig,
    KeRNLConfig,
    LeakyRNN,
    LeakyRNNConfig,
    LinearSynthesiser,
    make_rule,
    soft_cross_entropy,
)
from brainlearn.rules.sg_rnn import SyntheticGradientRNN, SyntheticGradientRNNConfig
from brainlearn.runtime import make_generator

F64 = torch.float64


def _setup(alpha=0.7, n=8, T=30, B=3, dtype=F64, gain=0.9, seed=0):
    g = torch.Generator().manual_seed(seed)
    name = "float64" if dtype == F64 else "float32"
    config = LeakyRNNConfig(n_in=2, n_hidden=n, n_out=2, alpha=alpha, gain=gain, dtype=name)
    model = LeakyRNN(config, generator=g)
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
    net = SyntheticGradientRNN(SyntheticGradientRNNConfig(window=3, sg_scale=0.5), cell, readout, synth2)
    net.accumulate_gradients(x, lambda out, t0: soft_cross_entropy(out, y[:, t0:t0 + out.shape[1]]).sum(1).mean())
    theirs = [torch.cat([cell.weight_hh.grad, cell.weight_ih.grad, cell.bias_ih.grad[:, None]], 1),
              readout.weight.grad, readout.bias.grad, synth2.layers[0].weight.grad]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_dni_with_a_cerebellum_is_the_ccrnn_synthesiser():
    """cerebellum=(widths): an MLP synthesiser (brainlearn.nn.Synthesiser) drawn from the rule's generator, zero
    at first, so its first update is the linear one's; it then learns its own hidden layers."""
    from brainlearn.nn import Synthesiser

    model, x, y, _ = _setup(alpha=1.0, T=9)
    rules = [make_rule("dni", model, cerebellum=(16, 16), generator=torch.Generator().manual_seed(s)) for s in (4, 4)]
    assert all(isinstance(r.synthesiser, Synthesiser) for r in rules)
    assert all(torch.equal(a, b) for a, b in zip(rules[0].synthesiser.parameters(), rules[1].synthesiser.parameters()))
    assert rules[0].synthesiser.layers[0].weight.dtype == F64
    linear = _grads(model, "dni", x, y, window=3)
    cerebellar = _grads(model, "dni", x, y, window=3, cerebellum=(16, 16), generator=torch.Generator().manual_seed(4))
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(linear, cerebellar))
    rule = rules[0]
    rule.run(x, y)
    assert rule.synthesiser.layers[0].weight.grad is not None     # its hidden layers get gradients too
    with pytest.raises(ConfigError, match="cerebellum"):
        make_rule("dni", model, cerebellum=(0,))


def test_bplambda_equals_the_online_learner():
    model, x, y, _ = _setup(alpha=1.0, T=10)
    synth = LinearSynthesiser(8, F64)
    rule = make_rule("bplambda", model, synthesiser=synth, beta=1.0, lam=0.5, sequence_length=10)
    for q in rule.parameters():
        q.grad = None
    rule.run(x, y)
    ours = [q.grad.clone() for q in rule.parameters()]
    ref = OnlineRNN(OnlineRNNConfig(2, 8, 2, cell="rnn")).double()
    synth2 = LinearSynthesiser(8, F64)
    with torch.no_grad():
        w = model.cell.weight
        ref.cell.w_rec.copy_(w[:, :8])
        ref.cell.w_in.copy_(w[:, 8:10])
        ref.cell.bias.copy_(w[:, 10])
        ref.readout.load_state_dict(model.readout.state_dict())
    learner = BPLambda(synth2, BPLambdaConfig(gamma=1.0, lam=0.5))
    online_gradients(ref, x, y, torch.ones(10, dtype=torch.bool), soft_cross_entropy, learner=learner, beta=1.0)
    learner.accumulate_grad()
    theirs = [torch.cat([ref.cell.w_rec.grad, ref.cell.w_in.grad, ref.cell.bias.grad[:, None]], 1),
              ref.readout.weight.grad, ref.readout.bias.grad, synth2.layers[0].weight.grad, synth2.layers[0].bias.grad]
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


RATE_RULES = sorted(n for n, r in RECURRENT_RULES.items() if r.model_type is LeakyRNN)


@pytest.mark.parametrize("name", RATE_RULES)
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


@pytest.mark.parametrize("name", sorted(RECURRENT_RULES))
def test_make_rule_takes_the_same_keywords_for_every_rule(name):
    model, _, _, g = _setup(dtype=torch.float32, T=2)
    if name == "eprop_spiking":
        from brainlearn.rules.spiking import SpikingRNN, SpikingRNNConfig
        model = SpikingRNN(SpikingRNNConfig(n_in=2, n_hidden=8, n_out=2), generator=g)
    rule = make_rule(name, model, loss_fn="mse", generator=g)
    assert rule.config == type(rule.config)()
    assert isinstance(make_rule(name, model, rule.config), RECURRENT_RULES[name])


def test_make_rule_names_what_it_accepts():
    model, _, _, g = _setup(T=2)
    assert make_rule("bptt", model, window=10).window == 10
    assert make_rule("bptt", model, BPTTConfig(window=10)).update_interval == 10
    assert make_rule("kernl", model, KeRNLConfig(sigma=0.1), lr=0.0).config == KeRNLConfig(sigma=0.1, lr=0.0)
    with pytest.raises(ConfigError, match="window"):
        make_rule("rtrl", model, window=10)
    with pytest.raises(ConfigError, match="use 'lr'"):
        make_rule("kernl", model, kernl_lr=1e-3)
    with pytest.raises(ConfigError, match="synthesiser"):
        make_rule("rtrl", model, synthesiser=LinearSynthesiser(8, F64))
    with pytest.raises(ConfigError):
        make_rule("bptt", model, KeRNLConfig())
    with pytest.raises(ConfigError):
        make_rule("bptt", model, window=0)
    with pytest.raises(ConfigError):
        make_rule("dni", model, train_readout=False)


@pytest.mark.parametrize("n_out", [1, 3, 17])
def test_the_trace_contraction_equals_the_sum_over_the_batch(n_out):
    """Σ_b L_bi E_bij with L = e F, by one matrix product over the flattened trace (n_out <= 16) or by einsum,
    equals the direct sum over the batch."""
    from brainlearn.rules.rnn_base import contract_trace

    g = torch.Generator().manual_seed(n_out)
    B, n, P = 5, 7, 10
    e = torch.randn(B, n_out, generator=g, dtype=torch.float64)
    F = torch.randn(n_out, n, generator=g, dtype=torch.float64)
    trace = torch.randn(B, n, P, generator=g, dtype=torch.float64)
    L = e @ F
    direct = sum(L[b][:, None] * trace[b] for b in range(B))
    assert torch.allclose(contract_trace(e, F, trace), direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["eprop", "rflo"])
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_the_compiled_single_pass_equals_the_torch_path(name, dtype, tol, monkeypatch):
    """With numba, e-prop and RFLO decay, add and contract their trace in one compiled pass; the updates and
    traces equal the torch path's up to rounding."""
    pytest.importorskip("numba")
    from brainlearn.rules import _trace_kernels

    runs = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("BRAINLEARN_NUMBA", mode)
        g = make_generator(0)
        net = LeakyRNN(LeakyRNNConfig(n_in=3, n_hidden=12, n_out=2, alpha=0.7, dtype=dtype), generator=g)
        rule = make_rule(name, net, generator=g)
        x = torch.randn(5, 30, 3, generator=torch.Generator().manual_seed(1)).to(net.cell.weight.dtype)
        y = torch.softmax(torch.randn(5, 30, 2, generator=torch.Generator().manual_seed(2)), -1).to(x.dtype)
        rule.run(x, y)
        runs[mode] = (net.cell.weight.grad, net.readout.weight.grad, rule.trace, _trace_kernels.fused(rule.trace))
    assert runs["1"][3] and not runs["0"][3]
    for fused, plain in zip(runs["1"][:3], runs["0"][:3]):
        torch.testing.assert_close(fused, plain, rtol=tol, atol=tol * float(plain.abs().max()))


def test_every_rule_declares_what_it_asks_of_a_brain():
    from brainlearn.rules.recurrent import RECURRENT_RULES, EPropConfig, RFLOConfig, plausibility

    attrs = {name: plausibility(name) for name in RECURRENT_RULES}
    assert {n for n, a in attrs.items() if a.backward_sweep} == {"bptt", "dni"}      # the rest are causal
    assert {n for n, a in attrs.items() if not a.local_update} == {"rtrl", "uoro"}   # the influence matrix
    assert attrs["rflo"].weight_transport == "none" and attrs["eprop"].weight_transport == "exact"
    assert plausibility("eprop", EPropConfig(feedback="random")).weight_transport == "none"
    assert plausibility("rflo", RFLOConfig(feedback="symmetric")).weight_transport == "exact"
    with pytest.raises(ConfigError, match="unknown learning rule"):
        plausibility("hebb")
