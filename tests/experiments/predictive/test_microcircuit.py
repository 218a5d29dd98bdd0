"""predictive-microcircuit: contracts at the smoke preset and the quick claims."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config
from tests.contracts import check_contracts, gated_claims, quick_claims

NAME = "predictive-microcircuit"





def test_contracts(tmp_path):
    check_contracts(NAME, tmp_path)


def test_old_keys_are_refused_naming_the_new_ones():
    from brainlearn.errors import ConfigError

    with pytest.raises(ConfigError, match="circuit.batch_size"):
        make_config(get(NAME), "quick", ["circuit.batch=8"])
    config = make_config(get(NAME), "quick", ["circuit.w_pp=0.4", "circuit.rho_d=0.1"])
    assert config.circuit.w_pp == 0.4 and config.circuit.rho_d == 0.1


@pytest.fixture(scope="module")
def claims():
    return quick_claims(NAME)


@pytest.mark.parametrize("claim_id", gated_claims(NAME))
def test_quick_claim(claims, claim_id):
    assert claim_ok(claims[claim_id]), claims[claim_id]
