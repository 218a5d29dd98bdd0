"""generalisation-diagnosis: contracts, quick claims (slow)."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import gated_claims


def test_contracts_diagnosis(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("generalisation-diagnosis", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)



@pytest.fixture(scope="module")
def quick_diagnosis():
    return {c["id"]: c for c in run_experiment("generalisation-diagnosis", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", gated_claims("generalisation-diagnosis"))
def test_diagnosis_quick_claim(quick_diagnosis, claim_id):
    assert claim_ok(quick_diagnosis[claim_id]), quick_diagnosis[claim_id]
