"""dendritic-microcircuit: the quick claims, config validation, resuming finished parts, nested overrides and
the contracts."""

import pytest

from brainlearn.errors import ConfigError
from brainlearn.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def quick():
    return run_experiment("dendritic-microcircuit", seed=0, out=None)


@pytest.mark.parametrize("claim_id", ["S1-self-prediction", "S2-align-hidden", "S3-deep-learns",
                                      "S3-deep-beats-shallow", "S3-random-beats-shallow", "S4-tied-accuracy",
                                      "S4-random-accuracy", "S4-near-backprop"])
def test_quick_claim(quick, claim_id):
    (claim,) = [c for c in quick.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_experiment_configs_validate():
    from brainlearn.experiments.dendritic.common import (
        AlignmentConfig,
        ClassificationConfig,
        DendriticConfig,
        SelfPredictionConfig,
    )
    from brainlearn.models.dendritic import DendriticNetworkConfig

    for bad in (lambda: SelfPredictionConfig(steps=0),
                lambda: DendriticConfig(network=DendriticNetworkConfig(sizes=(30, 10))),
                lambda: ClassificationConfig(target_low=0.9), lambda: AlignmentConfig(g_soms=(0.0,)),
                lambda: ClassificationConfig(lr=-1.0)):
        with pytest.raises(ConfigError):
            bad()


def test_dendritic_run_resumes_finished_parts(tmp_path):
    """`dendritic` checkpoints after each part; a resumed run reuses finished parts verbatim."""
    from dataclasses import replace

    from brainlearn.experiments.dendritic.microcircuit import FULL, run
    from brainlearn.runtime import RunContext, RunDir

    config = replace(FULL, self_prediction=replace(FULL.self_prediction, steps=20),
                     teacher_student=replace(FULL.teacher_student, steps=20, eval_every=10),
                     classification=replace(FULL.classification, skip=True),
                     alignment=replace(FULL.alignment, batches=2))
    run_dir = RunDir.create(tmp_path, "dendritic", {"experiment": "dendritic"})
    first = run(config, 0, RunContext(run_dir=run_dir))
    again = run(config, 0, RunContext(run_dir=run_dir, resume=True))
    assert again.metrics == first.metrics and set(again.arrays) == set(first.arrays)


def test_nested_overrides_reach_the_parts():
    from brainlearn import experiments
    from brainlearn.experiments.runner import make_config

    config = make_config(experiments.get("dendritic"), "quick", ["classification.n_hidden=500,500",
                                                                 "self_prediction.steps=7", "dataset=digits"])
    assert config.classification.n_hidden == (500, 500) and config.self_prediction.steps == 7
    assert config.classification.epochs_tied == 10  # the rest of the quick preset is kept
    with pytest.raises(ConfigError):
        make_config(experiments.get("dendritic"), "quick", ["sps_steps=7"])
    config = make_config(experiments.get("dendritic"), "quick", ["network.conductances.g_som=0.3"])
    assert config.network.conductances.g_som == 0.3
    with pytest.raises(ConfigError, match="network.conductances.g_som"):
        make_config(experiments.get("dendritic"), "quick", ["g_som=0.3"])


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("dendritic-microcircuit", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
