"""Learning rules for recurrent networks compared on one interface (Henha Eyono et al. 2022, arXiv:2105.05382)."""
