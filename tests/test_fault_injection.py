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

SMALL = {  # small configs of every experiment: a few seconds each, several checkpoints
    "fa-vs-bp": ["epochs=6", "n_train=300", "n_test=100", "angle_every=5"],
    "burstccn": ["epochs=4", "n_train=300", "n_test=100", "hidden=16", "angle_every=3"],
    "burstccn-alignment": ["epochs=4", "n_train=300", "n_test=100", "hidden=16", "angle_every=3"],
    "burstccn-q": ["epochs=4", "n_train=300", "n_test=100", "hidden=16", "probe_size=32"],
    "burstccn-continuous": ["rest_steps=50", "train_steps=400", "test_steps=50", "angle_every=5"],
    "dendritic": ["self_prediction.steps=40", "alignment.batches=2", "teacher_student.steps=40",
                  "teacher_student.eval_every=10", "teacher_student.test=64", "classification.hidden=16",
                  "classification.epochs_tied=2", "classification.epochs_random=2", "n_train=200", "n_test=100"],
    "dendritic-dynamics": ["sizes=6,5,3", "settle_ms=5", "patterns=6", "duration=5", "batch=2"],
    "bplambda-alignment": ["delay=3", "long_delay=4", "updates=4", "long_updates=4", "replicates=2",
                           "long_replicates=1", "batch_size=1"],
    "bplambda-seqclass": ["n_train=60", "n_test=20", "n_hidden=3", "batch_size=20", "epochs=4"],
    "bplambda-copyrepeat": ["updates=6", "n_hidden=4", "batch_size=4"],
    "ccrnn-linedraw": ["replicates=2", "bptt_replicates=1", "epochs=2", "train_size=100", "cerebellum=16",
                       "align_every=1"],
    "ccrnn-seqdraw": ["epochs=1", "n_train=64", "n_test=32", "cerebellum=16", "hidden=8", "windows=1,2"],
    "ccrnn-seqclass": ["epochs=2", "n_train=64", "n_test=32", "cerebellum=16", "hidden=8"],
    "ccrnn-caption": ["epochs=2", "n_train=100", "n_test=20", "cerebellum=16", "hidden=8", "embed=8"],
    "pathways": ["steps=6", "batch_size=4", "seq_len=30", "eval_batches=1", "eval_every=1", "replicates=2",
                 "lr=0.05"],
    "similarity-solver": ["sizes=4,6", "triangle_size=4", "triangle_matrices=3", "max_iter=50"],
    "similarity-attractors": ["sigmas=0.05,0.1", "n_per_type=2", "n_trials=10", "n_steps=1000", "n_delays=5",
                              "rank=5", "max_iter=50"],
    "similarity-lorenz": ["n_traj=5", "n_steps=60", "n_delays=5", "delay_interval=2", "rank=5", "mixing_rank=5",
                          "patterns=0.5,30"],
    "pp-microcircuit": ["replicates=3", "circuit.n_e=16", "circuit.n_pv=4", "circuit.n_sst=4", "circuit.n_vip=4",
                        "circuit.steps=20", "circuit.batch=8"],
    "pp-sequence": ["protocol.habituation_min=1", "protocol.n_test=60", "protocol.n_control=60",
                    "protocol.p_deviant=0.3", "protocol.p_omission=0.3", "protocol.control_orientations=4",
                    "protocol.deviant_orientation=90", "n_shuffles=20"],
    "pp-closedloop": ["replicates=3", "circuit.n_e=16", "circuit.n_pv=4", "circuit.n_sst=4", "circuit.n_vip=4",
                      "circuit.steps=20", "circuit.batch=8", "protocol.duration=20", "substeps=2"],
    "pp-nwb": ["protocol.habituation_min=0.5", "protocol.n_test=40", "protocol.p_deviant=0.3", "n_shuffles=20"],
    "pp-shared-mechanism": ["circuit.n_e=16", "circuit.n_pv=4", "circuit.n_sst=4", "circuit.n_vip=4",
                            "circuit.steps=20", "circuit.batch=8", "n_trials=6", "n_shuffles=20",
                            "n_permutations=50"],
    "replay-per": ["n_items=50", "draws=1000", "batch=50", "capacity=10", "stream=100", "runs=5"],
    "replay-continual": ["n_train=200", "n_test=100", "epochs=1", "hidden=16", "vae_hidden=16", "memory=20"],
    "replay-dqn": ["replicates=1", "steps=400", "warmup=20", "eval_every=40", "hidden=8", "capacity=100"],
    "replay-maze": ["replicates=1", "episodes=6", "late_from=2", "track_before=3", "track_after=1"],
    "rnnrules-add": ["rules=readout,bptt10,eprop", "train_steps=200", "test_steps=20", "bin_size=20", "n_hidden=4",
                     "replicates=2"],
    "rnnrules-alignment": ["n_hidden=4", "train_steps=50", "probes=4", "probe_steps=20", "batch=1"],
    "rnnrules-cost": ["rules=rtrl,eprop,rflo", "sizes=4,8", "fit_from=4", "steps=2", "timing=false"],
    "rnnrules-tasks": ["tasks=add,dnm", "rules=readout,rtrl,eprop", "iterations=5", "batch=2", "test_batch=4",
                       "n_hidden=4"],
    "similarity-rnn": ["n_replicates=2", "pretrain_steps=2", "train_steps=4", "fractions=0.5,1.0", "n_test=4",
                       "batch_size=4", "n_hidden=8", "rank=4", "n_delays=2", "max_iter=20"],
    "similarity-ssm": ["n_replicates=2", "pretrain_steps=2", "train_steps=4", "fractions=0.5,1.0", "n_test=4",
                       "batch_size=4", "n_hidden=8", "rank=4", "n_delays=2", "max_iter=20"],
    "generalisation-dsprites": ["model.steps=4", "model.batch_size=8", "data.max_eval=40", "replicates=2",
                                "splits=recomb2range/sqr2tx,recomb2element/sqr_centre"],
    "generalisation-diagnosis": ["model.steps=4", "model.batch_size=8", "data.max_eval=40", "replicates=1"],
}
DEFAULT = [("fa-vs-bp", signal.SIGKILL), ("similarity-attractors", signal.SIGINT)]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "brainlearn", *args]


def _run(name: str, out, *extra: str) -> list[str]:
    sets = [a for o in SMALL[name] for a in ("--set", o)]
    return _cli("run", name, *sets, "--seed", "1", "--out", str(out), "--quiet", *extra)


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
@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_experiment_survives_kills(name, sig, tmp_path):
    print(name, sig.name, "strikes on a live run:", kill_and_resume(name, sig, tmp_path, kills=3))


def test_the_small_configs_cover_every_experiment():
    from brainlearn import experiments

    assert set(SMALL) == set(experiments.names())
