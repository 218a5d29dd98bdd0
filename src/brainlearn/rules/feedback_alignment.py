"""Feedback alignment (Lillicrap et al. 2016, Nat. Commun.): errors travel back through fixed random
matrices B instead of the transposed forward weights.

For a layer ``y = x Wᵀ + c`` the backward pass of backprop sends ``δx = δy W``; FA sends
``δx = δy B`` with B fixed and of W's shape. The weight gradient ``δyᵀ x`` is unchanged, so FA differs
from backprop only in what reaches the layers below.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError

#: The rules a feedforward layer can use: backprop or feedback alignment.
FEEDFORWARD_RULES = ("bp", "fa")


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


class FALinear(nn.Linear):
    """A linear layer whose backward pass uses a fixed random feedback matrix (``rule="fa"``) or the
    true transpose (``rule="bp"``). The rule can be switched at any time, e.g. to compute the backprop
    gradient of the same network for an alignment angle.

    Args:
        feedback_std: std of the Gaussian feedback matrix; default: the std of W's initialisation
            (uniform ±1/sqrt(fan_in), so 1/sqrt(3 fan_in)).
        generator: torch.Generator for the feedback matrix.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rule: str = "fa",
                 feedback_std: float | None = None, generator: torch.Generator | None = None,
                 device=None, dtype=None):
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"FALinear: {name} must be an integer >= 1, got {value!r}")
        if feedback_std is not None and not (math.isfinite(feedback_std) and feedback_std > 0):
            raise ConfigError(f"FALinear: feedback_std must be a finite number > 0, got {feedback_std!r}")
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if rule not in FEEDFORWARD_RULES:
            raise ConfigError(f"rule={rule!r}; expected one of {', '.join(FEEDFORWARD_RULES)}")
        self.rule = rule
        std = feedback_std if feedback_std is not None else 1.0 / math.sqrt(3 * in_features)
        feedback = torch.randn(out_features, in_features, generator=generator, dtype=self.weight.dtype) * std
        self.register_buffer("feedback", feedback.to(self.weight.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rule == "bp":
            return F.linear(x, self.weight, self.bias)
        return _FALinearFn.apply(x, self.weight, self.bias, self.feedback)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rule={self.rule}"


@contextmanager
def use_rule(module: nn.Module, rule: str):
    """Temporarily switch every :class:`FALinear` inside `module` to `rule` ("bp" or "fa")."""
    if rule not in FEEDFORWARD_RULES:
        raise ValueError(f"rule={rule!r}; expected one of {FEEDFORWARD_RULES}")
    layers = [m for m in module.modules() if isinstance(m, FALinear)]
    saved = [m.rule for m in layers]
    for m in layers:
        m.rule = rule
    try:
        yield module
    finally:
        for m, r in zip(layers, saved):
            m.rule = r
