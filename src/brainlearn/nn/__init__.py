"""Building blocks shared by several models."""

from brainlearn.nn.mlp import ACTIVATIONS, MLP, one_hot_mse
from brainlearn.nn.sg_rnn import RecurrentCore, SGStats, SyntheticGradientRNN
from brainlearn.nn.synthetic import Synthesiser

__all__ = ["ACTIVATIONS", "MLP", "one_hot_mse", "RecurrentCore", "SGStats", "Synthesiser", "SyntheticGradientRNN"]
