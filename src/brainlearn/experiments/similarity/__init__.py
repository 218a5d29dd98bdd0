"""Dynamical similarity analysis (Ostrow et al. 2023, arXiv:2306.10168; Guilhot et al., arXiv:2410.24070)."""
