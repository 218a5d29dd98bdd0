"""similarity-lorenz: its quick claims and its contracts (smoke preset)."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import gated_claims


@pytest.fixture(scope="module")
def lorenz():
    return {c["id"]: c for c in run_experiment("similarity-lorenz", seed=0, out=None).claims}



@pytest.mark.parametrize("claim_id", gated_claims("similarity-lorenz"))
def test_lorenz_claim(lorenz, claim_id):
    assert claim_ok(lorenz[claim_id]), lorenz[claim_id]  # PASS, or XFAIL for a known non-reproduction


def test_lorenz_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-lorenz", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
