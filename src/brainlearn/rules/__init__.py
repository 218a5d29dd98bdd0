"""Credit-assignment rules shared by several models: the feedforward rules as layer swaps
(:mod:`brainlearn.rules.feedforward`: backprop, feedback alignment and its relatives), and the
learning rules for recurrent networks (:mod:`brainlearn.rules.rnn_base`, the network and interface they
share; :mod:`brainlearn.rules.recurrent`, the rate rules and :data:`~brainlearn.rules.recurrent.RECURRENT_RULES`;
:mod:`brainlearn.rules.spiking`; :mod:`brainlearn.rules.sg_rnn`, :mod:`brainlearn.rules.bplambda`)."""

from brainlearn.rules.feedforward import FEEDFORWARD_RULES, FALinear, convert, use_rule

__all__ = ["FEEDFORWARD_RULES", "FALinear", "convert", "use_rule"]
