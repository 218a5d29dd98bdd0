"""predictive-sequence: contracts at the smoke preset and the quick claims."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config
from tests.contracts import check_contracts, gated_claims, quick_claims

NAME = "predictive-sequence"





def test_contracts(tmp_path):
    check_contracts(NAME, tmp_path)


def test_old_keys_are_refused_naming_the_new_ones():
    from brainlearn.errors import ConfigError

    for old, new in (("n_channels", "pc.n_in"), ("tau_rec", "adaptation.tau_rec"), ("prior", "pc.prior")):
        with pytest.raises(ConfigError, match=new):
            make_config(get(NAME), "quick", [f"{old}=3"])


@pytest.fixture(scope="module")
def claims():
    return quick_claims(NAME)


@pytest.mark.parametrize("claim_id", gated_claims(NAME))
def test_quick_claim(claims, claim_id):
    assert claim_ok(claims[claim_id]), claims[claim_id]  # PASS, or XFAIL for a known non-reproduction
