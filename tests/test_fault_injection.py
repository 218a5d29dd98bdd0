"""Fault injection: a run killed hard (SIGKILL) or interrupted (SIGINT) at a random moment, then resumed with
``brainlearn run --resume``, ends with a result.json, arrays.npz and metrics.jsonl byte for byte equal to an
uninterrupted run's. Two experiments in the default suite; every experiment in ``make test-slow``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from brainlearn import experiments

NAMES = experiments.names()
DEFAULT = [("fa-vs-bp", signal.SIGKILL), ("similarity-attractors", signal.SIGINT)]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "brainlearn", *args]


def _run(name: str, out, *extra: str) -> list[str]:
    return _cli("run", name, "--preset", "smoke", "--seed", "1", "--out", str(out), "--quiet", *extra)


def _only_dir(root):
    (path,) = [p for p in root.iterdir()]
    return path


def kill_and_resume(name: str, sig: signal.Signals, tmp_path, kills: int = 2, seed: int = 0) -> int:
    """Kill a run `kills` times (each at a random moment after a checkpoint exists), resume it each time,
    and compare it with an uninterrupted run. Returns how many strikes hit a live run."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    subprocess.run(_run(name, tmp_path / "reference"), check=True, env=env, capture_output=True)
    reference = _only_dir(tmp_path / "reference" / name)
    rng = random.Random(f"{name}-{sig}-{seed}")
    process = subprocess.Popen(_run(name, tmp_path / "killed"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    path, hits = None, 0
    for attempt in range(kills + 1):
        # wait for a first checkpoint (or the end), then strike at a random moment a little later
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            folder = tmp_path / "killed" / name
            if folder.is_dir() and any(folder.iterdir()):
                path = _only_dir(folder)
                if (path / "checkpoints" / "last.pt").is_file():
                    break
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        if process.poll() is None and attempt < kills:
            process.send_signal(sig)
            hits += 1
        process.wait(timeout=120)
        path = path or _only_dir(tmp_path / "killed" / name)
        status = (path / "status.json").read_text() if (path / "status.json").is_file() else ""
        if '"finished"' in status:
            break
        process = subprocess.Popen(_cli("run", "--resume", str(path), "--quiet"), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.wait(timeout=120)
    assert '"finished"' in (path / "status.json").read_text()
    for file in ("result.json", "arrays.npz", "metrics.jsonl"):
        assert (path / file).read_bytes() == (reference / file).read_bytes(), f"{name}: {file} differs"
    return hits


@pytest.mark.parametrize("name, sig", DEFAULT, ids=lambda v: getattr(v, "name", v))
def test_killed_runs_resume_byte_for_byte(name, sig, tmp_path):
    assert kill_and_resume(name, sig, tmp_path) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_survives_kills(name, sig, tmp_path):
    print(name, sig.name, "strikes on a live run:", kill_and_resume(name, sig, tmp_path, kills=3))


def test_every_experiment_has_a_smoke_preset():
    assert all("smoke" in experiments.get(name).presets for name in NAMES)
