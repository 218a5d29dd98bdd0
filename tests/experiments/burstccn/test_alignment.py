"""burstccn-alignment: the quick claims, resumption and the contracts."""

import pytest

from brainlearn.experiments.runner import run_experiment
from tests.experiments.burstccn.test_classification import interrupted_run_resumes_to_identical_result


@pytest.fixture(scope="module")
def quick_alignment():
    return run_experiment("burstccn-alignment", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["B4-random-aligns", "B4-random-angle-falls"])
def test_quick_alignment_claim(quick_alignment, claim_id):
    (claim,) = [c for c in quick_alignment.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
    interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch, "burstccn-alignment")


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("burstccn-alignment", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
