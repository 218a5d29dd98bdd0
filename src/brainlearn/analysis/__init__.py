"""Measurements on models: gradient alignment and friends."""

from brainlearn.analysis.alignment import angle, gradients, layer_angles

__all__ = ["angle", "gradients", "layer_angles"]
