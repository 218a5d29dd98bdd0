"""Truncated BPTT with synthetic gradients for recurrent networks (DNI for RNNs, Jaderberg et al. 2017).

The sequence x_1..x_T is cut into windows of K steps. Window i starts from the (detached) state s_i,
runs K steps of the RNN and ends in s_{i+1}. Its weight gradient is

    ∂L_i/∂θ + β · g(s_{i+1}) · ∂s_{i+1}/∂θ,

where L_i is the task loss of the window's own steps and g is the synthesiser's estimate of the
gradient of all *future* losses with respect to s_{i+1} (detached). The gradient that arrives at the
window's entry state,

    δ_i = ∂L_i/∂s_i + γ · g(s_{i+1}) · ∂s_{i+1}/∂s_i,

is the synthesiser's bootstrapped regression target at s_i: it is trained on ‖g(s_i) − δ_i‖² / B with
δ_i detached. With γ = 1 the fixed point is the true future gradient G_i = ∂(Σ_{j≥i} L_j)/∂s_i.
The reference code (dni-pytorch, ccDNI) uses the *same* β in both places, so γ = β ("reference"):
the synthesiser then learns Σ_j β^j · (gradient of window i+j), a per-window discount, and its output
is scaled by β again when injected. ``bootstrap_discount`` chooses between the two.

Without a synthesiser (or with g ≡ 0, as at initialisation) this is plain truncated BPTT; with K ≥ T it
is full BPTT. Gradients of all windows are accumulated into ``.grad``; the caller steps the optimiser.

The state s is a flat (batch, state_dim) tensor for every torch cell: h for ``nn.RNNCell`` and
``nn.GRUCell``, [h; c] for ``nn.LSTMCell`` (so the synthesiser sees and predicts both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.runtime.config import Config, param

CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)

WindowLoss = Callable[[torch.Tensor, int], "torch.Tensor | None"]
"""``window_loss(y, t0)``: y (batch, k, out) are the readout's outputs at steps t0..t0+k-1 (0-based);
return the scalar loss of those steps (summed over steps, averaged over the batch), or None when the
window has no targets."""


class RecurrentCore(nn.Module):
    """A torch RNN cell seen as a map of flat states, s_t = f(s_{t-1}, x_t).

    Args:
        cell: ``nn.RNNCell``, ``nn.GRUCell`` or ``nn.LSTMCell``, or a module with the ``nn.RNNCell``
            calling convention ``cell(x_t, h) -> h``, attributes ``input_size``, ``hidden_size``,
            ``weight_ih`` (for the dtype and device) and ``flat_state_cell = True`` (e.g.
            :class:`brainlearn.rules.recurrent.LeakyCell`).

    Shapes: ``x_t`` (batch, input_size); ``s`` (batch, state_dim) with state_dim = hidden_size, or
    2 x hidden_size for an LSTM (s = [h; c]); :meth:`hidden` gives h (batch, hidden_size).
    """

    def __init__(self, cell: nn.Module):
        super().__init__()
        if not (isinstance(cell, CELLS) or getattr(cell, "flat_state_cell", False)):
            raise ConfigError(f"RecurrentCore: expected one of {', '.join(c.__name__ for c in CELLS)}, "
                              f"got {type(cell).__name__}")
        self.cell = cell
        self.is_lstm = isinstance(cell, nn.LSTMCell)
        self.input_size, self.hidden_size = cell.input_size, cell.hidden_size
        self.state_dim = self.hidden_size * (2 if self.is_lstm else 1)

    def initial_state(self, batch: int, device=None, dtype=None) -> torch.Tensor:
        p = self.cell.weight_ih
        return torch.zeros(batch, self.state_dim, device=device or p.device, dtype=dtype or p.dtype)

    def step(self, x_t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """One step: (batch, input_size), (batch, state_dim) -> (batch, state_dim)."""
        if self.is_lstm:
            h, c = self.cell(x_t, s.split(self.hidden_size, dim=1))
            return torch.cat([h, c], dim=1)
        return self.cell(x_t, s)

    def hidden(self, s: torch.Tensor) -> torch.Tensor:
        """The cell's output h, read from the flat state s."""
        return s[..., :self.hidden_size]


class _ScaleGradient(torch.autograd.Function):
    """Identity forward, gradient multiplied by `scale` backward (discounts credit across a boundary)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


@dataclass
class SGStats:
    """What one :meth:`SyntheticGradientRNN.accumulate_gradients` pass measured.

    Attributes:
        loss: task loss summed over windows (the full-sequence loss).
        synth_loss: synthesiser regression loss Σ_i ‖g(s_i) − δ_i‖² / B summed over the trained states.
        predictions: g(s_i) at the window entry states i = 1..n-1, (n_windows - 1, batch, state_dim).
        targets: the bootstrapped targets δ_i at the same states, same shape (empty without synthesiser).
    """

    loss: float
    synth_loss: float
    predictions: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True)
class SyntheticGradientRNNConfig(Config):
    """The truncation and the synthetic gradient of :class:`SyntheticGradientRNN`."""

    window: int = param(1, ge=1, help="K, the truncation length (feedback horizon); K >= T is full BPTT")
    sg_scale: float = param(0.1, ge=0, help="β, the scale of the injected synthetic gradient (0.1 in the reference)")
    bootstrap_discount: Literal["reference", "unbiased"] | float = param(
        "reference", ge=0, le=1, help="γ of the synthesiser's target: 'reference' (γ = β, as dni-pytorch and ccDNI), "
        "'unbiased' (γ = 1, whose fixed point is the true future gradient) or a number in [0, 1]")
    observe_only: bool = param(False, help="train the synthesiser but do not inject its gradient (pure truncated BPTT)")
    sg_at_final_state: bool = param(False, help="also inject g(s_T) after the last window (a reference-code quirk)")


class SyntheticGradientRNN(nn.Module):
    """An RNN trained by truncated BPTT over windows of `window` steps, with a synthesiser's prediction
    of the future gradient injected at each window's end (DNI).

    Args:
        config: the window K, β, γ and the two switches (see :class:`SyntheticGradientRNNConfig`).
        cell: ``nn.RNNCell``, ``nn.GRUCell`` or ``nn.LSTMCell`` (the recurrent "cortex").
        readout: maps h (batch, k, hidden_size) to outputs (batch, k, out); e.g. ``nn.Linear``.
        synthesiser: g(s): (batch, state_dim) -> (batch, state_dim), e.g. :class:`brainlearn.nn.Synthesiser`;
            None gives plain truncated BPTT.
        encoder: optional module applied to each window's inputs, (batch, k, *) -> (batch, k, input_size)
            (e.g. a word embedding); its parameters are trained through the windows like the cell's.

    ``observe_only`` trains the synthesiser without injecting its gradient (a warm-up with pure truncated
    BPTT; same as ``inject_sg = False``); ``sg_at_final_state`` also injects g(s_T) after the last window,
    where no future loss exists (a quirk of the reference code; off by default).

    Lesion hooks (attributes, may be changed between updates): ``inject_sg`` (False: stop applying the
    synthetic gradient, a "cerebellar lesion") and ``learn_sg`` (False: stop training the synthesiser
    but keep applying it, an "inferior-olive lesion"); ``sg_at_final_state`` may be changed too.
    """

    def __init__(self, config: SyntheticGradientRNNConfig, cell: nn.Module, readout: nn.Module,
                 synthesiser: nn.Module | None = None, *, encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.core = RecurrentCore(cell)
        self.readout, self.synthesiser, self.encoder = readout, synthesiser, encoder
        if synthesiser is not None:
            with torch.no_grad():
                probe = synthesiser(self.core.initial_state(1))
            if probe.shape != (1, self.core.state_dim):
                raise ShapeError(f"synthesiser must map (batch, {self.core.state_dim}) to (batch, "
                                 f"{self.core.state_dim}), got output shape {tuple(probe.shape)}")
        self.window, self.sg_scale = config.window, config.sg_scale
        self.bootstrap_discount = config.bootstrap_discount
        self.sg_at_final_state = config.sg_at_final_state
        self.inject_sg, self.learn_sg = not config.observe_only, True

    @property
    def discount(self) -> float:
        """γ, the bootstrap discount actually used in the synthesiser's target."""
        if self.bootstrap_discount == "reference":
            return self.sg_scale
        return 1.0 if self.bootstrap_discount == "unbiased" else float(self.bootstrap_discount)

    def cortex_parameters(self) -> list[nn.Parameter]:
        """Parameters of the cell, readout and encoder (everything but the synthesiser)."""
        synth = {id(p) for p in self.synthesiser.parameters()} if self.synthesiser is not None else set()
        return [p for p in self.parameters() if id(p) not in synth]

    # ---- forward (inference: the cortex alone) ---------------------------------------------------
    def _check(self, x: torch.Tensor, state0: torch.Tensor | None) -> torch.Tensor:
        check_tensor(x, "x")
        if x.ndim < 2 or (self.encoder is None and (x.ndim != 3 or x.shape[2] != self.core.input_size)):
            want = f"(batch, time, {self.core.input_size})" if self.encoder is None else "(batch, time, ...)"
            raise ShapeError(f"x: expected shape {want}, got {tuple(x.shape)}")
        if state0 is None:
            return self.core.initial_state(x.shape[0], x.device)
        check_tensor(state0, "state0", ndim=2)
        if state0.shape != (x.shape[0], self.core.state_dim):
            raise ShapeError(f"state0: expected shape ({x.shape[0]}, {self.core.state_dim}), "
                             f"got {tuple(state0.shape)}")
        return state0

    def _run_window(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (batch, k, ...) from state s -> readout outputs (batch, k, out) and the exit state."""
        inputs = self.encoder(x) if self.encoder is not None else x
        hs = []
        for t in range(inputs.shape[1]):
            s = self.core.step(inputs[:, t], s)
            hs.append(self.core.hidden(s))
        return self.readout(torch.stack(hs, dim=1)), s

    def forward(self, x: torch.Tensor, state0: torch.Tensor | None = None) -> torch.Tensor:
        """Run the RNN over the whole sequence without the synthesiser: x (batch, T, ...) -> (batch, T, out)."""
        return self.run(x, state0)[0]

    def run(self, x: torch.Tensor, state0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`forward`, also returning all states (batch, T, state_dim)."""
        s = self._check(x, state0)
        inputs = self.encoder(x) if self.encoder is not None else x
        states = []
        for t in range(inputs.shape[1]):
            s = self.core.step(inputs[:, t], s)
            states.append(s)
        states = torch.stack(states, dim=1)
        return self.readout(self.core.hidden(states)), states

    def windows(self, T: int) -> list[tuple[int, int]]:
        """The (start, stop) step ranges of the truncation windows of a length-T sequence."""
        return [(t0, min(t0 + self.window, T)) for t0 in range(0, T, self.window)]

    # ---- training pass ---------------------------------------------------------------------------
    def accumulate_gradients(self, x: torch.Tensor, window_loss: WindowLoss,
                             state0: torch.Tensor | None = None) -> SGStats:
        """One truncated-BPTT pass over a minibatch, adding gradients into every parameter's ``.grad``.

        For each window i (entry state s_i detached): backpropagate L_i + β⟨g(s_{i+1}), s_{i+1}⟩ (g
        detached; the SG term only if ``inject_sg`` and s_{i+1} is not the final state), read the
        gradient δ_i that reaches s_i (with γ in place of β when they differ, see the module docstring),
        and, if ``learn_sg``, backpropagate ‖g(s_i) − δ_i‖² / B into the synthesiser. No optimiser step,
        no clipping, no zeroing: the caller owns those (the reference clips all parameters, synthesiser
        included, to norm 1 and steps once per minibatch).

        Args:
            x: inputs (batch, T, input_size), or (batch, T, ...) for the encoder.
            window_loss: see :data:`WindowLoss`.
            state0: initial state (batch, state_dim); zeros by default. If it carries a graph (e.g. an
                image encoder), the gradient reaching it is propagated into that graph.
        """
        s = self._check(x, state0)
        B, T = x.shape[:2]
        synth = self.synthesiser
        beta = self.sg_scale if self.inject_sg else 0.0
        gamma = self.discount
        # 1. Forward, window by window, each from a detached entry state (the windows' graphs are disjoint;
        #    the synthesiser does not act on the forward pass, so all states are known before any backward).
        entries, exits, losses = [], [], []
        for t0, t1 in self.windows(T):
            s_in = s.detach().requires_grad_(True)
            y, s = self._run_window(x[:, t0:t1], s_in)
            loss = window_loss(y, t0)
            if loss is not None and loss.ndim != 0:
                raise ShapeError(f"window_loss must return a scalar, got shape {tuple(loss.shape)}")
            entries.append(s_in)
            exits.append(s)
            losses.append(loss)
        n = len(entries)
        # 2. The synthesiser at every entry state s_0..s_{n-1} (and s_n if sg_at_final_state), in one batch.
        g = None
        if synth is not None:
            states = entries[1:] + ([exits[-1]] if self.sg_at_final_state else [])
            g = synth(torch.stack([entries[0].detach()] + [t.detach() for t in states]).flatten(0, 1))
            g = g.view(-1, B, self.core.state_dim)  # g[i] = g(s_i)
        g_exit = [g[i + 1].detach() if g is not None and i + 1 < len(g) else None for i in range(n)]
        # 3. Backward through every window at once: L_i + β⟨g(s_{i+1}), s_{i+1}⟩ (g detached).
        outputs, grads = [], []
        for loss, s_out, g_out in zip(losses, exits, g_exit):
            if loss is not None:
                outputs.append(loss)
                grads.append(torch.ones_like(loss))
            if g_out is not None and beta != 0:
                outputs.append(s_out)
                grads.append(beta * g_out)
        # The bootstrap term g(s_{i+1})·∂s_{i+1}/∂s_i separately when the target's discount γ differs from β.
        boot = [i for i in range(n) if g_exit[i] is not None and i + 1 < n]
        extra = {}
        if synth is not None and gamma != beta and boot:
            parts = torch.autograd.grad([exits[i] for i in boot], [entries[i] for i in boot],
                                        [g_exit[i] for i in boot], retain_graph=bool(outputs), allow_unused=True)
            extra = {i: p for i, p in zip(boot, parts) if p is not None}
        if outputs:
            torch.autograd.backward(outputs, grads)
        deltas = [e.grad if e.grad is not None else torch.zeros_like(e) for e in entries]
        if state0 is not None and state0.requires_grad:
            state0.backward(deltas[0])
        for i, part in extra.items():
            deltas[i] = deltas[i] + (gamma - beta) * part
        total = float(sum(loss.detach() for loss in losses if loss is not None))
        if synth is None:
            empty = torch.zeros(0, B, self.core.state_dim, device=x.device)
            return SGStats(total, 0.0, empty, empty)
        # 4. The synthesiser regresses onto the bootstrapped targets: Σ_i ‖g(s_i) − δ_i‖² / B.
        targets = torch.stack(deltas)
        sg_loss = (g[:n] - targets).pow(2).sum() / B
        if self.learn_sg:
            sg_loss.backward()
        return SGStats(total, float(sg_loss.detach()), g[1:n].detach(), targets[1:])

    # ---- diagnostics ------------------------------------------------------------------------------
    def future_gradients(self, x: torch.Tensor, window_loss: WindowLoss, state0: torch.Tensor | None = None,
                         discount: float = 1.0) -> torch.Tensor:
        """The true gradients the synthesiser should predict, by autograd through the whole sequence.

        At each window entry state s_i (i = 1..n-1): G_i = ∂L_i/∂s_i + discount · G_{i+1}·∂s_{i+1}/∂s_i,
        i.e. Σ_j discount^j · (gradient of window i+j's loss) back-propagated to s_i. discount = 1 is the
        true future gradient ∂(Σ_{j≥i} L_j)/∂s_i; discount = β is the fixed point of the reference target.
        Returns (n_windows - 1, batch, state_dim); the parameters' ``.grad`` are untouched.
        """
        s = self._check(x, state0).detach()
        boundaries, total = [], 0.0
        with torch.enable_grad():
            for i, (t0, t1) in enumerate(self.windows(x.shape[1])):
                if i > 0:
                    s = _ScaleGradient.apply(s, float(discount))
                    boundaries.append(s)
                y, s = self._run_window(x[:, t0:t1], s)
                loss = window_loss(y, t0)
                if loss is not None:
                    total = total + loss
            if not boundaries:
                return torch.zeros(0, x.shape[0], self.core.state_dim, device=x.device)
            if not torch.is_tensor(total):
                return torch.zeros(len(boundaries), x.shape[0], self.core.state_dim, device=x.device)
            grads = torch.autograd.grad(total, boundaries, allow_unused=True)
        return torch.stack([torch.zeros_like(b) if g is None else g for g, b in zip(grads, boundaries)]).detach()

    @torch.no_grad()
    def synthetic_gradients(self, x: torch.Tensor, state0: torch.Tensor | None = None) -> torch.Tensor:
        """g(s_i) at the window entry states i = 1..n-1: (n_windows - 1, batch, state_dim)."""
        if self.synthesiser is None:
            raise ConfigError("synthetic_gradients: this network has no synthesiser")
        _, states = self.run(x, state0)
        idx = [t1 - 1 for _, t1 in self.windows(x.shape[1])[:-1]]
        return torch.stack([self.synthesiser(states[:, t]) for t in idx]) if idx else \
            torch.zeros(0, x.shape[0], self.core.state_dim, device=x.device)

    def clip_gradients(self, max_norm: float, include_synthesiser: bool = True) -> float:
        """Clip the global gradient norm (the reference clips everything, synthesiser included, to 1).

        Returns the norm before clipping."""
        params = list(self.parameters()) if include_synthesiser else self.cortex_parameters()
        return float(nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], max_norm))
