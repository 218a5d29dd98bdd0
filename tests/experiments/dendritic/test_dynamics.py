"""dendritic-dynamics: the quick claims, config validation, exact resumption and the contracts."""

import pytest
import torch

from brainlearn.errors import ConfigError
from brainlearn.experiments.runner import run_experiment
from brainlearn.models.dendritic import DendriticNetworkConfig


def test_experiment_configs_validate():
    from brainlearn.experiments.dendritic.dynamics import DynamicsConfig

    for bad in (dict(dt=1.0), dict(patterns=0), dict(noise=-0.1)):
        with pytest.raises(ConfigError):
            DynamicsConfig(**bad)


@pytest.fixture(scope="module")
def quick_dynamics():
    return run_experiment("dendritic-dynamics", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["D1-settles", "D2-self-prediction-dynamics"])
def test_quick_dynamics_claim(quick_dynamics, claim_id):
    (claim,) = [c for c in quick_dynamics.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_dynamics_run_resumes_exactly(tmp_path):
    """A resumed continuous-time run continues from its checkpoint with the numbers of an uninterrupted run."""
    from brainlearn.experiments.dendritic.dynamics import DynamicsConfig
    from brainlearn.experiments.dendritic.dynamics import run as run_dynamics
    from brainlearn.runtime import RunContext, RunDir

    small = dict(network=DendriticNetworkConfig(sizes=(6, 5, 3)), settle_ms=5.0, duration=5.0,
                 batch_size=2, rate_scale=10.0)
    whole = run_dynamics(DynamicsConfig(patterns=12, **small), 0, RunContext())
    run_dir = RunDir.create(tmp_path, "dendritic-dynamics", {"experiment": "dendritic-dynamics"})
    run_dynamics(DynamicsConfig(patterns=10, **small), 0, RunContext(run_dir=run_dir))  # checkpoint at 10
    resumed = run_dynamics(DynamicsConfig(patterns=12, **small), 0, RunContext(run_dir=run_dir, resume=True))
    assert resumed.metrics == whole.metrics
    for key in ("dyn_apical", "dyn_trace"):
        torch.testing.assert_close(torch.as_tensor(resumed.arrays[key]), torch.as_tensor(whole.arrays[key]))


def test_contracts_dynamics(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("dendritic-dynamics", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
