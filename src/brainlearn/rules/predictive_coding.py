"""Predictive coding as a credit-assignment rule: inference learning in a feedforward network.

:func:`pc_grads` trains an unchanged ``nn.Sequential`` MLP by inference learning in a predictive-coding network
(Whittington & Bogacz 2017): it writes the rule's weight updates into each parameter's ``.grad``, with
backprop's sign convention, so that any torch optimiser can step on them. The network of L ``nn.Linear``
layers is read as value nodes x_0 (the input, clamped), x_1 … x_{L−1} (each hidden linear layer's output,
before its activation) and predictions

    x̂_l = W_l φ_{l−1}(x_{l−1}) + b_l        (φ_l: the elementwise activations after layer l; φ_0 = identity)

with prediction errors e_l = x_l − x̂_l (signs as in :mod:`brainlearn.models.predictive`, whose
:class:`~brainlearn.models.predictive.HierarchicalPC` is the generative, top-down network of Rao & Ballard with
weights of its own; here the predictions run bottom-up through the user's layers). The output prediction
x̂_L is the logits; the label enters through the cross-entropy ℓ(x̂_L, y), weighted by β (`loss_scale`):

    F = Σ_{l=1}^{L−1} ½‖e_l‖² + β ℓ(x̂_L, y),        e_L := −β ∂ℓ/∂x̂_L = β (onehot(y) − softmax(x̂_L))

For a squared-error loss ℓ = ½‖y − x̂_L‖² and β = 1, e_L = y − x̂_L is Whittington & Bogacz's output node
clamped to the target; for other losses the output error is the loss's negative gradient at the output
(Millidge, Tschantz & Buckley 2020; Song et al. 2020). Each sample has its own energy (its own loss, not
the batch mean), so γ means the same at every batch size.

**Inference.** The value nodes start at the forward pass (x_l = x̂_l: every hidden error is 0 and F = βℓ) and
take T = `inference_steps` Euler steps of size γ = `inference_lr` down F's gradient, all layers at once:

    x_l ← x_l + γ (−e_l + φ_l'(x_l) ∘ W_{l+1}ᵀ e_{l+1}),        l = 1 … L−1

The error reaches layer l through W_{l+1}ᵀ, the transpose of the forward weights (exact weight transport),
one layer per step, by relaxation rather than a backward sweep.

**Learning.** After inference each weight's update is its postsynaptic prediction error times its presynaptic
activity, the negative of F's gradient, averaged over the batch and divided by β:

    ∂F/∂W_l = −e_l φ_{l−1}(x_{l−1})ᵀ,        ∂F/∂b_l = −e_l

so at T = 0 the output layer's update is backprop's gradient of the mean loss and the hidden layers' are 0.
At equilibrium e_l = φ_l'(x_l) ∘ W_{l+1}ᵀ e_{l+1}: backprop's recursion, but at the relaxed values instead of
the forward pass, and with e_L at the relaxed output. The two agree to first order in the output error, so the
update approaches backprop's gradient as T grows and β shrinks: the small-output-error ("weak feedback") limit
of Whittington & Bogacz 2017, where β plays their output layer's precision (inverse variance). At β = 1 with
cross-entropy the output error is of order 1, and so is the gap at equilibrium.

Choices where implementations differ: value nodes are the linear layers' outputs before the activation
(Whittington & Bogacz's x̂_l = W_l φ(x_{l−1}); the form x̂_l = φ(W_l x_{l−1}), also common, is the same network
with the value nodes after the activation); they start at the forward pass, not at random or
at 0 (the exact variants need it); the energy is per sample and the update its batch mean (a batch-summed energy
would scale γ with the batch size); the label enters through the cross-entropy's gradient rather than a one-hot
target clamped under squared error.

Variants (`variant`):

- ``"standard"``: the above.
- ``"fixed-prediction"``: the fixed prediction assumption (Millidge, Tschantz & Buckley 2020). The
  predictions x̂_l, the derivatives φ'(x̂_l) and the presynaptic activity φ(x̂_{l−1}) stay at their forward-pass
  values during inference, so e_L is constant and the equilibrium is exactly backprop's δ_l. With γ = 1,
  e_l(t+1) = φ_l'(x̂_l) ∘ W_{l+1}ᵀ e_{l+1}(t): exact after L−1 steps. (Its dynamics no longer descend F.)
- ``"zero-divergence"``: zero-divergence inference learning, Z-IL (Song et al. 2020): the standard dynamics
  with γ = 1, each layer's update taken at the step t = L − l at which the error first reaches it, when its
  error is backprop's δ_l and its input still the forward pass's. Inference stops after step L − 1, the last
  that any update reads, so `inference_steps` must be at least L − 1.

Supported networks: ``nn.Sequential`` of ``nn.Linear`` layers with elementwise activations (those in
:data:`ELEMENTWISE`) between them, ending in ``nn.Linear`` (the logits), with optional ``nn.Flatten`` or
activations before the first layer (fixed preprocessing of the clamped input). Convolutions, pooling,
normalisation and dropout are refused: their value nodes and local updates are not defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.rules.feedforward import Plausibility
from brainlearn.runtime.config import Config, param, require

#: The league's row: feedback through Wᵀ (exact transport) during inference, errors spread by relaxation
#: (no backward sweep), an inference phase and a learning phase, Hebbian-like local updates, error neurons.
PC_PLAUSIBILITY = Plausibility(weight_transport="exact", backward_sweep=False, phases=2, local_update=True,
                               error_channel=True)

#: The activation modules a network may have between its linear layers: elementwise, so that
#: φ'(x) is the gradient of Σ φ(x).
ELEMENTWISE: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh,
                                            nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Identity)


@dataclass(frozen=True)
class PredictiveCodingConfig(Config):
    """Inference learning: the steps and rate of inference, the variant and the output loss's weight."""

    inference_steps: int = param(20, ge=0, help="T: Euler steps of inference before the weight update")
    inference_lr: float = param(0.1, gt=0, le=1, help="γ: inference step size (above 1 the leak -e_l overshoots)")
    variant: Literal["standard", "fixed-prediction", "zero-divergence"] = param(
        "standard", help="standard inference learning, the fixed prediction assumption, or Z-IL")
    loss_scale: float = param(1.0, gt=0, help="β: the loss's weight in the energy (updates are divided by it); "
                                              "small β: small output error, closer to backprop")

    def __post_init__(self):
        super().__post_init__()
        require(self.variant != "zero-divergence" or self.inference_lr == 1,
                f"variant='zero-divergence' (Z-IL) needs inference_lr = 1, got {self.inference_lr!r}")


@dataclass
class Inference:
    """What inference left for learning. Lists run over layers 1 … L (index 0: layer 1).

    ``errors``: each layer's prediction error e_l (batch, out) and ``inputs``: its presynaptic activity
    (batch, in), as its weight update reads them. ``values``: the hidden value nodes x_1 … x_{L−1} at the end.
    ``energy``: F (batch mean) before each step and after the last, (steps run + 1,). ``loss``: the mean
    cross-entropy at the forward pass (the network's loss on the batch).
    """

    errors: list[torch.Tensor]
    inputs: list[torch.Tensor]
    values: list[torch.Tensor]
    energy: torch.Tensor
    loss: torch.Tensor


def _layers(net: nn.Module) -> tuple[nn.Sequential, list[nn.Linear], list[nn.Sequential]]:
    """The network as (preprocessing, linear layers, activations after each hidden layer)."""
    if not isinstance(net, nn.Sequential):
        raise ConfigError(f"predictive coding needs an nn.Sequential MLP, got {type(net).__name__}")
    prefix: list[nn.Module] = []
    linears: list[nn.Linear] = []
    acts: list[list[nn.Module]] = []
    for i, m in enumerate(net):
        if isinstance(m, nn.Linear):
            linears.append(m)
            acts.append([])
        elif isinstance(m, ELEMENTWISE) or (isinstance(m, nn.Flatten) and not linears):
            (acts[-1] if linears else prefix).append(m)
        else:
            raise ConfigError(f"predictive coding supports nn.Linear layers with elementwise activations between "
                              f"them (and nn.Flatten before the first); module {i} is {type(m).__name__}")
    if not linears or acts[-1]:
        raise ConfigError("predictive coding needs a network that ends in nn.Linear (the logits)")
    return nn.Sequential(*prefix), linears, [nn.Sequential(*a) for a in acts[:-1]]


#: φ' from φ's input x and output y for the common activations: autograd's formulas (ReLU'(0) = 0), equal to
#: rounding, and twice as fast as an autograd call in the inference loop.
_SLOPES = {nn.ReLU: lambda x, y: (x > 0).to(x.dtype), nn.Tanh: lambda x, y: 1 - y * y,
           nn.Sigmoid: lambda x, y: (1 - y) * y}


def _activate(phi: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """φ(x) and φ'(x) of an elementwise φ (φ' as the gradient of Σ φ(x))."""
    if not len(phi):
        return x, torch.ones_like(x)
    if len(phi) == 1 and type(phi[0]) in _SLOPES:
        y = phi[0](x.clone())  # clone: an in-place activation must not write into the value node
        return y, _SLOPES[type(phi[0])](x, y)
    with torch.enable_grad():
        leaf = x.detach().requires_grad_()
        out = phi(leaf.clone())  # clone: an in-place activation must not write into the value node
        (slope,) = torch.autograd.grad(out.sum(), leaf)
    return out.detach(), slope


def _check_batch(prefix: nn.Sequential, linears: list[nn.Linear], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    check_tensor(x, "x")
    x0 = prefix(x)
    n_in, n_out = linears[0].in_features, linears[-1].out_features
    if x0.ndim != 2 or x0.shape[1] != n_in:
        raise ShapeError(f"x: the network's first layer needs (batch, {n_in}) after its preprocessing, "
                         f"got {tuple(x0.shape)} from x of shape {tuple(x.shape)}")
    if not len(x0):
        raise ShapeError("x: the batch is empty")
    if y.ndim != 1 or len(y) != len(x0) or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ShapeError(f"y: expected integer labels of shape ({len(x0)},), got {y.dtype} of shape {tuple(y.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= n_out:
        raise ShapeError(f"y: labels must be in [0, {n_out}), got values in [{int(y.min())}, {int(y.max())}]")
    return x0


@torch.no_grad()
def infer(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
          config: PredictiveCodingConfig = PredictiveCodingConfig()) -> Inference:
    """Run inference on batch (`x`, integer labels `y`) in `net` read as a predictive-coding network.

    Vectorised over the batch; loops over inference steps and layers only. The network is not changed.
    """
    if not isinstance(config, PredictiveCodingConfig):
        raise ConfigError(f"config: expected a PredictiveCodingConfig, got {type(config).__name__}")
    prefix, linears, phis = _layers(net)
    x0 = _check_batch(prefix, linears, x, y)
    L, T, gamma, beta, variant = (len(linears), config.inference_steps, config.inference_lr, config.loss_scale,
                                  config.variant)
    if variant == "zero-divergence":
        if T < L - 1:
            raise ConfigError(f"variant='zero-divergence' needs inference_steps >= L - 1 = {L - 1} for this "
                              f"{L}-layer network, got {T}")
        T = L - 1
    onehot = F.one_hot(y, linears[-1].out_features).to(x0.dtype)

    # the forward pass: values at their predictions, every hidden error 0
    acts, slopes = [x0], []
    for phi, layer in zip(phis, linears):
        a, s = _activate(phi, layer(acts[-1]))
        acts.append(a)
        slopes.append(s)
    preds = [layer(a) for layer, a in zip(linears, acts)]
    values = preds[:-1]
    loss = F.cross_entropy(preds[-1], y)
    errors: list[torch.Tensor | None] = [None] * L
    inputs: list[torch.Tensor | None] = [None] * L
    energy = []
    for t in range(T + 1):
        if t and variant != "fixed-prediction":
            for l, phi in enumerate(phis):
                acts[l + 1], slopes[l] = _activate(phi, values[l])
            preds = [preds[0]] + [layer(a) for layer, a in zip(linears[1:], acts[1:])]  # x̂_1: the clamped input's
        e = [v - p for v, p in zip(values, preds)]
        log_p = F.log_softmax(preds[-1], 1)
        e.append(beta * (onehot - log_p.exp()))
        energy.append(sum((0.5 * (d ** 2).sum(1) for d in e[:-1]), -beta * (onehot * log_p).sum(1)).mean())
        if variant == "zero-divergence":  # layer l's update at step L - l, when the error first reaches it
            errors[L - 1 - t], inputs[L - 1 - t] = e[L - 1 - t], acts[L - 1 - t]
        if t == T:
            break
        values = [v + gamma * (-d + s * (up @ layer.weight))
                  for v, d, s, up, layer in zip(values, e, slopes, e[1:], linears[1:])]
    if variant != "zero-divergence":
        errors, inputs = list(e), list(acts)
    return Inference([d for d in errors if d is not None], [a for a in inputs if a is not None], values,
                     torch.stack(energy), loss)


def pc_grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
             config: PredictiveCodingConfig = PredictiveCodingConfig()) -> torch.Tensor:
    """Inference learning's weight updates for batch (`x`, integer labels `y`), written into each parameter's
    ``.grad`` as backprop's gradient would be (added to a ``.grad`` already there, as ``backward`` does): a
    descent direction of the mean cross-entropy. Returns that loss at the forward pass (detached).

    Replaces ``F.cross_entropy(net(x), y).backward()`` in a training step; the network is not changed. One
    network at a time: it reads the labels' values and writes ``.grad``, which a torch.func transform (an
    ensemble's vmap) does not allow.
    """
    out = infer(net, x, y, config)
    _, linears, _ = _layers(net)
    scale = -1.0 / (len(x) * config.loss_scale)  # descent on F is ascent of e ⊗ a; batch mean; back to ℓ's scale
    for layer, e, a in zip(linears, out.errors, out.inputs):
        grads = [(layer.weight, scale * e.T @ a)] + ([(layer.bias, scale * e.sum(0))] if layer.bias is not None else [])
        for p, g in grads:
            if p.requires_grad:
                p.grad = g if p.grad is None else p.grad + g
    return out.loss
