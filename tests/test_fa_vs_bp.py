"""The quick claims of fa-vs-bp, as `brainlearn verify fa-vs-bp --quick` runs them."""

import pytest

from brainlearn.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def quick():
    return run_experiment("fa-vs-bp", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["bp-accuracy", "fa-near-bp", "angle-start-orthogonal", "angle-falls"])
def test_quick_claim(quick, claim_id):
    (claim,) = [c for c in quick.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("fa-vs-bp", ["epochs=3", "n_train=200", "n_test=100", "angle_every=5"], tmp_path,
                    interrupt_after=2, monkeypatch=monkeypatch)
