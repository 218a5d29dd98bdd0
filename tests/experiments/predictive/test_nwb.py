"""predictive-nwb: contracts at the smoke preset and the quick claims (needs the nwb extra)."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config, run_experiment
from tests.contracts import check_contracts

NAME = "predictive-nwb"


def _claims():
    outcome = run_experiment(NAME, seed=0, out=None, figures=False)
    return {c["id"]: c for c in outcome.claims}


def _gated():
    exp = get(NAME)
    return [c.id for c in exp.claims(make_config(exp, "quick", [])) if c.gated]



def test_contracts(tmp_path):
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    check_contracts(NAME, tmp_path, ["validate=false"])


@pytest.fixture(scope="module")
def claims():
    pytest.importorskip("pynwb")
    pytest.importorskip("nwbinspector")
    return _claims()


@pytest.mark.parametrize("claim_id", _gated())
def test_quick_claim(claims, claim_id):
    assert claim_ok(claims[claim_id]), claims[claim_id]
