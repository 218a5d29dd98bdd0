"""Accumulate BP(λ) (Pemberton & Costa 2024, arXiv:2401.07044): learning a synthesiser of dL/ds online.

A recurrent network with states s_0, s_1, ..., s_T (per-step losses ℓ_t, step Jacobians
J_t = ∂s_t/∂s_{t-1}) wants, at every step, the *future* gradient G_t = ∂(Σ_{k>t} ℓ_k)/∂s_t, which
normally needs backpropagation through time. A synthesiser g_θ(s) learns to predict it with a TD-like
rule that runs forwards in time, in constant memory.

**Forward view.** The λ-return mixes n-step bootstrapped targets::

    G^λ_t = (∂ℓ_{t+1}/∂s_{t+1} + γ [(1 - λ) g(s_{t+1}) + λ G^λ_{t+1}]) J_{t+1},   G^λ_T = 0,

and the synthesiser regresses onto it: Δθ = Σ_t (G^λ_t - g(s_t)) ∂g(s_t)/∂θ.
λ = 0 is one-step bootstrapping (DNI with a one-step window); λ = 1, γ = 1 gives G^λ_t = G_t, the
true BPTT gradient (Monte-Carlo regression, no bias).

**Backward view** (what runs online). At step t, once s_t and J_t are known::

    δ_{t-1} = (∂ℓ_t/∂s_t + γ g(s_t)) J_t - g(s_{t-1})           (TD-like error; g(s_T) ≡ 0)
    Δθ     += mean_b  δ_{t-1} · e_{t-1}                       (e: one trace per output dim)
    e_t     = γλ J_t e_{t-1} + ∂g(s_t)/∂θ                      (accumulating eligibility trace)

The Jacobian multiplies the trace from the left, carrying future errors back through the RNN's own
dynamics. With θ frozen over a sequence, Σ_t δ_t e_t equals the forward-view sum exactly.

Trained parameters: the synthesiser's output layer (weight and bias). For the linear synthesiser
g(s) = A s + c that is everything; for an MLP it is the "output weights only" variant of the
reference implementation, which keeps the trace cheap: with features h̃ = [relu-features of s; 1],
∂g_i/∂W̃_{jk} = 1[i=j] h̃_k, so the trace has shape (B, n, n, H+1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.runtime.config import Config, param


def _is_synthesiser(module) -> bool:
    """Whether `module` is shaped like :class:`brainlearn.nn.Synthesiser`: a module with `state_dim`,
    `layers` (its linear maps, the last one the output layer) and `context` (None without a context input).

    Checked by shape rather than by class so that ``rules`` does not import ``nn`` (``nn`` builds on
    ``rules``: its MLP uses the feedback-alignment layers).
    """
    return (isinstance(module, torch.nn.Module) and isinstance(getattr(module, "state_dim", None), int)
            and isinstance(getattr(module, "layers", None), torch.nn.ModuleList) and hasattr(module, "context"))


@dataclass(frozen=True)
class BPLambdaConfig(Config):
    """The discount, the trace decay and the per-step update bound of accumulate BP(λ)."""

    gamma: float = param(1.0, ge=0, le=1, help="discount γ of the λ-return")
    lam: float = param(1.0, ge=0, le=1, help="trace decay λ (0: one-step bootstrapping; 1 with γ = 1: the true "
                                              "BPTT gradient)")
    clip: float | None = param(1.0, gt=0, help="each step's Δθ is rescaled to norm <= clip (as in the reference); "
                                              "none: no clipping")


class BPLambda:
    """The accumulate BP(λ) learner for a :class:`~brainlearn.nn.Synthesiser`.

    Usage, for one batch of sequences (states (B, n), Jacobians (B, n, n), loss gradients (B, n))::

        learner = BPLambda(synth, BPLambdaConfig(gamma=1.0, lam=1.0))
        g0 = learner.begin(s0)                       # starts the traces at s_0
        for t in 1..T:
            g_t = learner.step(s_t, J_t, dl_ds_t, last=(t == T))   # prediction of G_t (0 at the end)
        learner.accumulate_grad()                    # -Σ Δθ into .grad; then step any optimiser

    Args:
        synthesiser: the module g_θ (no context input); only its output layer is trained.
        config: γ, λ and the per-step clip (see :class:`BPLambdaConfig`).

    Gradients are per sample: ``loss_grad`` should be ∂ℓ_t^{(b)}/∂s_t^{(b)} of each sequence's own
    loss (not of a batch mean), so that g predicts a per-sequence gradient whatever the batch size.
    """

    def __init__(self, synthesiser: torch.nn.Module, config: BPLambdaConfig = BPLambdaConfig()):
        if not _is_synthesiser(synthesiser):
            raise ConfigError(f"BPLambda: expected a brainlearn.nn.Synthesiser, got {type(synthesiser).__name__}")
        if synthesiser.context is not None:
            raise ConfigError("BPLambda: synthesisers with a context input are not supported")
        self.config, self.synthesiser = config, synthesiser
        self.gamma, self.lam, self.clip = config.gamma, config.lam, config.clip
        self.n = synthesiser.state_dim
        self.trace: torch.Tensor | None = None  # (B, n, n, H+1)
        self.update = torch.zeros(self.n, synthesiser.layers[-1].in_features + 1)  # Σ Δθ, as [W | b]
        self._prev: torch.Tensor | None = None  # g(s_{t-1}), (B, n)

    @property
    def parameters(self) -> list[torch.Tensor]:
        """The trained parameters: the output layer's weight and bias."""
        out = self.synthesiser.layers[-1]
        return [out.weight, out.bias]

    @torch.no_grad()
    def features(self, state: torch.Tensor) -> torch.Tensor:
        """h̃ = [input of the output layer; 1], shape (B, H+1); g(s) = h̃ W̃ᵀ with W̃ = [W | b]."""
        x = state
        for layer in self.synthesiser.layers[:-1]:
            x = torch.relu(layer(x))
        return torch.cat([x, torch.ones_like(x[:, :1])], 1)

    def _weights(self) -> torch.Tensor:
        out = self.synthesiser.layers[-1]
        return torch.cat([out.weight, out.bias[:, None]], 1).detach()

    def _check_state(self, state: torch.Tensor, name: str, finite: bool = True) -> None:
        check_tensor(state, name, ndim=2, finite=finite)
        if state.shape[1] != self.n or (self.trace is not None and state.shape[0] != self.trace.shape[0]):
            batch = "B" if self.trace is None else self.trace.shape[0]
            raise ShapeError(f"BPLambda: expected {name} of shape ({batch}, {self.n}), got {tuple(state.shape)}")

    @torch.no_grad()
    def begin(self, state: torch.Tensor) -> torch.Tensor:
        """Start a batch of sequences at s_0 (B, n): e_0 = ∂g(s_0)/∂θ. Returns g(s_0) (B, n), detached."""
        self.trace = None
        self._check_state(state, "state")
        feats = self.features(state)
        batch, width = feats.shape
        self.trace = feats.new_zeros(batch, self.n, self.n, width)
        self.trace.diagonal(dim1=1, dim2=2).add_(feats[:, :, None])
        self.update = self.update.to(state)
        self._prev = feats @ self._weights().T
        return self._prev

    @torch.no_grad()
    def step(self, state: torch.Tensor, jacobian: torch.Tensor, loss_grad: torch.Tensor | None,
             last: bool = False) -> torch.Tensor:
        """Advance one step to s_t, accumulate δ_{t-1} e_{t-1} and update the trace.

        Args:
            state: s_t, (B, n).
            jacobian: J_t = ∂s_t/∂s_{t-1}, (B, n, n).
            loss_grad: ∂ℓ_t/∂s_t per sequence, (B, n); None where step t has no loss.
            last: s_t is the final state (g(s_T) ≡ 0: nothing comes after it).

        Returns:
            g(s_t) (B, n), detached: the synthetic estimate of G_t (zeros when `last`).
        """
        if self.trace is None:
            raise ConfigError("BPLambda.step: call begin(s_0) first")
        self._check_state(state, "state", finite=False)  # finiteness: checked once, on δ below
        batch = state.shape[0]
        check_tensor(jacobian, "jacobian", ndim=3, finite=False)
        if jacobian.shape != (batch, self.n, self.n):
            raise ShapeError(f"BPLambda: expected jacobian of shape ({batch}, {self.n}, {self.n}), "
                             f"got {tuple(jacobian.shape)}")
        if loss_grad is not None:
            self._check_state(loss_grad, "loss_grad", finite=False)
        feats = self.features(state)
        pred = torch.zeros_like(state) if last else feats @ self._weights().T
        bootstrap = self.gamma * pred if loss_grad is None else loss_grad + self.gamma * pred
        delta = torch.bmm(bootstrap[:, None, :], jacobian)[:, 0] - self._prev  # δ_{t-1}, (B, n)
        if not bool(delta.isfinite().all()):
            raise ShapeError("BPLambda: the TD error is not finite; state, jacobian or loss_grad contains NaN/inf")
        change = (delta.reshape(1, -1) @ self.trace.reshape(delta.numel(), -1)).view(self.update.shape) / batch
        if self.clip is not None:
            change = change * (self.clip / change.norm().clamp_min(self.clip))
        self.update += change
        if not last:  # e_t = γλ J_t e_{t-1} + ∂g(s_t)/∂θ
            b, n, _, width = self.trace.shape
            trace = torch.bmm(jacobian, self.trace.reshape(b, n, n * width)).reshape(b, n, n, width)
            trace.mul_(self.gamma * self.lam).diagonal(dim1=1, dim2=2).add_(feats[:, :, None])
            self.trace = trace
        self._prev = pred
        return pred

    @torch.no_grad()
    def accumulate_grad(self) -> None:
        """Add -ΣΔθ to the output layer's ``.grad`` (so an optimiser's step moves along +Δθ); reset ΣΔθ."""
        weight, bias = self.parameters
        for p, d in ((weight, -self.update[:, :-1]), (bias, -self.update[:, -1])):
            p.grad = d.clone() if p.grad is None else p.grad + d
        self.update = torch.zeros_like(self.update)

    def trace_bytes(self) -> int:
        """Memory held by the eligibility trace (independent of the sequence length)."""
        return 0 if self.trace is None else self.trace.numel() * self.trace.element_size()


def _add_grad(params, grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g.detach().clone() if p.grad is None else p.grad + g.detach()


def online_step(step_fn, output_fn, jacobian_fn, cell_params: list, readout: torch.nn.Module,
                s: torch.Tensor, x_t: torch.Tensor, target_t, has_target: bool, loss_fn, *,
                learner: BPLambda | None, beta: float, signal_t: torch.Tensor | None, train_rnn: bool,
                last: bool, batch: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One step of online learning with a (synthetic) future-gradient signal; adds updates to ``.grad``.

    s_t = F(s_{t-1}.detach(), x_t) (``step_fn(s_prev, x_t)``); the readout (``readout(output_fn(s_t))``)
    and ∂ℓ_t/∂s_t come from the immediate loss ``loss_fn(logits, target_t)`` (per sample, (B,)); the
    learner (if any) sees (s_t, J_t = ``jacobian_fn(s_prev, x_t)``, ∂ℓ_t/∂s_t) and returns ĝ_t
    (``signal_t`` overrides it); the cell's parameters get (∂ℓ_t/∂s_t + β ĝ_t) ∂s_t/∂θ|_{s_{t-1}} / B and
    the readout's ∂ℓ_t/∂θ / B. Shared by :func:`brainlearn.models.online_rnn.online_gradients` and the
    ``bplambda`` rule of :mod:`brainlearn.rules.recurrent`.

    Returns (s_t detached, the signal ĝ_t or None, the per-sample loss (B,) or None).
    """
    readout_params = list(readout.parameters())
    s_prev = s.detach()
    with torch.set_grad_enabled(train_rnn):
        s_new = step_fn(s_prev, x_t)
    leaf = s_new.detach().requires_grad_()
    dl_ds, loss_value = None, None
    if has_target:
        with torch.enable_grad():
            loss = loss_fn(readout(output_fn(leaf)), target_t)
            wrt = [leaf, *readout_params] if train_rnn else [leaf]
            grads = torch.autograd.grad(loss.sum(), wrt)
        dl_ds, loss_value = grads[0], loss.detach()
        if train_rnn:
            _add_grad(readout_params, [g / batch for g in grads[1:]])
    pred = None
    if learner is not None:
        pred = learner.step(leaf.detach(), jacobian_fn(s_prev, x_t), dl_ds, last=last)
    if signal_t is not None:
        pred = signal_t
    if train_rnn:
        learning_signal = torch.zeros_like(leaf) if dl_ds is None else dl_ds
        if pred is not None and beta != 0:
            learning_signal = learning_signal + beta * pred
        _add_grad(cell_params, torch.autograd.grad(s_new, cell_params, learning_signal / batch))
    return s_new.detach(), pred, loss_value
