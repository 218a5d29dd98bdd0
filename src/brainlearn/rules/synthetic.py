"""Synthetic gradients (Jaderberg et al. 2017): a module g_θ(s) that predicts dL/ds for a state s.

Shared by the cortico-cerebellar RNN (the synthesiser is the "cerebellum"), accumulate BP(λ) and the ``dni`` rule;
also importable from :mod:`brainlearn.nn`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from brainlearn.errors import ShapeError
from brainlearn.runtime.config import Config, param


@dataclass(frozen=True)
class SynthesiserConfig(Config):
    """The synthesiser's shape: its state, its hidden widths and an optional context input."""

    state_dim: int = param(ge=1, help="size of the state s (for an LSTM, s = [h; c]: 2 x its n_hidden)")
    hidden: tuple[int, ...] = param((), ge=1, help="hidden widths of the ReLU MLP (empty: linear, g(s) = A s + c)")
    context_dim: int = param(0, ge=0, help="size of an optional context input (cDNI); 0: none")


class Synthesiser(nn.Module):
    """g_θ(s): an MLP (ReLU hidden layers; ``hidden=()`` is linear) from a state to a gradient estimate.

    The output layer's weight **and** bias start at zero, so g ≡ 0 at initialisation and a network
    trained with synthetic gradients starts exactly as its truncated-BPTT counterpart. (dni-pytorch
    zeroes only the weight, leaving a random constant bias; we follow the papers' intent.) The other
    layers start at PyTorch's default U(±1/√fan_in), drawn from `generator` when one is given (else from
    torch's global generator).

    Shapes: ``state`` (batch, state_dim), ``context`` (batch, context_dim) -> (batch, state_dim).
    """

    def __init__(self, config: SynthesiserConfig, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        self.state_dim, self.hidden, self.context_dim = config.state_dim, config.hidden, config.context_dim
        widths = (self.state_dim, *self.hidden, self.state_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.context = nn.Linear(self.context_dim, widths[1], bias=False) if self.context_dim else None
        if generator is not None:
            with torch.no_grad():
                for layer in [*self.layers[:-1], *([self.context] if self.context is not None else [])]:
                    bound = 1 / math.sqrt(layer.in_features)
                    for p in layer.parameters():
                        p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, state: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if state.ndim != 2 or state.shape[1] != self.state_dim:
            raise ShapeError(f"Synthesiser: expected state of shape (batch, {self.state_dim}), "
                             f"got {tuple(state.shape)}")
        x = self.layers[0](state)
        if self.context is not None:
            if context is None:
                raise ShapeError("Synthesiser: built with context_dim > 0 but no context was given")
            x = x + self.context(context)
        for layer in self.layers[1:]:
            x = layer(torch.relu(x))
        return x
