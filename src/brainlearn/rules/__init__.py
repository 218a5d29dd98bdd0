"""Credit-assignment rules shared by several models: the feedforward rules as layer swaps
(:mod:`brainlearn.rules.feedforward`: backprop, feedback alignment and its relatives), predictive coding's
inference learning on the same networks (:mod:`brainlearn.rules.predictive_coding`), and the learning rules
for recurrent networks (:mod:`brainlearn.rules.rnn_base`, the network and interface they share;
:mod:`brainlearn.rules.recurrent`, the rate rules and :data:`~brainlearn.rules.recurrent.RECURRENT_RULES`;
:mod:`brainlearn.rules.spiking`; :mod:`brainlearn.rules.sg_rnn`, :mod:`brainlearn.rules.bplambda`)."""

from brainlearn.rules.feedforward import FEEDFORWARD_RULES, FALinear, convert, use_rule
from brainlearn.rules.predictive_coding import PC_PLAUSIBILITY, PredictiveCodingConfig, pc_grads

__all__ = ["FEEDFORWARD_RULES", "FALinear", "PC_PLAUSIBILITY", "PredictiveCodingConfig", "convert", "pc_grads",
           "use_rule"]
