"""The replay-per experiment: contracts and quick claims."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts, gated_claims


def test_per_contracts(tmp_path):
    check_contracts("replay-per", tmp_path, interrupt_after=2)


@pytest.fixture(scope="module")
def per():
    return {c["id"]: c for c in run_experiment("replay-per", seed=0, out=None).claims}


@pytest.mark.parametrize("claim_id", gated_claims("replay-per"))
def test_per_claim(per, claim_id):
    assert claim_ok(per[claim_id]), per[claim_id]
