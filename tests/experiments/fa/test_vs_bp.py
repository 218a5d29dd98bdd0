"""The quick claims of fa-vs-bp, as `brainlearn verify fa-vs-bp --quick` runs them; its config and contracts."""

import pytest

from brainlearn import experiments
from brainlearn.errors import ConfigError
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config, run_experiment


@pytest.fixture(scope="module")
def quick():
    return run_experiment("fa-vs-bp", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["bp-accuracy", "fa-near-bp", "angle-start-orthogonal", "angle-falls"])
def test_quick_claim(quick, claim_id):
    (claim,) = [c for c in quick.claims if c["id"] == claim_id]
    assert claim_ok(claim), claim  # PASS, or XFAIL for a known non-reproduction


def test_the_model_is_nested_and_old_keys_name_the_new_ones():
    config = make_config(experiments.get("fa-vs-bp"), "quick", ["model.n_hidden=50,20", "model.init_gain=2"])
    assert config.model.n_hidden == (50, 20) and config.model.init_gain == 2.0
    with pytest.raises(ConfigError, match="model.n_hidden"):
        make_config(experiments.get("fa-vs-bp"), "quick", ["hidden=50"])


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("fa-vs-bp", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)


def test_stacked_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_stacked_contracts

    check_stacked_contracts("fa-vs-bp", tmp_path, ((), ("lr=0.3",), ("model.init_gain=2", "model.feedback_std=0.3")),
                            monkeypatch=monkeypatch)
