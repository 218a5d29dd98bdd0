"""predictive-closedloop: contracts at the smoke preset and (slow) the quick claims."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config, run_experiment
from tests.contracts import check_contracts

NAME = "predictive-closedloop"


def _claims():
    outcome = run_experiment(NAME, seed=0, out=None, figures=False)
    return {c["id"]: c for c in outcome.claims}


def _gated():
    exp = get(NAME)
    return [c.id for c in exp.claims(make_config(exp, "quick", [])) if c.gated]



def test_contracts(tmp_path):
    check_contracts(NAME, tmp_path)


@pytest.mark.slow
def test_quick_claims():
    for row in _claims().values():
        assert claim_ok(row), row


def test_a_session_without_halts_ends_diverged_not_finished(tmp_path):
    exp = get("predictive-closedloop")
    outcome = run_experiment(exp, make_config(exp, "smoke", ["protocol.halt_rate=1e-9"]), 0, out=tmp_path)
    assert outcome.diverged["metric"] == "halt_ratio"
    assert outcome.run_dir.status["state"] == "diverged"
