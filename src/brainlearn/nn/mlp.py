"""A feedforward network trained by backprop or feedback alignment: the baseline of every
credit-assignment model."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError, check_tensor
from brainlearn.rules.feedback_alignment import RULES, FALinear

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def one_hot_mse(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """½‖out − onehot(labels)‖² averaged over the batch: the loss of the sigmoid/MSE networks of the
    BurstCCN and dendritic papers. out: (batch, classes) rates; labels: (batch,) int64."""
    return 0.5 * (out - torch.nn.functional.one_hot(labels, out.shape[1]).to(out.dtype)).pow(2).sum(1).mean()


class MLP(nn.Module):
    """``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with `activation` on hidden layers.

    Args:
        sizes: layer widths, input first.
        activation: "sigmoid", "tanh" or "relu" for hidden layers.
        output_activation: applied to the last layer ("sigmoid" for the MSE-on-one-hot networks of the
            BurstCCN / dendritic papers), or None for logits.
        rule: "bp" (backprop) or "fa" (feedback alignment); switchable later with
            :func:`brainlearn.rules.use_rule`.
        init_gain: xavier-normal gain of the forward weights (biases start at 0).
        feedback_std: std of FA's random feedback matrices (default: see :class:`FALinear`).
        generator: torch.Generator for all random initialisation.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "sigmoid", output_activation: str | None = None,
                 rule: str = "bp", init_gain: float = 1.0, feedback_std: float | None = None,
                 generator: torch.Generator | None = None):
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ConfigError(f"sizes must list at least two positive widths, got {list(sizes)}")
        for name, value in (("activation", activation), ("output_activation", output_activation)):
            if value is not None and value not in ACTIVATIONS:
                raise ConfigError(f"{name}={value!r}; expected one of {', '.join(ACTIVATIONS)}")
        if rule not in RULES:
            raise ConfigError(f"rule={rule!r}; expected one of {', '.join(RULES)}")
        if not (isinstance(init_gain, int | float) and math.isfinite(init_gain) and init_gain > 0):
            raise ConfigError(f"init_gain must be a finite number > 0, got {init_gain!r}")
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.output_activation = output_activation
        self.layers = nn.ModuleList(
            FALinear(a, b, rule=rule, feedback_std=feedback_std, generator=generator)
            for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        with torch.no_grad():
            for layer in self.layers:
                std = init_gain * (2.0 / (layer.in_features + layer.out_features)) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, sizes[0]) -> (batch, sizes[-1])."""
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(f"MLP input: expected shape (batch, {self.sizes[0]}), got {tuple(x.shape)}")
        check_tensor(x, "MLP input")
        hidden = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = hidden(layer(x))
        x = self.layers[-1](x)
        return ACTIVATIONS[self.output_activation](x) if self.output_activation else x
