"""The test systems: the attractor trio's matched condition averages, the Lorenz test case, the ring attractor."""

import numpy as np

from brainlearn.similarity import testcases as tc


def test_trio_condition_averages_match():
    systems, labels = tc.attractor_trio(n_per_type=2, sigma=0.05, n_trials=20, n_steps=2000, seed=3)
    assert list(labels[:3]) == ["saddle", "line", "point"] and systems[0].shape == (20, 200, 2)
    for k in range(0, len(systems), 3):
        means = [X.reshape(2, 10, 200, 2).mean(1) for X in systems[k:k + 3]]
        # matched up to the trial mean of one step's noise, dt * sigma / sqrt(trials per condition) ~ 2e-4
        assert np.abs(means[1] - means[0]).max() < 2e-3 and np.abs(means[2] - means[0]).max() < 2e-3
        assert np.abs(means[0]).max() > 0.5                                   # the averages themselves are O(1)
    again, _ = tc.attractor_trio(n_per_type=2, sigma=0.05, n_trials=20, n_steps=2000, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(systems, again))


def test_lorenz_test_case_shapes_and_schedules():
    X = tc.lorenz(28.0, n_traj=5, n_steps=50, seed=0)
    assert X.shape == (5, 50, 3) and X.min() >= 0 and X.max() <= 1
    assert len(tc.LORENZ_CLASSES) == 3 and sum(len(v) for v in tc.LORENZ_CLASSES.values()) == 9
    assert tc.NOISE_SCHEDULE == (0.004, 0.002, 0.001) and tc.MIXING_SCHEDULE == (1.0, 0.5, 0.25)
    import torch

    M1, M2, M3 = tc.mixing_networks(X, X[::-1], 0.01, 0.5, torch.Generator().manual_seed(0))
    assert M1.shape == X.shape and not np.array_equal(M1, M2)
    ring = tc.ring_attractor(n_trials=4, n_steps=20, n_units=5, seed=0)
    assert ring.shape == (4, 20, 5)
