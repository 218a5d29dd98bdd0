"""Test data the similarity tests share: seeded Gaussian arrays and random orthogonal matrices."""

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=15, deadline=None)
seeds = st.integers(0, 2**31 - 1)


def rand(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def orthogonal(seed, n, det=1):
    """A random (n, n) orthogonal matrix with determinant `det`."""
    Q, R = np.linalg.qr(rand(seed, n, n))
    Q = Q * np.sign(np.diag(R))
    if np.sign(np.linalg.det(Q)) != det:
        Q[:, 0] *= -1
    return Q
