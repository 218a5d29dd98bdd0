"""burstccn-q: the quick claims, its figure, resumption and the contracts."""

import pytest

from brainlearn import experiments
from brainlearn.experiments.runner import run_experiment
from tests.experiments.burstccn.test_classification import interrupted_run_resumes_to_identical_result


@pytest.fixture(scope="module")
def quick_q():
    return run_experiment("burstccn-q", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["B5-q-aligns", "B5-apical-cancelled", "B5-learns"])
def test_quick_q_claim(quick_q, claim_id):
    (claim,) = [c for c in quick_q.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_figures_are_made(quick_q):
    assert "q_learning" in experiments.get("burstccn-q").plot(quick_q.result, quick_q.config)


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
    interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch, "burstccn-q")


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("burstccn-q", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
