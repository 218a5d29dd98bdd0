"""Credit-assignment rules shared by several models: feedback alignment for feedforward layers, and the
learning rules for recurrent networks (:mod:`brainlearn.rules.rnn_base`, the network and interface they
share; :mod:`brainlearn.rules.recurrent`, the rate rules and :data:`~brainlearn.rules.recurrent.RECURRENT_RULES`;
:mod:`brainlearn.rules.spiking`; :mod:`brainlearn.rules.sg_rnn`, :mod:`brainlearn.rules.bplambda`)."""

from brainlearn.rules.feedback_alignment import FEEDFORWARD_RULES, FALinear, use_rule

__all__ = ["FEEDFORWARD_RULES", "FALinear", "use_rule"]
