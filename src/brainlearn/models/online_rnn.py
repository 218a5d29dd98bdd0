"""Online RNN learning with synthetic gradients from accumulate BP(λ) (Pemberton & Costa 2024, arXiv:2401.07044).

The network: a recurrent cell s_t = F(s_{t-1}, x_t) (vanilla RNN, or an LSTM with s = [h; c]) and a
linear readout y_t = R h_t. A sequence has per-step losses ℓ_t (zero where there is no target).

Learning without BPTT. At every step the RNN receives the learning signal

    L_t = ∂ℓ_t/∂s_t + β ĝ_t,           ĝ_t ≈ G_t = ∂(Σ_{k>t} ℓ_k)/∂s_t,

and its weights change by Σ_t L_t ∂s_t/∂θ|_{s_{t-1} fixed} (one-step truncation: e-prop with no leak).
With ĝ_t the synthesiser's prediction (BP(λ)), that is online learning with synthetic gradients; with
ĝ = 0 it is the "no synthetic gradient" online baseline; with ĝ_t = G_t (an oracle) and β = 1 it is
exactly BPTT. `bptt_gradients` runs full backpropagation through time in the same harness, and
`dni_network` builds the n-step DNI baseline (truncated BPTT with synthetic gradients) from an LSTM
`OnlineRNN`'s initial weights.

Shapes: inputs x (B, T, n_in); targets (B, T, ...) read by the loss at the steps where ``mask`` (T,)
is True; states (B, state_dim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.rules.bplambda import BPLambda, online_step
from brainlearn.rules.recurrent import LossFn
from brainlearn.rules.sg_rnn import SyntheticGradientRNN, SyntheticGradientRNNConfig
from brainlearn.rules.synthetic import Synthesiser, SynthesiserConfig
from brainlearn.runtime.config import Config, param


@dataclass(frozen=True)
class VanillaRNNCellConfig(Config):
    """A vanilla cell's sizes, nonlinearity and the spectral radius of its initial recurrent weights."""

    n_in: int = param(1, ge=1, help="input width")
    n_hidden: int = param(16, ge=1, help="recurrent units (the state has n_hidden values)")
    nonlinearity: Literal["tanh", "linear"] = param("tanh", help="f: tanh or identity")
    spectral_radius: float = param(0.9, gt=0, help="spectral radius of the initial W_rec (Gaussian, rescaled)")


class VanillaRNNCell(nn.Module):
    """s_t = f(W_in x_t + W_rec s_{t-1} + b), f = tanh or identity; J_t = diag(f'(a_t)) W_rec."""

    def __init__(self, config: VanillaRNNCellConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        n_in, n_hidden = config.n_in, config.n_hidden
        self.n_in, self.n_hidden, self.state_dim, self.nonlinearity = n_in, n_hidden, n_hidden, config.nonlinearity
        w = torch.randn(n_hidden, n_hidden, generator=generator)
        w *= config.spectral_radius / torch.linalg.eigvals(w).abs().max()
        self.w_rec = nn.Parameter(w)
        self.w_in = nn.Parameter(torch.randn(n_hidden, n_in, generator=generator) / n_in ** 0.5)
        self.bias = nn.Parameter(torch.zeros(n_hidden))

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a = x @ self.w_in.T + state @ self.w_rec.T + self.bias
        return torch.tanh(a) if self.nonlinearity == "tanh" else a

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state

    @torch.no_grad()
    def jacobian(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """∂s_t/∂s_{t-1}, (B, n, n)."""
        if self.nonlinearity == "linear":
            return self.w_rec.expand(state.shape[0], -1, -1)
        s_new = self(state, x)
        return (1 - s_new ** 2)[:, :, None] * self.w_rec


@dataclass(frozen=True)
class LSTMCellConfig(Config):
    """An LSTM cell's sizes."""

    n_in: int = param(1, ge=1, help="input width")
    n_hidden: int = param(16, ge=1, help="LSTM units n (the state [h; c] has 2n values)")


class LSTMCell(nn.Module):
    """An LSTM cell with state s = [h; c] (2n values) and its analytic Jacobian ∂s_t/∂s_{t-1}.

    Gates (i, f, g, o) = (σ, σ, tanh, σ)(W_x x_t + W_h h_{t-1} + b); c_t = f c_{t-1} + i g; h_t = o tanh(c_t).
    Initialised like ``torch.nn.LSTMCell`` (uniform ±1/√n), with the forget-gate bias at 1.
    """

    def __init__(self, config: LSTMCellConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        n_in, n_hidden = config.n_in, config.n_hidden
        self.n_in, self.n_hidden, self.state_dim = n_in, n_hidden, 2 * n_hidden
        k = n_hidden ** -0.5

        def uniform(*shape):
            return nn.Parameter((torch.rand(*shape, generator=generator) * 2 - 1) * k)

        self.w_x, self.w_h = uniform(4 * n_hidden, n_in), uniform(4 * n_hidden, n_hidden)
        self.bias = uniform(4 * n_hidden)
        with torch.no_grad():
            self.bias[n_hidden:2 * n_hidden] = 1.0

    def _gates(self, state, x):
        h, c = state.chunk(2, dim=1)
        i, f, g, o = (x @ self.w_x.T + h @ self.w_h.T + self.bias).chunk(4, dim=1)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o), c

    def forward(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        i, f, g, o, c = self._gates(state, x)
        c_new = f * c + i * g
        return torch.cat([o * torch.tanh(c_new), c_new], 1)

    def output(self, state: torch.Tensor) -> torch.Tensor:
        return state[..., :self.n_hidden]

    @torch.no_grad()
    def jacobian(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """∂[h_t; c_t]/∂[h_{t-1}; c_{t-1}], (B, 2n, 2n)."""
        n = self.n_hidden
        i, f, g, o, c = self._gates(state, x)
        tanh_c = torch.tanh(f * c + i * g)
        w_i, w_f, w_g, w_o = self.w_h.chunk(4, dim=0)
        dc_dh = ((c * f * (1 - f))[:, :, None] * w_f + (g * i * (1 - i))[:, :, None] * w_i
                 + (i * (1 - g ** 2))[:, :, None] * w_g)
        dh_dc_new = o * (1 - tanh_c ** 2)
        dh_dh = (tanh_c * o * (1 - o))[:, :, None] * w_o + dh_dc_new[:, :, None] * dc_dh
        jac = state.new_zeros(state.shape[0], 2 * n, 2 * n)
        jac[:, :n, :n] = dh_dh
        jac[:, :n, n:] = torch.diag_embed(dh_dc_new * f)
        jac[:, n:, :n] = dc_dh
        jac[:, n:, n:] = torch.diag_embed(f)
        return jac


@dataclass(frozen=True)
class OnlineRNNConfig(Config):
    """The network's sizes and cell (the vanilla cell's nonlinearity and spectral radius)."""

    n_in: int = param(1, ge=1, help="input width (an experiment sets it from its task)")
    n_hidden: int = param(16, ge=1, help="recurrent units (the state has n_hidden values, 2 n_hidden for an LSTM)")
    n_out: int = param(1, ge=1, help="readout width (an experiment sets it from its task)")
    cell: Literal["rnn", "lstm"] = param("lstm", help="vanilla RNN or LSTM")
    nonlinearity: Literal["tanh", "linear"] = param("tanh", help="the vanilla cell's f")
    spectral_radius: float = param(0.9, gt=0, help="the vanilla cell's initial spectral radius")

    def cell_config(self) -> VanillaRNNCellConfig | LSTMCellConfig:
        """The config of the recurrent cell."""
        if self.cell == "rnn":
            return VanillaRNNCellConfig(self.n_in, self.n_hidden, self.nonlinearity, self.spectral_radius)
        return LSTMCellConfig(self.n_in, self.n_hidden)


class OnlineRNN(nn.Module):
    """A recurrent cell plus a linear readout of its output h_t; the initial state is zero.

    The state has n_hidden (rnn) or 2 n_hidden (lstm) values. `generator` draws the cell's weights, then
    the readout's (U(±1/√n_hidden), bias 0).
    """

    def __init__(self, config: OnlineRNNConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        cell = VanillaRNNCell if config.cell == "rnn" else LSTMCell
        self.cell = cell(config.cell_config(), generator=generator)
        n_hidden, n_out = config.n_hidden, config.n_out
        self.readout = nn.Linear(n_hidden, n_out)
        with torch.no_grad():
            self.readout.weight.copy_((torch.rand(n_out, n_hidden, generator=generator) * 2 - 1) / n_hidden ** 0.5)
            self.readout.bias.zero_()

    @property
    def state_dim(self) -> int:
        return self.cell.state_dim

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """The zero state for a batch of inputs x (B, T, n_in): (B, state_dim), x's dtype and device."""
        return x.new_zeros(x.shape[0], self.state_dim)

    def forward(self, x: torch.Tensor, state0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a batch: x (B, T, n_in) -> (readouts (B, T, n_out), states s_1..s_T (B, T, state_dim))."""
        s = _start(self, x, None, state0)
        states = []
        for t in range(x.shape[1]):
            s = self.cell(s, x[:, t])
            states.append(s)
        states = torch.stack(states, 1)
        return self.readout(self.cell.output(states)), states


def _start(model: OnlineRNN, x: torch.Tensor, mask: torch.Tensor | None, state0: torch.Tensor | None):
    """Validate the inputs; return s_0 (`state0`, detached, or zeros)."""
    _check_inputs(model, x, mask)
    if state0 is None:
        return model.initial_state(x)
    check_tensor(state0, "state0", ndim=2)
    if state0.shape != (x.shape[0], model.state_dim):
        raise ShapeError(f"state0: expected shape ({x.shape[0]}, {model.state_dim}), got {tuple(state0.shape)}")
    return state0.detach()


def _check_inputs(model: OnlineRNN, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    check_tensor(x, "x", ndim=3)
    if x.shape[2] != model.cell.n_in:
        raise ShapeError(f"expected x of shape (B, T, {model.cell.n_in}), got {tuple(x.shape)}")
    if mask is not None and (mask.ndim != 1 or mask.shape[0] != x.shape[1] or mask.dtype != torch.bool):
        raise ShapeError(f"expected a boolean mask of shape ({x.shape[1]},), got {tuple(mask.shape)} {mask.dtype}")


def bptt_gradients(model: OnlineRNN, x: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                   loss_fn: LossFn, state0: torch.Tensor | None = None) -> float:
    """Full BPTT: add ∇_θ mean_b Σ_t ℓ_t to the model's ``.grad``. Returns mean_b Σ_t ℓ_t."""
    _check_inputs(model, x, mask)
    out, _ = model(x, state0)
    steps = mask.nonzero().flatten().tolist()
    loss = sum(loss_fn(out[:, t], targets[:, t]) for t in steps).mean()
    loss.backward()
    return float(loss.detach())


def online_gradients(model: OnlineRNN, x: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                     loss_fn: LossFn, *, learner: BPLambda | None = None, beta: float = 1.0,
                     signal: torch.Tensor | None = None, train_rnn: bool = True,
                     record: bool = False, state0: torch.Tensor | None = None) -> dict:
    """One batch of fully online learning; adds the RNN's and readout's updates to ``.grad``.

    At each step t: s_t = F(s_{t-1}.detach(), x_t); the readout and ∂ℓ_t/∂s_t come from the immediate
    loss; the learner (if any) sees (s_t, J_t, ∂ℓ_t/∂s_t) and returns ĝ_t; the RNN parameters get
    (∂ℓ_t/∂s_t + β ĝ_t) ∂s_t/∂θ / B. The learner's own ΣΔθ is left in ``learner.update``.

    Args:
        learner: BP(λ) learner of the synthetic gradient ĝ_t; None: ĝ_t = 0 (or `signal`).
        beta: scale of the synthetic gradient in the learning signal.
        signal: (T, B, state_dim) given estimates ĝ_t (e.g. the true future gradient); overrides the
            learner's prediction in the learning signal (the learner still learns).
        train_rnn: False leaves the RNN weights alone (the readout too): only the learner learns.
        record: also return the predictions g(s_t) for t = 0..T as "predictions" (T+1, B, state_dim)
            and the states as "states" (T+1, B, state_dim).
        state0: the initial state s_0 (B, state_dim); zeros by default.

    Returns: {"loss": mean_b Σ_t ℓ_t, ...}.
    """
    s = _start(model, x, mask, state0)
    batch, steps = x.shape[:2]
    if signal is not None and signal.shape != (steps, batch, model.state_dim):
        raise ShapeError(f"signal: expected shape ({steps}, {batch}, {model.state_dim}), got {tuple(signal.shape)}")
    cell_params = list(model.cell.parameters())
    preds = [learner.begin(s)] if learner is not None else [torch.zeros_like(s)]
    states, total = [s], torch.zeros(batch, device=x.device)
    for t in range(steps):
        s, pred, loss = online_step(model.cell, model.cell.output, model.cell.jacobian, cell_params, model.readout,
                                    s, x[:, t], targets[:, t], bool(mask[t]), loss_fn, learner=learner, beta=beta,
                                    signal_t=None if signal is None else signal[t], train_rnn=train_rnn,
                                    last=t == steps - 1, batch=batch)
        if loss is not None:
            total = total + loss
        if record:
            states.append(s)
            preds.append(torch.zeros_like(s) if pred is None else pred.detach())
    out = {"loss": float(total.mean())}
    if record:
        out["predictions"], out["states"] = torch.stack(preds), torch.stack(states)
    return out


def future_gradients(model: OnlineRNN, x: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                     loss_fn: LossFn, state0: torch.Tensor | None = None) -> torch.Tensor:
    """The true G_t = ∂(Σ_{k>t} ℓ_k^{(b)})/∂s_t^{(b)} by autograd, for t = 0..T: (T+1, B, state_dim)."""
    s = _start(model, x, mask, state0).clone().requires_grad_()
    steps = x.shape[1]
    states, future = [s], []
    with torch.enable_grad():
        for t in range(steps):
            s = model.cell(s, x[:, t])
            states.append(s)
        losses = {t: loss_fn(model.readout(model.cell.output(states[t + 1])), targets[:, t]).sum()
                  for t in mask.nonzero().flatten().tolist()}
        for t, st in enumerate(states):  # future losses only: ℓ_k for k > t (ℓ_k lives on s_k)
            later = [losses[k - 1] for k in range(t + 1, steps + 1) if (k - 1) in losses]
            future.append(torch.autograd.grad(sum(later), st, retain_graph=True)[0] if later
                          else torch.zeros_like(st))
    return torch.stack(future).detach()


def dni_network(model: OnlineRNN, config: SyntheticGradientRNNConfig, synth_hidden: tuple[int, ...] = ()
                ) -> SyntheticGradientRNN:
    """n-step DNI (:class:`~brainlearn.rules.sg_rnn.SyntheticGradientRNN` with `config`: window K, sg_scale,
    bootstrap_discount) on a ``torch.nn.LSTMCell`` that starts from the weights of `model` (an LSTM
    :class:`OnlineRNN`), with a zero-initialised synthesiser of hidden widths `synth_hidden` (() is linear).

    The network is built on the CPU; move it with ``runtime.place``.
    """
    if not isinstance(model.cell, LSTMCell):
        raise ConfigError(f"dni_network: needs an LSTM OnlineRNN, got cell {type(model.cell).__name__}")
    cell = model.cell
    lstm = nn.LSTMCell(cell.n_in, cell.n_hidden)
    readout = nn.Linear(cell.n_hidden, model.readout.out_features)
    with torch.no_grad():  # torch's gate order is (i, f, g, o), as in our LSTMCell
        lstm.weight_ih.copy_(cell.w_x)
        lstm.weight_hh.copy_(cell.w_h)
        lstm.bias_ih.copy_(cell.bias)
        lstm.bias_hh.zero_()
        readout.load_state_dict(model.readout.state_dict())
    return SyntheticGradientRNN(config, lstm, readout, Synthesiser(SynthesiserConfig(model.state_dim, synth_hidden)))
