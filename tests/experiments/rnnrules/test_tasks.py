"""rnnrules-tasks: contracts, every rule variant on the other tasks, config validation."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.rnnrules.tasks import TasksConfig
from brainlearn.experiments.runner import run_experiment
from brainlearn.rules.recurrent import LeakyRNNConfig
from tests.contracts import check_contracts


def test_contracts(tmp_path):
    check_contracts("rnnrules-tasks", tmp_path, interrupt_after=2)


def test_tasks_tiny_runs():
    config = TasksConfig(tasks=("sine", "digits", "flipflop"), rules=("readout", "dni3", "bplambda", "uoro", "kernl"),
                         steps=1, batch_size=2, test_batch_size=4, model=LeakyRNNConfig(n_in=1, n_hidden=4, n_out=1))
    out = run_experiment("rnnrules-tasks", config, seed=0, out=None)
    assert out.result.arrays["table"].shape == (5, 3)


def test_a_tasks_numbers_do_not_depend_on_the_others():
    small = {"rules": ("readout", "eprop"), "steps": 2, "batch_size": 2, "test_batch_size": 4,
             "model": LeakyRNNConfig(n_in=1, n_hidden=4, n_out=1)}
    both = run_experiment("rnnrules-tasks", TasksConfig(tasks=("add", "dnm"), **small), seed=0, out=None)
    alone = run_experiment("rnnrules-tasks", TasksConfig(tasks=("dnm",), **small), seed=0, out=None)
    assert both.result.metrics["dnm_eprop"] == alone.result.metrics["dnm_eprop"]


def test_bad_configs():
    with pytest.raises(ConfigError):
        TasksConfig(tasks=("chess",))
    with pytest.raises(ConfigError, match="each task"):
        TasksConfig(model=LeakyRNNConfig(n_in=3, n_out=1))


def test_stacked_contracts(tmp_path, monkeypatch):
    """Seeds stacked where the rule stacks (readout, BPTT), one by one where it does not (DNI)."""
    from tests.contracts import check_stacked_contracts

    check_stacked_contracts("rnnrules-tasks", tmp_path, ((), ("lr=0.01",), ("lr=0.001",)),
                            overrides=("rules=readout,bptt,dni3",), monkeypatch=monkeypatch, rtol=1e-4)
