"""Building blocks shared by several models."""

from brainlearn.nn.mlp import ACTIVATIONS, MLP

__all__ = ["ACTIVATIONS", "MLP"]
