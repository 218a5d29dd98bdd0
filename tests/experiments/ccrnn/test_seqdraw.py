"""ccrnn-seqdraw: its gated quick claims (slow) and the contracts at its smoke preset."""

import pytest

from brainlearn.experiments.runner import run_experiment


@pytest.mark.slow
def test_smoke_quick_claims():
    outcome = run_experiment("ccrnn-seqdraw", seed=0, out=None)
    for claim in outcome.claims:
        if claim["gated"]:
            assert claim["passed"], claim


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("ccrnn-seqdraw", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
