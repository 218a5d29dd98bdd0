"""similarity-lorenz: its quick claims and its contracts (smoke preset)."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def lorenz():
    return {c["id"]: c for c in run_experiment("similarity-lorenz", seed=0, out=None).claims}


def _gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.mark.parametrize("claim_id", _gated("similarity-lorenz"))
def test_lorenz_claim(lorenz, claim_id):
    assert claim_ok(lorenz[claim_id]), lorenz[claim_id]  # PASS, or XFAIL for a known non-reproduction


def test_lorenz_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-lorenz", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
