"""generalisation-diagnosis: contracts, quick claims (slow)."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment


def test_contracts_diagnosis(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("generalisation-diagnosis", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)


def _gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.fixture(scope="module")
def quick_diagnosis():
    return {c["id"]: c for c in run_experiment("generalisation-diagnosis", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", _gated("generalisation-diagnosis"))
def test_diagnosis_quick_claim(quick_diagnosis, claim_id):
    assert claim_ok(quick_diagnosis[claim_id]), quick_diagnosis[claim_id]
