"""Exactness of accumulate BP(λ) against autograd (forward view = backward view, λ = 0 = one-step DNI, λ = 1 =
true gradient), its constant memory, and the inputs it rejects."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig, future_gradients, online_gradients
from brainlearn.nn import Synthesiser, SynthesiserConfig
from brainlearn.rules.bplambda import BPLambda, BPLambdaConfig

B, T, N_IN, N_HID, N_OUT = 3, 6, 4, 5, 2


def mse(out, target):
    return 0.5 * (out - target).pow(2).sum(1)


def setup(cell="rnn", hidden=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    model = OnlineRNN(OnlineRNNConfig(N_IN, N_HID, N_OUT, cell=cell, spectral_radius=1.1), generator=g).double()
    synth = Synthesiser(SynthesiserConfig(model.state_dim, hidden)).double()
    with torch.no_grad():  # a non-trivial synthesiser (the real one starts at zero)
        for p in synth.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    x = torch.randn(B, T, N_IN, generator=g, dtype=torch.float64)
    targets = torch.randn(B, T, N_OUT, generator=g, dtype=torch.float64)
    mask = torch.tensor([False, True, False, False, True, True])
    return model, synth, x, targets, mask


def trajectory(model, x):
    """States s_0..s_T (T+1, B, n), detached."""
    s = model.initial_state(x)
    states = [s]
    for t in range(x.shape[1]):
        s = model.cell(s, x[:, t]).detach()
        states.append(s)
    return states


def immediate_grads(model, states, targets, mask):
    """∂ℓ_t/∂s_t per sample for t = 1..T (index t-1), zeros where there is no target."""
    out = []
    for t in range(len(states) - 1):
        s = states[t + 1].clone().requires_grad_()
        if mask[t]:
            out.append(torch.autograd.grad(mse(model.readout(model.cell.output(s)), targets[:, t]).sum(), s)[0])
        else:
            out.append(torch.zeros_like(s))
    return out


def vjp(model, s_prev, x_t, v):
    """v J_t by autograd (independent of the cells' analytic Jacobians)."""
    s_prev = s_prev.clone().requires_grad_()
    return torch.autograd.grad(model.cell(s_prev, x_t), s_prev, v)[0]


def lambda_returns(model, synth, x, states, dls, gamma, lam):
    """Backward recursion G^λ_t = (∂ℓ_{t+1} + γ[(1-λ) g(s_{t+1}) + λ G^λ_{t+1}]) J_{t+1}, G^λ_T = 0."""
    steps = x.shape[1]
    G = [None] * (steps + 1)
    G[steps] = torch.zeros_like(states[0])
    with torch.no_grad():
        preds = [synth(s) for s in states]
    preds[steps] = torch.zeros_like(preds[steps])
    for t in range(steps - 1, -1, -1):
        v = dls[t] + gamma * ((1 - lam) * preds[t + 1] + lam * G[t + 1])
        G[t] = vjp(model, states[t], x[:, t], v)
    return G


def regression_update(synth, states, returns):
    """Forward view Σ_t (G_t - g(s_t)) ∂g(s_t)/∂θ / B for t = 0..T-1, by autograd, as [W | b]."""
    out = synth.layers[-1]
    total = sum(((returns[t] - synth(states[t])).detach() * synth(states[t])).sum()
                for t in range(len(states) - 1)) / states[0].shape[0]
    gw, gb = torch.autograd.grad(total, [out.weight, out.bias])
    return torch.cat([gw, gb[:, None]], 1)


def run_learner(model, synth, x, targets, mask, gamma, lam):
    learner = BPLambda(synth, BPLambdaConfig(gamma=gamma, lam=lam, clip=None))
    online_gradients(model, x, targets, mask, mse, learner=learner, train_rnn=False)
    return learner.update


@pytest.mark.parametrize("cell,hidden", [("rnn", ()), ("lstm", (7,))])
def test_lambda_zero_is_one_step_dni(cell, hidden):
    """Criterion 1c: BP(0) == one-step DNI (target (∂ℓ_t + γ g(s_t)) J_t, regression by autograd)."""
    model, synth, x, targets, mask = setup(cell, hidden)
    gamma = 0.8
    states = trajectory(model, x)
    dls = immediate_grads(model, states, targets, mask)
    out = synth.layers[-1]
    loss = 0
    for t in range(T):
        with torch.no_grad():
            nxt = torch.zeros_like(states[t + 1]) if t == T - 1 else synth(states[t + 1])
        target = vjp(model, states[t], x[:, t], dls[t] + gamma * nxt).detach()
        loss = loss + 0.5 * (synth(states[t]) - target).pow(2).sum() / B
    gw, gb = torch.autograd.grad(loss, [out.weight, out.bias])
    dni = -torch.cat([gw, gb[:, None]], 1)
    torch.testing.assert_close(run_learner(model, synth, x, targets, mask, gamma, 0.0), dni, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell,hidden,gamma,lam", [("rnn", (), 0.9, 0.7), ("lstm", (), 1.0, 0.5),
                                                     ("lstm", (6,), 0.9, 1.0), ("rnn", (6,), 1.0, 0.0)])
def test_backward_view_equals_forward_view(cell, hidden, gamma, lam):
    """Criterion 1d: with θ frozen, Σ_t δ_t e_t == Σ_t (G^λ_t - g(s_t)) ∇g(s_t)."""
    model, synth, x, targets, mask = setup(cell, hidden)
    states = trajectory(model, x)
    returns = lambda_returns(model, synth, x, states, immediate_grads(model, states, targets, mask), gamma, lam)
    torch.testing.assert_close(run_learner(model, synth, x, targets, mask, gamma, lam),
                               regression_update(synth, states, returns), atol=1e-9, rtol=1e-7)


@settings(max_examples=8, deadline=None)
@given(gamma=st.floats(0, 1), lam=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_backward_view_equals_forward_view_for_any_gamma_lambda(gamma, lam, seed):
    model, synth, x, targets, mask = setup("lstm", seed=seed)
    states = trajectory(model, x)
    returns = lambda_returns(model, synth, x, states, immediate_grads(model, states, targets, mask), gamma, lam)
    torch.testing.assert_close(run_learner(model, synth, x, targets, mask, gamma, lam),
                               regression_update(synth, states, returns), atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_lambda_one_return_is_the_bptt_gradient(cell):
    """Criterion 1d: for λ = γ = 1 the λ-return is autograd's BPTT future gradient, and BP(1) regresses onto it."""
    model, synth, x, targets, mask = setup(cell)
    states = trajectory(model, x)
    returns = lambda_returns(model, synth, x, states, immediate_grads(model, states, targets, mask), 1.0, 1.0)
    true = future_gradients(model, x, targets, mask, mse)
    torch.testing.assert_close(torch.stack(returns), true, atol=1e-5, rtol=0)
    torch.testing.assert_close(run_learner(model, synth, x, targets, mask, 1.0, 1.0),
                               regression_update(synth, states, list(true)), atol=1e-5, rtol=0)


def test_trace_memory_is_constant_in_sequence_length():
    sizes = []
    for steps in (5, 50):
        g = torch.Generator().manual_seed(0)
        model = OnlineRNN(OnlineRNNConfig(N_IN, N_HID, N_OUT, cell="lstm"), generator=g)
        learner = BPLambda(Synthesiser(SynthesiserConfig(model.state_dim)))
        x = torch.randn(B, steps, N_IN, generator=g)
        mask = torch.zeros(steps, dtype=torch.bool)
        mask[-1] = True
        online_gradients(model, x, torch.zeros(B, steps, N_OUT), mask, mse, learner=learner)
        sizes.append(learner.trace_bytes())
    assert sizes[0] == sizes[1] == B * 10 * 10 * 11 * 4


def test_accumulate_grad_and_clip():
    model, synth, x, targets, mask = setup("rnn")
    learner = BPLambda(synth, BPLambdaConfig(clip=1e-3))
    online_gradients(model, x, targets, mask, mse, learner=learner, train_rnn=False)
    assert learner.update.norm() <= T * 1e-3 + 1e-12
    update = learner.update.clone()
    learner.accumulate_grad()
    out = synth.layers[-1]
    torch.testing.assert_close(torch.cat([out.weight.grad, out.bias.grad[:, None]], 1), -update)
    assert learner.update.abs().sum() == 0


def test_bad_inputs():
    synth = Synthesiser(SynthesiserConfig(4))
    with pytest.raises(ConfigError, match="lam"):  # gamma and lam lie in [0, 1]: declared bounds of the config
        BPLambdaConfig(lam=1.5)
    with pytest.raises(ConfigError, match="clip"):
        BPLambdaConfig(clip=0)
    with pytest.raises(ConfigError, match="Synthesiser"):
        BPLambda(torch.nn.Linear(4, 4))
    with pytest.raises(ConfigError, match="context"):
        BPLambda(Synthesiser(SynthesiserConfig(4, (3,), context_dim=2)))
    learner = BPLambda(synth)
    with pytest.raises(ConfigError, match="begin"):
        learner.step(torch.zeros(2, 4), torch.zeros(2, 4, 4), None)
    with pytest.raises(ShapeError, match=r"\(B, 4\)"):
        learner.begin(torch.zeros(2, 5))
    learner.begin(torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="jacobian"):
        learner.step(torch.zeros(2, 4), torch.zeros(2, 4, 3), None)
    with pytest.raises(ShapeError, match="NaN"):
        learner.step(torch.zeros(2, 4), torch.full((2, 4, 4), float("nan")), None)


def test_rules_do_not_import_nn():
    """``nn`` builds on ``rules`` (the MLP's feedback-alignment layers), so ``rules`` must not import ``nn``."""
    import subprocess
    import sys

    code = ("import sys, brainlearn.rules.bplambda; "
            "sys.exit(any(m.startswith('brainlearn.nn') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
