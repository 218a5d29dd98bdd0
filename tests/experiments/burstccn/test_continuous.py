"""burstccn-continuous: the quick claims, config validation, its figure and the contracts."""

import pytest

from brainlearn import experiments
from brainlearn.errors import ConfigError
from brainlearn.experiments.runner import make_config, run_experiment


@pytest.fixture(scope="module")
def quick_continuous():
    return run_experiment("burstccn-continuous", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["B6-single-phase", "B6-learns-online", "B6-follows-bp"])
def test_quick_continuous_claim(quick_continuous, claim_id):
    (claim,) = [c for c in quick_continuous.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_continuous_config_is_validated():
    with pytest.raises(ConfigError):
        make_config(experiments.get("burstccn-continuous"), "quick", ["dt=0.5"])
    with pytest.raises(ConfigError, match="'steps'"):
        make_config(experiments.get("burstccn-continuous"), "quick", ["train_steps=10"])


def test_continuous_figure_is_made(quick_continuous):
    figs = experiments.get("burstccn-continuous").plot(quick_continuous.result, quick_continuous.config)
    assert set(figs) == {"continuous"}


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    # rounds: rest, pre-test, 20 training chunks, post-test; interrupted inside training
    check_contracts("burstccn-continuous", tmp_path, interrupt_after=10, monkeypatch=monkeypatch)
