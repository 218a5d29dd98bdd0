"""Credit-assignment rules shared by several models."""

from brainlearn.rules.feedback_alignment import RULES, FALinear, use_rule

__all__ = ["RULES", "FALinear", "use_rule"]
