"""similarity-attractors: its quick claims and its contracts (smoke preset)."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import gated_claims


@pytest.fixture(scope="module")
def attractors():
    return {c["id"]: c for c in run_experiment("similarity-attractors", seed=0, out=None).claims}



@pytest.mark.parametrize("claim_id", gated_claims("similarity-attractors"))
def test_attractors_claim(attractors, claim_id):
    assert claim_ok(attractors[claim_id]), attractors[claim_id]  # PASS, or XFAIL for a known non-reproduction


def test_attractors_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-attractors", tmp_path, interrupt_after=1, monkeypatch=monkeypatch)
