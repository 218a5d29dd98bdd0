"""The Ray backend against a real multi-process cluster on loopback: a head and a worker node started with
`ray start`, one task's worker process killed mid-sweep; the sweep still finishes every point exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from brainlearn.experiments import sweep

ray = pytest.importorskip("ray")
TINY = ["epochs=6", "n_train=300", "n_test=100", "angle_every=5"]
PORT = 6391


RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))  # the venv's, even if not on PATH


# A throwaway cluster on loopback: no usage reports, no token (the driver in this process shares the setting).
ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _ray(*args: str) -> None:
    subprocess.run([RAY, *args], check=True, capture_output=True, timeout=120, env={**os.environ, **ENV})


@pytest.fixture
def cluster(monkeypatch):
    if not Path(RAY).is_file():
        pytest.skip("the ray command is not installed")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    _ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={PORT}", "--num-cpus=1",
         "--include-dashboard=false", "--disable-usage-stats")
    try:
        _ray("start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1", "--disable-usage-stats")
        yield f"127.0.0.1:{PORT}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env={**os.environ, **ENV})


def _task_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ray::execute_point"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sweep_survives_a_killed_worker(cluster, tmp_path):
    grid = ["lr=0.2,0.3,0.5"]
    _, local = sweep.sweep("fa-vs-bp", grid=grid, overrides=TINY, out=tmp_path / "local")
    killed, sweeping = [], threading.Event()
    sweeping.set()

    def kill_one_running_task():  # for as long as the sweep runs: a loaded machine starts Ray's workers late
        while sweeping.is_set() and not killed:
            pids = _task_pids()
            checkpoints = list((tmp_path / "ray").rglob("last.pt"))
            if pids and checkpoints:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_running_task)
    killer.start()
    try:
        sweep_dir, remote = sweep.sweep("fa-vs-bp", grid=grid, overrides=TINY, workers=2, backend="ray",
                                        address=cluster, retries=2, out=tmp_path / "ray")
    finally:
        sweeping.clear()
        killer.join()
    assert killed, "no task was running to kill"
    assert [r["state"] for r in remote] == ["finished"] * 3
    assert [r["metrics"] for r in remote] == [r["metrics"] for r in local]
    for point in (sweep_dir / "points").iterdir():  # every point's records exactly once
        records = [json.loads(line) for line in (point / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == len({json.dumps(r, sort_keys=True) for r in records})
