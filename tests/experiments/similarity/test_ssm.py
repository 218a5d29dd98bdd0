"""similarity-ssm: its contracts (smoke preset, with the reference DSA axes) and quick claims."""

import pytest

from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import gated_claims


def test_ssm_contracts_with_reference_axes(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-ssm", tmp_path, overrides=["dsa_axes=reference"], interrupt_after=5,
                    monkeypatch=monkeypatch)



@pytest.fixture(scope="module")
def ssm_quick():
    return {c["id"]: c for c in run_experiment("similarity-ssm", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", gated_claims("similarity-ssm"))
def test_ssm_quick_claim(ssm_quick, claim_id):
    assert claim_ok(ssm_quick[claim_id]), ssm_quick[claim_id]  # PASS, or XFAIL for a known non-reproduction
