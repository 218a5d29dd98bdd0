"""Building blocks shared by several models."""

from brainlearn.nn.mlp import ACTIVATIONS, MLP
from brainlearn.nn.sg_rnn import RecurrentCore, SGStats, SyntheticGradientRNN
from brainlearn.nn.synthetic import Synthesiser

__all__ = ["ACTIVATIONS", "MLP", "RecurrentCore", "SGStats", "Synthesiser", "SyntheticGradientRNN"]
