"""rnnrules-add: contracts, ungated claims below the budget, config validation."""

import math

import pytest
import torch

from brainlearn.data.rnn_tasks import add_task_floors
from brainlearn.errors import ConfigError
from brainlearn.experiments.rnnrules.add import AddConfig
from brainlearn.experiments.runner import run_experiment
from brainlearn.rules.recurrent import LeakyRNNConfig
from brainlearn.runtime.config import apply_overrides, config_from_dict
from tests.contracts import check_contracts


def test_contracts(tmp_path):
    check_contracts("rnnrules-add", tmp_path, interrupt_after=2)


def test_add_tiny_claims_are_ungated_below_budget():
    out = run_experiment("rnnrules-add", AddConfig(rules=("readout", "bptt3", "dni3"), steps=40, test_steps=20,
                                                   bin_size=20, replicates=2,
                                                   model=LeakyRNNConfig(n_in=1, n_hidden=4, n_out=2)),
                         seed=0, out=None)
    assert {c["id"] for c in out.claims} == {"readout-reachable", "dni-beats-bptt3"}
    assert not any(c["gated"] for c in out.claims)


def test_bad_configs():
    with pytest.raises(ConfigError):
        AddConfig(rules=("sideways",))
    with pytest.raises(ConfigError):
        AddConfig(model=LeakyRNNConfig(n_in=2))


def test_renamed_keys_and_nested_settings():
    with pytest.raises(ConfigError, match="model.n_hidden"):
        apply_overrides(AddConfig(), ["n_hidden=8"])
    with pytest.raises(ConfigError, match="'steps'"):
        apply_overrides(AddConfig(), ["train_steps=8"])
    config = apply_overrides(AddConfig(), ["model.n_hidden=8", "variants.bptt10.window=20", "steps=600"])
    assert (config.model.n_hidden, config.variants.bptt10.window, config.steps) == (8, 20, 600)
    old = config_from_dict(AddConfig, {"train_steps": 700, "n_hidden": 6, "alpha": 0.5})
    assert (old.steps, old.model.n_hidden, old.model.alpha) == (700, 6, 0.5)


def test_best_readout_of_a_silent_network_is_the_mean_target():
    # zero weights: every state is 0, so the best readout is a constant and its CE is H(mean target) exactly
    from brainlearn.experiments.rnnrules.common import add_stream, best_readout_ce, network

    model = network(LeakyRNNConfig(n_in=1, n_hidden=4, n_out=2), seed=0, device="cpu")
    with torch.no_grad():
        model.cell.weight.zero_()
    x, y = add_stream(500, 0, None, "data", "cpu", (1, 2), (0.25, 0.25))
    q = float(y[..., 0].double().mean())
    assert math.isclose(best_readout_ce(model, x, y, x, y), -q * math.log(q) - (1 - q) * math.log(1 - q),
                        abs_tol=1e-7)


@pytest.mark.parametrize("lags", [(5, 9), (1, 2)])
def test_readout_is_held_to_the_floor_it_can_reach_for_the_lags_in_use(lags):
    config = AddConfig(rules=("readout",), steps=2000, test_steps=500, replicates=1, lags=lags)
    out = run_experiment("rnnrules-add", config, seed=0, out=None)
    (claim,) = out.claims
    assert claim["id"] == "readout-reachable" and claim["passed"], claim
    m = out.result.metrics
    none, lag1, both = add_task_floors(lags)
    assert both - 0.03 < m["readout_reachable"] < none    # the network's states carry part of the task
    if lags == (1, 2):  # short lags: the readout learns part of the task, below the old claim's 0.62
        assert m["readout_ce_mean"] < 0.62


def test_lags_are_validated():
    with pytest.raises(ConfigError, match="distinct"):
        AddConfig(lags=(3, 3))
    with pytest.raises(ConfigError, match="coefficients"):
        AddConfig(lags=(1, 2, 3))


def test_thresholds_set_for_the_default_task_are_ungated_on_another():
    from brainlearn.experiments.rnnrules.add import claims

    gated = {c.id: c.gated for c in claims(AddConfig(lags=(1, 2)))}
    assert gated.pop("readout-reachable")      # the reachable floor is computed for the lags in use
    assert not any(gated.values())
    assert all(c.gated for c in claims(AddConfig()))
