"""bplambda-copyrepeat: tiny runs, config validation, and the contracts at its smoke preset."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments import get
from brainlearn.experiments.bplambda.copyrepeat import CopyRepeatConfig
from brainlearn.experiments.runner import make_config, run_experiment
from brainlearn.models.online_rnn import OnlineRNNConfig


def test_copyrepeat_runs_tiny():
    out = run_experiment("bplambda-copyrepeat",
                         CopyRepeatConfig(steps=3, model=OnlineRNNConfig(n_hidden=4, cell="lstm"), batch_size=4),
                         seed=0, out=None)
    assert {"bptt_level", "dni_level", "bplambda_level", "online_level"} <= set(out.result.metrics)


def test_bad_configs():
    with pytest.raises(ConfigError, match="lam"):
        CopyRepeatConfig(lam=2.0)
    with pytest.raises(ConfigError, match="model.cell must be lstm"):
        CopyRepeatConfig(model=OnlineRNNConfig(cell="rnn"))
    with pytest.raises(ConfigError, match="'steps'"):  # the old key names its new one
        make_config(get("bplambda-copyrepeat"), "quick", ["updates=5"])
    with pytest.raises(ConfigError, match="'model.n_hidden'"):
        make_config(get("bplambda-copyrepeat"), "quick", ["n_hidden=5"])


def test_tiny_run_writes_figures(tmp_path):
    copy = CopyRepeatConfig(steps=2, model=OnlineRNNConfig(n_hidden=3, cell="lstm"), batch_size=2, methods=("online",))
    out = run_experiment("bplambda-copyrepeat", copy, seed=0, out=tmp_path)
    assert (out.run_dir.path / "figures" / "learning_curves.png").exists()


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-copyrepeat", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
