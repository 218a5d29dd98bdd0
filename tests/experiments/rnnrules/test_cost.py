"""rnnrules-cost: contracts, the counted costs against theory, config validation."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.rnnrules.cost import CostConfig, macs
from brainlearn.experiments.runner import run_experiment
from brainlearn.rules.recurrent import LeakyRNNConfig
from tests.contracts import check_contracts


def test_contracts(tmp_path):
    check_contracts("rnnrules-cost", tmp_path, interrupt_after=2)


def test_cost_counts_follow_theory():
    out = run_experiment("rnnrules-cost", CostConfig(rules=("rtrl", "eprop", "rflo"), sizes=(8, 16, 32), fit_from=16,
                                                     steps=1, timing=False), seed=0, out=None)
    m = out.result.metrics
    assert 2.8 < m["rtrl_memory_slope"] < 3.1 and m["eprop_memory_slope"] < 2.1
    assert m["rtrl_time_slope"] > 3.0 and m["eprop_time_slope"] < 2.1
    assert macs("rtrl", 64) > 100 * macs("eprop", 64)


def test_bad_configs():
    with pytest.raises(ConfigError):
        CostConfig(sizes=(8, 16), fit_from=16)
    with pytest.raises(ConfigError, match="sizes"):
        CostConfig(model=LeakyRNNConfig(n_in=1, n_hidden=8, n_out=2))
