import json
import math
import os
import textwrap

import pytest

from brainlearn.cli import main
from brainlearn.errors import ConfigError
from brainlearn.experiments import runner, sweep, sweep_report
from brainlearn.runtime import RunContext, RunDir
from brainlearn.runtime.rundir import atomic_write_json

TINY = ("epochs=1", "n_train=120", "n_test=60", "angle_every=2")


@pytest.mark.parametrize("grid, message", [
    (["lr"], "expected key=v1,v2"), (["nope=1,2"], "unknown config key 'nope'"),
    (["lr=0.1,x"], "lr='x': expected float"), (["epochs=1,0"], "epochs must be >= 1"),
    (["lr=0.1", "lr=0.2"], "given twice"), (["lr=0.1,"], "empty value"),
])
def test_bad_grids_rejected_before_running(grid, message, tmp_runs):
    with pytest.raises(ConfigError, match=message):
        sweep.sweep("fa-vs-bp", grid=grid, out=tmp_runs)
    assert not tmp_runs.exists()


def test_expand_is_grid_times_seeds():
    axes = sweep.parse_grid("fa-vs-bp", "quick", ["lr=0.1,0.2", "model.n_hidden=10;20,5"])
    assert axes == {"lr": ["0.1", "0.2"], "model.n_hidden": ["10", "20,5"]}
    points = sweep.expand("fa-vs-bp", "quick", axes, seeds=3, overrides=("epochs=1",))
    assert len(points) == 12 and len({p.key for p in points}) == 12
    assert points[0].overrides == ("epochs=1", "lr=0.1", "model.n_hidden=10")


def test_local_sweep_matches_single_runs_and_resumes(tmp_runs):
    grid = ["lr=0.2,0.5"]
    sweep_dir, records = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, workers=2, out=tmp_runs)
    assert [r["state"] for r in records] == ["finished"] * 4
    single = runner.run_experiment("fa-vs-bp", runner.make_config(runner.experiments.get("fa-vs-bp"), "quick",
                                                                  [*TINY, "lr=0.5"]), seed=1, out=None)
    assert records[3]["metrics"] == single.result.metrics  # same seed, same numbers, in a worker process
    # Rerunning skips every finished point (their directories are untouched).
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("result.json")}
    _, again = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, workers=2, out=tmp_runs)
    assert again == records and before == {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("result.json")}
    paths = sweep_report.write_report(sweep_dir)
    assert (sweep_dir / "summary.csv").read_text().startswith("lr,n,angle_drop_mean")
    assert any(p.name == "bp_test_acc-vs-lr.png" for p in paths)


def test_interrupted_point_is_resumed(tmp_runs, monkeypatch):
    points = sweep.expand("fa-vs-bp", "quick", {}, 1, (*TINY[:-1], "epochs=3"))
    path = tmp_runs / "p"
    original = RunContext.checkpoint

    def interrupt_after_first(self, step, state):
        original(self, step, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "checkpoint", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_points(points, [path])
    monkeypatch.setattr(RunContext, "checkpoint", original)
    assert RunDir(path).status["state"] == "interrupted"
    (record,) = sweep.run_points(points, [path])
    reference = runner.run_experiment("fa-vs-bp", runner.make_config(runner.experiments.get("fa-vs-bp"), "quick",
                                                                     points[0].overrides), out=None)
    assert record["metrics"] == reference.result.metrics


CRASHY = '''
    import os
    from dataclasses import dataclass
    from brainlearn.experiments import Claim, Experiment, Result, register

    @dataclass(frozen=True)
    class Cfg:
        marker: str = ""
        value: float = 1.0

    def run(config, seed, ctx):
        if not os.path.exists(config.marker):
            open(config.marker, "w").close()
            os._exit(3)  # the worker process dies without a word
        return Result({"value": config.value + seed})

    register(Experiment("crashy", "0000.00000", "dies once", dict.fromkeys(("smoke", "quick", "full", "paper"), Cfg()),
                        run,
                        lambda c: [Claim("positive", "0000.00000", "value is positive", "value", ">", 0,
                                         kind="outcome")]))
'''


def test_killed_worker_is_replaced_and_point_retried(tmp_path, tmp_runs, monkeypatch):
    (tmp_path / "crashy_plugin.py").write_text(textwrap.dedent(CRASHY))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("BRAINLEARN_PLUGINS", "crashy_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runner.experiments, "_loaded", False)
    monkeypatch.setattr(runner.experiments, "_REGISTRY", dict(runner.experiments._REGISTRY))  # crashy leaves after
    marker = tmp_path / "crashed-once"
    _, records = sweep.sweep("crashy", grid=["value=1,2"], overrides=(f"marker={marker}",), workers=2,
                             retries=2, out=tmp_runs)
    assert [r["state"] for r in records] == ["finished", "finished"]
    assert [r["metrics"]["value"] for r in records] == [1.0, 2.0]


def test_aggregation_by_hand(tmp_path):
    spec = {"experiment": "x", "preset": "quick", "grid": {"lr": ["1", "2"]}, "seeds": 3, "overrides": ["e=1"],
            "points": []}
    values = {"1": [1.0, 2.0, 6.0], "2": [4.0, 4.0, 4.0]}
    for lr, vals in values.items():
        for seed, v in enumerate(vals):
            key = f"lr{lr}-seed{seed}"
            spec["points"].append({"overrides": ["e=1", f"lr={lr}"], "seed": seed, "key": key})
            run = RunDir(tmp_path / "points" / key)
            run.path.mkdir(parents=True)
            run.set_status("finished")
            run.write_json("result.json", {"metrics": {"m": v}})
            run.write_json("claims.json", [{"id": "c", "passed": v > 1.5}])
    atomic_write_json(tmp_path / "sweep.json", spec)
    axes, rows = sweep_report.aggregate(tmp_path)
    assert axes == ["lr"]
    a, b = rows
    assert a["lr"] == "1" and a["n"] == 3 and a["m"]["mean"] == pytest.approx(3.0)
    assert a["m"]["std"] == pytest.approx(math.sqrt(7.0))               # sample std of 1, 2, 6
    assert a["m"]["ci95"] == pytest.approx(4.302653 * math.sqrt(7.0) / math.sqrt(3), rel=1e-6)  # t_{0.975,2}
    assert a["claim:c"] == pytest.approx(2 / 3) and b["claim:c"] == 1.0
    assert b["m"] == {"mean": 4.0, "std": 0.0, "ci95": 0.0}


def test_cli_sweep_and_report(tmp_runs, capsys):
    argv = ["sweep", "fa-vs-bp", "--grid", "lr=0.3", "--seeds", "1", "--out", str(tmp_runs), "--quiet"]
    argv += [a for kv in TINY for a in ("--set", kv)]
    assert main(argv) == 0
    sweep_dir = capsys.readouterr().out.strip().split("sweep directory: ")[-1]
    assert main(["sweep-report", sweep_dir]) == 0
    assert "| lr | n |" in capsys.readouterr().out
    assert main(["sweep", "fa-vs-bp", "--grid", "bogus=1", "--out", str(tmp_runs)]) == 2
    assert main(["sweep-report", str(tmp_runs)]) == 2


def test_ray_backend_gives_the_same_numbers(tmp_runs):
    ray = pytest.importorskip("ray")
    try:
        _, local = sweep.sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, out=tmp_runs / "local")
        _, remote = sweep.sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, workers=2, backend="ray",
                                out=tmp_runs / "ray")
    finally:
        ray.shutdown()
    assert [r["metrics"] for r in remote] == [r["metrics"] for r in local]
    assert json.loads((tmp_runs / "ray" / "fa-vs-bp").glob("sweep-*/sweep.json").__next__().read_text())["seeds"] == 1


def test_slurm_backend_through_submitit_local_executor(tmp_runs):
    pytest.importorskip("submitit")
    _, local = sweep.sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, out=tmp_runs / "local")
    sweep_dir, jobs = sweep.sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, workers=2, backend="slurm",
                                  out=tmp_runs / "slurm", slurm={"timeout_min": 10, "cluster": "local"})
    assert [r["metrics"] for r in jobs] == [r["metrics"] for r in local]
    assert (sweep_dir / "submitit").is_dir()  # the jobs' logs, beside the points
    with pytest.raises(ConfigError, match="--slurm: Unknown executor"):
        sweep.sweep("fa-vs-bp", grid=["lr=0.3"], overrides=TINY, backend="slurm", workers=2,
                    out=tmp_runs / "bad", slurm={"no_such_parameter": 1, "cluster": "local"})
    assert not (tmp_runs / "bad").exists()  # checked before anything was written


def test_slurm_backend_without_slurm_is_one_line_unless_local_is_asked_for(tmp_runs, capsys):
    pytest.importorskip("submitit")
    import shutil

    from brainlearn.cli import main

    if shutil.which("sbatch"):
        pytest.skip("this machine has Slurm")
    argv = ["sweep", "fa-vs-bp", "--grid", "lr=0.3", "--backend", "slurm", "--out", str(tmp_runs / "none")]
    assert main(argv + [f"--set={o}" for o in TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Slurm found" in err and "cluster=local" in err, err
    assert not (tmp_runs / "none").exists()


def test_stacked_backend_runs_each_group_as_one_ensemble(tmp_runs, monkeypatch):
    """lr is a stack field and batch_size is not: two ensembles of 2 lrs x 2 seeds; every point its own
    run directory, with the numbers of its run alone; a rerun skips them all."""
    calls = []
    exp = runner.experiments.get("fa-vs-bp")
    original = sweep.run_stacked

    def counting(exp, configs, *args, **kwargs):
        calls.append(len(configs))
        return original(exp, configs, *args, **kwargs)

    monkeypatch.setattr(sweep, "run_stacked", counting)
    grid = ["lr=0.2,0.5", "batch_size=16,32"]
    sweep_dir, records = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, backend="stacked",
                                     out=tmp_runs)
    assert [r["state"] for r in records] == ["finished"] * 8 and calls == [4, 4]
    spec = json.loads((sweep_dir / "sweep.json").read_text())
    point = spec["points"][5]
    alone = runner.run_experiment("fa-vs-bp", runner.make_config(exp, "quick", point["overrides"]),
                                  point["seed"], out=None)
    for key, value in alone.result.metrics.items():
        assert math.isclose(records[5]["metrics"][key], value, rel_tol=1e-5, abs_tol=1e-5), key
    header = json.loads((sweep_dir / "points" / point["key"] / "config.json").read_text())
    assert header["seed"] == point["seed"] and header["stacked"] is True
    _, again = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, backend="stacked", out=tmp_runs)
    assert calls == [4, 4] and [r["metrics"] for r in again] == [r["metrics"] for r in records]


def test_verify_stacks_by_default_and_local_is_one_flag_away(tmp_runs, monkeypatch):
    from brainlearn.experiments import verify

    chosen = []
    original = sweep.run_points

    def spy(points, paths, **kwargs):
        chosen.append(kwargs["backend"])
        return original(points, paths, **kwargs)

    monkeypatch.setattr(sweep, "run_points", spy)
    fa = runner.experiments.get("fa-vs-bp")
    verify.verify(["fa-vs-bp"], seeds=fa.stack_from, overrides=TINY, out=tmp_runs)
    verify.verify(["fa-vs-bp"], seeds=fa.stack_from - 1, overrides=TINY, out=tmp_runs)  # where stacking does not pay
    verify.verify(["fa-vs-bp"], seeds=2, overrides=TINY, out=tmp_runs, backend="stacked")
    verify.verify(["fa-vs-bp"], seeds=fa.stack_from, overrides=TINY, out=tmp_runs, backend="local")
    verify.verify(["fa-vs-bp"], seeds=fa.stack_from, overrides=TINY, out=tmp_runs, workers=2)
    assert chosen == ["stacked", "local", "stacked", "local", "local"]


def test_stacked_chunks_bound_memory_with_the_same_numbers(tmp_runs, capsys):
    grid = ["lr=0.2,0.5"]
    _, whole = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, backend="stacked", out=tmp_runs / "a")
    _, chunked = sweep.sweep("fa-vs-bp", grid=grid, seeds=2, overrides=TINY, backend="stacked", out=tmp_runs / "b",
                             chunk=1)
    for a, b in zip(whole, chunked):
        for key, value in a["metrics"].items():
            assert math.isclose(b["metrics"][key], value, rel_tol=1e-5, abs_tol=1e-5), key
    assert main(["sweep", "fa-vs-bp", "--backend", "stacked", "--chunk", "0", "--out", str(tmp_runs / "c")]) == 2
    assert "chunk" in capsys.readouterr().err


def test_a_metric_named_like_a_grid_field_keeps_the_points_coordinate(tmp_path):
    """A metric that shares a grid field's name is listed as "<name> (metric)": the row keeps its coordinate."""
    points = []
    for i, value in enumerate(("0.1", "0.3")):
        path = tmp_path / "points" / f"p{i}"
        path.mkdir(parents=True)
        atomic_write_json(path / "status.json", {"state": "finished"})
        atomic_write_json(path / "result.json", {"metrics": {"lr": 0.5 + i, "acc": 0.9}, "arrays": {}})
        atomic_write_json(path / "claims.json", [])
        points.append({"key": f"p{i}", "overrides": [f"lr={value}"]})
    atomic_write_json(tmp_path / "sweep.json", {"grid": {"lr": ["0.1", "0.3"]}, "overrides": [], "points": points})
    axes, rows = sweep_report.aggregate(tmp_path)
    assert axes == ["lr"] and [r["lr"] for r in rows] == ["0.1", "0.3"]
    assert [r["lr (metric)"]["mean"] for r in rows] == [0.5, 1.5]
    sweep_report.write_report(tmp_path)
    assert "lr (metric)_mean" in (tmp_path / "summary.csv").read_text().splitlines()[0]
