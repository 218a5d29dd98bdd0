"""burstccn-classification: the quick claims, as `brainlearn verify burstccn-classification --quick` runs them;
config validation; the conv net on a small synthetic CIFAR-10 root; MNIST IDX files; resumption; the contracts."""

import numpy as np
import pytest

from brainlearn import experiments
from brainlearn.data.cifar import write_cifar_batch
from brainlearn.errors import ConfigError
from brainlearn.experiments.runner import make_config, run_experiment
from tests.contracts import interrupted_at_checkpoint


@pytest.fixture(scope="module")
def quick_burstccn():
    return run_experiment("burstccn", seed=0, out=None)


def _passed(outcome, claim_id):
    (claim,) = [c for c in outcome.claims if c["id"] == claim_id]
    return claim


@pytest.mark.parametrize("claim_id", ["B1-tied-bp", "B1-output-exact", "B1-single-phase", "B2-fa", "B2-orthogonal",
                                      "B3-tied-accuracy", "B3-tied-matches-bp", "B3-random-accuracy",
                                      "B3-random-matches-fa"])
def test_quick_burstccn_claim(quick_burstccn, claim_id):
    claim = _passed(quick_burstccn, claim_id)
    assert claim["passed"], claim


def test_figures_are_made(quick_burstccn):
    exp = experiments.get("burstccn")
    figs = exp.plot(quick_burstccn.result, quick_burstccn.config)
    assert set(figs) == {"learning_curves", "angle_to_bp"}


@pytest.mark.parametrize("override", ["methods=bp,sgd", "arch=transformer", "model.p_baseline=0.8", "lr=0",
                                      "probe_depth=0", "model.n_hidden=0"])
def test_bad_config(override):
    with pytest.raises(ConfigError):
        make_config(experiments.get("burstccn"), "quick", [override])


def test_old_keys_name_the_new_ones():
    with pytest.raises(ConfigError, match="model.n_hidden"):
        make_config(experiments.get("burstccn"), "quick", ["hidden=16"])
    config = make_config(experiments.get("burstccn"), "quick", ["model.n_hidden=16", "model.q_std=0.3"])
    assert config.model.n_hidden == (16,) and config.model.q_std == 0.3


@pytest.mark.parametrize("method", ["fa", "edn"])
def test_dense_only_methods_need_the_mlp(method):
    with pytest.raises(ConfigError):
        make_config(experiments.get("burstccn"), "cifar10", [f"methods=bp,{method}"])


def test_edn_baseline_learns_in_the_same_harness(quick_burstccn):
    curve = quick_burstccn.result.arrays["edn_acc"]
    assert len(curve) == len(quick_burstccn.result.arrays["bp_acc"])
    assert curve[-1] > 0.8 and curve[-1] > curve[0]


def test_conv_net_runs_on_a_synthetic_cifar_root(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)
        write_cifar_batch(tmp_path / name, images, rng.integers(0, 10, size=8))
    exp = experiments.get("burstccn")
    config = make_config(exp, "cifar10", [f"data_root={tmp_path}", "epochs=1", "model.n_hidden=16", "batch_size=8",
                                          "angle_every=1"])
    outcome = run_experiment(exp, config, seed=0, out=None)
    metrics = outcome.result.metrics
    assert {"bp_test_acc", "tied_test_acc", "random_test_acc"} <= set(metrics)
    assert metrics["tied_hidden_angle_end"] < 2.0  # tied conv layers follow backprop
    assert {c["id"] for c in outcome.claims} == {"B3-tied-accuracy", "B3-tied-matches-bp", "B3-random-accuracy"}


def test_runs_on_mnist_idx_files_given_a_data_root(tmp_path):
    from brainlearn.data.idx import write_idx

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    exp = experiments.get("burstccn")
    config = make_config(exp, "full", ["dataset=mnist", f"data_root={tmp_path}", "epochs=1", "model.n_hidden=20",
                                       "angle_every=1"])
    outcome = run_experiment(exp, config, seed=0, out=tmp_path / "runs")
    assert outcome.result.metrics["probe_tied_max_angle"] < 2.0
    assert (outcome.run_dir.path / "figures" / "learning_curves.png").is_file()


SMALL = ["epochs=3", "n_train=200", "n_test=100", "model.n_hidden=16", "angle_every=3"]


def interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch, name):
    """Shared by the image experiments' tests: a run interrupted after its second checkpoint resumes to the
    metrics of an uninterrupted one."""
    from brainlearn.experiments.runner import resume_experiment
    from brainlearn.runtime import RunDir

    exp = experiments.get(name)
    config = make_config(exp, "quick", SMALL)
    reference = run_experiment(exp, config, seed=1, out=None)
    with interrupted_at_checkpoint(2, monkeypatch):
        run_experiment(exp, config, seed=1, out=tmp_path)
    (path,) = (tmp_path / exp.name).iterdir()
    assert RunDir.open(path).status["state"] == "interrupted"
    resumed = resume_experiment(path)
    assert resumed.result.metrics == reference.result.metrics


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
    interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch, "burstccn")


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("burstccn-classification", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
