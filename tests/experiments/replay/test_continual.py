"""The replay-continual experiment: contracts and quick claims."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts, gated_claims


def test_continual_contracts(tmp_path):
    check_contracts("replay-continual", tmp_path, interrupt_after=2)


@pytest.fixture(scope="module")
def continual():
    return {c["id"]: c for c in run_experiment("replay-continual", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", gated_claims("replay-continual"))
def test_continual_claim(continual, claim_id):
    assert claim_ok(continual[claim_id]), continual[claim_id]
