"""The rnnrules experiments: quick claims, small runs, config validation and the contracts."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.rnnrules.add import AddConfig
from brainlearn.experiments.rnnrules.alignment import AlignmentConfig
from brainlearn.experiments.rnnrules.cost import CostConfig, macs
from brainlearn.experiments.rnnrules.tasks import TasksConfig
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts

SMALL = {
    "rnnrules-add": ["rules=readout,bptt10,eprop", "train_steps=60", "test_steps=20", "bin_size=20", "n_hidden=4"],
    "rnnrules-alignment": ["n_hidden=4", "train_steps=20", "probes=3", "probe_steps=20", "batch=1"],
    "rnnrules-cost": ["rules=rtrl,eprop", "sizes=4,8", "fit_from=4", "steps=2", "timing=false"],
    "rnnrules-tasks": ["tasks=add,dnm", "rules=readout,rtrl", "iterations=2", "batch=2", "test_batch=4",
                       "n_hidden=4"],
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_contracts(name, tmp_path):
    check_contracts(name, SMALL[name], tmp_path, interrupt_after=2)


def test_alignment_quick_claims():
    out = run_experiment("rnnrules-alignment", seed=0, out=None)
    chance = {"random-eprop-positive"}  # its sign at frozen parameters is a draw of B (see the docs page)
    assert out.claims and all(claim_ok(c) and (c["passed"] or c["id"] in chance) for c in out.claims), out.claims


def test_cost_counts_follow_theory():
    out = run_experiment("rnnrules-cost", CostConfig(rules=("rtrl", "eprop", "rflo"), sizes=(8, 16, 32), fit_from=16,
                                                     steps=1, timing=False), seed=0, out=None)
    m = out.result.metrics
    assert 2.8 < m["rtrl_memory_slope"] < 3.1 and m["eprop_memory_slope"] < 2.1
    assert m["rtrl_time_slope"] > 3.0 and m["eprop_time_slope"] < 2.1
    assert macs("rtrl", 64) > 100 * macs("eprop", 64)


def test_add_tiny_claims_are_ungated_below_budget():
    out = run_experiment("rnnrules-add", AddConfig(rules=("readout", "bptt3", "dni3"), train_steps=40, test_steps=20,
                                                   bin_size=20, n_hidden=4, replicates=2), seed=0, out=None)
    assert {c["id"] for c in out.claims} == {"readout-floor", "dni-beats-bptt3"}
    assert not any(c["gated"] for c in out.claims)


def test_tasks_tiny_runs():
    config = TasksConfig(tasks=("sine", "digits", "flipflop"), rules=("readout", "dni3", "bplambda", "uoro", "kernl"),
                         iterations=1, batch=2, test_batch=4, n_hidden=4)
    out = run_experiment("rnnrules-tasks", config, seed=0, out=None)
    assert out.result.arrays["table"].shape == (5, 3)


def test_bad_configs():
    with pytest.raises(ConfigError):
        AddConfig(rules=("sideways",))
    with pytest.raises(ConfigError):
        AlignmentConfig(probe_steps=5, block=10)
    with pytest.raises(ConfigError):
        CostConfig(sizes=(8, 16), fit_from=16)
    with pytest.raises(ConfigError):
        TasksConfig(tasks=("chess",))
