"""Many models in one pass: ensembles over seeds and hyperparameters, stacked on a leading member axis.

:class:`Ensemble` holds N members of one model (each built exactly as alone, from its :class:`Member`'s
seed and config overrides); :class:`StackedSGD` and :class:`StackedAdam` update them all at once with
per-member hyperparameters; :class:`StackedRule` runs an explicit recurrent learning rule for every member.
See docs/ensembles.md.
"""

from brainlearn.ensemble.optim import StackedAdam, StackedSGD
from brainlearn.ensemble.rules import STACKABLE_RULES, StackedRule
from brainlearn.ensemble.stack import Ensemble, Member, members

__all__ = ["STACKABLE_RULES", "Ensemble", "Member", "StackedAdam", "StackedRule", "StackedSGD", "members"]
