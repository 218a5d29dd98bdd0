"""A feedforward network trained by backprop or feedback alignment: the baseline of every
credit-assignment model.

``n_in -> n_hidden[0] -> ... -> n_out`` with `activation` on the hidden layers and `output_activation`
(or none: logits) on the last; every layer is a :class:`~brainlearn.rules.FALinear`, so the backward pass
uses the transposed forward weights (``rule="bp"``) or fixed random feedback (``rule="fa"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from brainlearn.errors import ShapeError, check_tensor
from brainlearn.rules.feedforward import FALinear
from brainlearn.runtime.config import Config, param

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
Activation = Literal["sigmoid", "tanh", "relu"]


def one_hot(labels: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """labels (B,) int64 -> (B, n_classes) one-hot rows of `dtype`. A comparison, not ``F.one_hot``, which reads
    the labels' maximum (an ensemble's vmap cannot read values)."""
    return (labels[:, None] == torch.arange(n_classes, device=labels.device)).to(dtype)


def one_hot_mse(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """½‖out − onehot(labels)‖² averaged over the batch: the loss of the sigmoid/MSE networks of the
    BurstCCN and dendritic papers. out: (batch, classes) rates; labels: (batch,) int64."""
    return 0.5 * (out - one_hot(labels, out.shape[1], out.dtype)).pow(2).sum(1).mean()


@dataclass(frozen=True)
class MLPConfig(Config):
    """The widths, nonlinearities, credit-assignment rule and initialisation of an :class:`MLP`."""

    n_in: int = param(784, ge=1, help="input width")
    n_hidden: tuple[int, ...] = param((100,), ge=1, help="hidden layer widths (empty: one linear layer)")
    n_out: int = param(10, ge=1, help="output width")
    activation: Activation = param("sigmoid", help="nonlinearity of the hidden layers")
    output_activation: Activation | None = param(None, help="nonlinearity of the output layer (none: logits; "
                                                            "sigmoid for the MSE-on-one-hot networks)")
    rule: Literal["bp", "fa"] = param("bp", help="backprop or feedback alignment (switch later with "
                                                 "brainlearn.rules.use_rule)")
    init_gain: float = param(1.0, gt=0, help="xavier-normal gain of the forward weights (biases start at 0)")
    feedback_std: float | None = param(None, gt=0, help="std of FA's random feedback (none: FALinear's "
                                                        "default, the std of W's uniform initialisation)")

    @property
    def sizes(self) -> tuple[int, ...]:
        """Every width, input first."""
        return (self.n_in, *self.n_hidden, self.n_out)


class MLP(nn.Module):
    """The network of an :class:`MLPConfig`.

    Args:
        config: widths, activations, rule and initialisation.
        generator: torch.Generator for all random initialisation (forward weights and FA feedback).
    """

    def __init__(self, config: MLPConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.sizes = config.sizes
        self.activation = config.activation
        self.output_activation = config.output_activation
        self.layers = nn.ModuleList(
            FALinear(a, b, rule=config.rule, feedback_std=config.feedback_std, generator=generator)
            for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        with torch.no_grad():
            for layer in self.layers:
                std = config.init_gain * (2.0 / (layer.in_features + layer.out_features)) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_in) -> (batch, n_out)."""
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(f"MLP input: expected shape (batch, {self.sizes[0]}), got {tuple(x.shape)}")
        check_tensor(x, "MLP input")
        hidden = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = hidden(layer(x))
        x = self.layers[-1](x)
        return ACTIVATIONS[self.output_activation](x) if self.output_activation else x
