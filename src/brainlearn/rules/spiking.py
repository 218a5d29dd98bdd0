"""e-prop for recurrent networks of LIF and ALIF neurons (Bellec et al. 2020, Nat. Commun. 11:3625).

The network (:class:`SpikingRNN`), with presynaptic activity ŝ_t = [z_{t-1}; x_t] and W = [W_rec | W_in]
(no self-connections)::

    v_t = α v_{t-1} + W ŝ_t - θ z_{t-1}           (membrane potential, reset by subtraction)
    b_t = ρ b_{t-1} + z_{t-1},  A_t = θ + β b_t     (adaptive threshold; β = 0 is LIF)
    z_t = H(v_t - A_t)                             (spikes)
    y_t = κ y_{t-1} + W_o z_t + b_o                (leaky readout)

The spike's pseudo-derivative ψ_t = γ · max(0, 1 - |v_t - A_t| / θ) stands in for ∂z_t/∂v_t. e-prop
keeps, per synapse j → i, the eligibility vector (ε^v, ε^a) and the eligibility trace e::

    ε^v_t,j = α ε^v_{t-1,j} + ŝ_t,j                       (low-pass presynaptic activity; shared by all i)
    e_t,ij = ψ_t,i (ε^v_t,j - β ε^a_t,ij)
    ε^a_{t+1},ij = ψ_t,i ε^v_t,j + (ρ - ψ_t,i β) ε^a_t,ij

and with the learning signal L_t = W_oᵀ e_t (symmetric) or B e_t (random), e_t = ∂ℓ_t/∂y_t, the update
is ∇W_ij = Σ_t L_t,i ē_t,ij where ē = F_κ(e) is the trace filtered by the readout's leak,
F_κ(e)_t = κ F_κ(e)_{t-1} + e_t; the readout's gradient Σ_t e_t F_κ(z)_tᵀ is exact.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from brainlearn.errors import ConfigError
from brainlearn.rules.recurrent import LearningRule, _add, _random_feedback


def pseudo_derivative(v: torch.Tensor, threshold: torch.Tensor | float, theta: float, gamma: float) -> torch.Tensor:
    """ψ = γ · max(0, 1 - |v - A| / θ): a triangle of height γ and half-width θ around the threshold A."""
    return gamma * torch.clamp(1 - (v - threshold).abs() / theta, min=0)


class SpikingRNN(nn.Module):
    """A recurrent network of LIF (``beta = 0``) or ALIF neurons with a leaky linear readout.

    Args:
        n_in, n_hidden, n_out: sizes.
        alpha: membrane decay α = exp(-dt/τ_m); rho: threshold-adaptation decay ρ = exp(-dt/τ_a);
        kappa: readout decay κ; theta: base threshold θ; beta: adaptation strength β (0: LIF; a scalar or
            (n_hidden,) per unit, e.g. zero for the LIF part of a mixed network); gamma: pseudo-derivative
            height γ (0.3 in the reference).
        generator, dtype: for the initial weights (N(0, 1/fan-in), no self-connections).
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, alpha: float = 0.95, rho: float = 0.99,
                 kappa: float = 0.9, theta: float = 0.6, beta: float | torch.Tensor = 0.0, gamma: float = 0.3,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        if min(n_in, n_hidden, n_out) < 1:
            raise ConfigError(f"SpikingRNN: sizes must be >= 1, got {n_in}, {n_hidden}, {n_out}")
        if not (0 <= alpha < 1 and 0 <= rho < 1 and 0 <= kappa < 1 and theta > 0 and gamma >= 0):
            raise ConfigError(f"SpikingRNN: need alpha, rho, kappa in [0, 1), theta > 0, gamma >= 0; got "
                              f"{alpha}, {rho}, {kappa}, {theta}, {gamma}")
        self.n_in, self.n_hidden, self.n_out = n_in, n_hidden, n_out
        self.alpha, self.rho, self.kappa, self.theta, self.gamma = alpha, rho, kappa, theta, gamma
        w = torch.cat([torch.randn(n_hidden, n_hidden, generator=generator, dtype=torch.float64) / math.sqrt(n_hidden),
                       torch.randn(n_hidden, n_in, generator=generator, dtype=torch.float64) / math.sqrt(n_in)], 1)
        self.register_buffer("mask", torch.cat([1 - torch.eye(n_hidden), torch.ones(n_hidden, n_in)], 1).to(dtype))
        self.weight = nn.Parameter(w.to(dtype) * self.mask)
        self.register_buffer("beta", torch.as_tensor(beta, dtype=dtype).expand(n_hidden).clone())
        self.readout = nn.Linear(n_hidden, n_out, dtype=dtype)
        with torch.no_grad():
            self.readout.weight.copy_(torch.randn(n_out, n_hidden, generator=generator, dtype=torch.float64)
                                      / math.sqrt(n_hidden))
            self.readout.bias.zero_()

    def initial_state(self, batch: int) -> torch.Tensor:
        """(v, b, z, y) at rest, stacked: (B, 3n + n_out)."""
        return self.weight.new_zeros(batch, 3 * self.n_hidden + self.n_out)

    def split(self, state: torch.Tensor):
        n = self.n_hidden
        return state[:, :n], state[:, n:2 * n], state[:, 2 * n:3 * n], state[:, 3 * n:]

    @torch.no_grad()
    def step(self, x_t: torch.Tensor, state: torch.Tensor):
        """One step: returns (new state, ŝ_t, v_t, A_t); the state holds (v_t, b_t, z_t, y_t)."""
        v, b, z, y = self.split(state)
        pre = torch.cat([z, x_t], 1)
        v = self.alpha * v + pre @ (self.weight * self.mask).T - self.theta * z
        b = self.rho * b + z
        thr = self.theta + self.beta * b
        z_new = (v >= thr).to(v)
        y = self.kappa * y + self.readout(z_new)
        return torch.cat([v, b, z_new, y], 1), pre, v, thr

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, m) -> (readouts (B, T, n_out), spikes (B, T, n))."""
        state = self.initial_state(x.shape[0])
        ys, zs = [], []
        for t in range(x.shape[1]):
            state = self.step(x[:, t], state)[0]
            ys.append(self.split(state)[3])
            zs.append(self.split(state)[2])
        return torch.stack(ys, 1), torch.stack(zs, 1)


class SpikingEProp(LearningRule):
    """e-prop for a :class:`SpikingRNN` (see the module docstring); same interface as the rate rules."""

    name, model_type = "eprop_spiking", SpikingRNN
    uses = "local traces (ε^v, ε^a, ψ), the readout-filtered trace and W_oᵀ e_t or B e_t; causal"

    def __init__(self, model, loss_fn="mse", train_readout=True, feedback="symmetric", generator=None):
        super().__init__(model, loss_fn, train_readout)
        if feedback not in ("symmetric", "random"):
            raise ConfigError(f"eprop_spiking: feedback must be 'symmetric' or 'random', got {feedback!r}")
        self.feedback_matrix = _random_feedback(model, generator) if feedback == "random" else None

    def _reset_traces(self, batch):
        m, w = self.model, self.model.weight
        self.eps_v = w.new_zeros(batch, w.shape[1])
        self.eps_a = w.new_zeros(batch, m.n_hidden, w.shape[1])
        self.filtered = w.new_zeros(batch, m.n_hidden, w.shape[1])  # F_κ(e)
        self.filtered_z = w.new_zeros(batch, m.n_hidden)            # F_κ(z)
        self.filtered_one = w.new_zeros(batch, 1)                   # F_κ(1), for the readout bias
        self.last_trace = self.filtered.clone()
        self.last_psi = w.new_zeros(batch, m.n_hidden)

    def _step(self, x_t, target_t, weight_t):
        m = self.model
        with torch.no_grad():
            state, pre, v, thr = m.step(x_t, self.state)
            psi = pseudo_derivative(v, thr, m.theta, m.gamma)
            self.eps_v = m.alpha * self.eps_v + pre
            beta = m.beta[None, :, None]
            trace = psi[:, :, None] * (self.eps_v[:, None, :] - beta * self.eps_a)
            self.eps_a = psi[:, :, None] * self.eps_v[:, None, :] + (m.rho - psi[:, :, None] * beta) * self.eps_a
            self.filtered = m.kappa * self.filtered + trace
            z = m.split(state)[2]
            self.filtered_z = m.kappa * self.filtered_z + z
            self.filtered_one = m.kappa * self.filtered_one + 1
            self.last_trace, self.last_psi = trace, psi
        y = m.split(state)[3]
        with torch.enable_grad():
            yl = y.detach().requires_grad_()
            loss = self._weighted(yl, target_t, weight_t)
            (e,) = torch.autograd.grad(loss.sum(), [yl])
        B = x_t.shape[0]
        with torch.no_grad():
            if self.train_readout:
                _add(m.readout.weight, e.T @ self.filtered_z / B)
                _add(m.readout.bias, (e * self.filtered_one).sum(0) / B)
            signal = e @ (m.readout.weight if self.feedback_matrix is None else self.feedback_matrix)
            _add(m.weight, torch.einsum("bi,bij->ij", signal, self.filtered) * m.mask / B)
        self.state = state
        return loss.detach()
