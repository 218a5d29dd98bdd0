"""predictive-nwb: contracts at the smoke preset and the quick claims (needs the nwb extra)."""

import pytest

from brainlearn.experiments.base import claim_ok
from tests.contracts import check_contracts, gated_claims, quick_claims

NAME = "predictive-nwb"





def test_contracts(tmp_path):
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    check_contracts(NAME, tmp_path, ["validate=false"])


@pytest.fixture(scope="module")
def claims():
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    return quick_claims(NAME)


@pytest.mark.parametrize("claim_id", gated_claims(NAME))
def test_quick_claim(claims, claim_id):
    assert claim_ok(claims[claim_id]), claims[claim_id]
