"""Accumulate BP(λ) (Pemberton & Costa 2024, arXiv:2401.07044): synthetic gradients learned online."""
