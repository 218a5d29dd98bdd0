"""rnnrules-add: contracts, ungated claims below the budget, config validation."""

import pytest

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
    assert {c["id"] for c in out.claims} == {"readout-floor", "dni-beats-bptt3"}
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
