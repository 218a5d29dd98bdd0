"""Dendritic cortical microcircuits (Sacramento, Costa, Bengio & Senn, NeurIPS 2018, arXiv:1810.11393).

Error backpropagation by local dendritic prediction errors. Written from the paper's equations.

Network. Layers ``k = 1..N`` of pyramidal cells with three compartments (soma ``u``, basal ``v_B``,
apical ``v_A``); each hidden layer ``k < N`` also has a population of lateral interneurons, one per
pyramidal cell of layer ``k+1``. Rates are ``r = phi(u)``; the input layer's rates are the input ``x``.

    v_B,k = W_k r_{k-1} + b_k                                   basal: bottom-up input
    v_A,k = B_k r_{k+1} + W_PI,k r^I_k                          apical: top-down minus interneurons
    v_I,k = W_IP,k r_k + b_IP,k                                 interneuron dendrite
    du_k/dt   = -g_lk u_k + g_B (v_B,k - u_k) + g_A (v_A,k - u_k) + sigma xi       hidden pyramidal
    du_N/dt   = -g_lk u_N + g_B (v_B,N - u_N) + g_som (u_trgt - u_N) + sigma xi    output (nudged)
    du^I_k/dt = -g_lk u^I_k + g_D (v_I,k - u^I_k) + g_som (u_{k+1} - u^I_k) + sigma xi

The output layer has no apical compartment; without a target its nudging term is absent. Each
interneuron is nudged towards its partner in the next layer. Time is in ms, conductances in 1/ms.

Plasticity (Urbanczik-Senn dendritic prediction of somatic activity; always on, no phases):

    dW_k/dt    = eta_k    (phi(u_k) - phi(vhat_B,k)) r_{k-1}^T,  vhat_B = g_B/(g_lk+g_B+g_A) v_B (g_A=0 at output)
    dW_IP,k/dt = eta_IP   (phi(u^I_k) - phi(vhat_I,k)) r_k^T,    vhat_I = g_D/(g_lk+g_D) v_I
    dW_PI,k/dt = eta_PI   (0 - v_A,k) r^I_k^T
    dB_k/dt    = eta_TD   (phi(u_k) - phi(B_k r_{k+1})) r_{k+1}^T      (optional; off by default)

Self-predicting state (SPS): ``W_IP,k = c_{k+1} (g_lk+g_D)/g_D W_{k+1}`` (c = the basal attenuation of the
next layer) and ``W_PI,k = -B_k``. Without a target the interneurons then copy the next layer, every
apical potential is 0 and no forward weight changes. A target nudges the output; the mismatch
``B_k (r_{k+1} - r^I_k)`` reaches the apical dendrites layer by layer and, with ``B_k = W_{k+1}^T`` and weak
nudging, the forward updates approximate backprop of ``1/2 ||u_trgt - u_N||^2``.

Two forms share the weights:
- :meth:`DendriticNetwork.settle` / :meth:`~DendriticNetwork.local_updates`: the batched steady state
  of the somatic equations (each pattern held long enough to settle), solved by bottom-up/top-down
  sweeps. This is the fast form used for training on bigger tasks.
- :meth:`DendriticNetwork.simulate`: the time-continuous dynamics, Euler(-Maruyama) with the paper's
  parameters, low-pass filtered inputs and low-pass filtered weight changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.analysis import angle
from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.nn import MLP, MLPConfig
from brainlearn.runtime.config import Config, param, require

ACTIVATIONS = {"softplus": F.softplus, "sigmoid": torch.sigmoid}
SLOPES = {"softplus": torch.sigmoid, "sigmoid": lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))}  # phi'


@dataclass(frozen=True)
class Conductances(Config):
    """Leak, basal, apical, interneuron-dendrite and somatic-nudging conductances (1/ms).

    Defaults are the paper's (g_lk 0.1, g_B 1.0, g_A 0.8, g_D 1.0, g_som 0.8).
    """

    g_lk: float = param(0.1, gt=0, help="leak conductance (1/ms)")
    g_B: float = param(1.0, gt=0, help="basal conductance (1/ms)")
    g_A: float = param(0.8, ge=0, help="apical conductance of hidden pyramidal cells (1/ms)")
    g_D: float = param(1.0, gt=0, help="interneuron dendritic conductance (1/ms)")
    g_som: float = param(0.8, ge=0, help="somatic nudging conductance: output by the target, interneurons by "
                                         "their partners (1/ms)")


@dataclass(frozen=True)
class LearningRates(Config):
    """Learning rates of the four plastic pathways.

    ``forward`` is one rate for all layers or one per layer (input side first). In the steady-state
    form these multiply the batch-averaged updates (one SGD step per batch); in the dynamics they are
    per ms. Defaults are the paper's rates for learning the self-predicting state (forward 1.1875e-3,
    pyr->int 2.375e-4, int->pyr 5e-4).
    """

    forward: float | tuple[float, ...] = param(1.1875e-3, ge=0, help="forward (basal) rate: one, or one per "
                                                                     "layer, input side first")
    ip: float = param(2.375e-4, ge=0, help="pyramidal -> interneuron rate")
    pi: float = param(5e-4, ge=0, help="interneuron -> pyramidal rate")
    td: float = param(0.0, ge=0, help="top-down (B) rate; 0: B fixed")

    def per_layer(self, n_layers: int) -> tuple[float, ...]:
        rates = (self.forward,) * n_layers if isinstance(self.forward, int | float) else tuple(self.forward)
        if len(rates) != n_layers:
            raise ConfigError(f"LearningRates.forward: expected 1 or {n_layers} rates, got {len(rates)}")
        return rates


@dataclass(frozen=True)
class DendriticNetworkConfig(Config):
    """The widths, rate function, conductances, feedback, initialisation and plasticity of a
    :class:`DendriticNetwork`."""

    sizes: tuple[int, ...] = param((30, 20, 10), ge=1, help="widths n_0 (input), n_1, ..., n_N; (n_0, n_N) is "
                                                            "a single nudged output layer without interneurons")
    activation: Literal["softplus", "sigmoid"] = param("softplus", help="rate function phi")
    conductances: Conductances = Conductances()
    feedback: Literal["tied", "random"] = param(
        "tied", help="tied: B_k = W_{k+1}^T and the lateral weights re-set to the self-predicting state after "
                     "every update; random: fixed random B_k (feedback alignment), lateral weights plastic")
    self_predicting: bool = param(True, help="start the lateral weights in the self-predicting state (else "
                                             "random, for learning it)")
    init_gain: float = param(1.0, gt=0, help="xavier-normal gain of the forward weights (biases start at 0)")
    feedback_gain: float = param(1.0, gt=0, help="xavier-normal gain of random top-down and lateral weights")
    sweeps: int = param(3, ge=1, help="bottom-up/top-down sweeps of settle()")
    bias: bool = param(True, help="pyramidal cells and interneurons learn biases (else they stay 0)")
    rates: LearningRates = LearningRates()

    def __post_init__(self):
        super().__post_init__()
        require(len(self.sizes) >= 2, f"sizes must list at least two widths, got {self.sizes}")


@dataclass
class State:
    """Somatic and dendritic potentials of every layer, each (batch, width).

    ``u``, ``v_basal``: layers 1..N. ``v_apical``, ``u_int``, ``v_int``: hidden layers 1..N-1 (the
    interneurons of layer k have the width of layer k+1). ``x``: the (filtered) input rates.
    ``target``: the output nudging target, or None.
    """

    x: torch.Tensor
    u: list[torch.Tensor]
    v_basal: list[torch.Tensor]
    v_apical: list[torch.Tensor]
    u_int: list[torch.Tensor]
    v_int: list[torch.Tensor]
    target: torch.Tensor | None = None


@dataclass
class Updates:
    """Batch-averaged weight changes (to be *added*, scaled by a learning rate). Lists follow the layers."""

    W: list[torch.Tensor]
    b: list[torch.Tensor]
    W_IP: list[torch.Tensor]
    b_IP: list[torch.Tensor]
    W_PI: list[torch.Tensor]
    B: list[torch.Tensor] = field(default_factory=list)


class DendriticNetwork(nn.Module):
    """A multilayer network of three-compartment pyramidal cells and lateral interneurons.

    Args:
        config: :class:`DendriticNetworkConfig`.
        generator: torch.Generator for all random initialisation.
    """

    def __init__(self, config: DendriticNetworkConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.sizes = tuple(config.sizes)
        self.activation = config.activation
        self.phi = ACTIVATIONS[config.activation]
        self.g = config.conductances
        self.feedback = config.feedback
        self.sweeps = config.sweeps
        self.bias = config.bias
        init_gain, feedback_gain = config.init_gain, config.feedback_gain
        g = self.g
        n, L = self.sizes, len(self.sizes) - 1
        # basal attenuation c_k: the free somatic potential is c_k v_B,k (hidden: apical shunt too)
        self.attenuation = [g.g_B / (g.g_lk + g.g_B + g.g_A)] * (L - 1) + [g.g_B / (g.g_lk + g.g_B)]

        def xavier(rows, cols, gain):
            return torch.randn(rows, cols, generator=generator) * gain * math.sqrt(2.0 / (rows + cols))

        P = nn.Parameter
        self.W = nn.ParameterList(P(xavier(n[k + 1], n[k], init_gain), requires_grad=False) for k in range(L))
        self.b = nn.ParameterList(P(torch.zeros(n[k + 1]), requires_grad=False) for k in range(L))
        # hidden layer k (index k-1 here) gets top-down B (n_k x n_{k+1}) and interneurons of width n_{k+1}
        self.B = nn.ParameterList(P(xavier(n[k], n[k + 1], feedback_gain), requires_grad=False)
                                  for k in range(1, L))
        self.W_IP = nn.ParameterList(P(xavier(n[k + 1], n[k], feedback_gain), requires_grad=False)
                                     for k in range(1, L))
        self.b_IP = nn.ParameterList(P(torch.zeros(n[k + 1]), requires_grad=False) for k in range(1, L))
        self.W_PI = nn.ParameterList(P(xavier(n[k], n[k + 1], feedback_gain), requires_grad=False)
                                     for k in range(1, L))
        if config.feedback == "tied":
            self.tie_feedback()
        elif config.self_predicting:
            self.init_self_predicting()

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    # ---------------------------------------------------------------- self-predicting state
    def _sps_scale(self, k: int) -> float:
        """W_IP,k = scale * W_{k+1}: interneuron k's free potential then equals that of layer k+1."""
        g = self.g
        return self.attenuation[k + 1] * (g.g_lk + g.g_D) / g.g_D

    @torch.no_grad()
    def init_self_predicting(self) -> None:
        """Set the lateral weights to the self-predicting state for the current W and B."""
        for k in range(self.n_layers - 1):
            self.W_IP[k].copy_(self._sps_scale(k) * self.W[k + 1])
            self.b_IP[k].copy_(self._sps_scale(k) * self.b[k + 1])
            self.W_PI[k].copy_(-self.B[k])

    @torch.no_grad()
    def tie_feedback(self) -> None:
        """Symmetric feedback ``B_k = W_{k+1}^T`` and lateral weights in the SPS."""
        for k in range(self.n_layers - 1):
            self.B[k].copy_(self.W[k + 1].T)
        self.init_self_predicting()

    # ---------------------------------------------------------------- steady state
    def _check_inputs(self, x: torch.Tensor, target: torch.Tensor | None) -> None:
        check_tensor(x, "x", ndim=2)
        if x.shape[1] != self.sizes[0]:
            raise ShapeError(f"x: expected shape (batch, {self.sizes[0]}), got {tuple(x.shape)}")
        if target is not None:
            check_tensor(target, "target", ndim=2)
            if target.shape != (x.shape[0], self.sizes[-1]):
                raise ShapeError(f"target: expected shape ({x.shape[0]}, {self.sizes[-1]}), "
                                 f"got {tuple(target.shape)}")

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Free (no-target) output potentials ``u_N``, (batch, n_N), assuming the SPS (apical = 0).

        This is the network's prediction: ``u_k = c_k (W_k r_{k-1} + b_k)``, ``r_k = phi(u_k)``.
        """
        self._check_inputs(x, None)
        r = x
        for k in range(self.n_layers):
            u = self.attenuation[k] * (r @ self.W[k].T + self.b[k])
            r = self.phi(u)
        return u

    @torch.no_grad()
    def settle(self, x: torch.Tensor, target: torch.Tensor | None = None, sweeps: int | None = None) -> State:
        """Steady state of the somatic and interneuron potentials for input `x`, nudged towards `target`.

        Solves ``u_k = (g_B v_B + g_A v_A)/(g_lk+g_B+g_A)`` (hidden),
        ``u_N = (g_B v_B + g_som u_trgt)/(g_lk+g_B+g_som)`` (output; ``g_som`` term only with a target),
        ``u^I_k = (g_D v_I + g_som u_{k+1})/(g_lk+g_D+g_som)`` by sweeps: bottom-up with the current
        apical potentials (0 in the first sweep), then top-down through the output, interneurons and
        apical dendrites. One sweep is exact in the SPS without a target.

        Args:
            x: (batch, n_0) input rates. target: (batch, n_N) output potentials, or None.
            sweeps: default ``self.sweeps``.
        """
        self._check_inputs(x, target)
        g, L = self.g, self.n_layers
        g_hidden, g_int = g.g_lk + g.g_B + g.g_A, g.g_lk + g.g_D + g.g_som
        v_basal = [x @ self.W[0].T + self.b[0]] + [None] * (L - 1)  # the first is fixed over sweeps
        u = [None] * L
        v_apical = [torch.zeros(x.shape[0], n, dtype=x.dtype, device=x.device) for n in self.sizes[1:-1]]
        u_int, v_int = [None] * (L - 1), [None] * (L - 1)
        for _ in range(sweeps or self.sweeps):
            r = x
            for k in range(L - 1):  # bottom-up through the hidden layers
                if k > 0:
                    v_basal[k] = r @ self.W[k].T + self.b[k]
                u[k] = (g.g_B * v_basal[k] + g.g_A * v_apical[k]) / g_hidden
                r = self.phi(u[k])
            v_basal[-1] = r @ self.W[-1].T + self.b[-1] if L > 1 else v_basal[0]
            if target is None:
                u[-1] = self.attenuation[-1] * v_basal[-1]
            else:
                u[-1] = (g.g_B * v_basal[-1] + g.g_som * target) / (g.g_lk + g.g_B + g.g_som)
            for k in reversed(range(L - 1)):  # top-down: interneurons then apical, layer by layer
                v_int[k] = self.phi(u[k]) @ self.W_IP[k].T + self.b_IP[k]
                u_int[k] = (g.g_D * v_int[k] + g.g_som * u[k + 1]) / g_int
                v_apical[k] = self.phi(u[k + 1]) @ self.B[k].T + self.phi(u_int[k]) @ self.W_PI[k].T
                u[k] = (g.g_B * v_basal[k] + g.g_A * v_apical[k]) / g_hidden
        return State(x, u, v_basal, v_apical, u_int, v_int, target)

    def predict_basal(self, state: State) -> list[torch.Tensor]:
        """The dendritic predictions ``vhat_B,k = c_k v_B,k`` of each layer's somatic potential."""
        return [c * v for c, v in zip(self.attenuation, state.v_basal)]

    @torch.no_grad()
    def local_updates(self, state: State) -> Updates:
        """Batch-averaged plasticity from a (settled or simulated) state; see the module docstring.

        Every update is a product of a postsynaptic prediction error and a presynaptic rate, so it
        uses only quantities available at the synapse.
        """
        g, batch = self.g, state.x.shape[0]
        rates = [state.x] + [self.phi(u) for u in state.u]
        dW, db = [], []
        for k, vhat in enumerate(self.predict_basal(state)):
            err = (self.phi(state.u[k]) - self.phi(vhat)) / batch  # divide the small factor, not the outer product
            dW.append(err.T @ rates[k])
            db.append(err.sum(0))
        dW_IP, db_IP, dW_PI, dB = [], [], [], []
        for k in range(self.n_layers - 1):
            r_int = self.phi(state.u_int[k])
            err = (r_int - self.phi(g.g_D / (g.g_lk + g.g_D) * state.v_int[k])) / batch
            dW_IP.append(err.T @ rates[k + 1])
            db_IP.append(err.sum(0))
            dW_PI.append(-state.v_apical[k].T @ r_int / batch)
            err_td = (rates[k + 1] - self.phi(rates[k + 2] @ self.B[k].T)) / batch
            dB.append(err_td.T @ rates[k + 2])
        return Updates(dW, db, dW_IP, db_IP, dW_PI, dB)

    @torch.no_grad()
    def apply_updates(self, updates: Updates, rates: LearningRates | None = None) -> None:
        """``w += eta * dw`` for every pathway (`rates`: default the config's); with tied feedback, then
        re-tie B and the lateral weights."""
        rates = self.config.rates if rates is None else rates
        for k, eta in enumerate(rates.per_layer(self.n_layers)):
            if eta:
                self.W[k].add_(updates.W[k], alpha=eta)
                if self.bias:
                    self.b[k].add_(updates.b[k], alpha=eta)
        if self.feedback == "tied":
            self.tie_feedback()
            return
        for k in range(self.n_layers - 1):
            if rates.ip:
                self.W_IP[k].add_(updates.W_IP[k], alpha=rates.ip)
                if self.bias:
                    self.b_IP[k].add_(updates.b_IP[k], alpha=rates.ip)
            if rates.pi:
                self.W_PI[k].add_(updates.W_PI[k], alpha=rates.pi)
            if rates.td:
                self.B[k].add_(updates.B[k], alpha=rates.td)

    def train_step(self, x: torch.Tensor, target: torch.Tensor | None, rates: LearningRates | None = None) -> State:
        """Settle, compute the local updates and apply them at `rates` (default: the config's); returns the
        settled state."""
        state = self.settle(x, target)
        self.apply_updates(self.local_updates(state), rates)
        return state

    def reference_gradients(self, x: torch.Tensor, target: torch.Tensor, loss: str = "nudge") -> Updates:
        """Backprop's descent directions for W and b through the free network (:meth:`forward`), by
        autograd, averaged over the batch. Lateral fields are empty.

        loss="nudge" (default): the output delta is ``phi'(u_N) (u_trgt - u_N)``, the error the circuit
        delivers in the weak-nudging limit: a nudge ``lambda (u_trgt - u_N)`` of the output potential
        changes the output rate by ``lambda phi'(u_N) (u_trgt - u_N)``, and both the output rule and the
        interneurons compare rates. loss="potential": ``L = 1/2 ||u_trgt - u_N||^2`` (delta
        ``u_trgt - u_N``, without that per-output weighting).
        """
        self._check_inputs(x, target)
        if loss not in ("nudge", "potential"):
            raise ConfigError(f"loss={loss!r}; expected 'nudge' or 'potential'")
        params = [p for k in range(self.n_layers) for p in (self.W[k], self.b[k])]
        leaves = [p.detach().requires_grad_(True) for p in params]
        with torch.enable_grad():
            r = x
            for k in range(self.n_layers):
                u = self.attenuation[k] * (r @ leaves[2 * k].T + leaves[2 * k + 1])
                r = self.phi(u)
            with torch.no_grad():
                delta = target - u
                if loss == "nudge":
                    delta = delta * SLOPES[self.activation](u)
            grads = torch.autograd.grad(u, leaves, grad_outputs=delta / x.shape[0])
        return Updates(list(grads[0::2]), list(grads[1::2]), [], [], [])

    # ---------------------------------------------------------------- time-continuous dynamics
    def initial_dynamics(self, x: torch.Tensor) -> Dynamics:
        """A resting state (all potentials 0, filtered input = `x`) for :meth:`simulate`."""
        self._check_inputs(x, None)
        zeros = [torch.zeros(x.shape[0], n, dtype=x.dtype, device=x.device) for n in self.sizes[1:]]
        return Dynamics(x.clone(), [z.clone() for z in zeros], [z.clone() for z in zeros[1:]])

    @torch.no_grad()
    def simulate(self, x: torch.Tensor, target: torch.Tensor | None = None, *, duration: float = 100.0,
                 dt: float = 0.1, tau_input: float = 3.0, noise: float = 0.0,
                 rates: LearningRates | None = None, tau_weights: float = 30.0,
                 dynamics: Dynamics | None = None, generator: torch.Generator | None = None,
                 record_every: int = 0) -> tuple[Dynamics, dict[str, torch.Tensor]]:
        """Euler-Maruyama integration of the somatic equations while `x` (and `target`) are held.

        Args:
            x: (batch, n_0) input rates; the network sees them through a low-pass filter with time
                constant `tau_input` (ms). Batch rows are independent copies of the circuit.
            target: (batch, n_N) output nudging potentials, or None (no nudging).
            duration, dt: simulated time and step (ms); paper: 100 ms per pattern, dt 0.1 ms.
            noise: sigma of the somatic noise (paper 0.1); the increment is ``sigma sqrt(dt) xi``.
            rates: learning rates per ms, or None for frozen weights. Instantaneous updates are
                low-pass filtered with `tau_weights` (ms) before they change the weights.
            dynamics: the state to continue from (default: :meth:`initial_dynamics`).
            record_every: record the mean |v_A| and the output potentials every that many steps.

        Returns:
            (final Dynamics, recordings: ``t`` (ms), ``apical`` (mean |v_A| over hidden layers), ``output``).
        """
        self._check_inputs(x, target)
        if not (dt > 0 and duration > 0 and tau_input > 0 and tau_weights > 0 and noise >= 0):
            raise ConfigError("simulate: dt, duration, tau_input, tau_weights must be > 0 and noise >= 0")
        if dynamics is None:
            dynamics = self.initial_dynamics(x)
        elif dynamics.x.shape != x.shape:
            raise ShapeError(f"dynamics: batch state has shape {tuple(dynamics.x.shape)}, x has {tuple(x.shape)}")
        g, L, steps = self.g, self.n_layers, int(round(duration / dt))
        d = dynamics
        if rates is not None and d.dW is None:
            d.dW = [torch.zeros_like(p) for p in self.parameters()]
        params = list(self.parameters())
        record: dict[str, list] = {"t": [], "apical": [], "output": []}
        for step in range(steps):
            d.x = d.x + dt / tau_input * (x - d.x)
            state = self._instantaneous(d, target)
            new_u = []
            for k in range(L):  # du/dt = sum of conductance currents
                du = -g.g_lk * d.u[k] + g.g_B * (state.v_basal[k] - d.u[k])
                if k < L - 1:
                    du = du + g.g_A * (state.v_apical[k] - d.u[k])
                elif target is not None:
                    du = du + g.g_som * (target - d.u[k])
                new_u.append(d.u[k] + dt * du)
            new_int = [d.u_int[k] + dt * (-g.g_lk * d.u_int[k] + g.g_D * (state.v_int[k] - d.u_int[k])
                                          + g.g_som * (d.u[k + 1] - d.u_int[k])) for k in range(L - 1)]
            if noise > 0:
                scale = noise * math.sqrt(dt)
                new_u = [u + scale * torch.randn(u.shape, generator=generator, dtype=u.dtype) for u in new_u]
                new_int = [u + scale * torch.randn(u.shape, generator=generator, dtype=u.dtype) for u in new_int]
            if rates is not None:
                self._plasticity_step(state, rates, d, params, dt, tau_weights)
            d.u, d.u_int = new_u, new_int
            d.t += dt
            if record_every and step % record_every == 0:
                record["t"].append(d.t)
                record["apical"].append(float(torch.stack([v.abs().mean() for v in state.v_apical]).mean())
                                        if state.v_apical else 0.0)
                record["output"].append(state.u[-1].clone())
        out = {"t": torch.tensor(record["t"]), "apical": torch.tensor(record["apical"])}
        if record["output"]:
            out["output"] = torch.stack(record["output"])
        return d, out

    def _instantaneous(self, d: Dynamics, target: torch.Tensor | None) -> State:
        """Dendritic potentials given the current somatic potentials (dendrites are instantaneous)."""
        rates = [d.x] + [self.phi(u) for u in d.u]
        v_basal = [rates[k] @ self.W[k].T + self.b[k] for k in range(self.n_layers)]
        v_int = [rates[k + 1] @ self.W_IP[k].T + self.b_IP[k] for k in range(self.n_layers - 1)]
        v_apical = [rates[k + 2] @ self.B[k].T + self.phi(d.u_int[k]) @ self.W_PI[k].T
                    for k in range(self.n_layers - 1)]
        return State(d.x, list(d.u), v_basal, v_apical, list(d.u_int), v_int, target)

    def _plasticity_step(self, state: State, rates: LearningRates, d: Dynamics, params: list, dt: float,
                         tau_weights: float) -> None:
        upd = self.local_updates(state)
        L, fwd = self.n_layers, rates.per_layer(self.n_layers)
        raw = list(upd.W) + list(upd.b) + list(upd.B) + list(upd.W_IP) + list(upd.b_IP) + list(upd.W_PI)
        bias_fwd, bias_ip = (fwd, rates.ip) if self.bias else ((0.0,) * L, 0.0)
        etas = list(fwd) + list(bias_fwd) + [rates.td] * (L - 1) + [rates.ip] * (L - 1) + [bias_ip] * (L - 1) \
            + [rates.pi] * (L - 1)
        # parameter order of nn.Module: W, b, B, W_IP, b_IP, W_PI (registration order above)
        for p, filt, change, eta in zip(params, d.dW, raw, etas):
            filt += dt / tau_weights * (change - filt)
            if eta:
                p.add_(filt, alpha=eta * dt)
        if self.feedback == "tied":
            self.tie_feedback()


@dataclass
class Dynamics:
    """The state of :meth:`DendriticNetwork.simulate`: filtered input, somatic potentials (layers 1..N),
    interneuron potentials (hidden layers), low-pass filtered weight changes, and the time in ms."""

    x: torch.Tensor
    u: list[torch.Tensor]
    u_int: list[torch.Tensor]
    dW: list[torch.Tensor] | None = None
    t: float = 0.0


def angles_to_backprop(net: DendriticNetwork, x: torch.Tensor, target: torch.Tensor, loss: str = "nudge"
                       ) -> list[float]:
    """Per-layer angle (degrees) between the steady-state forward-weight updates (weights and biases
    together) and backprop's descent direction on the same batch (see
    :meth:`DendriticNetwork.reference_gradients` for `loss`)."""
    local = net.local_updates(net.settle(x, target))
    ref = net.reference_gradients(x, target, loss)
    return [angle(torch.cat([w.flatten(), b]), torch.cat([rw.flatten(), rb]))
            for w, b, rw, rb in zip(local.W, local.b, ref.W, ref.b)]


def mean_apical(net: DendriticNetwork, x: torch.Tensor) -> float:
    """Mean |v_A| over hidden layers and units in the settled state without a target (0 in the SPS)."""
    return float(torch.stack([v.abs().mean() for v in net.settle(x).v_apical]).mean())


def as_mlp(net: DendriticNetwork) -> MLP:
    """A backprop :class:`~brainlearn.nn.MLP` computing `net`'s free network: layer k has weights c_k W_k,
    bias c_k b_k, phi on the hidden layers; on `net`'s device."""
    config = MLPConfig(n_in=net.sizes[0], n_hidden=net.sizes[1:-1], n_out=net.sizes[-1], activation=net.activation,
                       rule="bp")
    mlp = MLP(config)  # its initial weights are overwritten below
    with torch.no_grad():
        for layer, W, b, c in zip(mlp.layers, net.W, net.b, net.attenuation):
            layer.weight.copy_(c * W)
            layer.bias.copy_(c * b)
    return mlp.to(net.W[0].device)


__all__ = ["ACTIVATIONS", "Conductances", "DendriticNetwork", "DendriticNetworkConfig", "Dynamics", "LearningRates",
           "State", "Updates",
           "angles_to_backprop", "as_mlp", "mean_apical"]
