import pytest

from brainlearn.cli import main


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "unknown experiment 'nope'"),
    (["run", "fa-vs-bp", "--set", "foo=1"], "unknown config key 'foo'"),
    (["run", "fa-vs-bp", "--set", "epochs=x"], "epochs='x': expected int"),
    (["run", "fa-vs-bp", "--set", "epochs=0"], "epochs must be >= 1"),
    (["run", "fa-vs-bp", "--preset", "huge"], "no preset 'huge'"),
    (["run", "fa-vs-bp", "--device", "tpu"], "device 'tpu' is not valid"),
    (["run", "fa-vs-bp", "--bogus"], "unrecognized arguments: --bogus"),
    (["verify", "fa-vs-bp", "--seeds", "0"], "--seeds must be >= 1"),
    (["verify", "fa-vs-bp", "--list", "--docs", "docs"], "give no names or overrides"),
    (["show", "/nonexistent"], "not a brainlearn run directory"),
    (["run", "--resume", "/nonexistent"], "not a brainlearn run directory"),
])
def test_user_errors_are_one_line_exit_2(argv, message, capsys, tmp_runs):
    assert main([*argv, "--out", str(tmp_runs)] if argv[0] != "show" else argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_dataset_exit_2(capsys, tmp_path, tmp_runs):
    code = main(["run", "fa-vs-bp", "--set", "dataset=mnist", "--set", f"data_root={tmp_path}",
                 "--out", str(tmp_runs), "--quiet"])
    assert code == 2 and "mnist not found" in capsys.readouterr().err


def test_list_and_verify_list(capsys):
    assert main(["list"]) == 0
    assert "fa-vs-bp" in capsys.readouterr().out
    assert main(["verify", "--list"]) == 0
    assert "fa-vs-bp:angle-falls" in capsys.readouterr().out


def test_run_then_show(capsys, tmp_runs):
    argv = ["run", "fa-vs-bp", "--set", "epochs=1", "--set", "n_train=100", "--out", str(tmp_runs), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run_dir = out.strip().splitlines()[-1].split(": ", 1)[1]
    assert main(["show", run_dir]) == 0
    shown = capsys.readouterr().out
    assert "finished" in shown and "bp_test_acc" in shown


def test_help_on_every_command(capsys):
    for cmd in (["--help"], ["run", "--help"], ["verify", "--help"], ["show", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(cmd)
        assert e.value.code == 0


def test_run_on_mnist_idx_files_in_data_root(tmp_path, tmp_runs, capsys):
    from tests.data.test_images import write_mnist

    write_mnist(tmp_path / "data" / "MNIST" / "raw", n_train=64, n_test=32)
    argv = ["run", "fa-vs-bp", "--set", "dataset=mnist", "--set", f"data_root={tmp_path / 'data'}",
            "--set", "epochs=1", "--out", str(tmp_runs), "--quiet"]
    assert main(argv) == 0
    assert "fa-vs-bp:bp-accuracy" in capsys.readouterr().out


def test_ctrl_c_prints_the_resume_command(monkeypatch, capsys, tmp_runs):
    from brainlearn.runtime import RunContext

    def interrupt(self, step, state):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunContext, "checkpoint", interrupt)
    code = main(["run", "fa-vs-bp", "--set", "epochs=2", "--set", "n_train=50", "--out", str(tmp_runs), "--quiet"])
    err = capsys.readouterr().err
    assert code == 130 and "resume with: brainlearn run fa-vs-bp --resume" in err
