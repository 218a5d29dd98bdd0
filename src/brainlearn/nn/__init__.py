"""Building blocks shared by several models."""

from brainlearn.nn.mlp import ACTIVATIONS, MLP, MLPConfig, one_hot, one_hot_mse
from brainlearn.rules.sg_rnn import RecurrentCore, SGStats, SyntheticGradientRNN, SyntheticGradientRNNConfig
from brainlearn.rules.synthetic import Synthesiser, SynthesiserConfig

__all__ = ["ACTIVATIONS", "MLP", "MLPConfig", "one_hot", "one_hot_mse", "RecurrentCore", "SGStats", "Synthesiser",
           "SynthesiserConfig", "SyntheticGradientRNN", "SyntheticGradientRNNConfig"]
