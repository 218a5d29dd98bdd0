"""Measurements on models: gradient alignment and friends."""

from brainlearn.analysis.alignment import angle, angles, cosine, gradients, layer_angles, tail_mean

__all__ = ["angle", "angles", "cosine", "gradients", "layer_angles", "tail_mean"]
