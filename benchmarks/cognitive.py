"""Benchmark the Mod-Cog generator: windows / trials / steps per second, and neurogym side by side.

    python benchmarks/cognitive.py                      # 82-task mix, stream windows of 128 x 350
    python benchmarks/cognitive.py --neurogym           # + neurogym's Dataset over its 20 yang19 base tasks
    python benchmarks/cognitive.py --gru rtgo go dm1    # + steps for a GRU-64 to reach response loss 0.25

Prints one JSON object. Timings are wall-clock on one thread; record the machine load next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import torch

from brainlearn.data.cognitive import SUITES, TaskSuite
from brainlearn.runtime import make_generator


def _time(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) per call; CPU time is less inflated by a loaded machine."""
    fn()  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def bench_stream(suite: str, batch: int, seq_len: int, repeats: int, device: str) -> dict:
    s = TaskSuite(suite)
    stream = s.stream(batch, seq_len, make_generator(0, device))
    trials = []

    def one():
        w = next(stream)
        trials.append(int(w.trial_start.sum()))
    seconds, cpu = _time(one, repeats)
    per_window = sum(trials) / len(trials)
    return {"form": "stream", "suite": suite, "batch": batch, "seq_len": seq_len, "device": device,
            "seconds_per_window": seconds, "cpu_seconds_per_window": cpu, "windows_per_s": 1 / seconds,
            "trials_per_window": per_window, "trials_per_s": per_window / seconds,
            "trials_per_cpu_s": per_window / cpu, "steps_per_cpu_s": batch * seq_len / cpu}


def bench_trials(suite: str, batch: int, repeats: int) -> dict:
    s = TaskSuite(suite)
    gen = make_generator(0)
    seconds, cpu = _time(lambda: s.trials(batch, gen), repeats)
    return {"form": "trial-aligned", "suite": suite, "batch": batch, "seconds_per_batch": seconds,
            "trials_per_s": batch / seconds, "trials_per_cpu_s": batch / cpu}


def bench_neurogym(batch: int, seq_len: int, repeats: int) -> dict:
    """neurogym's Dataset over ScheduleEnvs of its 20 yang19 base tasks (Mod-Cog's own file needs the old gym)."""
    import neurogym as ngym
    from neurogym.envs.collections import yang19
    from neurogym.utils.scheduler import RandomSchedule
    from neurogym.wrappers import ScheduleEnvs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envs = [getattr(yang19, name)() for name in SUITES["modcog/base"]]
        env = ScheduleEnvs(envs, schedule=RandomSchedule(len(envs)), env_input=True)
        dataset = ngym.Dataset(env, batch_size=batch, seq_len=seq_len)
        seconds, cpu = _time(dataset, repeats)
    return {"form": "neurogym Dataset (20 yang19 tasks)", "batch": batch, "seq_len": seq_len,
            "seconds_per_window": seconds, "cpu_seconds_per_window": cpu, "windows_per_s": 1 / seconds,
            "steps_per_cpu_s": batch * seq_len / cpu}


def bench_vector_env(task: str, num_envs: int, steps: int) -> dict:
    """Environment steps per second of the native CognitiveVectorEnv against gymnasium's SyncVectorEnv of the
    same single-task env (``gym.make_vec(..., vectorization_mode="sync")``), the oracle acting, one process."""
    import gymnasium as gym
    import numpy as np

    from brainlearn.data.cognitive.env import CognitiveVectorEnv, env_id

    native = CognitiveVectorEnv(task, num_envs=num_envs, task_input=False, seed=0)
    native.reset()
    sync = gym.make_vec(env_id(task), num_envs=num_envs, vectorization_mode="sync")
    sync.reset(seed=0)
    actions = np.zeros(num_envs, dtype=np.int64)

    def run_native():
        for _ in range(steps):
            native.step(native.gt_now)

    def run_sync():
        for _ in range(steps):
            sync.step(actions)

    rows = {}
    for name, fn in (("native", run_native), ("gym_sync", run_sync)):
        wall, cpu = _time(fn, 1)
        rows[name] = {"env_steps_per_s": num_envs * steps / wall, "env_steps_per_cpu_s": num_envs * steps / cpu}
    sync.close()
    return {"bench": "vector_env", "task": task, "num_envs": num_envs, "steps": steps, **rows,
            "speedup": rows["native"]["env_steps_per_s"] / rows["gym_sync"]["env_steps_per_s"]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="modcog/all")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=350)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--neurogym", action="store_true", help="also time neurogym's Dataset (if installed)")
    p.add_argument("--neurogym-repeats", type=int, default=1)
    p.add_argument("--gru", nargs="*", default=[], metavar="TASK", help="GRU-64 solvability runs for these tasks")
    p.add_argument("--gru-steps", type=int, default=300)
    p.add_argument("--vector", nargs="*", type=int, default=[], metavar="NUM_ENVS",
                   help="time the native vector env against gym.make_vec (sync) at these sizes")
    p.add_argument("--vector-steps", type=int, default=200)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {"loadavg": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
           "torch": torch.__version__, "threads": args.threads, "results": []}
    out["results"].append(bench_stream(args.suite, args.batch, args.seq_len, args.repeats, args.device))
    out["results"].append(bench_trials(args.suite, args.batch, args.repeats))
    if args.neurogym:
        try:
            out["results"].append(bench_neurogym(args.batch, args.seq_len, args.neurogym_repeats))
            ours = out["results"][0]["steps_per_cpu_s"]
            out["speedup_vs_neurogym_cpu_time"] = ours / out["results"][-1]["steps_per_cpu_s"]
        except ImportError as e:
            out["neurogym"] = f"not installed ({e})"
    for n in args.vector:
        out["results"].append(bench_vector_env("dlygointr", n, args.vector_steps))
    if args.gru:
        from brainlearn.analysis.solvability import fit_gru

        out["gru"] = [fit_gru(t, steps=args.gru_steps) for t in args.gru]
    out["loadavg_after"] = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
