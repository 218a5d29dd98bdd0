"""ccrnn-seqclass: its gated quick claims and the contracts at its smoke preset."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.runner import run_experiment


def gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.fixture(scope="module")
def seqclass():
    return run_experiment("ccrnn-seqclass", seed=0, out=None)


@pytest.mark.parametrize("claim_id", gated("ccrnn-seqclass"))
def test_seqclass_quick_claim(seqclass, claim_id):
    (claim,) = [c for c in seqclass.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("ccrnn-seqclass", tmp_path, interrupt_after=1, monkeypatch=monkeypatch)
