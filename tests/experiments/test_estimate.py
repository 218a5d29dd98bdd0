"""The paper presets and `brainlearn verify --estimate`: every experiment has a valid paper preset, and the
estimate scales the quick preset's recorded time without running anything."""

import dataclasses
from pathlib import Path

import pytest

from brainlearn import experiments
from brainlearn.cli import main
from brainlearn.experiments import claims_table
from brainlearn.experiments.estimate import dense_weights, estimate
from brainlearn.experiments.runner import make_config


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_has_a_valid_paper_preset_with_a_work_measure(name):
    exp = experiments.get(name)
    paper = make_config(exp, "paper")  # validates
    assert type(paper) is exp.config_cls
    # paper differs from full, or deliberately equals it: the module's comment says why
    assert paper != exp.presets["full"] or "paper = full" in Path(exp.source).read_text()
    assert exp.work is not None and exp.work(paper) > 0 and exp.work(exp.presets["quick"]) > 0
    assert exp.gpu_speedup >= 1


def _records(name, **entry):
    return {name: {"quick": {"a": {"measured": 1.0, "values": [1.0], "verdict": "PASS", "date": "2026-12-01", **entry},
                             "b": {"measured": 1.0, "values": [1.0], "verdict": "PASS", "date": "2026-12-06",
                                   **entry}}}}


def test_the_estimate_scales_the_quick_seconds_per_seed_by_the_work_ratio_and_the_seeds():
    exp = dataclasses.replace(experiments.get("fa-vs-bp"), work=lambda c: c.epochs, gpu_speedup=4.0)
    quick_epochs, paper_epochs = exp.presets["quick"].epochs, exp.presets["paper"].epochs
    rec = _records("fa-vs-bp", wall_s=360.0, seeds=2, device="cpu", workers=1)
    e = estimate(exp, "paper", 3, rec)
    assert e.cpu_hours == pytest.approx(180 * paper_epochs / quick_epochs * 3 / 3600)
    assert e.gpu_hours == pytest.approx(e.cpu_hours / 4)
    assert "2026-12-06" in e.line() and "assumed, not measured" in e.line()
    # an override counts: twice the epochs, twice the hours
    assert estimate(exp, "paper", 3, rec, [f"epochs={2 * paper_epochs}"]).cpu_hours == pytest.approx(2 * e.cpu_hours)


def test_no_estimate_says_why():
    exp = experiments.get("fa-vs-bp")
    assert "no recorded quick run" in estimate(exp, "paper", 1, {}).line()
    assert "no recorded quick run" in estimate(exp, "paper", 1, _records("fa-vs-bp", seeds=1)).line()
    gpu = _records("fa-vs-bp", wall_s=10.0, seeds=1, device="cuda", workers=1)
    assert "not on one CPU worker" in estimate(exp, "paper", 1, gpu).line()
    assert "no work measure" in estimate(dataclasses.replace(exp, work=None), "paper", 1, {}).line()


def test_a_cpu_only_experiment_takes_as_long_on_a_gpu():
    exp = experiments.get("replay-maze")
    e = estimate(exp, "paper", 1, _records("replay-maze", wall_s=30.0, seeds=1, device="cpu", workers=1))
    assert exp.cpu_only and e.gpu_hours == e.cpu_hours


def test_dense_weights():
    assert dense_weights(784, 100, 10) == 784 * 100 + 100 * 10 and dense_weights(5) == 0


def test_verify_estimate_prints_one_line_per_experiment_and_runs_nothing(monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise AssertionError("--estimate ran an experiment")

    monkeypatch.setattr("brainlearn.experiments.verify.verify", fail)
    monkeypatch.setattr("brainlearn.experiments.runner.run_experiment", fail)
    monkeypatch.setattr(claims_table, "recorded",
                        lambda: _records("fa-vs-bp", wall_s=60.0, seeds=1, device="cpu", workers=1))
    assert main(["verify", "fa-vs-bp", "replay-per", "--paper", "--estimate", "--seeds", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("fa-vs-bp") and "paper, 5 seeds" in lines[0] and "CPU " in lines[0]
    assert lines[1].startswith("replay-per") and "no estimate: no recorded quick run" in lines[1]
    assert main(["verify", "fa-vs-bp", "--full", "--estimate"]) == 0
    assert "full, 1 seed:" in capsys.readouterr().out


def test_verify_estimate_of_an_unknown_experiment_is_a_one_line_error(capsys):
    assert main(["verify", "fa-vs-bp", "nope", "--paper", "--estimate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "unknown experiment 'nope'" in captured.err and captured.err.count("\n") == 1


def test_list_shows_the_paper_preset(capsys):
    assert main(["list"]) == 0
    assert all("paper" in line for line in capsys.readouterr().out.splitlines() if "presets:" in line)
