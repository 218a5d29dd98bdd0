"""rnnrules-alignment: contracts, the quick claims, config validation."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.rnnrules.alignment import AlignmentConfig
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts


def test_contracts(tmp_path):
    check_contracts("rnnrules-alignment", tmp_path, interrupt_after=2)


def test_alignment_quick_claims():
    out = run_experiment("rnnrules-alignment", seed=0, out=None)
    chance = {"random-eprop-positive"}  # its sign at frozen parameters is a draw of B (see the docs page)
    assert out.claims and all(claim_ok(c) and (c["passed"] or c["id"] in chance) for c in out.claims), out.claims


def test_bad_configs():
    with pytest.raises(ConfigError):
        AlignmentConfig(probe_steps=5, block=10)
