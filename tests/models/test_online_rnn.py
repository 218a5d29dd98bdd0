"""The online RNN (vanilla and LSTM cells with analytic Jacobians, online learning with a given learning
signal) against autograd: oracle signal = BPTT, no signal = one-step truncation; the inputs it rejects."""

import pytest
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.online_rnn import (
    OnlineRNN,
    OnlineRNNConfig,
    bptt_gradients,
    future_gradients,
    online_gradients,
)
from brainlearn.nn import Synthesiser, SynthesiserConfig

B, T, N_IN, N_HID, N_OUT = 3, 6, 4, 5, 2


def mse(out, target):
    return 0.5 * (out - target).pow(2).sum(1)


def setup(cell="rnn", seed=0):
    g = torch.Generator().manual_seed(seed)
    model = OnlineRNN(OnlineRNNConfig(N_IN, N_HID, N_OUT, cell=cell, spectral_radius=1.1), generator=g).double()
    synth = Synthesiser(SynthesiserConfig(model.state_dim)).double()
    with torch.no_grad():  # a non-trivial synthesiser (the real one starts at zero)
        for p in synth.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    x = torch.randn(B, T, N_IN, generator=g, dtype=torch.float64)
    targets = torch.randn(B, T, N_OUT, generator=g, dtype=torch.float64)
    mask = torch.tensor([False, True, False, False, True, True])
    return model, synth, x, targets, mask


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_analytic_jacobians_match_autograd(cell):
    model, _, x, _, _ = setup(cell)
    s = torch.randn(B, model.state_dim, dtype=torch.float64)
    jac = model.cell.jacobian(s, x[:, 0])
    for b in range(B):
        ref = torch.autograd.functional.jacobian(lambda z, b=b: model.cell(z[None], x[b:b + 1, 0])[0], s[b])
        torch.testing.assert_close(jac[b], ref, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_online_with_true_signal_equals_bptt(cell):
    """Criterion 1e: learning signal ∂ℓ_t/∂s_t + G_t applied one step at a time gives BPTT's gradient."""
    model, _, x, targets, mask = setup(cell)
    loss = bptt_gradients(model, x, targets, mask, mse)
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    true = future_gradients(model, x, targets, mask, mse)
    out = online_gradients(model, x, targets, mask, mse, signal=true[1:], beta=1.0)
    assert out["loss"] == pytest.approx(loss, rel=1e-12)
    for p, r in zip(model.parameters(), ref):
        torch.testing.assert_close(p.grad, r, atol=1e-10, rtol=1e-8)


def test_online_without_signal_is_one_step_truncation():
    model, _, x, targets, mask = setup("rnn")
    online_gradients(model, x, targets, mask, mse, beta=0.0)
    g_online = model.cell.w_rec.grad.clone()
    model.zero_grad(set_to_none=True)
    bptt_gradients(model, x, targets, mask, mse)
    assert not torch.allclose(g_online, model.cell.w_rec.grad)  # truncation loses the credit through time


def test_bad_inputs():
    model = OnlineRNN(OnlineRNNConfig(3, 4, 2, cell="rnn"))
    with pytest.raises(ShapeError, match=r"\(B, T, 3\)"):
        model(torch.zeros(2, 5, 4))
    with pytest.raises(ShapeError, match="mask"):
        online_gradients(model, torch.zeros(2, 5, 3), torch.zeros(2, 5, 2), torch.ones(4, dtype=torch.bool), mse)
    with pytest.raises(ConfigError, match="cell"):
        OnlineRNNConfig(3, 4, 2, cell="gru")
