"""Learning rules for recurrent networks on one interface (Henha Eyono et al. 2022, arXiv:2105.05382).

The network, the losses and the rule interface are in :mod:`brainlearn.rules.rnn_base` (re-exported
here): a leaky rate RNN :class:`LeakyRNN` with â_t = [a_{t-1}; x_t; 1], h_t = W â_t,
a_t = (1 - α) a_{t-1} + α φ(h_t), y_t = W_o a_t + b_o, credit c_t = ∂ℓ_t/∂a_t = W_oᵀ e_t. The quantities
the rules share:

    J_t = (1 - α) I + α diag(φ'(h_t)) W_rec                      (the step Jacobian ∂a_t/∂a_{t-1})
    M̄_t[k, i, j] = δ_ki D_t[i, j],  D_t[i, j] = α φ'(h_t,i) â_t,j   (the immediate influence ∂a_t/∂W)
    M_t = ∂a_t/∂W = J_t M_{t-1} + M̄_t                            (the influence matrix)

Every rule estimates ∇_W Σ_t ℓ_t (and the readout's gradient, which all compute exactly from e_t and
a_t) and *adds* the descent direction, averaged over the batch, into the parameters' ``.grad``. The rules
(names in :data:`RECURRENT_RULES`, for :func:`make_rule`), each with its config of hyperparameters:

- ``bptt``: backpropagation through time over windows of `window` steps (None: until :meth:`finish`).
- ``rtrl``: exact real-time recurrent learning: M_t as above, ∇W += c_t · M_t. Memory O(n³), time O(n⁴).
- ``eprop``: e-prop (Bellec et al. 2020), J_t cut to its diagonal: E_t = diag(J_t) ⊙ E_{t-1} + D_t and
  ∇W_ij += L_t,i E_t,ij with L_t = W_oᵀ e_t (``feedback="symmetric"``) or B e_t (``"random"``).
- ``rflo``: random-feedback local online learning (Murray 2019): E_t = (1 - α) E_{t-1} + D_t, L_t = B e_t.
- ``uoro``: unbiased online recurrent optimisation (Tallec & Ollivier 2017): M_t ≈ Ã_t B̃_tᵀ with
  Ã_t = ρ₀ J_t Ã_{t-1} + ρ₁ ν_t, B̃_t = B̃_{t-1}/ρ₀ + ν_tᵀ M̄_t/ρ₁ (ν_t random signs), ∇W += (c_t·Ã_t) B̃_t.
- ``kernl``: KeRNL (Roth et al. 2019): M_t[k,i,j] ≈ A_ki E_t,ij with E_t = (1 - γ) ⊙ E_{t-1} + D_t; the
  sensitivities A and the per-unit decay rates γ are fitted online to a perturbed shadow network.
- ``dni``: truncated BPTT over windows of K steps with a synthesiser's estimate of the future gradient
  injected at each window's end (DNI; :class:`brainlearn.rules.sg_rnn.SyntheticGradientRNN`).
- ``bplambda``: fully online learning with the synthetic future gradient learned by accumulate BP(λ)
  (:class:`brainlearn.rules.bplambda.BPLambda`), via :func:`brainlearn.rules.bplambda.online_step`.
- ``readout``: the readout alone (the recurrent weights get no update): a reservoir baseline.
- ``eprop_spiking``: e-prop for a :class:`brainlearn.rules.spiking.SpikingRNN` (LIF / ALIF neurons).

Usage::

    model = LeakyRNN(LeakyRNNConfig(n_in=1, n_hidden=32, n_out=2, alpha=1.0), generator=g)
    rule = make_rule("eprop", model, feedback="random", generator=g)   # or EProp(model, EPropConfig(...), ...)
    opt = torch.optim.Adam(rule.parameters(), lr=1e-3)
    rule.reset(batch)
    for t in range(T):
        rule.step(x[:, t], y[:, t])              # updates traces, adds the step's update into .grad
        if (t + 1) % rule.update_interval == 0:
            opt.step(); opt.zero_grad()
    rule.finish()                                # flushes what a windowed rule still holds
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from brainlearn.errors import ConfigError, inside_transform
from brainlearn.rules._trace_kernels import decay_add_contract, fused
from brainlearn.rules.bplambda import BPLambda, BPLambdaConfig, online_step
from brainlearn.rules.plausibility import Plausibility
from brainlearn.rules.rnn_base import (
    LOSSES,
    LeakyCell,
    LeakyCellConfig,
    LeakyRNN,
    LeakyRNNConfig,
    LearningRule,
    LossFn,
    RuleConfig,
    add_grad,
    add_product_,
    check_inputs,
    contract_trace,
    random_feedback,
    soft_cross_entropy,
    squared_error,
)
from brainlearn.rules.sg_rnn import SyntheticGradientRNN, SyntheticGradientRNNConfig
from brainlearn.rules.spiking import SpikingEProp, SpikingEPropConfig
from brainlearn.rules.synthetic import Synthesiser, SynthesiserConfig
from brainlearn.runtime.config import param, require

__all__ = [
    "BPTT", "DNI", "LOSSES", "RECURRENT_RULES", "RFLO", "RTRL", "UORO", "BPLambdaRule", "BPLambdaRuleConfig",
    "BPTTConfig", "DNIConfig", "EProp", "EPropConfig", "KeRNL", "KeRNLConfig", "LeakyCell", "LeakyCellConfig",
    "LeakyRNN", "LeakyRNNConfig", "LearningRule", "LinearSynthesiser", "LossFn", "RFLOConfig", "RTRLConfig",
    "ReadoutOnly", "ReadoutOnlyConfig", "RuleConfig", "SpikingEProp", "SpikingEPropConfig", "UOROConfig",
    "check_inputs", "make_rule", "plausibility", "rule_config", "soft_cross_entropy", "squared_error",
]


class _OnlineRule(LearningRule):
    """Rules that run forward only: traces, then ∇W += Σ_i L_t,i (trace)_t,i,j."""

    def _step(self, x_t, target_t, weight_t):
        a, ahat, dphi = self.cell.terms(x_t, self.state)
        with torch.no_grad():
            self._update(x_t, a, ahat, dphi)
        loss, e = self._readout(a, target_t, weight_t)
        with torch.no_grad():
            grad = self._weight_grad(e)
        if grad is not None:
            add_grad(self.cell.weight, grad / a.shape[0])
        self.state = a
        return loss

    def _update(self, x_t, a, ahat, dphi) -> None:
        pass

    def _weight_grad(self, e: torch.Tensor) -> torch.Tensor | None:
        raise NotImplementedError

    def credit(self, e: torch.Tensor) -> torch.Tensor:
        """c_t = W_oᵀ e_t, (B, n)."""
        return e @ self.model.readout.weight


@dataclass(frozen=True)
class ReadoutOnlyConfig(RuleConfig):
    """The readout alone has no hyperparameter of its own."""


class ReadoutOnly(_OnlineRule):
    name, uses = "readout", "the readout's own error and the states (the recurrent weights stay fixed)"
    plausibility = Plausibility("none", False, 1, True, False)
    config_class = ReadoutOnlyConfig

    def _weight_grad(self, e):
        return None


@dataclass(frozen=True)
class RTRLConfig(RuleConfig):
    """Exact RTRL has no hyperparameter of its own."""


class RTRL(_OnlineRule):
    """Exact RTRL: M_t = J_t M_{t-1} + M̄_t (B, n, n, P), ∇W += Σ_k c_t,k M_t[k]."""

    name, uses = "rtrl", "the full influence matrix ∂a/∂W (non-local) and W_oᵀ e_t (weight transport); causal"
    plausibility = Plausibility("exact", False, 1, False, True)
    config_class = RTRLConfig

    def _reset_traces(self, batch):
        n, P = self.model.n_hidden, self.cell.weight.shape[1]
        self.influence = self.cell.weight.new_zeros(batch, n, n, P)
        self._spare = torch.empty_like(self.influence)  # the next M_t is written here (no allocation per step)

    def _update(self, x_t, a, ahat, dphi):
        B, n, _, P = self.influence.shape
        jac = self.cell.jacobian(dphi)
        if inside_transform(self.influence):  # an ensemble's vmap takes no out= arguments
            m = torch.bmm(jac, self.influence.reshape(B, n, n * P)).view(B, n, n, P)
        else:
            if self._spare.shape != self.influence.shape:  # a state loaded from elsewhere
                self._spare = torch.empty_like(self.influence)
            m = self._spare
            torch.bmm(jac, self.influence.reshape(B, n, n * P), out=m.view(B, n, n * P))
            self._spare = self.influence
        m.diagonal(dim1=1, dim2=2).add_((self.cell.alpha * dphi[:, :, None] * ahat[:, None, :]).transpose(1, 2))
        self.influence = m

    def _weight_grad(self, e):
        c = self.credit(e)
        B, n, _, P = self.influence.shape
        return (c.reshape(1, B * n) @ self.influence.reshape(B * n, n * P)).view(n, P)


class _TraceRule(_OnlineRule):
    """Rules with one eligibility trace per synapse, E_t (B, n, P), and a learning signal L_t (B, n)."""

    extras = ("generator",)

    def __init__(self, model, config=None, *, loss_fn=None, generator: torch.Generator | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.feedback = self.config.feedback
        self.feedback_matrix = random_feedback(model, generator) if self.feedback == "random" else None

    def _reset_traces(self, batch):
        self.trace = self.cell.weight.new_zeros(batch, self.model.n_hidden, self.cell.weight.shape[1])

    def decay(self, dphi: torch.Tensor) -> torch.Tensor | float:
        """The trace's decay this step, (B, n) or a number (each rule its own)."""
        raise NotImplementedError

    def _update(self, x_t, a, ahat, dphi):
        """E ← decay ⊙ E + α φ'(h) âᵀ in place: two passes over the trace (mul_, then addcmul_ of the broadcast
        outer product), no (B, n, P) temporary; the fastest torch order measured (docs/experiments/rnnrules.md)."""
        decay = self.decay(dphi)
        decay = decay[:, :, None] if isinstance(decay, torch.Tensor) else decay
        add_product_(self.trace.mul_(decay), (self.cell.alpha * dphi)[:, :, None], ahat[:, None, :])

    def _step(self, x_t, target_t, weight_t):
        if not fused(self.trace):
            return super()._step(x_t, target_t, weight_t)
        # one compiled pass: the readout's error first (it reads a_t only), then decay, add and contract at once
        a, ahat, dphi = self.cell.terms(x_t, self.state)
        loss, e = self._readout(a, target_t, weight_t)
        with torch.no_grad():
            decay = torch.as_tensor(self.decay(dphi), dtype=a.dtype)
            grad = decay_add_contract(self.trace, decay, self.cell.alpha * dphi, ahat, self.signal(e))
        add_grad(self.cell.weight, grad / a.shape[0])
        self.state = a
        return loss

    def signal(self, e: torch.Tensor) -> torch.Tensor:
        """L_t = W_oᵀ e_t (symmetric) or B e_t (random), (B, n)."""
        return e @ self.signal_matrix()

    def signal_matrix(self) -> torch.Tensor:
        """F with L_t = e_t F: the readout W_o (symmetric) or the random feedback B, (n_out, n)."""
        return self.model.readout.weight if self.feedback_matrix is None else self.feedback_matrix

    def _weight_grad(self, e):
        return contract_trace(e, self.signal_matrix(), self.trace)


@dataclass(frozen=True)
class EPropConfig(RuleConfig):
    """e-prop's learning signal."""

    feedback: Literal["symmetric", "random"] = param(
        "symmetric", help="learning signal W_oᵀ e_t (symmetric) or a fixed random B e_t (random)")


class EProp(_TraceRule):
    """Rate e-prop: E_t = (1 - α + α φ'(h_t) W_ii) ⊙ E_{t-1} + D_t; ∇W_ij += L_t,i E_t,ij.

    `generator` draws the random feedback B (``feedback="random"``)."""

    name, uses = "eprop", "local traces (own unit's leak and self-weight), W_oᵀ e_t or B e_t; causal"
    plausibility = Plausibility("exact", False, 1, True, True)
    config_class = EPropConfig

    def decay(self, dphi):
        alpha = self.cell.alpha
        return (1 - alpha) + alpha * dphi * torch.diagonal(self.cell.w_rec)


@dataclass(frozen=True)
class RFLOConfig(RuleConfig):
    """RFLO's learning signal (random by definition; symmetric for comparisons)."""

    feedback: Literal["symmetric", "random"] = param(
        "random", help="learning signal B e_t with a fixed random B (random) or W_oᵀ e_t (symmetric)")


class RFLO(_TraceRule):
    """RFLO: E_t = (1 - α) E_{t-1} + D_t; ∇W_ij += L_t,i E_t,ij with L_t = B e_t (random by default).

    `generator` draws the random feedback B."""

    name, uses = "rflo", "local traces (the unit's leak only) and B e_t (no weight transport); causal"
    plausibility = Plausibility("exact", False, 1, True, True)
    config_class = RFLOConfig

    def decay(self, dphi):
        return 1 - self.cell.alpha


@dataclass(frozen=True)
class UOROConfig(RuleConfig):
    """UORO's numerical guard."""

    eps: float = param(1e-7, gt=0, help="ε added to the norms in ρ₀ and ρ₁")


class UORO(_OnlineRule):
    """UORO: M_t ≈ Ã_t B̃_tᵀ (Ã (B, n), B̃ (B, n, P)) with random-sign probes ν_t; unbiased in expectation.

    `generator` draws the probes ν_t."""

    name, uses = "uoro", "J_t Ã (a Jacobian-vector product, non-local), random probes, W_oᵀ e_t; causal"
    plausibility = Plausibility("exact", False, 1, False, True)
    config_class = UOROConfig
    extras = ("generator",)

    def __init__(self, model, config=None, *, loss_fn=None, generator: torch.Generator | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.generator, self.eps = generator, float(self.config.eps)

    def _reset_traces(self, batch):
        w = self.cell.weight
        self.left = w.new_zeros(batch, self.model.n_hidden)
        self.right = w.new_zeros(batch, self.model.n_hidden, w.shape[1])

    def draw(self, batch):
        return torch.randint(0, 2, (batch, self.model.n_hidden), generator=self.generator)

    def _update(self, x_t, a, ahat, dphi):
        B, n = a.shape
        nu = self._next_draw(B).to(a) * 2 - 1
        # J_t Ã = (1 - α) Ã + α φ' ⊙ (Ã W_recᵀ): one (B, n) x (n, n) product, no (B, n, n) Jacobian
        alpha = self.cell.alpha
        ja = (1 - alpha) * self.left + alpha * dphi * (self.left @ self.cell.w_rec.T)
        u = nu * self.cell.alpha * dphi                      # νᵀ M̄ = u âᵀ, never formed: ‖u âᵀ‖ = ‖u‖ ‖â‖
        rho0 = torch.sqrt((self.right.flatten(1).norm(dim=1) + self.eps) / (ja.norm(dim=1) + self.eps))
        rho1 = torch.sqrt((u.norm(dim=1) * ahat.norm(dim=1) + self.eps) / (nu.norm(dim=1) + self.eps))
        self.left = rho0[:, None] * ja + rho1[:, None] * nu
        add_product_(self.right.div_(rho0[:, None, None]), (u / rho1[:, None])[:, :, None], ahat[:, None, :])

    def _weight_grad(self, e):
        B, n, P = self.right.shape           # Σ_b s_b B̃_b as one vector-matrix product over the flattened B̃
        return ((self.credit(e) * self.left).sum(1) @ self.right.reshape(B, n * P)).view(n, P)


@dataclass(frozen=True)
class KeRNLConfig(RuleConfig):
    """KeRNL's perturbation and the rate at which it fits A and γ."""

    renamed = {"kernl_lr": "lr"}

    sigma: float = param(1e-2, gt=0, help="std of the shadow network's state perturbations ζ_t")
    lr: float = param(1e-3, ge=0, help="SGD rate of the sensitivity A and the decay rates γ (scaled by 1/σ²)")


class KeRNL(_OnlineRule):
    """KeRNL: M_t[k,i,j] ≈ A_ki E_t,ij, E_t = (1 - γ) ⊙ E_{t-1} + D_t, so ∇W_ij += (c_tᵀ A)_i E_t,ij.

    A (n, n) and γ (n,) are learned online by SGD (rate `lr`): a shadow network receives Gaussian
    state perturbations ζ_t (std `sigma`, drawn from `generator`); the filtered perturbation
    ζ̄_t = (1 - γ) ⊙ ζ̄_{t-1} + ζ_t should predict the shadow's deviation δ_t = ã_t - a_t through A:
    minimise ‖A ζ̄_t - δ_t‖² over A and γ. Starts at A = I and γ = α (the leak of an isolated unit).
    """

    name, uses = "kernl", "local traces with learned timescales, a learned unit-to-unit sensitivity A, W_oᵀ e_t"
    plausibility = Plausibility("exact", False, 1, True, True)
    config_class = KeRNLConfig
    extras = ("generator",)

    def __init__(self, model, config=None, *, loss_fn=None, generator: torch.Generator | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.generator, self.sigma, self.lr = generator, float(self.config.sigma), float(self.config.lr)
        w = self.cell.weight
        n = model.n_hidden
        self.sensitivity = torch.eye(n, dtype=w.dtype, device=w.device)
        self.decay = torch.full((n,), self.cell.alpha, dtype=w.dtype, device=w.device)

    def draw(self, batch):
        return torch.randn((batch, self.model.n_hidden), generator=self.generator, dtype=torch.float64)

    def _reset_traces(self, batch):
        w, n = self.cell.weight, self.model.n_hidden
        self.trace = w.new_zeros(batch, n, w.shape[1])
        self.shadow = self.state.clone()
        self.noise_trace = w.new_zeros(batch, n)
        self.noise_trace_grad = w.new_zeros(batch, n)  # ∂ζ̄/∂γ

    def _update(self, x_t, a, ahat, dphi):
        # E ← (1 - γ) ⊙ E + α φ'(h) âᵀ in place, two passes and no temporary (as the trace rules)
        add_product_(self.trace.mul_((1 - self.decay)[None, :, None]), (self.cell.alpha * dphi)[:, :, None],
                     ahat[:, None, :])
        zeta = self.sigma * self._next_draw(a.shape[0]).to(a)
        self.shadow = self.cell.terms(x_t, self.shadow)[0] + zeta
        self.noise_trace_grad = (1 - self.decay) * self.noise_trace_grad - self.noise_trace
        self.noise_trace = (1 - self.decay) * self.noise_trace + zeta
        err = self.noise_trace @ self.sensitivity.T - (self.shadow - a)  # (B, n)
        B = a.shape[0]
        scale = self.lr / self.sigma ** 2
        self.sensitivity -= scale * (err.T @ self.noise_trace) / B
        self.decay = (self.decay - scale * ((err @ self.sensitivity) * self.noise_trace_grad).mean(0)).clamp(0, 1)

    def _weight_grad(self, e):
        return contract_trace(e, self.model.readout.weight @ self.sensitivity, self.trace)   # L = c A = e (W_o A)


@dataclass(frozen=True)
class BPTTConfig(RuleConfig):
    """BPTT's truncation."""

    window: int | None = param(None, ge=1, help="steps per truncation window (none: the whole sequence)")


class BPTT(LearningRule):
    """Backpropagation through time over windows of `window` steps (truncated at each window's start);
    ``window=None`` backpropagates through everything since :meth:`reset` when :meth:`finish` is called.

    Inside an ensemble's vmap autograd cannot reach the members' weights, so there a window's steps run
    without a graph and :meth:`finish` replays the window under :func:`torch.func.grad` (the same gradient)."""

    name, uses = "bptt", "the exact gradient within the window: stored states, backward pass in time (not causal)"
    plausibility = Plausibility("exact", True, 2, True, True)
    config_class = BPTTConfig

    def __init__(self, model, config=None, *, loss_fn=None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.window = self.config.window
        self.update_interval = self.window or 1

    def _reset_traces(self, batch):
        self._losses, self._count = [], 0
        self._inputs: list[tuple] = []  # the window's (x_t, target_t, weight_t), for the replay in a transform
        self._start = self.state

    def _step(self, x_t, target_t, weight_t):
        replay = inside_transform(x_t)
        with torch.enable_grad() if not replay else torch.no_grad():
            a = self.cell(x_t, self.state)
            loss = self._weighted(self.model.readout(a), target_t, weight_t)
        if replay:
            self._inputs.append((x_t, target_t, weight_t))
        else:
            self._losses.append(loss)
        self.state, self._count = a, self._count + 1
        if self.window is not None and self._count == self.window:
            self.finish()
        return loss.detach()

    def _trained(self) -> list[str]:
        return ["cell.weight"] + (["readout.weight", "readout.bias"] if self.train_readout else [])

    def _replayed_grads(self) -> list[torch.Tensor]:
        """The window's gradient by :func:`torch.func.grad` of its loss, replayed from the window's start."""
        inputs, current = self._inputs, dict(self.model.named_parameters())

        def total(params):
            xs = torch.stack([x for x, _, _ in inputs], 1)
            y, _ = torch.func.functional_call(self.model, params, (xs, self._start))
            return torch.stack([self._weighted(y[:, k], tgt, w) for k, (_, tgt, w) in enumerate(inputs)]).sum(0).mean()

        grads = torch.func.grad(total)({n: current[n] for n in self._trained()})
        return [grads[n] for n in self._trained()]

    def finish(self) -> None:
        named = dict(self.model.named_parameters())  # inside a transform: the member's swapped-in tensors
        params = [named[n] for n in self._trained()]
        if self._inputs:
            grads = self._replayed_grads()
        elif self._losses:
            grads = torch.autograd.grad(torch.stack(self._losses).sum(0).mean(), params, allow_unused=True)
        else:
            grads = []
        for p, g in zip(params, grads):
            if g is not None:
                add_grad(p, g)
        self._losses, self._inputs, self._count = [], [], 0
        if self.state is not None:
            self.state = self.state.detach()
        self._start = self.state


class LinearSynthesiser(nn.Module):
    """ĝ(a) = A a + c, zero at initialisation: the synthetic-gradient module of the ``dni`` and ``bplambda``
    rules (shaped like :class:`brainlearn.nn.Synthesiser`: ``state_dim``, ``layers``, ``context``)."""

    def __init__(self, state_dim: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.state_dim, self.context = state_dim, None
        self.layers = nn.ModuleList([nn.Linear(state_dim, state_dim, dtype=dtype)])
        nn.init.zeros_(self.layers[0].weight)
        nn.init.zeros_(self.layers[0].bias)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.layers[0](s)


def _synthesiser_for(model: LeakyRNN, synthesiser: nn.Module | None, hidden: tuple[int, ...] = (),
                     generator: torch.Generator | None = None) -> nn.Module:
    """`synthesiser`, else a zero one on the network's device: linear, or with `hidden` a ReLU MLP whose hidden
    layers are drawn from `generator` (:class:`~brainlearn.nn.Synthesiser`: the ccRNN's cerebellum)."""
    if synthesiser is not None:
        return synthesiser
    w = model.cell.weight
    if hidden:
        mlp = Synthesiser(SynthesiserConfig(model.n_hidden, hidden), generator=generator)
        return mlp.to(device=w.device, dtype=w.dtype)
    return LinearSynthesiser(model.n_hidden, w.dtype).to(w.device)


@dataclass(frozen=True)
class DNIConfig(RuleConfig):
    """DNI's truncation and the weight of the synthetic gradient."""

    window: int = param(3, ge=1, help="steps per truncation window K")
    sg_scale: float = param(1.0, ge=0, help="β: the synthetic gradient β ĝ(a) injected at each window's end")
    cerebellum: tuple[int, ...] = param((), ge=1, help="hidden widths of a ReLU MLP synthesiser (the ccRNN's "
                                                       "cerebellum); empty: DNI's linear one")

    def __post_init__(self):
        super().__post_init__()
        require(self.train_readout, "dni: train_readout=False is not supported")


class DNI(LearningRule):
    """Truncated BPTT over windows of `window` steps with a synthetic gradient β ĝ(a) injected at each
    window's end and ĝ regressed onto its bootstrapped target (the reference discount γ = β); the windows
    are run by :class:`~brainlearn.rules.sg_rnn.SyntheticGradientRNN` on this network's own cell.
    :meth:`finish` runs what is left as a last window without injection (nothing follows it).
    `synthesiser`: ĝ (None: a zero :class:`LinearSynthesiser`)."""

    name, uses = "dni", "exact gradient within the window plus a learned estimate of the future gradient"
    plausibility = Plausibility("exact", True, 2, True, True)
    config_class = DNIConfig
    extras = ("synthesiser", "generator")

    def __init__(self, model, config=None, *, loss_fn=None, synthesiser: nn.Module | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        self.synthesiser = _synthesiser_for(model, synthesiser, self.config.cerebellum, generator)
        self.net = SyntheticGradientRNN(
            SyntheticGradientRNNConfig(window=self.config.window, sg_scale=self.config.sg_scale,
                                       sg_at_final_state=True), model.cell, model.readout, self.synthesiser)
        self.update_interval = self.net.window

    def parameters(self):
        return list(self.model.parameters()) + list(self.synthesiser.parameters())

    def _reset_traces(self, batch):
        self._buffer: list[tuple] = []
        self._running = self.state

    def _step(self, x_t, target_t, weight_t):
        self._buffer.append((x_t, target_t, weight_t))
        with torch.no_grad():
            self._running = self.cell(x_t, self._running)
            loss = self._weighted(self.model.readout(self._running), target_t, weight_t)
        if len(self._buffer) == self.net.window:
            self._flush(final=self.steps_left == 0)
        return loss

    def _flush(self, final: bool) -> None:
        xs = torch.stack([b[0] for b in self._buffer], 1)
        buffer = self._buffer

        def window_loss(y, t0):
            losses = [self._weighted(y[:, k], tgt, w) for k, (_, tgt, w) in enumerate(buffer)]
            return torch.stack(losses, 1).sum(1).mean()

        self.net.sg_at_final_state = not final
        self.net.accumulate_gradients(xs, window_loss, state0=self.state.detach())
        self.state, self._buffer = self._running.detach(), []

    def finish(self) -> None:
        if getattr(self, "_buffer", None):
            self._flush(final=True)


@dataclass(frozen=True)
class BPLambdaRuleConfig(RuleConfig):
    """The weight of the synthetic gradient and the BP(λ) learner's settings."""

    beta: float = param(1.0, help="β: the learning signal is ∂ℓ_t/∂a_t + β ĝ_t")
    gamma: float = param(1.0, ge=0, le=1, help="BP(λ)'s discount γ")
    lam: float = param(1.0, ge=0, le=1, help="BP(λ)'s trace decay λ")
    clip: float | None = param(1.0, gt=0, help="each step's synthesiser update is rescaled to norm <= clip "
                                               "(none: no clipping)")
    sequence_length: int | None = param(None, ge=1, help="steps after which the synthesiser's update enters "
                                                         ".grad in a stream (none: at finish())")

    def __post_init__(self):
        super().__post_init__()
        require(self.train_readout, "bplambda: train_readout=False is not supported")


class BPLambdaRule(LearningRule):
    """Fully online learning with the learning signal ∂ℓ_t/∂a_t + β ĝ_t, where ĝ_t ≈ ∂(Σ_{k>t} ℓ_k)/∂a_t is
    a synthesiser trained by accumulate BP(λ); the weights change by L_t ∂a_t/∂W|_{a_{t-1}} (one-step
    truncation). The synthesiser's update (a descent direction too) enters ``.grad`` at :meth:`finish`,
    or every `sequence_length` steps when set (for an unending stream). `synthesiser`: ĝ (None: a zero
    :class:`LinearSynthesiser`)."""

    name, uses = "bplambda", "the immediate credit, a learned future-gradient estimate and J_t (for its trace)"
    plausibility = Plausibility("exact", False, 1, True, True)
    config_class = BPLambdaRuleConfig
    extras = ("synthesiser",)

    def __init__(self, model, config=None, *, loss_fn=None, synthesiser: nn.Module | None = None):
        super().__init__(model, config, loss_fn=loss_fn)
        c = self.config
        self.synthesiser = _synthesiser_for(model, synthesiser)
        self.learner = BPLambda(self.synthesiser, BPLambdaConfig(gamma=c.gamma, lam=c.lam, clip=c.clip))
        self.beta = float(c.beta)
        self.sequence_length = c.sequence_length
        self.update_interval = 1

    def parameters(self):
        return list(self.model.parameters()) + list(self.synthesiser.parameters())

    def _reset_traces(self, batch):
        self.learner.begin(self.state)
        self._count = 0

    def _step(self, x_t, target_t, weight_t):
        self._count += 1
        last = self.sequence_length is not None and self._count == self.sequence_length
        cell = self.cell
        self.state, _, loss = online_step(
            lambda s, x: cell(x, s), lambda s: s, lambda s, x: cell.jacobian(cell.terms(x, s)[2]),
            [cell.weight], self.model.readout, self.state, x_t, target_t, True,
            lambda y, tgt: self._weighted(y, tgt, weight_t), learner=self.learner, beta=self.beta, signal_t=None,
            train_rnn=True, last=last, batch=self.state.shape[0])
        if last:
            self.finish()
            self._reset_traces(self.state.shape[0])
        return loss

    def finish(self) -> None:
        self.learner.accumulate_grad()


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

RECURRENT_RULES: dict[str, type[LearningRule]] = {
    "bptt": BPTT, "rtrl": RTRL, "eprop": EProp, "rflo": RFLO, "uoro": UORO, "kernl": KeRNL, "dni": DNI,
    "bplambda": BPLambdaRule, "readout": ReadoutOnly, "eprop_spiking": SpikingEProp,
}
"""Every learning rule for recurrent networks by name (``eprop_spiking`` trains a SpikingRNN, the others
a LeakyRNN: see each class's ``model_type``)."""


def _rule_class(name: str) -> type[LearningRule]:
    if name not in RECURRENT_RULES:
        raise ConfigError(f"unknown learning rule {name!r}; expected one of {sorted(RECURRENT_RULES)}")
    return RECURRENT_RULES[name]


def plausibility(name: str, config: RuleConfig | None = None) -> Plausibility:
    """What rule `name` (with `config`; None: its defaults) asks of a brain, as
    :class:`~brainlearn.rules.plausibility.Plausibility`: e-prop's and RFLO's learning signal transports W_oᵀ
    only with ``feedback="symmetric"``."""
    attrs = _rule_class(name).plausibility
    assert attrs is not None, f"rule {name} declares no plausibility"
    feedback = getattr(rule_config(name, config), "feedback", "symmetric")
    return dataclasses.replace(attrs, weight_transport="none") if feedback == "random" else attrs


def rule_config(name: str, config: RuleConfig | None = None, **fields) -> RuleConfig:
    """The config of rule `name`: `config` (None: its defaults) with `fields` replaced; an unknown or renamed
    field is a ConfigError naming the fields the rule has."""
    cls = _rule_class(name).config_class
    config = cls() if config is None else config
    if not isinstance(config, cls):
        raise ConfigError(f"{name}: expected a {cls.__name__}, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in fields:
        if key in cls.renamed:
            raise ConfigError(f"{name}: {key!r} was renamed: use {cls.renamed[key]!r}")
        if key not in known:
            raise ConfigError(f"{name}: unknown setting {key!r}; its settings are {', '.join(sorted(known))} "
                              "(and make_rule's loss_fn, generator, synthesiser)")
    return dataclasses.replace(config, **fields) if fields else config


def make_rule(name: str, model: nn.Module, config: RuleConfig | None = None, *, loss_fn: LossFn | str | None = None,
              generator: torch.Generator | None = None, synthesiser: nn.Module | None = None,
              **fields) -> LearningRule:
    """The rule called `name` (a key of :data:`RECURRENT_RULES`) for `model`.

    The same keywords for every rule:

    - `config`: the rule's config (``RECURRENT_RULES[name].config_class``; None: its defaults), and
      `fields`: any of that config's fields, set on it (``make_rule("bptt", model, window=10)``).
    - `loss_fn`: a per-sample loss or a name in :data:`LOSSES` (None: the rule's ``default_loss``).
    - `generator`: the random draws of the rules that make them (random feedback of ``eprop``, ``rflo`` and
      ``eprop_spiking``; the probes of ``uoro``; the perturbations of ``kernl``; the MLP synthesiser of ``dni``
      with a `cerebellum`); the others ignore it.
    - `synthesiser`: ĝ of ``dni`` and ``bplambda`` (None: a zero :class:`LinearSynthesiser`); passing one
      to another rule is a ConfigError.
    """
    cls = _rule_class(name)
    config = rule_config(name, config, **fields)
    extras = {}
    if "generator" in cls.extras:
        extras["generator"] = generator
    if synthesiser is not None:
        if "synthesiser" not in cls.extras:
            takes = sorted(n for n, c in RECURRENT_RULES.items() if "synthesiser" in c.extras)
            raise ConfigError(f"{name}: takes no synthesiser (only {', '.join(takes)} do)")
        extras["synthesiser"] = synthesiser
    return cls(model, config, loss_fn=loss_fn, **extras)
