"""What every recurrent learning rule shares: the leaky rate network, the step losses and the rule interface.

The network (:class:`LeakyRNN`, Henha Eyono et al. 2022, arXiv:2105.05382): a leaky rate RNN with state
a_t ∈ R^n, inputs x_t ∈ R^m and readout

    â_t = [a_{t-1}; x_t; 1],   h_t = W â_t,   a_t = (1 - α) a_{t-1} + α φ(h_t),   y_t = W_o a_t + b_o,

with W = [W_rec | W_in | b] of shape (n, P), P = n + m + 1, and φ = tanh. A step's loss is ℓ_t(y_t)
(per sample; zero where a task has no target), its error e_t = ∂ℓ_t/∂y_t and the credit at the state
c_t = ∂ℓ_t/∂a_t = W_oᵀ e_t.

A rule (:class:`LearningRule`) estimates ∇_W Σ_t ℓ_t (and the readout's gradient) and *adds* the descent
direction, averaged over the batch, into the parameters' ``.grad``, so any torch optimiser applies it.
Its hyperparameters are a :class:`RuleConfig` (one subclass per rule). The rules themselves are in
:mod:`brainlearn.rules.recurrent` (rate networks) and :mod:`brainlearn.rules.spiking` (LIF / ALIF
networks); both build on this module and on nothing of each other's.

Shapes: x_t (B, m), target_t (B, ...) as the loss reads it, weight_t (B,) or None; states (B, n).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor, inside_transform
from brainlearn.rules.plausibility import Plausibility
from brainlearn.runtime.config import Config, param

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(y, target) -> (B,)``: the per-sample loss of one step's readout y (B, n_out)."""


def soft_cross_entropy(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-Σ_k p_k log softmax(y)_k per sample, for target probabilities p (B, n_out): (B,)."""
    return -(target * torch.log_softmax(y, dim=-1)).sum(-1)


def squared_error(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ ‖y - target‖² per sample: (B,)."""
    return 0.5 * (y - target).pow(2).sum(-1)


LOSSES = {"cross_entropy": soft_cross_entropy, "mse": squared_error}

DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeakyCellConfig(Config):
    """The leaky cell's sizes, leak and initial weights."""

    n_in: int = param(1, ge=1, help="inputs m")
    n_hidden: int = param(32, ge=1, help="units n")
    alpha: float = param(1.0, gt=0, le=1, help="leak α (1: a vanilla tanh RNN)")
    gain: float = param(0.5, gt=0, help="W_rec starts as a random orthogonal matrix times gain")
    dtype: Literal["float32", "float64"] = param("float32", help="the weights' dtype")


class LeakyCell(nn.Module):
    """a_t = (1 - α) a_{t-1} + α tanh(W [a_{t-1}; x_t; 1]), with the ``nn.RNNCell`` calling convention.

    W_rec is a random orthogonal matrix times `gain`; W_in has N(0, 1/m) entries; b = 0 (drawn from
    `generator`).
    """

    flat_state_cell = True

    def __init__(self, config: LeakyCellConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(config, LeakyCellConfig):
            raise ConfigError(f"LeakyCell: expected a LeakyCellConfig, got {type(config).__name__}")
        self.config = config
        n_in, n_hidden = config.n_in, config.n_hidden
        self.input_size, self.hidden_size, self.alpha = n_in, n_hidden, float(config.alpha)
        q, r = torch.linalg.qr(torch.randn(n_hidden, n_hidden, generator=generator, dtype=torch.float64))
        w_rec = config.gain * q * torch.sign(torch.diagonal(r))[None, :]
        w_in = torch.randn(n_hidden, n_in, generator=generator, dtype=torch.float64) / math.sqrt(n_in)
        w = torch.cat([w_rec, w_in, torch.zeros(n_hidden, 1, dtype=torch.float64)], 1)
        self.weight = nn.Parameter(w.to(DTYPES[config.dtype]))

    @property
    def weight_ih(self) -> torch.Tensor:  # dtype and device probe used by RecurrentCore
        return self.weight

    @property
    def w_rec(self) -> torch.Tensor:
        return self.weight[:, :self.hidden_size]

    def extended(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """â = [a; x; 1], (B, P)."""
        return torch.cat([a, x, torch.ones_like(a[:, :1])], 1)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        h = self.extended(x, a) @ self.weight.T
        return (1 - self.alpha) * a + self.alpha * torch.tanh(h)

    @torch.no_grad()
    def terms(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step without a graph: (a_t, â_t, φ'(h_t))."""
        ahat = self.extended(x, a)
        phi = torch.tanh(ahat @ self.weight.T)
        return (1 - self.alpha) * a + self.alpha * phi, ahat, 1 - phi * phi

    @torch.no_grad()
    def jacobian(self, dphi: torch.Tensor) -> torch.Tensor:
        """J_t = (1 - α) I + α diag(φ'(h_t)) W_rec from φ'(h_t) (B, n): (B, n, n)."""
        jac = self.alpha * dphi[:, :, None] * self.w_rec
        jac.diagonal(dim1=1, dim2=2).add_(1 - self.alpha)
        return jac


@dataclass(frozen=True)
class LeakyRNNConfig(LeakyCellConfig):
    """The cell's settings and the readout's size."""

    n_out: int = param(2, ge=1, help="readout units")


class LeakyRNN(nn.Module):
    """A :class:`LeakyCell` and a linear readout y_t = W_o a_t + b_o (W_o ~ N(0, 1/n), b_o = 0).

    The cell's weights are drawn from `generator` first, then the readout's.
    """

    def __init__(self, config: LeakyRNNConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(config, LeakyRNNConfig):
            raise ConfigError(f"LeakyRNN: expected a LeakyRNNConfig, got {type(config).__name__}")
        self.config = config
        n_hidden, n_out = config.n_hidden, config.n_out
        self.cell = LeakyCell(config, generator=generator)
        self.readout = nn.Linear(n_hidden, n_out, dtype=DTYPES[config.dtype])
        with torch.no_grad():
            self.readout.weight.copy_(torch.randn(n_out, n_hidden, generator=generator, dtype=torch.float64)
                                      / math.sqrt(n_hidden))
            self.readout.bias.zero_()
        self.n_in, self.n_hidden, self.n_out = config.n_in, n_hidden, n_out

    def forward(self, x: torch.Tensor, a0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, m) -> (readouts (B, T, n_out), states a_1..a_T (B, T, n))."""
        check_inputs(self, x)
        a = self.initial_state(x.shape[0]) if a0 is None else a0
        states = []
        for t in range(x.shape[1]):
            a = self.cell(x[:, t], a)
            states.append(a)
        states = torch.stack(states, 1)
        return self.readout(states), states

    def initial_state(self, batch: int) -> torch.Tensor:
        w = self.cell.weight
        return w.new_zeros(batch, self.n_hidden)


def check_inputs(model: nn.Module, x: torch.Tensor, targets: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None) -> None:
    """Validate a batch of sequences x (B, T, m), targets (B, T, ...) and loss weights (B, T) for `model`
    (any network with an ``n_in``)."""
    check_tensor(x, "x", ndim=3)
    if x.shape[1] == 0:
        raise ShapeError(f"x: expected at least one time step, got shape {tuple(x.shape)}")
    if x.shape[2] != model.n_in:
        raise ShapeError(f"x: expected shape (B, T, {model.n_in}), got {tuple(x.shape)}")
    if targets is not None:
        check_tensor(targets, "targets")
        if targets.shape[:2] != x.shape[:2]:
            raise ShapeError(f"targets: expected shape ({x.shape[0]}, {x.shape[1]}, ...), got {tuple(targets.shape)}")
    if weights is not None:
        check_tensor(weights, "weights", ndim=2)
        if weights.shape != x.shape[:2]:
            raise ShapeError(f"weights: expected shape {tuple(x.shape[:2])}, got {tuple(weights.shape)}")


# --------------------------------------------------------------------------------------------------
# Helpers the rules share
# --------------------------------------------------------------------------------------------------

def add_product_(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """t += a ⊙ b in place (broadcast): one pass, no temporary (``addcmul_``); inside an ensemble's vmap, which
    has no batching rule for ``addcmul_`` (it would loop over the members), through the product instead."""
    return t.add_(a * b) if inside_transform(t) else t.addcmul_(a, b)


def add_grad(p: torch.Tensor, g: torch.Tensor) -> None:
    """p.grad += g (detached); sets it when p has no gradient yet."""
    p.grad = g.detach().clone() if p.grad is None else p.grad + g.detach()


def random_feedback(model: nn.Module, generator: torch.Generator | None) -> torch.Tensor:
    """A fixed random feedback matrix B (n_out, n) with N(0, 1/n) entries (the readout's distribution), on
    the readout's dtype and device; `model` has ``n_out``, ``n_hidden`` and a ``readout``."""
    w = model.readout.weight
    b = torch.randn(model.n_out, model.n_hidden, generator=generator, dtype=torch.float64) / math.sqrt(model.n_hidden)
    return b.to(dtype=w.dtype, device=w.device)


def contract_trace(e: torch.Tensor, F: torch.Tensor, trace: torch.Tensor) -> torch.Tensor:
    """Σ_b L_bi E_bij with the learning signal L = e F (e (B, k), F (k, n), trace E (B, n, P)), shape (n, P).

    L has rank k = n_out, so the sum is Σ_k F_ki G_kij with G = eᵀ E: one matrix product over the flattened
    trace (a single read of it) instead of n small per-unit products, each over a strided (B, P) block (what
    einsum("bi,bij->ij") runs). Past 16 outputs the k-fold G costs more than it saves, and einsum is used."""
    B, n, P = trace.shape
    if F.shape[0] > 16:
        return torch.einsum("bi,bij->ij", e @ F, trace)
    G = (e.T @ trace.reshape(B, n * P)).view(-1, n, P)
    return (F[:, :, None] * G).sum(0)


# --------------------------------------------------------------------------------------------------
# The rule interface
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleConfig(Config):
    """What every rule has: whether it trains the readout. Each rule's config adds its hyperparameters."""

    train_readout: bool = param(True, help="False leaves the readout's .grad alone")


class LearningRule:
    """The interface: ``reset(batch)``, ``step(x_t, target_t, weight_t)``, ``finish()``, ``run(x, targets)``.

    A rule owns the network's state a_t (``state``) and its own traces; ``step`` advances both by one
    time step and adds its update (descent direction of mean_b Σ_t w_t ℓ_t) into ``.grad``.
    ``update_interval``: the steps after which the rule's accumulated update is complete (1 for online
    rules; the window for BPTT and DNI), i.e. when a trainer should step its optimiser.

    Args:
        model: the network the rule trains (``model_type``: a :class:`LeakyRNN` unless the rule says).
        config: the rule's :class:`RuleConfig` subclass (``config_class``; None: its defaults).
        loss_fn: per-sample loss (see :data:`LossFn`) or a name in :data:`LOSSES`; None: ``default_loss``.
    """

    name = ""
    config_class: ClassVar[type[RuleConfig]] = RuleConfig
    model_type: ClassVar[type] = LeakyRNN  # the network class the rule trains
    default_loss: ClassVar[str] = "cross_entropy"
    extras: ClassVar[tuple[str, ...]] = ()  # keywords the constructor takes besides model, config, loss_fn
    update_interval = 1
    uses = ""  # the information the rule uses, in words (documented per rule)
    # what the rule asks of a brain (the league's columns); a rule whose feedback is configurable gives the
    # symmetric case here, and :func:`brainlearn.rules.recurrent.plausibility` adjusts it to the config
    plausibility: ClassVar[Plausibility | None] = None

    def __init__(self, model: nn.Module, config: RuleConfig | None = None, *, loss_fn: LossFn | str | None = None):
        want = self.model_type
        if not isinstance(model, want):
            raise ConfigError(f"{type(self).__name__}: expected a {want.__name__}, got {type(model).__name__}")
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__}: expected a {self.config_class.__name__}, "
                              f"got {type(config).__name__}")
        loss_fn = self.default_loss if loss_fn is None else loss_fn
        if isinstance(loss_fn, str):
            if loss_fn not in LOSSES:
                raise ConfigError(f"unknown loss {loss_fn!r}; expected one of {sorted(LOSSES)}")
            loss_fn = LOSSES[loss_fn]
        self.model, self.config, self.loss_fn = model, config, loss_fn
        self.train_readout = config.train_readout
        self.steps_left: int | None = None  # set by run(): steps after the current one (None: unknown)
        self.cell = getattr(model, "cell", None)
        self.state: torch.Tensor | None = None
        self.predrawn: torch.Tensor | None = None  # (T, ...) draws to take in order instead of drawing (ensembles)

    # ---- interface -----------------------------------------------------------------------------
    def parameters(self) -> list[nn.Parameter]:
        """Everything the rule trains (the network's parameters and any module of the rule's own)."""
        return list(self.model.parameters())

    def reset(self, batch: int, state: torch.Tensor | None = None) -> None:
        """Start `batch` new sequences from `state` (B, n) (zeros by default); traces start at zero."""
        if batch < 1:
            raise ConfigError(f"reset: batch must be >= 1, got {batch}")
        self.state = self.model.initial_state(batch) if state is None else state.detach()
        self._reset_traces(batch)

    def step(self, x_t: torch.Tensor, target_t: torch.Tensor, weight_t: torch.Tensor | None = None) -> torch.Tensor:
        """Advance one step; returns the per-sample loss w_t ℓ_t (B,), detached."""
        if self.state is None:
            raise ConfigError(f"{self.name}: call reset(batch) before step")
        check_tensor(x_t, "x_t", ndim=2)
        if x_t.shape != (self.state.shape[0], self.model.n_in):
            raise ShapeError(f"x_t: expected shape ({self.state.shape[0]}, {self.model.n_in}), got {tuple(x_t.shape)}")
        return self._step(x_t, target_t, weight_t)

    def finish(self) -> None:
        """Flush any update still held (windowed rules); online rules have none."""

    def run(self, x: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None,
            state: torch.Tensor | None = None) -> float:
        """reset, step through x (B, T, m), finish. Returns mean_b Σ_t w_t ℓ_t; the update is in ``.grad``."""
        return float(self.accumulate(x, targets, weights, state).mean())

    def accumulate(self, x: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None,
                   state: torch.Tensor | None = None) -> torch.Tensor:
        """:meth:`run` returning each sample's Σ_t w_t ℓ_t (B,) as a tensor (no host sync: ensembles vmap it)."""
        check_inputs(self.model, x, targets, weights)
        self.reset(x.shape[0], state)
        total = x.new_zeros(x.shape[0])
        for t in range(x.shape[1]):
            self.steps_left = x.shape[1] - 1 - t
            total = total + self.step(x[:, t], targets[:, t], None if weights is None else weights[:, t])
        self.steps_left = None
        self.finish()
        return total

    def draw(self, batch: int) -> torch.Tensor | None:
        """The random numbers one step of this rule draws for `batch` samples, from its generator (None: a
        rule that draws none). An ensemble draws each member's in this order outside its vmap."""
        return None

    # ---- shared pieces --------------------------------------------------------------------------
    def _next_draw(self, batch: int) -> torch.Tensor:
        """This step's random numbers: the next of ``predrawn`` when set, else a fresh :meth:`draw`."""
        if self.predrawn is None:
            return self.draw(batch)
        out, self.predrawn = self.predrawn[0], self.predrawn[1:]
        return out

    def _step(self, x_t: torch.Tensor, target_t: torch.Tensor, weight_t: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _reset_traces(self, batch: int) -> None:
        pass

    def _weighted(self, y, target, weight):
        loss = self.loss_fn(y, target)
        return loss if weight is None else loss * weight

    def _loss_and_error(self, y: torch.Tensor, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-sample loss w ℓ(y) (B,) and its error e = ∂(w ℓ)/∂y (B, n_out), detached."""
        if inside_transform(y):  # an ensemble's vmap: no requires_grad_ there, torch.func instead (same numbers)

            def summed(yl):
                per_sample = self._weighted(yl, target, weight)
                return per_sample.sum(), per_sample

            e, (_, loss) = torch.func.grad_and_value(summed, has_aux=True)(y.detach())
            return loss.detach(), e
        with torch.enable_grad():
            yl = y.detach().requires_grad_()
            loss = self._weighted(yl, target, weight)
            (e,) = torch.autograd.grad(loss.sum(), [yl])
        return loss.detach(), e

    def _readout(self, a: torch.Tensor, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss at a_t, its error e_t = ∂(w ℓ)/∂y_t (B, n_out); readout gradients into ``.grad``."""
        ro = self.model.readout
        with torch.enable_grad():  # as a step alone has always run it (rnnrules-cost counts what it saves)
            y = ro(a.detach())
        loss, e = self._loss_and_error(y, target, weight)
        if self.train_readout:
            B = a.shape[0]
            add_grad(ro.weight, e.T @ a / B)
            add_grad(ro.bias, e.sum(0) / B)
        return loss, e
