"""Synthetic gradients (Jaderberg et al. 2017): a module g_θ(s) that predicts dL/ds for a state s.

Shared by the cortico-cerebellar RNN (the synthesiser is the "cerebellum") and accumulate BP(λ).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from brainlearn.errors import ConfigError, ShapeError


class Synthesiser(nn.Module):
    """g_θ(s): an MLP (ReLU hidden layers; ``hidden=()`` is linear) from a state to a gradient estimate.

    The output layer's weight **and** bias start at zero, so g ≡ 0 at initialisation and a network
    trained with synthetic gradients starts exactly as its truncated-BPTT counterpart. (dni-pytorch
    zeroes only the weight, leaving a random constant bias; we follow the papers' intent.)

    Args:
        state_dim: size of the state s (for an LSTM, s = [h; c], so 2 x hidden size).
        hidden: hidden widths; () gives the linear synthesiser g(s) = A s + c.
        context_dim: size of an optional context input (cDNI), added after the first linear map.

    Shapes: ``state`` (batch, state_dim), ``context`` (batch, context_dim) -> (batch, state_dim).
    """

    def __init__(self, state_dim: int, hidden: Sequence[int] = (), context_dim: int = 0):
        super().__init__()
        if state_dim < 1 or any(h < 1 for h in hidden) or context_dim < 0:
            raise ConfigError(f"Synthesiser: need state_dim >= 1 and positive hidden widths, got "
                              f"state_dim={state_dim}, hidden={tuple(hidden)}, context_dim={context_dim}")
        self.state_dim, self.hidden, self.context_dim = state_dim, tuple(hidden), context_dim
        widths = (state_dim, *self.hidden, state_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.context = nn.Linear(context_dim, widths[1], bias=False) if context_dim else None
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
