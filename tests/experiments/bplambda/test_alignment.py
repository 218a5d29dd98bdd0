"""bplambda-alignment: its quick claims, config validation, a tiny run's figures, and the contracts at its
smoke preset."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.bplambda.alignment import AlignmentConfig
from brainlearn.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def alignment():
    return run_experiment("bplambda-alignment", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["lambda1-aligned", "lambda-ordering", "lambda-middle", "long-lambda1",
                                      "long-lambda0-biased", "bias-fades"])
def test_alignment_quick_claim(alignment, claim_id):
    (claim,) = [c for c in alignment.claims if c["id"] == claim_id]
    assert claim_ok(claim), claim  # PASS, or XFAIL for a known non-reproduction at quick (lambda-ordering)


def test_bad_configs():
    with pytest.raises(ConfigError, match="lambdas"):
        AlignmentConfig(lambdas=(0.5, 1.0))


def test_tiny_run_writes_figures(tmp_path):
    align = AlignmentConfig(delay=3, long_delay=4, steps=2, long_steps=3, replicates=1, long_replicates=1,
                            batch_size=1)
    out = run_experiment("bplambda-alignment", align, seed=0, out=tmp_path)
    names = {p.name for p in (out.run_dir.path / "figures").glob("*.png")}
    assert {"cosine_per_step_early.png", "cosine_per_step_late.png", "cosine_per_step_long.png",
            "alignment_curves.png"} <= names
    assert out.result.arrays["profile_lam1"].shape == (3,)


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("bplambda-alignment", tmp_path, interrupt_after=3, monkeypatch=monkeypatch)
