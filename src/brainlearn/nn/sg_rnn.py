"""Truncated BPTT with synthetic gradients (DNI for RNNs): re-exported from :mod:`brainlearn.rules.sg_rnn`,
where it lives so that the recurrent learning rules (:mod:`brainlearn.rules.recurrent`) can use it."""

from brainlearn.rules.sg_rnn import CELLS, RecurrentCore, SGStats, SyntheticGradientRNN, WindowLoss

__all__ = ["CELLS", "RecurrentCore", "SGStats", "SyntheticGradientRNN", "WindowLoss"]
