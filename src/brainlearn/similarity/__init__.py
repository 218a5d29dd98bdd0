"""Representational and dynamical similarity metrics."""
