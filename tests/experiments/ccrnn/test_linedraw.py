"""ccrnn-linedraw: its gated quick claims as `brainlearn verify ccrnn-linedraw --quick` runs them, its
measures, worker processes, resume, and the contracts at its smoke preset."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.runner import make_config, run_experiment


def gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.fixture(scope="module")
def linedraw():
    return run_experiment("ccrnn-linedraw", seed=0, out=None)


@pytest.mark.parametrize("claim_id", gated("ccrnn-linedraw"))
def test_linedraw_quick_claim(linedraw, claim_id):
    (claim,) = [c for c in linedraw.claims if c["id"] == claim_id]
    assert claim["passed"], claim


def test_linedraw_reports_every_measure(linedraw):
    m = linedraw.result.metrics
    for key in ("ccrnn_minus_crnn_median_mse", "cos_future_gradient", "cos_discounted_gradient",
                "ccrnn_irregularity_mean", "chance_mse"):
        assert key in m
    assert -1 <= m["cos_future_gradient"] <= 1


SMALL = ["replicates=3"]  # on the smoke preset


def test_worker_processes_give_the_same_numbers():
    exp = get("ccrnn-linedraw")
    one = run_experiment(exp, make_config(exp, "smoke", SMALL), seed=3, out=None).result.metrics
    two = run_experiment(exp, make_config(exp, "smoke", SMALL), seed=3, out=None, workers=2).result.metrics
    assert one == two


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
    from brainlearn.experiments.runner import resume_experiment
    from brainlearn.runtime import RunContext, RunDir

    exp = get("ccrnn-linedraw")
    config = make_config(exp, "smoke", SMALL)
    reference = run_experiment(exp, config, seed=1, out=None).result.metrics
    original = RunContext.checkpoint

    def checkpoint_then_interrupt(self, step, state):
        original(self, step, state)
        if step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "checkpoint", checkpoint_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, config, seed=1, out=tmp_path)
    monkeypatch.setattr(RunContext, "checkpoint", original)
    (path,) = (tmp_path / "ccrnn-linedraw").iterdir()
    assert RunDir.open(path).status["state"] == "interrupted"
    assert resume_experiment(path).result.metrics == reference


def test_old_keys_name_the_nested_model_config():
    from brainlearn.errors import ConfigError

    exp = get("ccrnn-linedraw")
    for old, new in (("hidden", "model.n_hidden"), ("cerebellum", "model.cerebellum"), ("window", "model.window"),
                     ("bootstrap", "model.bootstrap_discount")):
        with pytest.raises(ConfigError, match=new):
            make_config(exp, "quick", [f"{old}=1"])
    config = make_config(exp, "quick", ["model.n_hidden=7", "model.bootstrap_discount=0.5"])
    assert config.model.n_hidden == 7 and config.model.bootstrap_discount == 0.5
    with pytest.raises(ConfigError, match="cerebellum"):  # the ccRNN learner needs one
        make_config(exp, "quick", ["model.cerebellum=none"])
    assert make_config(exp, "quick", ["model.cerebellum=8,8"]).model.cerebellum == (8, 8)


def test_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("ccrnn-linedraw", tmp_path, interrupt_after=2, monkeypatch=monkeypatch)
