"""Faults a user can cause, each a regression test: one line on stderr, exit 2, nothing half-written."""

from __future__ import annotations

import gzip
import json
import os
import struct

import numpy as np
import pytest
import torch

from brainlearn.cli import main
from brainlearn.data.cifar import read_cifar_batch, write_cifar_batch
from brainlearn.data.idx import read_idx, write_idx
from brainlearn.errors import ConfigError, DataError
from brainlearn.experiments.runner import resume_experiment
from brainlearn.runtime import RunDir

TINY = ["--set", "epochs=2", "--set", "n_train=60", "--set", "n_test=30", "--set", "angle_every=5"]


def one_line_exit_2(capsys, argv, message=""):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("brainlearn: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err
    return err


def run_dirs(root, name="fa-vs-bp"):
    folder = root / name
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def finished(tmp_path, capsys):
    assert main(["run", "fa-vs-bp", *TINY, "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    capsys.readouterr()
    (path,) = run_dirs(tmp_path / "runs")
    return path


@pytest.fixture
def interrupted(tmp_path, monkeypatch, capsys):
    from brainlearn.runtime import RunContext

    original = RunContext.checkpoint

    def stop(self, step, state):
        original(self, step, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "checkpoint", stop)
    assert main(["run", "fa-vs-bp", *TINY, "--out", str(tmp_path / "runs"), "--quiet"]) == 130
    monkeypatch.setattr(RunContext, "checkpoint", original)
    capsys.readouterr()
    (path,) = run_dirs(tmp_path / "runs")
    return path


# -- arguments -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--device", "cpu:abc"], "device 'cpu:abc' is not valid"),
    (["--device", "cuda:x"], "is not valid"),
    (["--seed", "-1"], "seed must be an integer in [0, 2147483647]"),
    (["--seed", "99999999999999999999999"], "seed must be an integer"),
    (["--set", "lr=inf"], "lr must be a finite number"),
    (["--set", "model.init_gain=nan"], "init_gain must be a finite number"),
    (["--set", "data_root=~nosuchuser/x"], "cannot be expanded"),
    (["--threads", "0"], "threads must be an integer >= 1"),
    (["--workers", "0"], "workers must be an integer >= 1"),
    (["--workers", "-1"], "workers must be an integer >= 1"),
])
def test_bad_run_arguments_leave_no_run_directory(argv, message, tmp_path, capsys):
    one_line_exit_2(capsys, ["run", "fa-vs-bp", *TINY, "--out", str(tmp_path), *argv], message)
    assert not run_dirs(tmp_path)


def test_out_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_exit_2(capsys, ["run", "fa-vs-bp", *TINY, "--out", str(blocker)], "cannot create the run directory")
    one_line_exit_2(capsys, ["sweep", "fa-vs-bp", *TINY, "--out", str(blocker)], "cannot create the sweep directory")


def test_out_of_memory_is_a_user_error(tmp_path, capsys):
    one_line_exit_2(capsys, ["run", "fa-vs-bp", *TINY, "--set", "model.n_hidden=10000000000", "--out", str(tmp_path)],
                    "ran out of memory")
    assert not run_dirs(tmp_path)


def test_cuda_on_a_cpu_machine(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    one_line_exit_2(capsys, ["sweep", "fa-vs-bp", *TINY, "--device", "cuda", "--out", str(tmp_path)], "CUDA")
    one_line_exit_2(capsys, ["verify", "fa-vs-bp", *TINY, "--device", "cuda", "--out", str(tmp_path)], "CUDA")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "need workers >= 1"), (["--threads", "0"], "need workers >= 1"),
    (["--retries", "-1"], "retries >= 0"), (["--grid", "lr=0.1,0.1"], "a value is given twice"),
])
def test_bad_sweeps_write_nothing(argv, message, tmp_path, capsys):
    one_line_exit_2(capsys, ["sweep", "fa-vs-bp", *TINY, "--out", str(tmp_path), *argv], message)
    assert not list(tmp_path.iterdir())


# -- resume ------------------------------------------------------------------------------------------

def test_resume_refuses_other_settings_and_other_experiments(interrupted, capsys):
    for flag in (["--seed", "3"], ["--preset", "full"], ["--set", "lr=0.1"], ["--threads", "2"]):
        one_line_exit_2(capsys, ["run", "--resume", str(interrupted), *flag], "cannot change them")
    one_line_exit_2(capsys, ["run", "dendritic", "--resume", str(interrupted)], "is a run of fa-vs-bp, not dendritic")
    assert main(["run", "fa-vs-bp", "--resume", str(interrupted), "--quiet"]) == 0


@pytest.mark.parametrize("content, message", [
    (b"", "not a trusted brainlearn checkpoint"), (b"garbage" * 10, "not a trusted brainlearn checkpoint"),
    ("truncate", "not a trusted brainlearn checkpoint"), ("malicious", "not a trusted brainlearn checkpoint"),
    ("foreign", "not a brainlearn checkpoint"),
])
def test_resume_with_a_bad_checkpoint(interrupted, content, message, capsys, tmp_path):
    ckpt = RunDir(interrupted).checkpoint_path
    if content == "truncate":
        content = ckpt.read_bytes()[:100]
    elif content == "malicious":
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, ("true",))

        content = pickle.dumps(Evil())
    elif content == "foreign":
        import io

        buf = io.BytesIO()
        torch.save({"weights": torch.zeros(2)}, buf)
        content = buf.getvalue()
    ckpt.write_bytes(content)
    err = one_line_exit_2(capsys, ["run", "--resume", str(interrupted)], message)
    assert "weights_only" not in err


def test_resume_of_a_raw_pickle_says_one_line_and_no_warning(interrupted, capsys):
    import pickle
    import warnings

    RunDir(interrupted).checkpoint_path.write_bytes(pickle.dumps({"step": 1, "state": {}, "history": []}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        one_line_exit_2(capsys, ["run", "--resume", str(interrupted)], "not a trusted brainlearn checkpoint")
    assert not caught, [str(w.message) for w in caught]


def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    import errno

    from brainlearn.runtime import RunContext

    original = RunContext.checkpoint

    def full(self, step, state):
        original(self, step, state)
        raise OSError(errno.ENOSPC, "No space left on device", str(self.run_dir.checkpoint_path))

    monkeypatch.setattr(RunContext, "checkpoint", full)
    err = one_line_exit_2(capsys, ["run", "fa-vs-bp", *TINY, "--out", str(tmp_path / "runs"), "--quiet"],
                          "no space left on the device writing")
    assert "resume" in err
    monkeypatch.setattr(RunContext, "checkpoint", original)
    (path,) = run_dirs(tmp_path / "runs")
    assert main(["run", "--resume", str(path), "--quiet"]) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda h: {**h, "config": {**h["config"], "epochs": "two"}}, "epochs='two': expected int"),
    (lambda h: {k: v for k, v in h.items() if k != "config"}, "is not a brainlearn run header"),
    (lambda h: {**h, "config": {**h["config"], "hidden": [7]}}, "was edited after the run started"),
    (lambda h: [], "is not a brainlearn run header"),
    ("{not json", "is not a readable JSON file"),
])
def test_resume_after_config_json_was_edited(interrupted, edit, message, capsys):
    path = interrupted / "config.json"
    header = json.loads(path.read_text())
    path.write_text(edit if isinstance(edit, str) else json.dumps(edit(header)))
    if "epochs" in message:  # a consistent edit of types: config_hash recomputed so the type check speaks
        from brainlearn.runtime.rundir import short_hash

        edited = json.loads(path.read_text())
        edited["config_hash"] = short_hash(edited["config"])
        path.write_text(json.dumps(edited))
    one_line_exit_2(capsys, ["run", "--resume", str(interrupted)], message)


def test_a_run_directory_is_locked_while_in_use(interrupted):
    with RunDir(interrupted).lock(), pytest.raises(ConfigError, match="in use by another brainlearn process"):
        resume_experiment(interrupted)
    assert resume_experiment(interrupted).run_dir.status["state"] == "finished"  # the lock died with its holder


def test_threads_are_recorded_and_restored(interrupted):
    header = json.loads((interrupted / "config.json").read_text())
    assert header["threads"] == 1 and header["versions"]["numpy"] == np.__version__
    before = torch.get_num_threads()
    resume_experiment(interrupted)
    assert torch.get_num_threads() == before  # the run's thread count does not leak into the caller


# -- reading what the CLI reads ----------------------------------------------------------------------

@pytest.mark.parametrize("name, content", [
    ("config.json", "{\"experiment\": \"fa-vs"), ("config.json", ""), ("config.json", "[]"),
    ("result.json", "garbage"), ("result.json", "[1, 2]"), ("status.json", b"\xff\xfe\x00binary"),
    ("claims.json", "{\"not\": \"a list\"}"), ("claims.json", "[1, 2]"),
])
def test_show_on_corrupted_files(finished, name, content, capsys):
    path = finished / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    one_line_exit_2(capsys, ["show", str(finished)])


def test_sweep_report_on_corrupted_files(tmp_path, capsys):
    assert main(["sweep", "fa-vs-bp", *TINY, "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    (sweep_dir,) = (tmp_path / "fa-vs-bp").iterdir()
    (point,) = (sweep_dir / "points").iterdir()
    (point / "result.json").write_text("{broken")
    one_line_exit_2(capsys, ["sweep-report", str(sweep_dir)], "result.json")
    (sweep_dir / "sweep.json").write_text("[]")
    one_line_exit_2(capsys, ["sweep-report", str(sweep_dir)])


def test_files_follow_the_umask(finished):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "result.json", "status.json", "metrics.jsonl"):
        assert (finished / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_paths_with_newlines_are_quoted(tmp_path, capsys):
    out = tmp_path / "a\nb"
    assert main(["run", "fa-vs-bp", *TINY, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed.startswith("run directory: $'") and "\\n" in printed


# -- data readers --------------------------------------------------------------------------------------

def _idx_bytes(array):
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize("data, message", [
    (bytes([0, 0, 0x08, 3, 0, 0]), "truncated IDX header"),
    (_idx_bytes(np.zeros((2, 3), np.uint8))[:-1], "file body has"),
    (bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + b"\x00\x00\x00", "file body has"),
    (bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 65536, 65536, 4096) + b"\x00" * 16, "file body has"),
])
def test_malformed_idx(tmp_path, data, message):
    path = tmp_path / "x.idx"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_idx_gz_that_is_not_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(_idx_bytes(np.zeros((2, 2), np.uint8)))
    with pytest.raises(DataError, match="cannot be read as gzipped IDX"):
        read_idx(path)
    with gzip.open(path, "wb") as f:
        f.write(_idx_bytes(np.ones((2, 2), np.uint8)))
    assert read_idx(path).sum() == 4


def _mnist(tmp_path, labels=None, images=None):
    for split, n in (("train", 20), ("t10k", 10)):
        x = np.zeros((n, 4, 4), np.uint8) if images is None else images[:n]
        y = (np.arange(n) % 10).astype(np.uint8) if labels is None else labels[:n]
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", x)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", y)


@pytest.mark.parametrize("labels, images, message", [
    (np.full(20, 200, np.uint8), None, "labels in 0..9"),
    (None, np.full((20, 4, 4), -5, np.int8), "expected uint8 pixels"),
    (None, np.full((20, 4, 4), np.nan, np.float32), "expected uint8 pixels"),
    (np.zeros((20, 2), np.uint8), None, "expected images"),
])
def test_bad_mnist_contents(tmp_path, labels, images, message):
    from brainlearn.data import load_images

    _mnist(tmp_path, labels, images)
    with pytest.raises(DataError, match=message):
        load_images("mnist", tmp_path)


@pytest.mark.parametrize("labels, message", [
    (["a", "b"], "labels must be a list of integers"), ([1], "1 labels for 2 images"),
    ([1, 12], "labels must be in 0..9"),
])
def test_bad_cifar_labels(tmp_path, labels, message):
    import pickle

    path = tmp_path / "b"
    write_cifar_batch(path, np.zeros((2, 3072), np.uint8), [0, 1])
    batch = pickle.loads(path.read_bytes())
    batch[b"labels"] = labels
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError, match=message):
        read_cifar_batch(path)


def test_image_data_rejects_non_finite_pixels_and_2d_labels():
    from brainlearn.data.images import ImageData
    from brainlearn.errors import ShapeError

    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(DataError, match="NaN or infinite"):
        ImageData("t", x.clone().fill_(float("nan")), y, x, y, 10)
    with pytest.raises(ShapeError, match="int64 labels"):
        ImageData("t", x, y[:, None], x, y, 10)


def test_tasks_show_errors_write_nothing(tmp_path, capsys):
    out = tmp_path / "figs"
    one_line_exit_2(capsys, ["tasks", "show", "nosuchtask", "--out", str(out)], "nosuchtask")
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_exit_2(capsys, ["tasks", "show", "go", "--out", str(blocker)], "cannot create the figure folder")


# -- models and metrics ----------------------------------------------------------------------------------

def test_models_reject_bad_values():
    from brainlearn.errors import ShapeError
    from brainlearn.models.pathways import MixtureOfPathwaysConfig
    from brainlearn.nn import MLP, MLPConfig
    from brainlearn.rules import FALinear

    with pytest.raises(ConfigError, match="init_gain must be a finite number"):
        MLP(MLPConfig(n_in=3, n_hidden=(), n_out=2, init_gain=float("nan")))
    with pytest.raises(ShapeError, match="NaN"):
        MLP(MLPConfig(n_in=3, n_hidden=(), n_out=2))(torch.full((2, 3), float("nan")))
    with pytest.raises(ConfigError, match="in_features must be an integer >= 1"):
        FALinear(0, 5)
    with pytest.raises(ConfigError, match="n_hidden must be >= 1"):
        MixtureOfPathwaysConfig(n_tasks=3, n_hidden=0)


@pytest.mark.parametrize("scale", [1e150, 1e160, 1e-150, 1e-170, 1e-300])
def test_scale_invariant_metrics_at_extreme_scales(scale):
    from brainlearn.similarity import CKA, Procrustes
    from brainlearn.similarity.procrustes import procrustes_angle

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(100, 5)), rng.normal(size=(100, 5))
    assert CKA().fit_score(X * scale, Y) == pytest.approx(CKA().fit_score(X, Y), rel=1e-12)
    assert Procrustes().fit_score(X * scale, Y) == pytest.approx(Procrustes().fit_score(X, Y), rel=1e-12)
    assert procrustes_angle(X * scale, Y) == pytest.approx(procrustes_angle(X, Y), rel=1e-12)


def test_metrics_reject_bad_parameters_and_degenerate_data():
    from brainlearn.errors import ShapeError
    from brainlearn.similarity import CKA, DSA
    from brainlearn.similarity.dsa import align_operators, eigenvalue_wasserstein
    from brainlearn.similarity.procrustes import procrustes_angle

    nan = float("nan")
    for kwargs, message in (({"lamb": nan}, "lamb"), ({"tol": nan}, "tol"), ({"rank_thresh": nan}, "rank_thresh")):
        with pytest.raises(ConfigError, match=message):
            DSA(**kwargs)
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match="does not change over time"):
        DSA().fit_score(np.ones((3, 50, 2)), rng.normal(size=(3, 50, 2)))
    with pytest.raises(ShapeError, match="zero operator"):
        align_operators(np.zeros((3, 3)), np.eye(3))
    with pytest.raises(ShapeError, match="real array"):
        CKA().fit_score(rng.normal(size=(20, 3)) * (1 + 1j), rng.normal(size=(20, 3)))
    with pytest.raises(ShapeError, match="square operator"):
        eigenvalue_wasserstein(np.ones((2, 3)), np.eye(2))
    with pytest.raises(ConfigError, match="zero variance"):
        procrustes_angle(np.ones((10, 2)), rng.normal(size=(10, 2)))


def test_run_sweep_verify_and_resume_give_the_same_numbers(tmp_path, interrupted):
    """The same seed gives the same numbers through every entry point: one thread count by default, recorded
    and restored on resume."""
    from brainlearn.experiments import sweep as sweeps
    from brainlearn.experiments.runner import make_config, run_experiment
    from brainlearn.experiments.verify import verify

    overrides = [v for v in TINY if v != "--set"]
    from brainlearn import experiments

    exp = experiments.get("fa-vs-bp")
    direct = run_experiment(exp, make_config(exp, "quick", overrides), 0, out=None).result.metrics
    _, (point,) = sweeps.sweep("fa-vs-bp", overrides=overrides, out=tmp_path / "sweep")
    (section,) = verify(["fa-vs-bp"], overrides=overrides, out=tmp_path / "verify").sections
    resumed = resume_experiment(interrupted).result.metrics  # a CLI run at seed 0, interrupted, resumed
    assert point["metrics"] == direct and resumed == direct
    assert [c["values"][0] for c in section["claims"]] == [direct[c["metric"]] for c in section["claims"]]


def test_pairwise_in_netreps_argument_order_says_which_order_it_takes():
    from brainlearn.similarity import CKA, pairwise

    Xs = [np.random.default_rng(i).random((10, 3)) for i in range(3)]
    for metric in (CKA(), "cka"):
        with pytest.raises(ConfigError, match=r"pairwise takes \(systems, metric\)"):
            pairwise(metric, Xs)
    with pytest.raises(ConfigError, match="expected a metric object or a name"):
        pairwise(Xs, 3)
    assert pairwise(Xs, "cka").shape == (3, 3)


def test_missing_data_in_a_multi_seed_verify_is_reported_once(tmp_path, capsys, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="brainlearn"):
        code = main(["verify", "fa-vs-bp", "--seeds", "3", "--set", "dataset=mnist", "--set",
                     f"data_root={tmp_path / 'none'}", "--out", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    said = err + "\n".join(r.getMessage() for r in caplog.records)
    assert said.count("mnist not found") == 1, said


@pytest.mark.parametrize("constant", ["third", "row", "point3"])
def test_constant_representations_are_zero_variance_whatever_their_value(constant):
    from brainlearn.errors import BrainlearnError
    from brainlearn.similarity import CKA, Procrustes
    from brainlearn.similarity.cka import cka
    from brainlearn.similarity.procrustes import procrustes_angle

    X = np.random.default_rng(0).random((50, 5))
    C = {"third": np.full((50, 5), 1 / 3), "row": np.tile(X[:1], (50, 1)), "point3": np.full((50, 5), 0.3)}[constant]
    for measure in (lambda: cka(C, X), lambda: procrustes_angle(C, X), lambda: CKA().fit(C, X).score(C, X),
                    lambda: CKA(kernel="rbf").fit(C, X).score(C, X), lambda: Procrustes().fit(X, C).score(X, C)):
        with pytest.raises(BrainlearnError, match="zero variance"):
            measure()


def test_group_statistics_take_label_lists_and_refuse_bad_input():
    from brainlearn.errors import ShapeError
    from brainlearn.similarity.stats import nn_accuracy, separation_ratio

    D = np.array([[0, 1, 4, 4], [1, 0, 4, 4], [4, 4, 0, 2], [4, 4, 2, 0]], dtype=float)
    assert separation_ratio(D, ["a", "a", "b", "b"]) == pytest.approx(4 / 1.5)
    assert nn_accuracy(D, ["a", "a", "b", "b"]) == 1.0
    for bad_D, labels in ((D[:3], ["a"] * 3), (D, ["a", "b"]), (D[0], list("aabb")), (D, list("aaab"))):
        with pytest.raises(ShapeError):
            separation_ratio(bad_D, labels)


@pytest.mark.parametrize("name, sets, message", [
    ("similarity-ssm", ["rank=100000"], "exceeds the delay embedding's dimension"),
    ("similarity-rnn", ["n_test=2", "rank=100"], "delay-embedded samples"),
    ("similarity-rnn", ["n_delays=7"], "fewer than the embedding's 224"),
    ("similarity-rnn", ["drop_ms=5000"], "leaves nothing"),
    ("similarity-lorenz", ["mixing_rank=1000"], "mixing_rank=1000 exceeds"),
    ("similarity-attractors", ["rank=1000"], "rank=1000 exceeds"),
])
def test_bounds_known_from_the_config_are_checked_before_any_work(name, sets, message, tmp_path, capsys):
    one_line_exit_2(capsys, ["run", name, *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path)], message)
    assert not (tmp_path / name).exists()
