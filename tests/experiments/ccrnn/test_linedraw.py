"""The quick claims of the ccRNN experiments, as `brainlearn verify ccrnn-... --quick` runs them."""

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.runner import run_experiment


def gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.fixture(scope="module")
def linedraw():
    return run_experiment("ccrnn-linedraw", seed=0, out=None)


@pytest.fixture(scope="module")
def seqclass():
    return run_experiment("ccrnn-seqclass", seed=0, out=None)


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


@pytest.mark.parametrize("claim_id", gated("ccrnn-seqclass"))
def test_seqclass_quick_claim(seqclass, claim_id):
    (claim,) = [c for c in seqclass.claims if c["id"] == claim_id]
    assert claim["passed"], claim


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ccrnn-seqdraw", "ccrnn-caption"])
def test_smoke_quick_claims(name):
    outcome = run_experiment(name, seed=0, out=None)
    for claim in outcome.claims:
        if claim["gated"]:
            assert claim["passed"], claim


SMALL = ["replicates=3", "bptt_replicates=1", "epochs=2", "train_size=100", "cerebellum=16", "align_every=1"]


def test_worker_processes_give_the_same_numbers():
    from brainlearn.experiments.runner import make_config

    exp = get("ccrnn-linedraw")
    one = run_experiment(exp, make_config(exp, "quick", SMALL), seed=3, out=None).result.metrics
    two = run_experiment(exp, make_config(exp, "quick", SMALL), seed=3, out=None, workers=2).result.metrics
    assert one == two


def test_interrupted_run_resumes_to_identical_result(tmp_path, monkeypatch):
    from brainlearn.experiments.runner import make_config, resume_experiment
    from brainlearn.runtime import RunContext, RunDir

    exp = get("ccrnn-linedraw")
    config = make_config(exp, "quick", SMALL)
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



CONTRACT_OVERRIDES = {  # (overrides, interrupt after this many of the run's jobs)
    "ccrnn-linedraw": (["replicates=2", "bptt_replicates=1", "epochs=2", "train_size=100", "cerebellum=16",
                        "align_every=1"], 2),
    "ccrnn-seqdraw": (["epochs=1", "n_train=64", "n_test=32", "cerebellum=16", "hidden=8", "windows=1,2"], 2),
    "ccrnn-seqclass": (["epochs=1", "n_train=64", "n_test=32", "cerebellum=16", "hidden=8"], 1),
    "ccrnn-caption": (["epochs=1", "n_train=100", "n_test=20", "cerebellum=16", "hidden=8", "embed=8"], 1),
}


@pytest.mark.parametrize("name", CONTRACT_OVERRIDES)
def test_contracts(name, tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    overrides, interrupt_after = CONTRACT_OVERRIDES[name]
    check_contracts(name, overrides, tmp_path, interrupt_after=interrupt_after, monkeypatch=monkeypatch)
