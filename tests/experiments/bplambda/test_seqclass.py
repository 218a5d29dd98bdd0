"""bplambda-seqclass: its quick BPTT claim (slow), tiny runs, config validation, and the contracts at its
smoke preset."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.bplambda.seqclass import SeqClassConfig
from brainlearn.experiments.runner import run_experiment
from brainlearn.models.online_rnn import OnlineRNNConfig


@pytest.mark.slow
def test_seqclass_quick_runs_and_bptt_learns():
    out = run_experiment("bplambda-seqclass", seed=0, out=None)
    (claim,) = [c for c in out.claims if c["id"] == "bptt-learns"]
    assert claim["passed"], claim
    assert {"bptt_test_acc", "dni_test_acc", "bplambda_test_acc", "online_test_acc"} <= set(out.result.metrics)


def test_seqclass_tiny_runs():
    config = SeqClassConfig(dataset="digits", n_train=40, n_test=20, model=OnlineRNNConfig(n_hidden=4, cell="lstm"),
                            batch_size=20, epochs=1)
    out = run_experiment("bplambda-seqclass", config, seed=0, out=None)
    assert 0 <= out.result.metrics["bplambda_test_acc"] <= 1


def test_bad_configs():
    with pytest.raises(ConfigError, match="methods"):
        SeqClassConfig(methods=("bptt", "rtrl"))


def test_tiny_run_writes_figures(tmp_path):
    seq = SeqClassConfig(dataset="digits", n_train=20, n_test=10, model=OnlineRNNConfig(n_hidden=3, cell="lstm"),
                         batch_size=10, epochs=1, methods=("bptt", "bplambda"))
    out = run_experiment("bplambda-seqclass", seq, seed=0, out=tmp_path)
    assert (out.run_dir.path / "figures" / "learning_curves.png").exists()


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-seqclass", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
