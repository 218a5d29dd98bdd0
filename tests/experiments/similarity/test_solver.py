"""similarity-solver: its quick claims and its contracts (smoke preset)."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import gated_claims


@pytest.fixture(scope="module")
def solver():
    return {c["id"]: c for c in run_experiment("similarity-solver", seed=0, out=None).claims}



@pytest.mark.parametrize("claim_id", gated_claims("similarity-solver"))
def test_solver_claim(solver, claim_id):
    assert claim_ok(solver[claim_id]), solver[claim_id]  # PASS, or XFAIL for a known non-reproduction


def test_solver_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-solver", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
