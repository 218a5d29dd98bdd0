"""BurstCCN (Greedy et al. 2022, arXiv:2206.11769): exactness, classification, alignment, Q, continuous time."""
