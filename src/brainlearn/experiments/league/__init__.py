"""The credit-assignment league: every learning rule on the same tasks, budget and measures, in one table."""
