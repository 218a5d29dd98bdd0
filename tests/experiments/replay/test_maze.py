"""The replay-maze experiment: contracts and quick claims."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts


def test_contracts(tmp_path):
    check_contracts("replay-maze", tmp_path, interrupt_after=2)


@pytest.fixture(scope="module")
def quick():
    return {c["id"]: c for c in run_experiment("replay-maze", seed=0, out=None).claims}


@pytest.mark.parametrize("claim_id", [c.id for c in get("replay-maze").claims(get("replay-maze").preset("quick"))
                                      if c.gated])
def test_quick_claim(quick, claim_id):
    assert claim_ok(quick[claim_id]), quick[claim_id]   # PASS, or XFAIL for a known non-reproduction
