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
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from brainlearn.errors import ConfigError
from brainlearn.rules.plausibility import Plausibility
from brainlearn.rules.rnn_base import (
    DTYPES,
    LearningRule,
    RuleConfig,
    add_grad,
    add_product_,
    contract_trace,
    random_feedback,
)
from brainlearn.runtime.config import Config, param, require


def pseudo_derivative(v: torch.Tensor, threshold: torch.Tensor | float, theta: float, gamma: float) -> torch.Tensor:
    """ψ = γ · max(0, 1 - |v - A| / θ): a triangle of height γ and half-width θ around the threshold A."""
    return gamma * torch.clamp(1 - (v - threshold).abs() / theta, min=0)


@dataclass(frozen=True)
class SpikingRNNConfig(Config):
    """The spiking network's sizes, time constants (as per-step decays), threshold and adaptation."""

    n_in: int = param(1, ge=1, help="inputs m")
    n_hidden: int = param(32, ge=1, help="LIF / ALIF neurons n")
    n_out: int = param(1, ge=1, help="readout units")
    alpha: float = param(0.95, ge=0, lt=1, help="membrane decay α = exp(-dt/τ_m)")
    rho: float = param(0.99, ge=0, lt=1, help="threshold-adaptation decay ρ = exp(-dt/τ_a)")
    kappa: float = param(0.9, ge=0, lt=1, help="readout decay κ")
    theta: float = param(0.6, gt=0, help="base threshold θ")
    beta: float | tuple[float, ...] = param(0.0, help="adaptation strength β (0: LIF); one value, or one per "
                                                      "neuron (e.g. 0 for the LIF part of a mixed network)")
    gamma: float = param(0.3, ge=0, help="pseudo-derivative height γ (0.3 in the reference)")
    dtype: Literal["float32", "float64"] = param("float32", help="the weights' dtype")

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.beta, tuple):
            require(len(self.beta) in (1, self.n_hidden),
                    f"beta: give one value or n_hidden = {self.n_hidden} values, got {len(self.beta)}")


class SpikingRNN(nn.Module):
    """A recurrent network of LIF (``beta = 0``) or ALIF neurons with a leaky linear readout.

    The initial weights are drawn from `generator`: W ~ N(0, 1/fan-in) without self-connections, then
    the readout's W_o ~ N(0, 1/n), b_o = 0.
    """

    def __init__(self, config: SpikingRNNConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(config, SpikingRNNConfig):
            raise ConfigError(f"SpikingRNN: expected a SpikingRNNConfig, got {type(config).__name__}")
        self.config = config
        n_in, n_hidden, n_out, dtype = config.n_in, config.n_hidden, config.n_out, DTYPES[config.dtype]
        self.n_in, self.n_hidden, self.n_out = n_in, n_hidden, n_out
        self.alpha, self.rho, self.kappa = config.alpha, config.rho, config.kappa
        self.theta, self.gamma = config.theta, config.gamma
        w = torch.cat([torch.randn(n_hidden, n_hidden, generator=generator, dtype=torch.float64) / math.sqrt(n_hidden),
                       torch.randn(n_hidden, n_in, generator=generator, dtype=torch.float64) / math.sqrt(n_in)], 1)
        self.register_buffer("mask", torch.cat([1 - torch.eye(n_hidden), torch.ones(n_hidden, n_in)], 1).to(dtype))
        self.weight = nn.Parameter(w.to(dtype) * self.mask)
        self.register_buffer("beta", torch.as_tensor(config.beta, dtype=dtype).expand(n_hidden).clone())
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


@dataclass(frozen=True)
class SpikingEPropConfig(RuleConfig):
    """Spiking e-prop's learning signal."""

    feedback: Literal["symmetric", "random"] = param(
        "symmetric", help="learning signal W_oᵀ e_t (symmetric) or a fixed random B e_t (random)")


class SpikingEProp(LearningRule):
    """e-prop for a :class:`SpikingRNN` (see the module docstring); same interface as the rate rules.

    `generator` draws the random feedback B (``feedback="random"``); the default loss is the squared error."""

    name = "eprop_spiking"
    model_type: ClassVar[type] = SpikingRNN
    config_class = SpikingEPropConfig
    default_loss = "mse"
    extras = ("generator",)
    uses = "local traces (ε^v, ε^a, ψ), the readout-filtered trace and W_oᵀ e_t or B e_t; causal"
    plausibility = Plausibility("exact", False, 1, True, True)

    def __init__(self, model, config=None, *, loss_fn=None, generator: torch.Generator | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.feedback_matrix = random_feedback(model, generator) if self.config.feedback == "random" else None

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
            # the (B, n, P) traces are the step's memory traffic: updated in place (7 passes, no temporaries)
            psi3, eps_v, beta = psi[:, :, None], self.eps_v[:, None, :], m.beta[None, :, None]
            trace = add_product_(self.last_trace.copy_(self.eps_a).mul_(-beta * psi3), psi3, eps_v)  # ψ (ε^v - β ε^a)
            add_product_(self.eps_a.mul_(m.rho - psi3 * beta), psi3, eps_v)
            self.filtered.mul_(m.kappa).add_(trace)
            z = m.split(state)[2]
            self.filtered_z = m.kappa * self.filtered_z + z
            self.filtered_one = m.kappa * self.filtered_one + 1
            self.last_trace, self.last_psi = trace, psi
        loss, e = self._loss_and_error(m.split(state)[3], target_t, weight_t)
        B = x_t.shape[0]
        with torch.no_grad():
            if self.train_readout:
                add_grad(m.readout.weight, e.T @ self.filtered_z / B)
                add_grad(m.readout.bias, (e * self.filtered_one).sum(0) / B)
            F = m.readout.weight if self.feedback_matrix is None else self.feedback_matrix   # L_t = e_t F
            add_grad(m.weight, contract_trace(e, F, self.filtered) * m.mask / B)
        self.state = state
        return loss
