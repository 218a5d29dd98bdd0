"""pathways-mixture: quick claims as `brainlearn verify pathways-mixture --quick` runs them, the 82-task preset
run for a few steps, config validation, determinism and resumption."""

import math

import numpy as np
import pytest

from brainlearn import experiments
from brainlearn.errors import ConfigError
from brainlearn.experiments.pathways.mixture import PathwaysConfig
from brainlearn.experiments.runner import make_config, run_experiment
from brainlearn.models.pathways import MixtureOfPathwaysConfig

# The quick preset (2 replicates x {MoP, baseline}, 100 steps of a small model) can show the cost and the
# accuracy claims; A1, A4 and A5 need the full preset's budget (ungated in quick, see docs/experiments/pathways.md).
QUICK_GATED = ["A2-cost", "A3-accuracy-kept", "A3-above-chance"]


@pytest.fixture(scope="module")
def quick():
    return run_experiment("pathways-mixture", seed=0, out=None)


@pytest.mark.parametrize("claim_id", QUICK_GATED)
def test_quick_claim(quick, claim_id):
    (claim,) = [c for c in quick.claims if c["id"] == claim_id]
    assert claim["gated"] and claim["passed"], claim


def test_quick_reports_every_claim(quick):
    ids = {c["id"] for c in quick.claims}
    assert ids == {"A1-difficulty-lpc", "A1-gap", "A2-cost", "A3-accuracy-kept", "A3-above-chance",
                   "A4-consistency", "A5-self-sufficiency"}
    for key in ("mop_rho", "baseline_rho", "consistency_gap", "prune_drop_gap", "mop_lesion_accuracy"):
        assert math.isfinite(quick.result.metrics[key]), key


def test_paper_preset_runs_a_few_steps_on_cpu(tmp_path, monkeypatch):
    from brainlearn.experiments.pathways import mixture

    # measuring the 74 unstored tasks' difficulty takes minutes on a CPU; it is tested on its own below
    monkeypatch.setattr(mixture, "difficulties", lambda tasks: np.arange(len(tasks), dtype=float))
    exp = experiments.get("pathways-mixture")
    config = make_config(exp, "paper", ["steps=2", "batch_size=4", "seq_len=30", "replicates=1", "eval_batches=1",
                                        "eval_every=1"])
    assert len(config.tasks) == 82
    out = run_experiment(exp, config, seed=0, out=tmp_path, figures=True)
    assert math.isfinite(out.result.metrics["mop_accuracy"])
    assert out.result.arrays["mop_routing"].shape == (1, 82, 3, 3)
    assert (out.run_dir.path / "figures").exists()


def test_same_seed_same_numbers_and_resume(tmp_path):
    from brainlearn.experiments.runner import resume_experiment

    exp = experiments.get("pathways-mixture")
    config = make_config(exp, "quick", ["steps=3", "batch_size=4", "seq_len=30", "eval_batches=1", "eval_every=2"])
    a = run_experiment(exp, config, seed=1, out=None).result.metrics
    b = run_experiment(exp, config, seed=1, out=tmp_path, figures=False)
    np.testing.assert_equal(a, b.result.metrics)
    b.run_dir.set_status("interrupted")
    c = resume_experiment(b.run_dir.path)  # every model is checkpointed: nothing left to train
    np.testing.assert_equal(c.result.metrics, a)


def test_worker_processes_give_the_same_numbers():
    exp = experiments.get("pathways-mixture")
    small = ["steps=3", "batch_size=4", "seq_len=30", "eval_batches=1", "eval_every=2"]
    one = run_experiment(exp, make_config(exp, "quick", small), seed=2, out=None).result.metrics
    two = run_experiment(exp, make_config(exp, "quick", small), seed=2, out=None, workers=2).result.metrics
    np.testing.assert_equal(one, two)


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    # the smoke preset: lr 0.05 and an LPC checkpoint every step, so every metric is finite (a NaN never equals
    # itself); 3 steps as this test always ran
    check_contracts("pathways-mixture", tmp_path, overrides=["steps=3"], interrupt_after=2, monkeypatch=monkeypatch)


def test_config_rejects_bad_values_and_names_renamed_keys():
    with pytest.raises(ConfigError):
        PathwaysConfig(alpha=-1.0)
    with pytest.raises(ConfigError):
        PathwaysConfig(tasks=("nosuchtask",))
    with pytest.raises(ConfigError, match="model.n_tasks"):
        PathwaysConfig(tasks=("go", "anti"))
    exp = experiments.get("pathways-mixture")
    for old, new in (("d=16", "model.n_hidden"), ("experts=0,4", "model.experts"),
                     ("expert_dropout=false", "model.expert_dropout")):
        with pytest.raises(ConfigError, match=new):
            make_config(exp, "quick", [old])


def test_a_task_subset_beyond_the_stored_difficulties_is_measured():
    # dlygo has no stored difficulty: it is measured before training (before: NaN, and rho over 2 tasks is NaN)
    from brainlearn.models.pathways_analysis import DIFFICULTY, task_difficulty

    tasks = ("rtgo", "go", "dlygo")
    assert "dlygo" not in DIFFICULTY
    with pytest.raises(ConfigError, match="no stored difficulty for dlygo"):
        PathwaysConfig(tasks=tasks, model=MixtureOfPathwaysConfig(n_tasks=3), difficulty="stored")
    exp = experiments.get("pathways-mixture")
    config = make_config(exp, "smoke", ["tasks=rtgo,go,dlygo", "model.n_tasks=3", "steps=2", "replicates=1"])
    out = run_experiment(exp, config, seed=0, out=None).result
    expected = [DIFFICULTY["rtgo"], DIFFICULTY["go"], task_difficulty(["dlygo"])["dlygo"]["difficulty"]]
    np.testing.assert_allclose(out.arrays["difficulty"], expected)
    assert math.isfinite(out.metrics["mop_rho"]) and math.isfinite(out.metrics["baseline_rho"])
