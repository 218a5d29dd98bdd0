import json

import pytest

from brainlearn import experiments
from brainlearn.errors import ConfigError
from brainlearn.experiments import Claim
from brainlearn.experiments.runner import make_config, resume_experiment, run_experiment
from brainlearn.experiments.verify import verify
from brainlearn.runtime import RunContext, RunDir
from tests.contracts import interrupted_at_checkpoint

TINY = ["epochs=3", "n_train=200", "n_test=100", "angle_every=5"]


def tiny_config():
    return make_config(experiments.get("fa-vs-bp"), "quick", TINY)


def test_same_seed_same_numbers_and_run_directory(tmp_runs):
    a = run_experiment("fa-vs-bp", tiny_config(), seed=3, out=tmp_runs)
    b = run_experiment("fa-vs-bp", tiny_config(), seed=3, out=None)
    assert a.result.metrics == b.result.metrics
    files = {p.name for p in a.run_dir.path.iterdir()}
    assert {"config.json", "status.json", "metrics.jsonl", "result.json", "claims.json", "report.md",
            "figures", "checkpoints"} <= files
    assert a.run_dir.status["state"] == "finished"
    assert json.loads((a.run_dir.path / "config.json").read_text())["config"]["epochs"] == 3
    assert {"learning_curves.png", "angle.png"} <= {p.name for p in (a.run_dir.path / "figures").iterdir()}
    assert not list(a.run_dir.path.rglob("*.tmp"))


def test_interrupted_run_resumes_to_identical_result(tmp_runs, monkeypatch):
    reference = run_experiment("fa-vs-bp", tiny_config(), seed=1, out=None)
    with interrupted_at_checkpoint(2, monkeypatch):
        run_experiment("fa-vs-bp", tiny_config(), seed=1, out=tmp_runs)
    (path,) = (tmp_runs / "fa-vs-bp").iterdir()
    run = RunDir.open(path)
    assert run.status["state"] == "interrupted" and "--resume" in run.status["resume"]
    assert run.read("result.json") is None
    resumed = resume_experiment(path)
    assert resumed.result.metrics == reference.result.metrics
    epochs = [r["epoch"] for r in run.metrics() if "epoch" in r]
    assert epochs == [1, 2, 3]  # no duplicated records after resuming
    with pytest.raises(ConfigError, match="already finished"):
        resume_experiment(path)


def test_user_error_leaves_no_run_directory(tmp_runs, tmp_path):
    config = make_config(experiments.get("fa-vs-bp"), "quick", ["dataset=mnist", f"data_root={tmp_path}"])
    with pytest.raises(Exception, match="mnist not found"):
        run_experiment("fa-vs-bp", config, out=tmp_runs)
    assert not list((tmp_runs / "fa-vs-bp").iterdir())


def test_verify_aggregates_over_seeds(tmp_runs):
    v = verify(["fa-vs-bp"], seeds=2, out=tmp_runs, overrides=TINY)
    (section,) = v.sections
    for claim in section["claims"]:
        assert claim["seeds"] == 2 and len(claim["values"]) == 2
    assert (v.out_dir / "report.md").read_text().startswith("# brainlearn verify")
    assert json.loads((v.out_dir / "claims.json").read_text())[0]["experiment"] == "fa-vs-bp"


def test_a_rerun_of_an_interrupted_verify_resumes_its_run(tmp_runs):
    """verify, killed after a checkpoint and run again with the same options, resumes the run it started (in
    the same directory) and judges the same numbers as an uninterrupted verify; another config starts afresh."""
    reference = verify(["fa-vs-bp"], out=tmp_runs / "reference", overrides=TINY)
    with interrupted_at_checkpoint(2):
        verify(["fa-vs-bp"], out=tmp_runs, overrides=TINY)
    (interrupted,) = (tmp_runs / "fa-vs-bp").iterdir()
    again = verify(["fa-vs-bp"], out=tmp_runs, overrides=TINY)
    assert [p.name for p in (tmp_runs / "fa-vs-bp").iterdir()] == [interrupted.name]
    assert again.sections[0]["runs"] == [str(interrupted)]
    assert [c["values"] for c in again.sections[0]["claims"]] == [c["values"] for c in reference.sections[0]["claims"]]
    verify(["fa-vs-bp"], out=tmp_runs, overrides=[*TINY[1:], "epochs=2"])   # another config: a new run
    assert len(list((tmp_runs / "fa-vs-bp").iterdir())) == 2


def test_claim_evaluation():
    c = Claim("x", "0000.00000", "s", "m", ">=", 0.5, kind="limit")
    assert c.evaluate([0.6, 0.7])["passed"] and not c.evaluate([0.4, 0.9])["passed"]
    assert not c.evaluate([float("nan")])["passed"]
    with pytest.raises(ConfigError):
        Claim("x", "p", "s", "m", "==", 1.0, kind="limit")


def test_unknown_experiment_and_preset():
    with pytest.raises(ConfigError, match="available: .*fa-vs-bp"):
        experiments.get("nope")
    with pytest.raises(ConfigError, match="no preset 'huge'"):
        experiments.get("fa-vs-bp").preset("huge")


def _nan_toy(nan_metrics=()):
    from dataclasses import dataclass

    from brainlearn.experiments import Experiment, Result
    from brainlearn.runtime import Config, param

    @dataclass(frozen=True)
    class Cfg(Config):
        lr: float = param(1.0, gt=0)

    def run(config, seed, ctx):
        for step in range(3):
            ctx.log(step, loss=float("nan") if step >= 1 else 1.0)
        return Result({"loss": float("nan"), "steps_to_threshold": float("nan"), "acc": 0.5})

    return Experiment("nan-toy", "0000.00000", "diverges", dict.fromkeys(("smoke", "quick", "full", "paper"), Cfg()),
                      run,
                      lambda c: [Claim("acc", "0000.00000", "s", "acc", ">=", 0.1, kind="outcome")],
                      nan_metrics=nan_metrics)


def test_a_run_with_non_finite_metrics_ends_diverged(tmp_path, monkeypatch, capsys):
    from brainlearn.cli import main
    from brainlearn.runtime import RunDir

    experiments.names()
    monkeypatch.setitem(experiments._REGISTRY, "nan-toy", _nan_toy(nan_metrics=("steps_to_*",)))
    assert main(["run", "nan-toy", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the run diverged: loss = nan, first non-finite at step 1" in err, err
    (path,) = (tmp_path / "nan-toy").iterdir()
    status = RunDir(path).status
    assert status["state"] == "diverged" and status["metric"] == "loss" and status["step"] == 1
    assert (path / "result.json").is_file()  # everything it measured is kept
    assert main(["run", "--resume", str(path)]) == 2
    assert "has already diverged" in capsys.readouterr().err
    # a metric the experiment declares NaN by design (a threshold never reached) is no divergence
    monkeypatch.setitem(experiments._REGISTRY, "nan-toy", _nan_toy(nan_metrics=("loss", "steps_to_*")))
    outcome = run_experiment("nan-toy", out=tmp_path / "ok")
    assert outcome.diverged is None and outcome.run_dir.status["state"] == "finished"


def test_an_old_run_of_an_experiment_whose_draws_changed_is_refused_on_resume(tmp_path, monkeypatch):
    import dataclasses

    exp = experiments.get("fa-vs-bp")
    monkeypatch.setitem(experiments._REGISTRY, exp.name, dataclasses.replace(exp, seed_schemes=(2,)))

    def stop(self, step, state):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "checkpoint", stop)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("fa-vs-bp", preset="smoke", out=tmp_path)
    (path,) = (tmp_path / "fa-vs-bp").iterdir()
    header = json.loads((path / "config.json").read_text())
    del header["seed_scheme"]  # as written before scheme 2
    (path / "config.json").write_text(json.dumps(header))
    with pytest.raises(ConfigError, match="made under seed scheme 1"):
        resume_experiment(path)


def test_run_stacked_refuses_what_does_not_stack(tmp_path):
    from brainlearn.experiments.runner import run_stacked

    fa = experiments.get("fa-vs-bp")
    config = make_config(fa, "smoke")
    with pytest.raises(ConfigError, match="does not declare stacked runs"):
        run_stacked(experiments.get("rnnrules-add"), [config], [0], [tmp_path / "a"])
    with pytest.raises(ConfigError, match="may differ only in lr, model.init_gain, model.feedback_std"):
        run_stacked(fa, [config, make_config(fa, "smoke", ["batch_size=16"])], [0, 1], [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ConfigError, match="as many configs, seeds and paths"):
        run_stacked(fa, [config, config], [0], [tmp_path / "a"])
    assert not list(tmp_path.iterdir())  # refused before anything is written
    run_stacked(fa, [config], [0], [tmp_path / "done"], preset="smoke", figures=False)
    with pytest.raises(ConfigError, match="has already finished"):
        run_stacked(fa, [config, config], [1, 0], [tmp_path / "new", tmp_path / "done"])
    with pytest.raises(ConfigError, match="another config or seed"):
        RunDir(tmp_path / "done").set_status("interrupted")
        run_stacked(fa, [config, config], [1, 3], [tmp_path / "new", tmp_path / "done"])
    assert not (tmp_path / "new").exists()
