"""Feedback alignment (Lillicrap et al. 2016, arXiv:1411.0247): the baseline of every credit-assignment model."""
