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
    assert len(df) == 2 * n_metrics and list(df.columns[:9]) == results.RUN_COLUMNS
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
