"""predictive-closedloop: contracts at the smoke preset and (slow) the quick claims."""

import numpy as np
import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import make_config, run_experiment
from tests.contracts import check_contracts, quick_claims

NAME = "predictive-closedloop"





def test_contracts(tmp_path):
    check_contracts(NAME, tmp_path)


@pytest.mark.slow
def test_quickquick_claims(NAME):
    for row in quick_claims(NAME).values():
        assert claim_ok(row), row


def test_a_session_without_halts_reports_its_halt_metrics_undefined(tmp_path):
    exp = get("predictive-closedloop")
    outcome = run_experiment(exp, make_config(exp, "smoke", ["protocol.halt_rate=1e-9"]), 0, out=tmp_path)
    assert np.isnan(outcome.result.metrics["halt_ratio"]) and exp.may_be_nan("halt_ratio")
    assert outcome.diverged is None and outcome.run_dir.status["state"] == "finished"
    assert {c["id"]: c["verdict"] for c in outcome.claims}["halt-mismatch"] == "FAIL"  # judged, loudly
