"""Credit-assignment rules for feedforward networks, as layer swaps.

:func:`convert` replaces every ``nn.Linear`` and ``nn.Conv2d`` of a network by a layer with the same weights
whose backward pass sends the error to the layer below through a feedback matrix B in place of W's transpose.
For a layer ``y = W x + c`` backprop sends ``δx = Wᵀ δy``; these rules send ``δx = Bᵀ δy``. The weight
gradient ``δy xᵀ`` keeps its form, so a rule changes only what reaches the layers below:

- ``bp``: B = W, the exact gradient (backpropagation).
- ``fa``: B fixed and random (feedback alignment; Lillicrap et al. 2016).
- ``dfa``: no backward sweep: the network's output error e goes straight to each layer's input, ``δx = B_lᵀ e``
  with B_l fixed and random (direct feedback alignment; Nøkland 2016).
- ``usf``: B = σ · sign(W) (uniform sign-concordant feedback; Liao, Leibo & Poggio 2016).
- ``frsf``: B = abs(M) ∘ sign(W), M fixed and random (fixed random-magnitude sign-concordant feedback; ibid.).
- ``brsf``: B = abs(M) ∘ sign(W), M redrawn at every training forward pass (batchwise random-magnitude; ibid.).
- ``kp``: B learned: it receives W's gradient and weight decay, so W − B shrinks by the decay factor at every
  step (Kolen & Pollack 1994; Akrout et al. 2019).

Random feedback is Gaussian with the standard deviation σ of W's default initialisation (uniform
±1/√fan_in, so σ = 1/√(3 fan_in)), drawn from the `generator` given to :func:`convert` in the order of the
network's modules, so B has W's scale at the start. The sign-concordant rules take the magnitude from M
(or σ for ``usf``), so that signs alone never rescale the error by √(3 fan_in). Kolen-Pollack's B starts
random (as FA's) and becomes W under an optimiser with weight decay.

:class:`FALinear` is the layer the library's MLP is built of: feedback alignment or backprop, switched by
:func:`use_rule`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.rules.plausibility import Plausibility

#: Every rule :func:`convert` takes, with its plausibility attributes.
FEEDFORWARD_RULES: dict[str, Plausibility] = {
    "bp": Plausibility("exact", True, 2, True, True),
    "fa": Plausibility("none", True, 2, True, True),
    "dfa": Plausibility("none", False, 2, True, True),
    "usf": Plausibility("sign", True, 2, True, True),
    "frsf": Plausibility("sign", True, 2, True, True),
    "brsf": Plausibility("sign", True, 2, True, True),
    "kp": Plausibility("learned", True, 2, True, True),
}


class _DirectError:
    """The network's output error e (batch, n_out), shared by a DFA network's layers: the output layer's
    backward (the first to run) stores it; the layers below read it."""

    def __init__(self):
        self.e: torch.Tensor | None = None


# ---- the backward passes ---------------------------------------------------------------------------
def _conv_backward(grad_out, x, weight, layer, mask, bias_sizes=None):
    """The input's, the weight's and the bias's gradients (those `mask` asks for) of `layer`'s convolution of x
    with `weight`; the weight's reads only x and grad_out, so any tensor of W's shape gives backprop's."""
    return torch.ops.aten.convolution_backward(grad_out, x, weight, bias_sizes, layer.stride, layer.padding,
                                               layer.dilation, False, (0, 0), layer.groups, mask)


def _weight_grads(layer: nn.Module, grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, has_bias: bool):
    """Backprop's δy xᵀ (and the bias gradient): the same under every rule."""
    if isinstance(layer, nn.Linear):
        flat = grad_out.flatten(0, -2)
        return flat.T @ x.flatten(0, -2), (flat.sum(0) if has_bias else None)
    return _conv_backward(grad_out, x, weight, layer, (False, True, False))[1], \
        (grad_out.sum((0, 2, 3)) if has_bias else None)


class _FALinearFn(torch.autograd.Function):
    """``y = x Wᵀ + c`` whose backward sends ``δx = δy B``; W's gradient is backprop's, and B gets the same
    gradient when it requires one (Kolen-Pollack's learned feedback)."""

    generate_vmap_rule = True  # torch.func (ensembles) vmaps forward and backward as written

    @staticmethod
    def forward(x, weight, bias, feedback):
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, feedback = inputs
        ctx.save_for_backward(x, weight, feedback)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, feedback = ctx.saved_tensors
        grad_x = grad_out @ feedback                     # B replaces W in the backward pass
        grad_w = grad_out.flatten(0, -2).T @ x.flatten(0, -2)
        grad_b = grad_out.flatten(0, -2).sum(0) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, (grad_w if ctx.needs_input_grad[3] else None)


class _FAConv2dFn(torch.autograd.Function):
    """A zero-padded Conv2d whose backward sends the error down through B in place of W (the transposed
    convolution with B); W's gradient is backprop's, and B gets the same when it requires one (Kolen-Pollack)."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback, layer):
        ctx.save_for_backward(x, weight, feedback)
        ctx.layer, ctx.has_bias = layer, bias is not None
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, feedback = ctx.saved_tensors
        # one call: the input's error through B (unless the input is the network's own, which needs none: the
        # first layer's is the costliest) and W's gradient, backprop's exactly (B stands in for W's shape)
        grad_x, grad_w, grad_b = _conv_backward(grad_out, x, feedback, ctx.layer,
                                                (ctx.needs_input_grad[0], True, ctx.has_bias),
                                                [weight.shape[0]] if ctx.has_bias else None)
        return grad_x, grad_w, grad_b, (grad_w if ctx.needs_input_grad[3] else None), None


class _DirectFn(torch.autograd.Function):
    """A DFA layer (Linear or Conv2d): W's gradient from the error δy that reaches it, its input's error
    B_lᵀ e from the network's output error e (which the output layer's backward records)."""

    @staticmethod
    def forward(ctx, x, weight, bias, feedback, layer, direct, is_output):
        ctx.save_for_backward(x, weight, feedback)
        ctx.layer, ctx.direct, ctx.is_output, ctx.has_bias = layer, direct, is_output, bias is not None
        if isinstance(layer, nn.Linear):
            return F.linear(x, weight, bias)
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, feedback = ctx.saved_tensors
        direct = ctx.direct
        if ctx.is_output:
            direct.e = grad_out.flatten(1)
        if direct.e is None:
            raise ConfigError("dfa: a hidden layer's backward ran before the output layer's")
        grad_w, grad_b = _weight_grads(ctx.layer, grad_out, x, weight, ctx.has_bias)
        grad_x = (direct.e @ feedback).view(x.shape) if ctx.needs_input_grad[0] else None  # not the network's input
        return grad_x, grad_w, grad_b, None, None, None, None


# ---- the layers ------------------------------------------------------------------------------------
class _FeedbackLayer:
    """What the swapped layers share: the rule, B, and a forward pass whose backward uses B."""

    rule: str
    feedback: torch.Tensor
    direct: _DirectError | None
    is_output: bool

    def _setup(self, rule: str, feedback: torch.Tensor | None, generator, direct, is_output) -> None:
        self.rule, self.direct, self.is_output = rule, direct, is_output
        self.generator = generator if rule == "brsf" else None  # brSF redraws its magnitudes at every step
        if rule == "kp":
            self.feedback = nn.Parameter(feedback)
        elif feedback is not None:
            self.register_buffer("feedback", feedback)

    @property
    def init_std(self) -> float:
        """σ: the std of W's default initialisation, uniform ±1/√fan_in."""
        return 1.0 / math.sqrt(3 * self.weight[0].numel())

    def backward_matrix(self) -> torch.Tensor:
        """B as the backward pass uses it now."""
        rule, w = self.rule, self.weight
        if rule == "bp":
            return w
        if rule == "usf":
            return self.init_std * torch.sign(w)
        if rule in ("frsf", "brsf"):
            return self.feedback.abs() * torch.sign(w)
        return self.feedback

    def _redraw(self) -> None:
        w = self.weight
        with torch.no_grad():
            self.feedback.copy_(torch.randn(w.shape, generator=self.generator, dtype=w.dtype).to(w.device)
                                * self.init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rule == "bp":
            return super().forward(x)
        if self.rule == "brsf" and self.training:
            self._redraw()
        if self.rule == "dfa":
            if x.shape[1:] != self.input_shape:
                raise ShapeError(f"dfa layer: expected inputs of shape (batch, "
                                 f"{', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}")
            return _DirectFn.apply(x, self.weight, self.bias, self.feedback, self, self.direct, self.is_output)
        with torch.set_grad_enabled(self.rule == "kp"):  # only Kolen-Pollack's B learns
            B = self.backward_matrix()
        if isinstance(self, nn.Linear):
            return _FALinearFn.apply(x, self.weight, self.bias, B)
        return _FAConv2dFn.apply(x, self.weight, self.bias, B, self)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rule={self.rule}"


class FeedbackLinear(_FeedbackLayer, nn.Linear):
    """``nn.Linear`` trained by a rule of :data:`FEEDFORWARD_RULES` (built by :func:`convert`)."""


class FeedbackConv2d(_FeedbackLayer, nn.Conv2d):
    """``nn.Conv2d`` trained by a rule of :data:`FEEDFORWARD_RULES` (built by :func:`convert`; zero padding only)."""


class FALinear(FeedbackLinear):
    """The MLP's layer: feedback alignment (``rule="fa"``, a fixed Gaussian B) or backprop (``rule="bp"``),
    switchable at any time (:func:`use_rule`), e.g. for the backprop gradient of the same network.

    Args:
        feedback_std: std of the Gaussian feedback matrix; default σ, the std of W's initialisation
            (uniform ±1/sqrt(fan_in), so 1/sqrt(3 fan_in)).
        generator: torch.Generator for the feedback matrix.
    """

    rules = ("bp", "fa")

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rule: str = "fa",
                 feedback_std: float | None = None, generator: torch.Generator | None = None,
                 device=None, dtype=None):
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"FALinear: {name} must be an integer >= 1, got {value!r}")
        if feedback_std is not None and not (math.isfinite(feedback_std) and feedback_std > 0):
            raise ConfigError(f"FALinear: feedback_std must be a finite number > 0, got {feedback_std!r}")
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        if rule not in self.rules:
            raise ConfigError(f"rule={rule!r}; expected one of {', '.join(self.rules)}")
        std = feedback_std if feedback_std is not None else self.init_std
        feedback = torch.randn(out_features, in_features, generator=generator, dtype=self.weight.dtype) * std
        self._setup(rule, feedback.to(self.weight.device), None, None, False)


@contextmanager
def use_rule(module: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Temporarily switch every layer of these rules inside `module` to `rule`: "bp" (the exact gradient of
    the same network, as alignment angles need) or "fa" (layers that hold a fixed B of W's shape)."""
    if rule not in FALinear.rules:
        raise ConfigError(f"rule={rule!r}; expected one of {', '.join(FALinear.rules)}")
    layers = [m for m in module.modules() if isinstance(m, _FeedbackLayer)]
    if rule == "fa" and any(getattr(m, "feedback", None) is None or m.feedback.shape != m.weight.shape
                            for m in layers):
        raise ConfigError("use_rule(..., 'fa'): a layer has no fixed feedback matrix of its weight's shape")
    saved = [m.rule for m in layers]
    for m in layers:
        m.rule = rule
    try:
        yield module
    finally:
        for m, r in zip(layers, saved):
            m.rule = r


# ---- the converter ---------------------------------------------------------------------------------
def convert(module: nn.Module, rule: str, *, generator: torch.Generator | None = None,
            example: torch.Tensor | None = None, inplace: bool = False) -> nn.Module:
    """`module` with every ``nn.Linear`` and ``nn.Conv2d`` swapped for a layer trained by `rule` (same weights).

    Args:
        rule: a name in :data:`FEEDFORWARD_RULES`.
        generator: draws the random feedback, layer by layer in module order.
        example: a batch of inputs; required for ``dfa`` (its B_l map the output error onto each layer's
            input, whose shape one forward pass reveals). The last layer in module order is the output layer.
        inplace: swap inside `module` rather than in a copy.
    """
    if rule not in FEEDFORWARD_RULES:
        raise ConfigError(f"unknown feedforward rule {rule!r}; expected one of {', '.join(FEEDFORWARD_RULES)}")
    layers = [(name, m) for name, m in module.named_modules() if type(m) in (nn.Linear, nn.Conv2d)]
    if not layers:
        raise ConfigError("convert: the module has no nn.Linear or nn.Conv2d layer to swap")
    for name, m in layers:
        if isinstance(m, nn.Conv2d) and (m.padding_mode != "zeros" or isinstance(m.padding, str)):
            raise ConfigError(f"convert: layer {name!r}: only numeric zero padding is supported, got "
                              f"padding={m.padding!r}, padding_mode={m.padding_mode!r}")
    shapes = _input_shapes(module, [m for _, m in layers], example) if rule == "dfa" else {}
    module = module if inplace else copy.deepcopy(module)
    direct = _DirectError() if rule == "dfa" else None
    originals = dict(module.named_modules())
    n_out = layers[-1][1].weight.shape[0]
    for k, (name, _) in enumerate(layers):
        old = originals[name]
        is_output = k == len(layers) - 1
        new = _swap(old, rule, generator, direct, is_output, shapes.get(id(layers[k][1])), n_out)
        parent, _, attr = name.rpartition(".")
        setattr(module.get_submodule(parent) if parent else module, attr, new)
    return module


def _input_shapes(module: nn.Module, layers: list[nn.Module], example) -> dict[int, tuple[int, ...]]:
    """Each layer's per-sample input shape, from one forward pass of `example`."""
    if example is None:
        raise ConfigError("convert(rule='dfa') needs example=<a batch of inputs> to size each layer's feedback")
    check_tensor(example, "example")
    shapes: dict[int, tuple[int, ...]] = {}

    def record(layer, args) -> None:  # a pre-hook that returns something would replace the layer's inputs
        shapes.setdefault(id(layer), tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(record) for m in layers]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in hooks:
            h.remove()
    if len(shapes) != len(layers):
        raise ConfigError("convert(rule='dfa'): the example's forward pass did not reach every layer")
    return shapes


def _swap(old: nn.Module, rule: str, generator, direct, is_output: bool, input_shape, n_out: int) -> nn.Module:
    w = old.weight
    if isinstance(old, nn.Linear):
        new: nn.Module = FeedbackLinear(old.in_features, old.out_features, old.bias is not None,
                                        device="meta", dtype=w.dtype)
    else:
        new = FeedbackConv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                             old.dilation, old.groups, old.bias is not None, device="meta", dtype=w.dtype)
    new.weight, new.bias = old.weight, old.bias  # the same parameters: the optimiser's, the weights' values
    new.training = old.training
    new.input_shape = input_shape
    shape = (n_out, math.prod(input_shape)) if rule == "dfa" else tuple(w.shape)
    feedback = None
    if rule not in ("bp", "usf"):
        feedback = (torch.randn(shape, generator=generator, dtype=w.dtype) / math.sqrt(3 * w[0].numel())).to(w.device)
    new._setup(rule, feedback, generator, direct, is_output)
    return new


def feedback_matrices(module: nn.Module) -> dict[str, torch.Tensor]:
    """Each swapped layer's B as its backward pass uses it now (detached), by module name."""
    return {name: m.backward_matrix().detach() for name, m in module.named_modules() if isinstance(m, _FeedbackLayer)}
