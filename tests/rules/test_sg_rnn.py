"""Exactness of the truncated-BPTT + synthetic-gradient trainer against autograd."""

import pytest
import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.nn import Synthesiser, SynthesiserConfig, SyntheticGradientRNN, SyntheticGradientRNNConfig

CELLS = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}
B, T, I, H, O = 3, 7, 2, 5, 2


def make(cell="lstm", window=2, synth=True, randomise=False, seed=0, **kw):
    torch.manual_seed(seed)
    c = CELLS[cell](I, H).double()
    state_dim = 2 * H if cell == "lstm" else H
    g = Synthesiser(SynthesiserConfig(state_dim, (8,))).double() if synth else None
    if randomise:
        with torch.no_grad():
            for p in g.parameters():
                p.copy_(torch.randn_like(p) * 0.3)
    return SyntheticGradientRNN(SyntheticGradientRNNConfig(window=window, **kw), c, nn.Linear(H, O).double(), g)


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, I, generator=g, dtype=torch.float64), torch.randn(B, T, O, generator=g,
                                                                               dtype=torch.float64)


def loss_fn(target, every=1):
    def window_loss(y, t0):
        steps = [t for t in range(t0, t0 + y.shape[1]) if t % every == 0]
        if not steps:
            return None
        idx = [t - t0 for t in steps]
        return (y[:, idx] - target[:, steps]).pow(2).sum((1, 2)).mean()
    return window_loss


def grads(model, params=None):
    params = list(model.parameters()) if params is None else params
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]


def manual_windows(model, x, window_loss, gamma=None):
    """Reference: per window, autograd of L_i + β⟨g(s_{i+1}), s_{i+1}⟩ (params) and of
    L_i + γ⟨g(s_{i+1}), s_{i+1}⟩ (entry state), written independently of the trainer."""
    beta = model.sg_scale
    gamma = beta if gamma is None else gamma
    params = model.cortex_parameters()
    s = model.core.initial_state(x.shape[0])
    total = [torch.zeros_like(p) for p in params]
    deltas = []
    wins = model.windows(x.shape[1])
    for i, (t0, t1) in enumerate(wins):
        s_in = s.detach().requires_grad_(True)
        st, hs = s_in, []
        for t in range(t0, t1):
            st = model.core.step(x[:, t], st)
            hs.append(model.core.hidden(st))
        loss = window_loss(model.readout(torch.stack(hs, 1)), t0)
        loss = torch.zeros((), dtype=x.dtype) if loss is None else loss
        last = i == len(wins) - 1
        g = model.synthesiser(st.detach()).detach() if model.synthesiser is not None and not last else None
        inj = loss + (beta * (g * st).sum() if g is not None else 0)
        tgt = loss + (gamma * (g * st).sum() if g is not None else 0)
        gp = torch.autograd.grad(inj, params, retain_graph=True, allow_unused=True)
        total = [a + (torch.zeros_like(a) if b is None else b) for a, b in zip(total, gp)]
        deltas.append(torch.autograd.grad(tgt, s_in, allow_unused=True)[0])
        s = st.detach()
    return total, deltas


@pytest.mark.parametrize("cell", list(CELLS))
def test_zero_synthesiser_equals_truncated_bptt(cell):
    x, y = data()
    cc, tb = make(cell), make(cell, synth=False)
    tb.load_state_dict({k: v for k, v in cc.state_dict().items() if not k.startswith("synthesiser")})
    cc.accumulate_gradients(x, loss_fn(y, 2))
    tb.accumulate_gradients(x, loss_fn(y, 2))
    for a, b in zip(grads(cc, cc.cortex_parameters()), grads(tb)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    ref, _ = manual_windows(tb, x, loss_fn(y, 2))
    for a, b in zip(grads(tb), ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("window", [T, T + 3])
def test_window_of_whole_sequence_is_full_bptt(cell, window):
    x, y = data()
    model = make(cell, window=window, randomise=True)
    model.accumulate_gradients(x, loss_fn(y))
    params = model.cortex_parameters()
    full = torch.autograd.grad(loss_fn(y)(model(x), 0), params)
    for a, b in zip(grads(model, params), full):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("discount", ["reference", 1.0, 0.0])
def test_targets_and_gradients_match_autograd(cell, discount):
    x, y = data()
    model = make(cell, window=2, randomise=True, sg_scale=0.3, bootstrap_discount=discount)
    stats = model.accumulate_gradients(x, loss_fn(y, 2))
    ref_grads, ref_deltas = manual_windows(model, x, loss_fn(y, 2), gamma=model.discount)
    assert stats.targets.shape == (len(model.windows(T)) - 1, B, 2 * H if cell == "lstm" else H)
    for i, d in enumerate(ref_deltas[1:]):
        torch.testing.assert_close(stats.targets[i], d, atol=1e-6, rtol=0)
    for a, b in zip(grads(model, model.cortex_parameters()), ref_grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # Synthesiser gradient: Σ_i ‖g(s_i) − δ_i‖²/B over all entry states (s_0 included, as in the reference).
    states = model.run(x)[1].detach()
    entry = [model.core.initial_state(B)] + [states[:, t1 - 1] for _, t1 in model.windows(T)[:-1]]
    sg_loss = sum((model.synthesiser(s) - d).pow(2).sum() / B for s, d in zip(entry, ref_deltas))
    synth_params = list(model.synthesiser.parameters())
    for a, b in zip(grads(model, synth_params), torch.autograd.grad(sg_loss, synth_params)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(stats.predictions, model.synthetic_gradients(x), atol=1e-6, rtol=0)


def test_future_gradients_are_the_true_bptt_gradients():
    x, y = data()
    model = make("lstm", window=2, randomise=True)
    G = model.future_gradients(x, loss_fn(y))
    # autograd: perturb each boundary state by a zero tensor and differentiate the loss of later steps
    states = model.run(x)[1]
    for i, (t0, _) in enumerate(model.windows(T)[1:]):
        s = states[:, t0 - 1].detach().requires_grad_(True)
        st, outs = s, []
        for t in range(t0, T):
            st = model.core.step(x[:, t], st)
            outs.append(model.readout(model.core.hidden(st)))
        future = loss_fn(y[:, t0:])(torch.stack(outs, 1), 0)
        torch.testing.assert_close(G[i], torch.autograd.grad(future, s)[0], atol=1e-6, rtol=0)
    assert all(p.grad is None for p in model.parameters())


def test_discounted_future_gradient_is_the_reference_fixed_point():
    """With g replaced by the β-discounted future gradient, the reference target reproduces it."""
    x, y = data()
    model = make("gru", window=2, sg_scale=0.1)
    G = model.future_gradients(x, loss_fn(y), discount=0.1)
    n = G.shape[0]
    for i in range(n):
        t0, t1 = model.windows(T)[i + 1]
        s = model.run(x)[1][:, t0 - 1].detach().requires_grad_(True)
        st, outs = s, []
        for t in range(t0, t1):
            st = model.core.step(x[:, t], st)
            outs.append(model.readout(model.core.hidden(st)))
        target = loss_fn(y[:, t0:t1])(torch.stack(outs, 1), 0)
        if i + 1 < n:
            target = target + 0.1 * (G[i + 1] * st).sum()
        torch.testing.assert_close(G[i], torch.autograd.grad(target, s)[0], atol=1e-6, rtol=0)


def test_observe_only_trains_synthesiser_without_changing_cortex_gradients():
    x, y = data()
    obs, tb = make("lstm", randomise=True, observe_only=True), make("lstm", synth=False)
    tb.load_state_dict({k: v for k, v in obs.state_dict().items() if not k.startswith("synthesiser")})
    stats = obs.accumulate_gradients(x, loss_fn(y))
    tb.accumulate_gradients(x, loss_fn(y))
    for a, b in zip(grads(obs, obs.cortex_parameters()), grads(tb)):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=0)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obs.synthesiser.parameters())
    _, deltas = manual_windows(obs, x, loss_fn(y), gamma=obs.sg_scale)
    torch.testing.assert_close(stats.targets[0], deltas[1], atol=1e-6, rtol=0)


def test_lesion_hooks_and_final_state_option():
    x, y = data()
    model = make("rnn", randomise=True)
    model.learn_sg = False
    model.accumulate_gradients(x, loss_fn(y))
    assert all(p.grad is None for p in model.synthesiser.parameters())
    base = grads(model, model.cortex_parameters())
    model.zero_grad(set_to_none=True)
    model.inject_sg = False
    model.accumulate_gradients(x, loss_fn(y))
    assert not all(torch.equal(a, b) for a, b in zip(base, grads(model, model.cortex_parameters())))
    final, default = make("rnn", randomise=True, sg_at_final_state=True), make("rnn", randomise=True)
    final.accumulate_gradients(x, loss_fn(y))
    default.accumulate_gradients(x, loss_fn(y))
    assert not torch.allclose(final.core.cell.weight_hh.grad, default.core.cell.weight_hh.grad)


def test_initial_state_graph_and_encoder_receive_gradients():
    torch.manual_seed(0)
    emb = nn.Embedding(5, I).double()
    model = SyntheticGradientRNN(SyntheticGradientRNNConfig(window=3), nn.LSTMCell(I, H).double(),
                                 nn.Linear(H, O).double(), Synthesiser(SynthesiserConfig(2 * H)).double(), encoder=emb)
    init = nn.Linear(4, 2 * H).double()
    tokens = torch.randint(0, 5, (B, T))
    _, y = data()
    model.accumulate_gradients(tokens, loss_fn(y), state0=init(torch.randn(B, 4, dtype=torch.float64)))
    assert emb.weight.grad is not None and init.weight.grad is not None
    assert model(tokens).shape == (B, T, O)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="window"):
        make(window=0)
    with pytest.raises(ConfigError, match="bootstrap_discount"):
        make(bootstrap_discount="biased")
    with pytest.raises(ConfigError, match="sg_scale"):
        make(sg_scale=-1.0)
    with pytest.raises(ConfigError, match="RecurrentCore"):
        SyntheticGradientRNN(SyntheticGradientRNNConfig(window=1), nn.Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(ShapeError, match="(?i)synthesiser"):
        SyntheticGradientRNN(SyntheticGradientRNNConfig(window=1), nn.LSTMCell(I, H), nn.Linear(H, O),
                             Synthesiser(SynthesiserConfig(H)))
    model = make()
    x, y = data()
    with pytest.raises(ShapeError, match="x"):
        model.accumulate_gradients(x[:, :, :1], loss_fn(y))
    with pytest.raises(ShapeError, match="state0"):
        model.accumulate_gradients(x, loss_fn(y), state0=torch.zeros(B, H, dtype=torch.float64))
    with pytest.raises(ShapeError, match="NaN"):
        model.accumulate_gradients(x * float("nan"), loss_fn(y))
    with pytest.raises(ShapeError, match="scalar"):
        model.accumulate_gradients(x, lambda out, t0: out.sum(1))
