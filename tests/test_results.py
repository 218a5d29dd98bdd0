"""Results as tables and arrays as .npz: brainlearn.results, `brainlearn export`, RunDir.save/load_arrays."""

import json

import numpy as np
import pytest

from brainlearn import results
from brainlearn.cli import main
from brainlearn.errors import ConfigError
from brainlearn.experiments import Result
from brainlearn.experiments.runner import make_config, run_experiment
from brainlearn.experiments.sweep import sweep
from brainlearn.runtime import RunDir

pd = pytest.importorskip("pandas")
TINY = ["epochs=2", "n_train=60", "n_test=30", "angle_every=5"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    from brainlearn import experiments

    exp = experiments.get("fa-vs-bp")
    outcomes = [run_experiment(exp, make_config(exp, "quick", TINY), s, out=root) for s in (0, 1)]
    return root, outcomes


def test_load_is_tidy_with_config_columns(runs):
    root, outcomes = runs
    df = results.load(root)
    n_metrics = len(outcomes[0].result.metrics)
    assert len(df) == 2 * n_metrics and list(df.columns[:9]) == results.RUN_COLUMNS + ["metric", "value"]
    assert set(df["seed"]) == {0, 1} and set(df["experiment"]) == {"fa-vs-bp"}
    assert (df["epochs"] == 2).all() and (df["model.n_hidden"] == "100").all() and (df["threads"] == 1).all()
    row = df[(df["seed"] == 1) & (df["metric"] == "bp_test_acc")]
    assert row["value"].item() == outcomes[1].result.metrics["bp_test_acc"]
    one = results.load(outcomes[0].run_dir.path)  # a single run directory
    assert len(one) == n_metrics


def test_export_csv_and_parquet_round_trip(runs, tmp_path, capsys):
    root, _ = runs
    assert main(["export", str(root), "--out", str(tmp_path / "r.csv")]) == 0
    back = pd.read_csv(tmp_path / "r.csv")
    assert back["value"].tolist() == results.load(root)["value"].tolist()
    pytest.importorskip("pyarrow")
    assert main(["export", str(root), "--format", "parquet", "--out", str(tmp_path / "r.parquet")]) == 0
    assert pd.read_parquet(tmp_path / "r.parquet")["value"].tolist() == back["value"].tolist()


def test_sweeps_load_too(tmp_path):
    sweep_dir, _ = sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, out=tmp_path)
    df = results.load(sweep_dir)
    assert set(df["lr"]) == {0.2, 0.5} and df["run"].nunique() == 2


def test_arrays_are_npz_with_names_shapes_and_dtypes_and_load_losslessly(runs):
    _, outcomes = runs
    run = outcomes[0].run_dir
    record = json.loads((run.path / "result.json").read_text())
    assert record["arrays"]["angle"] == {"shape": [len(outcomes[0].result.arrays["angle"])], "dtype": "<f8"}
    loaded = Result.load(run)
    for name, array in outcomes[0].result.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], np.asarray(array))
        assert loaded.arrays[name].dtype == np.asarray(array).dtype


def test_arrays_npz_bytes_are_deterministic(tmp_path):
    arrays = {"curve": np.arange(5.0), "labels": np.array(["a", "bc"]), "counts": np.arange(6).reshape(2, 3)}
    a, b = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    a.path.mkdir(), b.path.mkdir()
    assert a.save_arrays(arrays) == b.save_arrays(arrays)
    assert (a.path / "arrays.npz").read_bytes() == (b.path / "arrays.npz").read_bytes()
    with pytest.raises(ConfigError, match="ragged or holds objects"):
        a.save_arrays({"bad": np.array([[1], [1, 2]], dtype=object)})


def test_old_run_directories_still_load(runs, tmp_path):
    _, outcomes = runs
    old = tmp_path / "old"
    old.mkdir()
    for name in ("config.json", "status.json"):
        (old / name).write_bytes((outcomes[0].run_dir.path / name).read_bytes())
    arrays = {k: np.asarray(v).tolist() for k, v in outcomes[0].result.arrays.items()}
    (old / "result.json").write_text(json.dumps({"metrics": outcomes[0].result.metrics, "arrays": arrays,
                                                 "seconds": 1.0}))
    loaded = Result.load(RunDir(old))
    np.testing.assert_array_equal(loaded.arrays["angle"], outcomes[0].result.arrays["angle"])
    assert len(results.load(old)) == len(outcomes[0].result.metrics)


def test_corrupt_arrays_npz_is_a_clear_error(runs, tmp_path):
    _, outcomes = runs
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in outcomes[0].run_dir.path.iterdir():
        if p.is_file():
            (copy / p.name).write_bytes(p.read_bytes())
    (copy / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="missing or corrupt"):
        Result.load(RunDir(copy))


def test_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_export_never_skips_what_it_cannot_read(tmp_path, capsys):
    sweep_dir, _ = sweep("fa-vs-bp", grid=["lr=0.2,0.5"], overrides=TINY, out=tmp_path)
    spec = sweep_dir / "sweep.json"
    text = spec.read_bytes()
    spec.write_bytes(text[:100])  # truncated
    assert main(["export", str(sweep_dir), "--out", str(tmp_path / "a.csv")]) == 2
    assert "sweep.json is not a readable JSON file" in capsys.readouterr().err
    spec.write_bytes(text)
    point = sorted((sweep_dir / "points").iterdir())[0]
    (point / "config.json").unlink()
    assert main(["export", str(sweep_dir), "--out", str(tmp_path / "b.csv")]) == 2
    err = capsys.readouterr().err
    assert point.name in err and "no config.json" in err and err.count("\n") == 1
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_csv_cells_are_never_formulas(runs, tmp_path):
    root, outcomes = runs
    copy = tmp_path / "runs" / "fa-vs-bp" / "hostile"
    copy.mkdir(parents=True)
    for p in outcomes[0].run_dir.path.iterdir():
        if p.is_file():
            (copy / p.name).write_bytes(p.read_bytes())
    header = json.loads((copy / "config.json").read_text())
    header["preset"] = "=HYPERLINK(\"http://x\")"
    header["config"]["data_root"] = "@SUM(1)"
    (copy / "config.json").write_text(json.dumps(header))
    results.export(tmp_path / "runs", "csv", tmp_path / "r.csv")
    back = pd.read_csv(tmp_path / "r.csv")
    assert set(back["preset"]) == {"'=HYPERLINK(\"http://x\")"} and set(back["data_root"]) == {"'@SUM(1)"}
    assert (back["value"] == results.load(tmp_path / "runs")["value"]).all()  # numbers stay numbers


def test_curves_and_claims_tables(runs, tmp_path, capsys):
    root, outcomes = runs
    curves = results.load(root, table="curves")
    run0 = outcomes[0].run_dir
    logged = [(r["step"], k, v) for r in run0.metrics() for k, v in r.items() if k != "step"]
    mine = curves[curves["run"] == str(run0.path)]
    assert list(zip(mine["step"], mine["metric"], mine["value"])) == logged and len(logged) > 3
    claims = results.load(root, table="claims")
    assert set(claims["claim"]) == {c["id"] for c in outcomes[0].claims}
    assert set(claims["verdict"]) <= {"PASS", "FAIL", "XFAIL", "XPASS"} and claims["seed"].nunique() == 2
    assert main(["export", str(root), "--table", "curves", "--out", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == len(curves)
    assert main(["export", str(root), "--table", "nope"]) == 2


def test_missing_values_are_real_nulls(runs, tmp_path):
    pytest.importorskip("pyarrow")
    root, outcomes = runs
    both = tmp_path / "both"
    both.mkdir()
    for i, o in enumerate(outcomes):  # two runs whose configs have different fields
        copy = both / f"r{i}"
        copy.mkdir()
        for p in o.run_dir.path.iterdir():
            if p.is_file():
                (copy / p.name).write_bytes(p.read_bytes())
    header = json.loads((both / "r1" / "config.json").read_text())
    header["config"]["only_here"] = "x"
    (both / "r1" / "config.json").write_text(json.dumps(header))
    out = results.export(both, "parquet", tmp_path / "r.parquet")
    back = pd.read_parquet(out)
    assert set(back["only_here"].dropna()) == {"x"} and back["only_here"].isna().sum() > 0
    assert "nan" not in set(back["only_here"].dropna())
    csv = pd.read_csv(results.export(both, "csv", tmp_path / "r.csv"))
    assert csv["only_here"].isna().sum() == back["only_here"].isna().sum()


def test_tensorboard_export_reads_back_with_tensorboards_own_reader(runs, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, outcomes = runs
    assert main(["export", str(root), "--format", "tensorboard", "--out", str(tmp_path / "tb")]) == 0
    run0 = outcomes[0].run_dir
    events = EventAccumulator(str(tmp_path / "tb" / run0.path.relative_to(root))).Reload()
    records = run0.metrics()
    metric = next(k for k in records[-1] if k != "step")
    logged = [(r["step"], r[metric]) for r in records if metric in r]
    assert [(e.step, pytest.approx(e.value)) for e in events.Scalars(metric)] == logged
    final = events.Scalars(f"final/{next(iter(outcomes[0].result.metrics))}")
    assert final[0].value == pytest.approx(next(iter(outcomes[0].result.metrics.values())))
    # a second export replaces the events rather than doubling them
    assert main(["export", str(root), "--format", "tensorboard", "--out", str(tmp_path / "tb")]) == 0
    again = EventAccumulator(str(tmp_path / "tb" / run0.path.relative_to(root))).Reload()
    assert len(again.Scalars(metric)) == len(logged)
