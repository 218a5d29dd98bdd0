"""Throughput of brainlearn.replay.PrioritizedReplayBuffer, side by side with cpprb and TorchRL when installed.

    python benchmarks/replay.py                       # capacity 1e6, batch 256, CPU, one thread
    python benchmarks/replay.py --device cuda         # ours on the GPU (the references stay on the CPU)

Workload (the same for every library): transitions {obs (4,), action, reward, next_obs (4,), done}; the buffer
is first filled to capacity, then `--repeats` rounds of extend(256 rows) / sample(256, beta=0.4) /
update_priorities(256 indices) are timed, plus `--single` one-item adds. Rates are calls per second (rows
per second for the fill), and gain x need backups per second of the prioritised-memory-access agent on the open
maze. References are optional extras (`pip install cpprb torchrl`); a missing one is
reported as "not installed". Prints one JSON summary, with the load average of the machine (timings on a
shared machine are noisy: compare the ratios of one run).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import time

import numpy as np
import torch

from brainlearn.replay import PrioritizedReplayBuffer


def _load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"


def _rows(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"obs": rng.standard_normal((n, 4), dtype=np.float32), "act": rng.integers(0, 4, (n, 1)),
            "rew": rng.standard_normal((n, 1), dtype=np.float32),
            "next_obs": rng.standard_normal((n, 4), dtype=np.float32), "done": np.zeros((n, 1), np.float32)}


def _rate(fn, calls: int, sync=lambda: None) -> float:
    sync()
    t = time.perf_counter()
    for i in range(calls):
        fn(i)
    sync()
    return calls / (time.perf_counter() - t)


def _time(name, fill, extend, sample_update, add_one, args, sync=lambda: None) -> dict:
    """`sample_update(i)` samples and returns a closure updating those indices, so each phase is timed alone."""
    rng = np.random.default_rng(0)
    chunk = _rows(10_000, rng)
    sync()
    t = time.perf_counter()
    for _ in range(args.capacity // 10_000):
        fill(chunk)
    sync()
    fill_rate = args.capacity / (time.perf_counter() - t)
    batch = _rows(args.batch, rng)
    pending = []
    out = {"fill_rows_per_s": fill_rate,
           "extend_per_s": _rate(lambda i: extend(batch), args.repeats, sync),
           "sample_per_s": _rate(lambda i: pending.append(sample_update(i)), args.repeats, sync),
           "update_per_s": _rate(lambda i: pending[i](), args.repeats, sync)}
    one = {k: v[:1] for k, v in batch.items()}
    out["add_one_per_s"] = _rate(lambda i: add_one(one), args.single, sync)
    return {name: {k: round(v, 1) for k, v in out.items()}}


def bench_ours(args) -> dict:
    dev = torch.device(args.device)
    buf = PrioritizedReplayBuffer(args.capacity, alpha=0.6, device=dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    prio = torch.Generator(device=dev).manual_seed(1)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def tensors(rows):
        return {k: torch.from_numpy(v).to(dev) for k, v in rows.items()}

    def sample_update(i):
        _, info = buf.sample(args.batch, gen, beta=0.4)    # a generator on the device: no host round-trip
        p = torch.rand(args.batch, generator=prio, device=dev)
        return lambda: buf.update_priorities(info["index"], p)

    cache = {}

    def cached(rows):                       # host-to-device copies are not part of the buffer's cost
        key = id(rows)
        if key not in cache:
            cache[key] = tensors(rows)
        return cache[key]

    return _time(f"brainlearn[{dev.type}]", lambda r: buf.extend(cached(r)), lambda r: buf.extend(cached(r)),
                 sample_update, lambda r: buf.add({k: v[0] for k, v in cached(r).items()}), args, sync)


def bench_cpprb(args) -> dict:
    try:
        import cpprb
    except ImportError:
        return {"cpprb": "not installed"}
    env = {"obs": {"shape": 4}, "act": {"shape": 1, "dtype": np.int64}, "rew": {}, "next_obs": {"shape": 4},
           "done": {}}
    buf = cpprb.PrioritizedReplayBuffer(args.capacity, env, alpha=0.6)
    rng = np.random.default_rng(1)

    def sample_update(i):
        s = buf.sample(args.batch, beta=0.4)
        p = rng.random(args.batch)
        return lambda: buf.update_priorities(s["indexes"], p)

    res = _time("cpprb", lambda r: buf.add(**r), lambda r: buf.add(**r), sample_update, lambda r: buf.add(**r), args)
    res["cpprb"]["version"] = importlib.metadata.version("cpprb")
    return res


def bench_torchrl(args) -> dict:
    try:
        import torchrl
        from tensordict import TensorDict
        from torchrl.data import LazyTensorStorage  # noqa: N814
        from torchrl.data import PrioritizedReplayBuffer as TorchRLPER
    except ImportError:
        return {"torchrl": "not installed"}
    try:
        buf = TorchRLPER(alpha=0.6, beta=0.4, storage=LazyTensorStorage(args.capacity), batch_size=args.batch)
    except RuntimeError as exc:   # its C++ segment trees are missing when the wheel does not match torch
        return {"torchrl": f"unavailable ({torchrl.__version__}): {exc}"}
    prio = torch.Generator().manual_seed(1)
    cache = {}

    def td(rows):
        key = id(rows)
        if key not in cache:
            n = len(rows["obs"])
            cache[key] = TensorDict({k: torch.from_numpy(v) for k, v in rows.items()}, batch_size=[n])
        return cache[key]

    def sample_update(i):
        _, info = buf.sample(return_info=True)
        p = torch.rand(args.batch, generator=prio)
        return lambda: buf.update_priority(info["index"], p)

    res = _time("torchrl", lambda r: buf.extend(td(r)), lambda r: buf.extend(td(r)), sample_update,
                lambda r: buf.extend(td(r)), args)
    res["torchrl"]["version"] = torchrl.__version__
    return res


def bench_planning(args) -> dict:
    """Gain x need backups per second of the prioritised-memory-access agent on the open maze (47 states)."""
    from brainlearn.models.pma import OPEN_MAZE, GridMaze, PMAgent, PMAgentConfig

    agent = PMAgent(PMAgentConfig(), GridMaze(OPEN_MAZE), seed=0)
    for _ in range(5):
        agent.episode()
    bouts = max(1, args.repeats // 10)
    before = len(agent.events)
    t = time.perf_counter()
    for _ in range(bouts):
        agent.plan(agent.maze.start, "start")
    elapsed = time.perf_counter() - t
    return {"pma_open_maze": {"backups_per_s": round((len(agent.events) - before) / elapsed, 1),
                              "bouts_per_s": round(bouts / elapsed, 1)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capacity", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=500)
    ap.add_argument("--single", type=int, default=2000, help="one-item add calls timed")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (cpprb is single-threaded)")
    ap.add_argument("--skip-reference", action="store_true", help="time brainlearn only")
    ap.add_argument("--skip-planning", action="store_true", help="skip the gain x need planning benchmark")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = {"capacity": args.capacity, "batch": args.batch, "repeats": args.repeats, "threads": args.threads,
           "torch": torch.__version__, "load_before": _load(), "results": {}}
    out["results"].update(bench_ours(args))
    if not args.skip_reference:
        out["results"].update(bench_cpprb(args))
        out["results"].update(bench_torchrl(args))
    ours = out["results"][f"brainlearn[{torch.device(args.device).type}]"]
    for ref in ("cpprb", "torchrl"):
        theirs = out["results"].get(ref)
        if isinstance(theirs, dict):
            out[f"ratio_vs_{ref}"] = {k: round(ours[k] / theirs[k], 2) for k in ours if k in theirs
                                      and k != "version"}
    if not args.skip_planning:
        out["results"].update(bench_planning(args))
    out["load_after"] = _load()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
