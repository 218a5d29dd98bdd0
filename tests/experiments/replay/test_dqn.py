"""The replay-dqn experiment: contracts and quick claims."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts, gated_claims


def test_dqn_contracts(tmp_path):
    pytest.importorskip("gymnasium")
    check_contracts("replay-dqn", tmp_path, interrupt_after=1)


@pytest.fixture(scope="module")
def dqn():
    return {c["id"]: c for c in run_experiment("replay-dqn", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", gated_claims("replay-dqn"))
def test_dqn_claim(dqn, claim_id):
    assert claim_ok(dqn[claim_id]), dqn[claim_id]

