"""BurstCCN: burst-dependent credit assignment in cortical networks.

Greedy, Zhu, Pemberton, Mellor & Costa, "BurstCCN: bursting cortico-cortical networks",
NeurIPS 2022, arXiv:2206.11769. Written from the maths (docs/experiments/burstccn.md); no reference
code was copied.

Each layer l is an ensemble of two-compartment pyramidal cells. The soma integrates feedforward input
and fires *events* at rate e_l; the apical dendrite turns some events into *bursts* with probability
p_l, so the *burst rate* is b_l = p_l ⊙ e_l. Short-term plasticity routes the two signals:

    feedforward W_l   (depressing, carries events)        v_l = W_l e_{l-1} + c_l,    e_l = σ(v_l)
    feedback    Y_l   (facilitating, carries bursts)      u_l = Y_lᵀ b_{l+1} − Q_lᵀ e_{l+1}
    feedback    Q_l   (depressing, carries events)

Y_l and Q_l have the shape of W_{l+1} and ``ᵀ`` is the adjoint of layer l+1's linear map (a
transposed convolution for conv layers). The apical potential u_l sets the hidden burst probability

    p_l = 2 p_b σ(k u_l ⊙ h(e_l)),    k = 2 / p_b,    h(e) = σ'(v) / σ(v) = 1 − e,

which equals the baseline p_b at u = 0 with slope h(e). The output layer is taught by the target t:

    p_L = p_b [1 + s (t − e_L) ⊙ (1 − e_L)],    and p_L = p_b when there is no target.

Every layer learns by the same local rule, a burst above baseline giving LTP and below giving LTD:

    ΔW_l = η/(p_b s) · ⟨(p_l − p_b) ⊙ e_l  e_{l−1}ᵀ⟩_batch,    Δc_l likewise without e_{l−1}.

Why this is backprop: write δb_l = b_l − p_b e_l = (p_l − p_b) ⊙ e_l. When Q_l = p_b Y_l (the
*cancelling* state) the apical potential is u_l = Y_lᵀ δb_{l+1}, and p_l − p_b = u_l ⊙ (1 − e_l) + O(u³),
so δb_l ≈ e_l (1 − e_l) ⊙ Y_lᵀ δb_{l+1}: the backprop recursion of a sigmoid network with Y in place
of Wᵀ, started from δb_L = −p_b s ∂ℓ/∂v_L for ℓ = ½‖e_L − t‖². Hence

* ``feedback="tied"`` (Y_l = W_{l+1}) follows the backprop gradient,
* ``feedback="random"`` (Y fixed random) gives feedback alignment,
* ``feedback="learned"`` learns Y by Kolen–Pollack: Y_l gets W_{l+1}'s own update (use the same
  weight decay on both), so Y_l → W_{l+1},
* with no target δb ≡ 0 and nothing changes: a single phase, no separate "free" phase.

Q learning is homeostatic: ΔQ_l = η_Q ⟨e_{l+1} u_lᵀ⟩ (gradient descent on ½‖u_l‖²) drives the apical
potential to zero, i.e. Q_l towards p_b Y_l.

Two forms compute the same steady state:

* :meth:`BurstCCN.burst_pass`: the discrete form, one bottom-up and one top-down sweep (default, batched);
* :meth:`BurstCCN.settle`: the continuous-time form, Euler integration of
  τ_v dv_l/dt = −v_l + W_l e_{l−1} + c_l and τ_u du_l/dt = −u_l + Y_lᵀ b_{l+1} − Q_lᵀ e_{l+1}.

The local rule writes the *descent direction* −ΔW/η into each parameter's ``.grad``, so any torch
optimiser applies it::

    net = BurstCCN(BurstCCNConfig(in_shape=(784,), n_hidden=(500,), feedback="tied"),
                   generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    opt.zero_grad()
    net.backward_local(x, labels)        # forward sweep + top-down burst sweep + local rule
    opt.step()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor, inside_transform
from brainlearn.nn import MLP, MLPConfig, one_hot
from brainlearn.runtime.config import Config, param, require

# --------------------------------------------------------------------------------------------------
# Layers: a linear map, its adjoint (the route of top-down signals) and the local outer product.
# --------------------------------------------------------------------------------------------------

class BurstLinear(nn.Module):
    """A dense ensemble: ``v = W x.flatten(1) + c`` with W (out, in). Accepts any input shape (flattens)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(torch.zeros(self.out_features, self.in_features))
        self.bias = nn.Parameter(torch.zeros(self.out_features))

    @property
    def fans(self) -> tuple[int, int]:
        return self.in_features, self.out_features

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, ...) with prod(...) = in -> v: (B, out)."""
        return F.linear(x.flatten(1), self.weight, self.bias)

    def adjoint(self, signal: torch.Tensor, weight: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
        """Top-down route ``weightᵀ signal``: (B, out) -> in_shape."""
        return (signal @ weight).view(in_shape)

    def outer(self, post: torch.Tensor, pre: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """scale · ⟨post preᵀ⟩_batch, shaped like the weight: (B, out), (B, ...) -> (out, in).

        The scale is applied to the small `post` so that no weight-sized temporaries are made.
        """
        return (post * (scale / post.shape[0])).T @ pre.flatten(1)

    def bias_outer(self, post: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return post.sum(0) * (scale / post.shape[0])


class BurstConv2d(nn.Module):
    """A convolutional ensemble (no padding): ``v = W ⋆ x + c`` with W (out, in, k, k)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.stride = int(stride)
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    @property
    def fans(self) -> tuple[int, int]:
        out_c, in_c, kh, kw = self.weight.shape
        return in_c * kh * kw, out_c * kh * kw

    def drive(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, H, W) -> v: (B, out, H', W')."""
        return F.conv2d(x, self.weight, self.bias, stride=self.stride)

    def adjoint(self, signal: torch.Tensor, weight: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
        """Top-down route: the transposed convolution of `signal` (B, out, H', W') with `weight` -> in_shape."""
        return torch.nn.grad.conv2d_input(in_shape, weight, signal, stride=self.stride)

    def outer(self, post: torch.Tensor, pre: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """scale · ⟨post ⋆ pre⟩, summed over positions, mean over the batch: shaped like the kernel."""
        post = post * (scale / post.shape[0])
        return torch.nn.grad.conv2d_weight(pre, self.weight.shape, post, stride=self.stride)

    def bias_outer(self, post: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return post.sum((0, 2, 3)) * (scale / post.shape[0])


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------

@dataclass
class BurstState:
    """The steady state of one pass over a batch.

    Attributes:
        e: event rates [x, e_1, ..., e_L]; e[0] is the input.
        p: burst probabilities [p_1, ..., p_L] (p[i] belongs to e[i + 1]).
        u: apical potentials [u_1, ..., u_{L-1}] of the hidden layers.
    """

    e: list[torch.Tensor]
    p: list[torch.Tensor]
    u: list[torch.Tensor]

    @property
    def burst_rates(self) -> list[torch.Tensor]:
        """b_l = p_l ⊙ e_l for l = 1..L."""
        return [p * e for p, e in zip(self.p, self.e[1:])]


@dataclass(frozen=True)
class BurstCCNConfig(Config):
    """The architecture, burst parameters, feedback and initialisation of a :class:`BurstCCN`.

    The input shape sets the architecture: a flat input ``(n_in,)`` gives the dense net
    ``n_in -> n_hidden -> n_out``; an image ``(C, H, W)`` first goes through the convolutional stack of
    `channels`, `kernels` and `strides` (no padding or pooling; default: Payeur et al. 2021's CIFAR-10 net
    3→64 (5×5, s2) → 128 (5×5, s2) → 256 (3×3, s1)), then the dense layers.
    """

    in_shape: tuple[int, ...] = param((784,), ge=1, help="shape of one input: (n_in,) for a dense net, "
                                                         "(C, H, W) for the conv stack")
    n_hidden: tuple[int, ...] = param((500, 500, 500), ge=1, help="dense hidden layer widths")
    n_out: int = param(10, ge=1, help="output ensembles")
    channels: tuple[int, ...] = param((64, 128, 256), ge=1, help="conv layers' output channels (image inputs)")
    kernels: tuple[int, ...] = param((5, 5, 3), ge=1, help="conv kernel sizes (image inputs)")
    strides: tuple[int, ...] = param((2, 2, 1), ge=1, help="conv strides (image inputs)")
    p_baseline: float = param(0.5, gt=0, le=0.5, help="baseline burst probability p_b (<= 0.5 keeps p in [0, 1])")
    error_scale: float = param(1.0, gt=0, help="s, the gain of the output teaching signal")
    feedback: Literal["tied", "random", "learned"] = param(
        "tied", help="Y: tied (Y_l = W_{l+1}), fixed random, or learned by Kolen-Pollack (starts random)")
    feedback_std: float = param(0.5, gt=0, help="std of a random initial Y")
    q_mode: Literal["tied", "learned"] = param("tied", help="Q: tied (Q_l = p_b Y_l, always cancelling) or learned")
    q_init: Literal["cancelling", "random"] = param("cancelling", help="start of a learned Q: p_b Y or Gaussian")
    q_std: float = param(0.5, gt=0, help="std of a random initial Q")
    normalise: bool = param(True, help="divide the update by p_b s, so that in the tied limit it is the "
                                       "backprop gradient of 1/2||e_L - t||^2")
    init_gain: float = param(3.6, gt=0, help="xavier-normal gain of W (biases start at 0)")

    def __post_init__(self):
        super().__post_init__()
        require(len(self.in_shape) in (1, 3), f"in_shape must be (n_in,) or (C, H, W), got {self.in_shape}")
        if len(self.in_shape) == 3:
            require(len(self.channels) == len(self.kernels) == len(self.strides),
                    "channels, kernels and strides must have the same length")
            _, h, w = self.in_shape
            for k, s in zip(self.kernels, self.strides):
                h, w = (h - k) // s + 1, (w - k) // s + 1
                require(h >= 1 and w >= 1, f"input {self.in_shape} is too small for the conv stack "
                                           f"(kernels {self.kernels})")

    def layers(self) -> list[nn.Module]:
        """The ensembles of this architecture, input side first (weights zero until the network draws them)."""
        layers, width = [], self.in_shape[0]
        if len(self.in_shape) == 3:
            c, h, w = self.in_shape
            for out_c, k, s in zip(self.channels, self.kernels, self.strides):
                h, w = (h - k) // s + 1, (w - k) // s + 1
                layers.append(BurstConv2d(c, out_c, k, s))
                c = out_c
            width = c * h * w
        widths = [width, *self.n_hidden, self.n_out]
        return layers + [BurstLinear(a, b) for a, b in zip(widths[:-1], widths[1:])]


class BurstCCN(nn.Module):
    """A stack of burst ensembles (dense or conv) with top-down Y (bursts) and Q (events) feedback.

    Args:
        config: :class:`BurstCCNConfig` (or :func:`burst_mlp` / :func:`burst_convnet` for a config from widths).
        generator: torch.Generator for all random initialisation (W, then random Y and Q).
    """

    config_class: ClassVar[type[BurstCCNConfig]] = BurstCCNConfig

    def __init__(self, config: BurstCCNConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(config.layers())
        self.in_shape = tuple(config.in_shape)
        self.p_baseline, self.error_scale = float(config.p_baseline), float(config.error_scale)
        self.feedback, self.q_mode, self.normalise = config.feedback, config.q_mode, config.normalise
        feedback, q_mode = config.feedback, config.q_mode

        with torch.no_grad():
            for layer in self.layers:
                fan_in, fan_out = layer.fans
                std = config.init_gain * math.sqrt(2.0 / (fan_in + fan_out))
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.zero_()
        # Y_l and Q_l live on layer l+1, whose weight shape they share.
        for above in self.layers[1:]:
            if feedback != "tied":
                y = torch.randn(above.weight.shape, generator=generator) * config.feedback_std
                if feedback == "learned":
                    above.Y = nn.Parameter(y)
                else:
                    above.register_buffer("Y", y)
            if q_mode == "learned":
                y = above.weight if feedback == "tied" else above.Y
                q = (config.p_baseline * y.detach().clone() if config.q_init == "cancelling"
                     else torch.randn(above.weight.shape, generator=generator) * config.q_std)
                above.Q = nn.Parameter(q)

    # ---- feedback weights ----
    def feedback_weights(self) -> list[torch.Tensor]:
        """Y_1 .. Y_{L-1} (shapes of W_2 .. W_L)."""
        return [a.weight if self.feedback == "tied" else a.Y for a in self.layers[1:]]

    def cancellation_weights(self) -> list[torch.Tensor]:
        """Q_1 .. Q_{L-1}; in tied-Q mode these are p_b Y_l."""
        if self.q_mode == "tied":
            return [self.p_baseline * y for y in self.feedback_weights()]
        return [a.Q for a in self.layers[1:]]

    def forward_parameters(self) -> list[nn.Parameter]:
        """W and c of every layer."""
        return [p for layer in self.layers for p in (layer.weight, layer.bias)]

    def q_parameters(self) -> list[nn.Parameter]:
        """The learned Q matrices (empty unless q_mode="learned"); give them their own lr (η_Q)."""
        return [a.Q for a in self.layers[1:]] if self.q_mode == "learned" else []

    def y_parameters(self) -> list[nn.Parameter]:
        """The learned Y matrices (empty unless feedback="learned")."""
        return [a.Y for a in self.layers[1:]] if self.feedback == "learned" else []

    # ---- inputs ----
    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x")
        if tuple(x.shape[1:]) != self.in_shape:
            raise ShapeError(f"BurstCCN input: expected shape (batch, {', '.join(map(str, self.in_shape))}), "
                             f"got {tuple(x.shape)}")
        return x

    def _check_target(self, target: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor | None:
        """Integer labels (B,) become one-hot; float targets must be (B, n_out) in [0, 1]."""
        if target is None:
            return None
        if not target.is_floating_point():
            if target.shape != out.shape[:1]:
                raise ShapeError(f"labels: expected shape ({out.shape[0]},), got {tuple(target.shape)}")
            if not inside_transform(target) and target.numel() and (target.min() < 0 or target.max() >= out.shape[1]):
                raise ShapeError(f"labels must lie in [0, {out.shape[1]}), got [{int(target.min())}, "
                                 f"{int(target.max())}]")
            return one_hot(target, out.shape[1], out.dtype)
        check_tensor(target, "target")
        if target.shape != out.shape:
            raise ShapeError(f"target: expected shape {tuple(out.shape)}, got {tuple(target.shape)}")
        if not inside_transform(target) and target.numel() and (target.min() < 0 or target.max() > 1):
            raise ShapeError("target: rates must lie in [0, 1]")
        return target.to(out.dtype)

    # ---- the two compartments ----
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Event rates of the output ensemble: (B, *in_shape) -> (B, n_out). Bursts do not affect events."""
        e = self._check_input(x)
        for layer in self.layers:
            e = torch.sigmoid(layer.drive(e))
        return e

    def output_burst_probability(self, e_out: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        """p_L = p_b [1 + s (t − e_L)(1 − e_L)], or p_b without a target."""
        if target is None:
            return torch.full_like(e_out, self.p_baseline)
        return self.p_baseline * (1 + self.error_scale * (target - e_out) * (1 - e_out))

    def hidden_burst_probability(self, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """p_l = 2 p_b σ(k u_l (1 − e_l)), k = 2 / p_b: p_b at u = 0, slope (1 − e) there."""
        return 2 * self.p_baseline * torch.sigmoid((2 / self.p_baseline) * u * (1 - e))

    def apical_potential(self, i: int, p_above: torch.Tensor, e_above: torch.Tensor,
                         shape: torch.Size) -> torch.Tensor:
        """u_i = Y_iᵀ b_{i+1} − Q_iᵀ e_{i+1}, routed through layer i+1's adjoint.

        With tied Q (Q = p_b Y) this is computed as one route, Y_iᵀ (p_{i+1} − p_b) e_{i+1}: the same
        number with one matrix product instead of two.
        """
        above = self.layers[i + 1]
        y = self.feedback_weights()[i]
        if self.q_mode == "tied":
            return above.adjoint((p_above - self.p_baseline) * e_above, y, shape)
        return above.adjoint(p_above * e_above, y, shape) - above.adjoint(e_above, above.Q, shape)

    @torch.no_grad()
    def burst_pass(self, x: torch.Tensor, target: torch.Tensor | None = None) -> BurstState:
        """Discrete steady state: a bottom-up event sweep, then a top-down burst sweep.

        Args:
            x: (B, *in_shape) input rates.
            target: None (no teacher: p_L = p_b), labels (B,) int64, or rates (B, n_out) in [0, 1].
        """
        e = [self._check_input(x)]
        for layer in self.layers:
            e.append(torch.sigmoid(layer.drive(e[-1])))
        target = self._check_target(target, e[-1])
        n = len(self.layers)
        p: list[torch.Tensor] = [None] * n  # type: ignore[list-item]
        u: list[torch.Tensor] = [None] * (n - 1)  # type: ignore[list-item]
        p[-1] = self.output_burst_probability(e[-1], target)
        for i in reversed(range(n - 1)):
            u[i] = self.apical_potential(i, p[i + 1], e[i + 2], e[i + 1].shape)
            p[i] = self.hidden_burst_probability(u[i], e[i + 1])
        return BurstState(e, p, u)

    @torch.no_grad()
    def rest(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Somatic potentials v_1..v_L and apical potentials u_1..u_{L-1} at rest (zeros) for a batch like x."""
        x = self._check_input(x)
        v, shape = [], x.shape
        for layer in self.layers:  # output shapes only
            shape = layer.drive(torch.zeros(shape, dtype=x.dtype, device=x.device)).shape
            v.append(torch.zeros(shape, dtype=x.dtype, device=x.device))
        return v, [torch.zeros_like(vi) for vi in v[:-1]]

    @torch.no_grad()
    def rates(self, x: torch.Tensor, v: list[torch.Tensor], u: list[torch.Tensor],
              target: torch.Tensor | None) -> BurstState:
        """Instantaneous rates of the continuous form: e_l = σ(v_l), p_l from u_l, p_L from e_L and t."""
        e = [x] + [torch.sigmoid(vi) for vi in v]
        p = [self.hidden_burst_probability(ui, ei) for ui, ei in zip(u, e[1:])]
        p.append(self.output_burst_probability(e[-1], self._check_target(target, e[-1])))
        return BurstState(e, p, list(u))

    @torch.no_grad()
    def euler_step(self, x: torch.Tensor, v: list[torch.Tensor], u: list[torch.Tensor],
                   target: torch.Tensor | None = None, *, dt: float = 0.01, tau_v: float = 0.1,
                   tau_u: float = 0.1) -> tuple[list[torch.Tensor], list[torch.Tensor], BurstState]:
        """One Euler step of the continuous-time form (inputs may change from step to step):

            τ_v dv_l/dt = −v_l + W_l e_{l−1} + c_l,     e_l = σ(v_l)
            τ_u du_l/dt = −u_l + Y_lᵀ b_{l+1} − Q_lᵀ e_{l+1},    p_l = 2 p_b σ(k u_l (1 − e_l))

        The output burst probability follows e_L instantaneously. Returns the new (v, u) and the rates
        at the start of the step (what an online plasticity rule sees).
        """
        if not 0 < dt <= min(tau_v, tau_u):
            raise ConfigError(f"need 0 < dt <= min(tau_v, tau_u); got dt={dt}, tau_v={tau_v}, tau_u={tau_u}")
        state = self.rates(x, v, u, target)
        e, p = state.e, state.p
        v = [vi + (dt / tau_v) * (layer.drive(ei) - vi) for vi, layer, ei in zip(v, self.layers, e)]
        u = [ui + (dt / tau_u) * (self.apical_potential(i, p[i + 1], e[i + 2], ui.shape) - ui)
             for i, ui in enumerate(u)]
        return v, u, state

    @torch.no_grad()
    def settle(self, x: torch.Tensor, target: torch.Tensor | None = None, *, steps: int = 400,
               dt: float = 0.01, tau_v: float = 0.1, tau_u: float = 0.1,
               record: bool = False) -> BurstState | tuple[BurstState, torch.Tensor]:
        """Continuous-time form for a fixed input: :meth:`euler_step` `steps` times from rest.

        The fixed point is the discrete steady state of :meth:`burst_pass`. With `record`, also returns
        the mean |u| per step (steps, L−1).
        """
        if steps < 1:
            raise ConfigError(f"settle needs steps >= 1, got {steps}")
        v, u = self.rest(x)
        trace = []
        for _ in range(steps):
            v, u, _ = self.euler_step(x, v, u, target, dt=dt, tau_v=tau_v, tau_u=tau_u)
            if record:
                trace.append(torch.stack([ui.abs().mean() for ui in u]) if u else torch.zeros(0))
        state = self.rates(x, v, u, target)
        return (state, torch.stack(trace)) if record else state

    # ---- plasticity ----
    def burst_deviation(self, state: BurstState) -> list[torch.Tensor]:
        """δb_l = b_l − p_b e_l = (p_l − p_b) e_l, the plasticity signal of every layer."""
        return [(p - self.p_baseline) * e for p, e in zip(state.p, state.e[1:])]

    @torch.no_grad()
    def local_grads(self, state: BurstState) -> None:
        """Write the local rule's descent direction into ``.grad`` (accumulating, like autograd).

            W_l.grad = −⟨δb_l e_{l−1}ᵀ⟩ / (p_b s)      c_l.grad = −⟨δb_l⟩ / (p_b s)
            Y_l.grad = W_{l+1}.grad                    (feedback="learned": Kolen–Pollack)
            Q_l.grad = −⟨e_{l+1} u_lᵀ⟩                  (q_mode="learned": descent on ½‖u_l‖²)
        """
        scale = 1.0 / (self.p_baseline * self.error_scale) if self.normalise else 1.0
        for i, (layer, db, pre) in enumerate(zip(self.layers, self.burst_deviation(state), state.e[:-1])):
            grad_w = layer.outer(db, pre, -scale)
            _accumulate(layer.weight, grad_w)
            _accumulate(layer.bias, layer.bias_outer(db, -scale))
            if i > 0 and self.feedback == "learned":
                _accumulate(layer.Y, grad_w.clone())
        for i, above in enumerate(self.layers[1:]):
            if self.q_mode == "learned":
                _accumulate(above.Q, above.outer(state.e[i + 2], state.u[i], -1.0))

    def backward_local(self, x: torch.Tensor, target: torch.Tensor | None = None) -> BurstState:
        """One training pass: :meth:`burst_pass` then :meth:`local_grads`. Returns the state."""
        state = self.burst_pass(x, target)
        self.local_grads(state)
        return state

    # ---- references for the alignment metrics ----
    def backprop_grads(self, x: torch.Tensor, target: torch.Tensor) -> list[torch.Tensor]:
        """Autograd gradients of ℓ = ⟨½‖e_L − t‖²⟩_batch w.r.t. [W_1, c_1, ..., W_L, c_L] (no .grad touched)."""
        x = self._check_input(x)
        params = self.forward_parameters()
        with torch.enable_grad():
            e = x
            for layer in self.layers:
                e = torch.sigmoid(layer.drive(e))
            t = self._check_target(target, e.detach())
            loss = 0.5 * (e - t).pow(2).sum(1).mean()
            return list(torch.autograd.grad(loss, params))

    def first_layer_backprop_grad(self, state: BurstState, target: torch.Tensor) -> torch.Tensor:
        """Backprop's gradient for W_1 of the instantaneous error ½‖e_L − t‖², through the rates of `state`
        (the network's current, not settled, rates in the continuous form): δ_L = (e_L − t) e_L(1 − e_L),
        δ_l = e_l(1 − e_l) ⊙ W_{l+1}ᵀ δ_{l+1}."""
        e = state.e
        delta = (e[-1] - target) * e[-1] * (1 - e[-1])
        for i in reversed(range(1, len(self.layers))):
            delta = self.layers[i].adjoint(delta, self.layers[i].weight, e[i].shape) * e[i] * (1 - e[i])
        return self.layers[0].outer(delta, e[0])


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    if param.grad is None:
        param.grad = grad  # a fresh tensor: no copy needed
    else:
        param.grad.add_(grad)


# --------------------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------------------

def burst_mlp(sizes: Sequence[int], network: type[BurstCCN] | None = None, *,
              generator: torch.Generator | None = None, **fields) -> BurstCCN:
    """A fully connected BurstCCN ``sizes[0] -> ... -> sizes[-1]`` (paper default 784-500-500-500-10).

    `network` is the class to build (BurstCCN or a subclass such as Burstprop; default BurstCCN); keyword
    arguments are fields of its config (``network.config_class``).
    """
    if len(sizes) < 2:
        raise ConfigError(f"sizes must list at least two widths, got {list(sizes)}")
    network = network or BurstCCN
    sizes = tuple(int(s) for s in sizes)
    config = network.config_class(in_shape=sizes[:1], n_hidden=sizes[1:-1], n_out=sizes[-1], **fields)
    return network(config, generator=generator)


def burst_convnet(in_shape: Sequence[int] = (3, 32, 32), network: type[BurstCCN] | None = None, *,
                  generator: torch.Generator | None = None, **fields) -> BurstCCN:
    """The CIFAR-10 network of Payeur et al. 2021: conv 3→64 (5×5, s2) → 64→128 (5×5, s2) → 128→256
    (3×3, s1), no padding or pooling, then dense 2304 → 1480 → 10 (the conv stack and widths are the
    config's fields `channels`, `kernels`, `strides`, `n_hidden`, `n_out`). `network` is the class to build.
    """
    network = network or BurstCCN
    fields.setdefault("n_hidden", (1480,))
    return network(network.config_class(in_shape=tuple(int(s) for s in in_shape), **fields), generator=generator)


# --------------------------------------------------------------------------------------------------
# The autograd baseline on the same weights
# --------------------------------------------------------------------------------------------------

def matching_mlp(net: BurstCCN, rule: str = "bp") -> MLP:
    """The sigmoid/MSE ANN (:class:`brainlearn.nn.MLP`) with `net`'s current forward weights; with
    ``rule="fa"`` its feedback matrices are `net`'s Y, so FA and BurstCCN share every weight.

    Only for dense BurstCCNs (built by :func:`burst_mlp`).
    """
    if not all(isinstance(layer, BurstLinear) for layer in net.layers) or len(net.in_shape) != 1:
        raise ConfigError("matching_mlp needs a dense BurstCCN (burst_mlp)")
    sizes = [net.in_shape[0]] + [layer.out_features for layer in net.layers]
    config = MLPConfig(n_in=sizes[0], n_hidden=tuple(sizes[1:-1]), n_out=sizes[-1], activation="sigmoid",
                       output_activation="sigmoid", rule=rule)
    mlp = MLP(config).to(net.layers[0].weight.device)  # its initial weights are overwritten below
    with torch.no_grad():
        for i, (dst, src) in enumerate(zip(mlp.layers, net.layers)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
            if i > 0:
                dst.feedback.copy_(net.feedback_weights()[i - 1])
    return mlp
