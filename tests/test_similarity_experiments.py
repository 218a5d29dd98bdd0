"""The quick claims of similarity-solver, similarity-attractors and similarity-lorenz, plus the test cases."""

import numpy as np
import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from brainlearn.similarity import testcases as tc


def _claims(name):
    outcome = run_experiment(name, seed=0, out=None)
    return {c["id"]: c for c in outcome.claims}


@pytest.fixture(scope="module")
def solver():
    return _claims("similarity-solver")


@pytest.fixture(scope="module")
def attractors():
    return _claims("similarity-attractors")


@pytest.fixture(scope="module")
def lorenz():
    return _claims("similarity-lorenz")


def _gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.mark.parametrize("claim_id", _gated("similarity-solver"))
def test_solver_claim(solver, claim_id):
    assert claim_ok(solver[claim_id]), solver[claim_id]  # PASS, or XFAIL for a known non-reproduction


@pytest.mark.parametrize("claim_id", _gated("similarity-attractors"))
def test_attractors_claim(attractors, claim_id):
    assert claim_ok(attractors[claim_id]), attractors[claim_id]  # PASS, or XFAIL for a known non-reproduction


@pytest.mark.parametrize("claim_id", _gated("similarity-lorenz"))
def test_lorenz_claim(lorenz, claim_id):
    assert claim_ok(lorenz[claim_id]), lorenz[claim_id]  # PASS, or XFAIL for a known non-reproduction


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


def test_solver_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-solver", ["sizes=4,6", "triangle_size=4", "triangle_matrices=3", "max_iter=50"],
                    tmp_path, interrupt_after=2, monkeypatch=monkeypatch)


def test_attractors_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-attractors", ["sigmas=0.05,0.1", "n_per_type=2", "n_trials=10", "n_steps=1000",
                                              "n_delays=5", "rank=5", "max_iter=50"],
                    tmp_path, interrupt_after=1, monkeypatch=monkeypatch)


def test_lorenz_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-lorenz", ["n_traj=5", "n_steps=60", "n_delays=5", "delay_interval=2", "rank=5",
                                          "mixing_rank=5", "patterns=0.5,30"],
                    tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
