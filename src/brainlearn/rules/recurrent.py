"""Learning rules for recurrent networks on one interface (Henha Eyono et al. 2022, arXiv:2105.05382).

The network (:class:`LeakyRNN`): a leaky rate RNN with state a_t ∈ R^n, inputs x_t ∈ R^m and readout

    â_t = [a_{t-1}; x_t; 1],   h_t = W â_t,   a_t = (1 - α) a_{t-1} + α φ(h_t),   y_t = W_o a_t + b_o,

with W = [W_rec | W_in | b] of shape (n, P), P = n + m + 1, and φ = tanh. A step's loss is ℓ_t(y_t)
(per sample; zero where a task has no target), its error e_t = ∂ℓ_t/∂y_t and the credit at the state
c_t = ∂ℓ_t/∂a_t = W_oᵀ e_t. The quantities the rules share:

    J_t = (1 - α) I + α diag(φ'(h_t)) W_rec                      (the step Jacobian ∂a_t/∂a_{t-1})
    M̄_t[k, i, j] = δ_ki D_t[i, j],  D_t[i, j] = α φ'(h_t,i) â_t,j   (the immediate influence ∂a_t/∂W)
    M_t = ∂a_t/∂W = J_t M_{t-1} + M̄_t                            (the influence matrix)

Every rule estimates ∇_W Σ_t ℓ_t (and the readout's gradient, which all compute exactly from e_t and
a_t) and *adds* the descent direction, averaged over the batch, into the parameters' ``.grad``, so any
torch optimiser applies it. The rules (names for :func:`make_rule`):

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

Usage::

    model = LeakyRNN(n_in=1, n_hidden=32, n_out=2, alpha=1.0, generator=g)
    rule = make_rule("eprop", model, feedback="random", generator=g)
    opt = torch.optim.Adam(rule.parameters(), lr=1e-3)
    rule.reset(batch)
    for t in range(T):
        rule.step(x[:, t], y[:, t])              # updates traces, adds the step's update into .grad
        if (t + 1) % rule.update_interval == 0:
            opt.step(); opt.zero_grad()
    rule.finish()                                # flushes what a windowed rule still holds

Shapes: x_t (B, m), target_t (B, ...) as the loss reads it, weight_t (B,) or None; states (B, n).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.rules.bplambda import BPLambda, online_step
from brainlearn.rules.sg_rnn import SyntheticGradientRNN

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(y, target) -> (B,)``: the per-sample loss of one step's readout y (B, n_out)."""


def soft_cross_entropy(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-Σ_k p_k log softmax(y)_k per sample, for target probabilities p (B, n_out): (B,)."""
    return -(target * torch.log_softmax(y, dim=-1)).sum(-1)


def squared_error(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ ‖y - target‖² per sample: (B,)."""
    return 0.5 * (y - target).pow(2).sum(-1)


LOSSES = {"cross_entropy": soft_cross_entropy, "mse": squared_error}


class LeakyCell(nn.Module):
    """a_t = (1 - α) a_{t-1} + α tanh(W [a_{t-1}; x_t; 1]), with the ``nn.RNNCell`` calling convention.

    Args:
        n_in, n_hidden: m and n.
        alpha: α in (0, 1] (1: a vanilla tanh RNN).
        gain: W_rec is a random orthogonal matrix times `gain`; W_in has N(0, 1/m) entries; b = 0.
        generator: for the initial weights.
        dtype: float32 or float64.
    """

    flat_state_cell = True

    def __init__(self, n_in: int, n_hidden: int, alpha: float = 1.0, gain: float = 0.5,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        if n_in < 1 or n_hidden < 1:
            raise ConfigError(f"LeakyCell: need n_in, n_hidden >= 1, got {n_in}, {n_hidden}")
        if not 0 < alpha <= 1:
            raise ConfigError(f"LeakyCell: alpha must lie in (0, 1], got {alpha}")
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"LeakyCell: dtype must be float32 or float64, got {dtype}")
        self.input_size, self.hidden_size, self.alpha = n_in, n_hidden, float(alpha)
        q, r = torch.linalg.qr(torch.randn(n_hidden, n_hidden, generator=generator, dtype=torch.float64))
        w_rec = gain * q * torch.sign(torch.diagonal(r))[None, :]
        w_in = torch.randn(n_hidden, n_in, generator=generator, dtype=torch.float64) / math.sqrt(n_in)
        w = torch.cat([w_rec, w_in, torch.zeros(n_hidden, 1, dtype=torch.float64)], 1)
        self.weight = nn.Parameter(w.to(dtype))

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


class LeakyRNN(nn.Module):
    """A :class:`LeakyCell` and a linear readout y_t = W_o a_t + b_o (W_o ~ N(0, 1/n), b_o = 0).

    Args: as :class:`LeakyCell`, plus n_out (the readout's size).
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, alpha: float = 1.0, gain: float = 0.5,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        if n_out < 1:
            raise ConfigError(f"LeakyRNN: n_out must be >= 1, got {n_out}")
        self.cell = LeakyCell(n_in, n_hidden, alpha, gain, generator, dtype)
        self.readout = nn.Linear(n_hidden, n_out, dtype=dtype)
        with torch.no_grad():
            self.readout.weight.copy_(torch.randn(n_out, n_hidden, generator=generator, dtype=torch.float64)
                                      / math.sqrt(n_hidden))
            self.readout.bias.zero_()
        self.n_in, self.n_hidden, self.n_out = n_in, n_hidden, n_out

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


def check_inputs(model: LeakyRNN, x: torch.Tensor, targets: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None) -> None:
    """Validate a batch of sequences x (B, T, m), targets (B, T, ...) and loss weights (B, T)."""
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


def _add(p: torch.Tensor, g: torch.Tensor) -> None:
    p.grad = g.detach().clone() if p.grad is None else p.grad + g.detach()


class LearningRule:
    """The interface: ``reset(batch)``, ``step(x_t, target_t, weight_t)``, ``finish()``, ``run(x, targets)``.

    A rule owns the network's state a_t (``state``) and its own traces; ``step`` advances both by one
    time step and adds its update (descent direction of mean_b Σ_t w_t ℓ_t) into ``.grad``.
    ``update_interval``: the steps after which the rule's accumulated update is complete (1 for online
    rules; the window for BPTT and DNI), i.e. when a trainer should step its optimiser.

    Args:
        model: a :class:`LeakyRNN`.
        loss_fn: per-sample loss (see :data:`LossFn`) or a name in :data:`LOSSES`.
        train_readout: False leaves the readout's ``.grad`` alone.
    """

    name = ""
    model_type: type | None = None  # the network class the rule trains (None: LeakyRNN)
    update_interval = 1
    uses = ""  # the information the rule uses, in words (documented per rule)

    def __init__(self, model: LeakyRNN, loss_fn: LossFn | str = "cross_entropy", train_readout: bool = True):
        want = self.model_type or LeakyRNN
        if not isinstance(model, want):
            raise ConfigError(f"{type(self).__name__}: expected a {want.__name__}, got {type(model).__name__}")
        if isinstance(loss_fn, str):
            if loss_fn not in LOSSES:
                raise ConfigError(f"unknown loss {loss_fn!r}; expected one of {sorted(LOSSES)}")
            loss_fn = LOSSES[loss_fn]
        self.model, self.loss_fn, self.train_readout = model, loss_fn, bool(train_readout)
        self.steps_left: int | None = None  # set by run(): steps after the current one (None: unknown)
        self.cell = getattr(model, "cell", None)
        self.state: torch.Tensor | None = None

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
        check_inputs(self.model, x, targets, weights)
        self.reset(x.shape[0], state)
        total = x.new_zeros(x.shape[0])
        for t in range(x.shape[1]):
            self.steps_left = x.shape[1] - 1 - t
            total = total + self.step(x[:, t], targets[:, t], None if weights is None else weights[:, t])
        self.steps_left = None
        self.finish()
        return float(total.mean())

    # ---- shared pieces --------------------------------------------------------------------------
    def _reset_traces(self, batch: int) -> None:
        pass

    def _weighted(self, y, target, weight):
        loss = self.loss_fn(y, target)
        return loss if weight is None else loss * weight

    def _readout(self, a: torch.Tensor, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss at a_t, its error e_t = ∂(w ℓ)/∂y_t (B, n_out); readout gradients into ``.grad``."""
        ro = self.model.readout
        with torch.enable_grad():
            leaf = a.detach().requires_grad_(False)
            y = ro(leaf)
            yl = y.detach().requires_grad_()
            loss = self._weighted(yl, target, weight)
            (e,) = torch.autograd.grad(loss.sum(), [yl])
        if self.train_readout:
            B = a.shape[0]
            _add(ro.weight, e.T @ a / B)
            _add(ro.bias, e.sum(0) / B)
        return loss.detach(), e


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
            _add(self.cell.weight, grad / a.shape[0])
        self.state = a
        return loss

    def _update(self, x_t, a, ahat, dphi) -> None:
        pass

    def _weight_grad(self, e: torch.Tensor) -> torch.Tensor | None:
        raise NotImplementedError

    def credit(self, e: torch.Tensor) -> torch.Tensor:
        """c_t = W_oᵀ e_t, (B, n)."""
        return e @ self.model.readout.weight


def _random_feedback(model: LeakyRNN, generator: torch.Generator | None) -> torch.Tensor:
    """A fixed random feedback matrix B (n_out, n) with N(0, 1/n) entries (the readout's distribution)."""
    w = model.readout.weight
    b = torch.randn(model.n_out, model.n_hidden, generator=generator, dtype=torch.float64) / math.sqrt(model.n_hidden)
    return b.to(dtype=w.dtype, device=w.device)


class ReadoutOnly(_OnlineRule):
    name, uses = "readout", "the readout's own error and the states (the recurrent weights stay fixed)"

    def _weight_grad(self, e):
        return None


class RTRL(_OnlineRule):
    """Exact RTRL: M_t = J_t M_{t-1} + M̄_t (B, n, n, P), ∇W += Σ_k c_t,k M_t[k]."""

    name, uses = "rtrl", "the full influence matrix ∂a/∂W (non-local) and W_oᵀ e_t (weight transport); causal"

    def _reset_traces(self, batch):
        n, P = self.model.n_hidden, self.cell.weight.shape[1]
        self.influence = self.cell.weight.new_zeros(batch, n, n, P)
        self._spare = torch.empty_like(self.influence)  # the next M_t is written here (no allocation per step)

    def _update(self, x_t, a, ahat, dphi):
        B, n, _, P = self.influence.shape
        jac = self.cell.jacobian(dphi)
        if self._spare.shape != self.influence.shape:  # a state loaded from elsewhere
            self._spare = torch.empty_like(self.influence)
        m = self._spare
        torch.bmm(jac, self.influence.reshape(B, n, n * P), out=m.view(B, n, n * P))
        m.diagonal(dim1=1, dim2=2).add_((self.cell.alpha * dphi[:, :, None] * ahat[:, None, :]).transpose(1, 2))
        self._spare, self.influence = self.influence, m

    def _weight_grad(self, e):
        c = self.credit(e)
        B, n, _, P = self.influence.shape
        return (c.reshape(1, B * n) @ self.influence.reshape(B * n, n * P)).view(n, P)


class _TraceRule(_OnlineRule):
    """Rules with one eligibility trace per synapse, E_t (B, n, P), and a learning signal L_t (B, n)."""

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, feedback="symmetric", generator=None):
        super().__init__(model, loss_fn, train_readout)
        if feedback not in ("symmetric", "random"):
            raise ConfigError(f"{self.name}: feedback must be 'symmetric' or 'random', got {feedback!r}")
        self.feedback = feedback
        self.feedback_matrix = _random_feedback(model, generator) if feedback == "random" else None

    def _reset_traces(self, batch):
        self.trace = self.cell.weight.new_zeros(batch, self.model.n_hidden, self.cell.weight.shape[1])
        self._buffer = torch.empty_like(self.trace)

    def _decay_and_add(self, decay, dphi, ahat) -> None:
        """E ← decay ⊙ E + α φ'(h) âᵀ, in place (large fresh tensors every step cost more than the arithmetic)."""
        torch.mul(self.cell.alpha * dphi[:, :, None], ahat[:, None, :], out=self._buffer)
        self.trace.mul_(decay).add_(self._buffer)

    def signal(self, e: torch.Tensor) -> torch.Tensor:
        """L_t = W_oᵀ e_t (symmetric) or B e_t (random), (B, n)."""
        return self.credit(e) if self.feedback_matrix is None else e @ self.feedback_matrix

    def _weight_grad(self, e):
        return torch.einsum("bi,bij->ij", self.signal(e), self.trace)


class EProp(_TraceRule):
    """Rate e-prop: E_t = (1 - α + α φ'(h_t) W_ii) ⊙ E_{t-1} + D_t; ∇W_ij += L_t,i E_t,ij."""

    name, uses = "eprop", "local traces (own unit's leak and self-weight), W_oᵀ e_t or B e_t; causal"

    def _update(self, x_t, a, ahat, dphi):
        alpha = self.cell.alpha
        decay = (1 - alpha) + alpha * dphi * torch.diagonal(self.cell.w_rec)
        self._decay_and_add(decay[:, :, None], dphi, ahat)


class RFLO(_TraceRule):
    """RFLO: E_t = (1 - α) E_{t-1} + D_t; ∇W_ij += L_t,i E_t,ij with L_t = B e_t (random by default)."""

    name, uses = "rflo", "local traces (the unit's leak only) and B e_t (no weight transport); causal"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, feedback="random", generator=None):
        super().__init__(model, loss_fn, train_readout, feedback, generator)

    def _update(self, x_t, a, ahat, dphi):
        self._decay_and_add(1 - self.cell.alpha, dphi, ahat)


class UORO(_OnlineRule):
    """UORO: M_t ≈ Ã_t B̃_tᵀ (Ã (B, n), B̃ (B, n, P)) with random-sign probes ν_t; unbiased in expectation."""

    name, uses = "uoro", "J_t Ã (a Jacobian-vector product, non-local), random probes, W_oᵀ e_t; causal"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, generator=None, eps: float = 1e-7):
        super().__init__(model, loss_fn, train_readout)
        self.generator, self.eps = generator, float(eps)

    def _reset_traces(self, batch):
        w = self.cell.weight
        self.left = w.new_zeros(batch, self.model.n_hidden)
        self.right = w.new_zeros(batch, self.model.n_hidden, w.shape[1])
        self._buffer = torch.empty_like(self.right)

    def _update(self, x_t, a, ahat, dphi):
        B, n = a.shape
        nu = torch.randint(0, 2, (B, n), generator=self.generator).to(a) * 2 - 1
        ja = torch.bmm(self.cell.jacobian(dphi), self.left[:, :, None])[:, :, 0]
        nu_m = torch.mul((nu * self.cell.alpha * dphi)[:, :, None], ahat[:, None, :], out=self._buffer)
        rho0 = torch.sqrt((self.right.flatten(1).norm(dim=1) + self.eps) / (ja.norm(dim=1) + self.eps))
        rho1 = torch.sqrt((nu_m.flatten(1).norm(dim=1) + self.eps) / (nu.norm(dim=1) + self.eps))
        self.left = rho0[:, None] * ja + rho1[:, None] * nu
        self.right.div_(rho0[:, None, None]).add_(nu_m.div_(rho1[:, None, None]))

    def _weight_grad(self, e):
        return torch.einsum("b,bij->ij", (self.credit(e) * self.left).sum(1), self.right)


class KeRNL(_OnlineRule):
    """KeRNL: M_t[k,i,j] ≈ A_ki E_t,ij, E_t = (1 - γ) ⊙ E_{t-1} + D_t, so ∇W_ij += (c_tᵀ A)_i E_t,ij.

    A (n, n) and γ (n,) are learned online by SGD (rate `kernl_lr`): a shadow network receives Gaussian
    state perturbations ζ_t (std `sigma`); the filtered perturbation ζ̄_t = (1 - γ) ⊙ ζ̄_{t-1} + ζ_t should
    predict the shadow's deviation δ_t = ã_t - a_t through A: minimise ‖A ζ̄_t - δ_t‖² over A and γ.
    Starts at A = I and γ = α (the leak of an isolated unit).
    """

    name, uses = "kernl", "local traces with learned timescales, a learned unit-to-unit sensitivity A, W_oᵀ e_t"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, generator=None, sigma: float = 1e-2,
                 kernl_lr: float = 1e-3):
        super().__init__(model, loss_fn, train_readout)
        if not sigma > 0 or not kernl_lr >= 0:
            raise ConfigError(f"kernl: need sigma > 0 and kernl_lr >= 0, got {sigma}, {kernl_lr}")
        self.generator, self.sigma, self.lr = generator, float(sigma), float(kernl_lr)
        w = self.cell.weight
        n = model.n_hidden
        self.sensitivity = torch.eye(n, dtype=w.dtype, device=w.device)
        self.decay = torch.full((n,), self.cell.alpha, dtype=w.dtype, device=w.device)

    def _reset_traces(self, batch):
        w, n = self.cell.weight, self.model.n_hidden
        self.trace = w.new_zeros(batch, n, w.shape[1])
        self._buffer = torch.empty_like(self.trace)
        self.shadow = self.state.clone()
        self.noise_trace = w.new_zeros(batch, n)
        self.noise_trace_grad = w.new_zeros(batch, n)  # ∂ζ̄/∂γ

    def _update(self, x_t, a, ahat, dphi):
        torch.mul(self.cell.alpha * dphi[:, :, None], ahat[:, None, :], out=self._buffer)
        self.trace.mul_((1 - self.decay)[None, :, None]).add_(self._buffer)
        zeta = self.sigma * torch.randn(a.shape, generator=self.generator, dtype=torch.float64).to(a)
        self.shadow = self.cell.terms(x_t, self.shadow)[0] + zeta
        self.noise_trace_grad = (1 - self.decay) * self.noise_trace_grad - self.noise_trace
        self.noise_trace = (1 - self.decay) * self.noise_trace + zeta
        err = self.noise_trace @ self.sensitivity.T - (self.shadow - a)  # (B, n)
        B = a.shape[0]
        scale = self.lr / self.sigma ** 2
        self.sensitivity -= scale * (err.T @ self.noise_trace) / B
        self.decay = (self.decay - scale * ((err @ self.sensitivity) * self.noise_trace_grad).mean(0)).clamp(0, 1)

    def _weight_grad(self, e):
        return torch.einsum("bi,bij->ij", self.credit(e) @ self.sensitivity, self.trace)


class BPTT(LearningRule):
    """Backpropagation through time over windows of `window` steps (truncated at each window's start);
    ``window=None`` backpropagates through everything since :meth:`reset` when :meth:`finish` is called."""

    name, uses = "bptt", "the exact gradient within the window: stored states, backward pass in time (not causal)"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, window: int | None = None):
        super().__init__(model, loss_fn, train_readout)
        if window is not None and int(window) < 1:
            raise ConfigError(f"bptt: window must be >= 1 or None, got {window}")
        self.window = None if window is None else int(window)
        self.update_interval = self.window or 1

    def _reset_traces(self, batch):
        self._losses, self._count = [], 0

    def _step(self, x_t, target_t, weight_t):
        with torch.enable_grad():
            a = self.cell(x_t, self.state)
            loss = self._weighted(self.model.readout(a), target_t, weight_t)
        self._losses.append(loss)
        self.state, self._count = a, self._count + 1
        if self.window is not None and self._count == self.window:
            self.finish()
        return loss.detach()

    def finish(self) -> None:
        if self._losses:
            total = torch.stack(self._losses).sum(0).mean()
            ro = self.model.readout
            params = [self.cell.weight] + ([ro.weight, ro.bias] if self.train_readout else [])
            grads = torch.autograd.grad(total, params, allow_unused=True)
            for p, g in zip(params, grads):
                if g is not None:
                    _add(p, g)
        self._losses, self._count = [], 0
        if self.state is not None:
            self.state = self.state.detach()


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


def _synthesiser_for(model: LeakyRNN, synthesiser: nn.Module | None) -> nn.Module:
    if synthesiser is not None:
        return synthesiser
    w = model.cell.weight
    return LinearSynthesiser(model.n_hidden, w.dtype).to(w.device)


class DNI(LearningRule):
    """Truncated BPTT over windows of `window` steps with a synthetic gradient β ĝ(a) injected at each
    window's end and ĝ regressed onto its bootstrapped target (the reference discount γ = β); the windows
    are run by :class:`~brainlearn.rules.sg_rnn.SyntheticGradientRNN` on this network's own cell.
    :meth:`finish` runs what is left as a last window without injection (nothing follows it)."""

    name, uses = "dni", "exact gradient within the window plus a learned estimate of the future gradient"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, window: int = 3, sg_scale: float = 1.0,
                 synthesiser: nn.Module | None = None):
        super().__init__(model, loss_fn, train_readout)
        if not train_readout:
            raise ConfigError("dni: train_readout=False is not supported")
        self.synthesiser = _synthesiser_for(model, synthesiser)
        self.net = SyntheticGradientRNN(model.cell, model.readout, self.synthesiser, window=window,
                                        sg_scale=sg_scale, sg_at_final_state=True)
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


class BPLambdaRule(LearningRule):
    """Fully online learning with the learning signal ∂ℓ_t/∂a_t + β ĝ_t, where ĝ_t ≈ ∂(Σ_{k>t} ℓ_k)/∂a_t is
    a synthesiser trained by accumulate BP(λ); the weights change by L_t ∂a_t/∂W|_{a_{t-1}} (one-step
    truncation). The synthesiser's update (a descent direction too) enters ``.grad`` at :meth:`finish`,
    or every `sequence_length` steps when set (for an unending stream)."""

    name, uses = "bplambda", "the immediate credit, a learned future-gradient estimate and J_t (for its trace)"

    def __init__(self, model, loss_fn="cross_entropy", train_readout=True, beta: float = 1.0, gamma: float = 1.0,
                 lam: float = 1.0, clip: float | None = 1.0, synthesiser: nn.Module | None = None,
                 sequence_length: int | None = None):
        super().__init__(model, loss_fn, train_readout)
        if not train_readout:
            raise ConfigError("bplambda: train_readout=False is not supported")
        self.synthesiser = _synthesiser_for(model, synthesiser)
        self.learner = BPLambda(self.synthesiser, gamma=gamma, lam=lam, clip=clip)
        self.beta = float(beta)
        self.sequence_length = sequence_length
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


RULES: dict[str, type[LearningRule]] = {
    "bptt": BPTT, "rtrl": RTRL, "eprop": EProp, "rflo": RFLO, "uoro": UORO, "kernl": KeRNL, "dni": DNI,
    "bplambda": BPLambdaRule, "readout": ReadoutOnly,
}


def make_rule(name: str, model: LeakyRNN, **kwargs) -> LearningRule:
    """The rule called `name` (a key of :data:`RULES`, or ``"eprop_spiking"`` for a
    :class:`brainlearn.rules.spiking.SpikingRNN`) for `model`; `kwargs` go to its constructor."""
    if name == "eprop_spiking":
        from brainlearn.rules.spiking import SpikingEProp
        return SpikingEProp(model, **kwargs)
    if name not in RULES:
        raise ConfigError(f"unknown learning rule {name!r}; expected one of {sorted(RULES)}")
    return RULES[name](model, **kwargs)
