"""Replay buffers side by side with cpprb (and TorchRL where it loads), interleaved in one process.

    python benchmarks/replay.py                              # capacity 1e6, batch 256, CPU, one thread
    python benchmarks/replay.py --sweep                      # capacities 1e4..1e6 x batches 32, 256, 1024
    python benchmarks/replay.py --sweep --capacities 10000000 --batches 256
    python benchmarks/replay.py --device cuda                # ours on the GPU (the references stay on the CPU)

Workload (the same for every library): transitions {obs (4,) float32, act int64, rew, next_obs (4,), done};
each buffer is filled to capacity in chunks of 10^4 rows, then `--rounds` rounds time `--calls` calls of
each operation per library, and one refill of the whole buffer ("fill", per row), the libraries in a
rotating order, so that load on a shared machine hits all alike. Operations: the
prioritised buffers' `add` (one item), `extend` (B rows), `sample` (B, beta = 0.4) and `update_priorities`
(B indices drawn by a sample, fresh priorities), and the uniform buffers' (brainlearn's RingBuffer, cpprb's
ReplayBuffer) add, extend and sample. Every library gets the same rows, already in its own format (tensors
for brainlearn and TorchRL, numpy for cpprb), so no conversion is timed. Reported per operation: the median
over rounds and the best round of the time per call (µs; per row for the fill), and `speedup_vs_<ref>_<stat>` =
the reference's time / brainlearn's time (> 1: brainlearn is faster). On a shared machine the best round is
the steadier estimate of what each call costs (bursts of load only ever add time), with Python's garbage
collector paused while timing. Prints one JSON document with the machine's load average.
References are the optional extra `pip install -e '.[replay-bench]'`; a missing one is "not installed".
`--planning` adds gain x need backups per second of the prioritised-memory-access agent on the open maze.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import logging
import os
import statistics
import time

import numpy as np
import torch

from brainlearn.replay import PrioritizedReplayBuffer, RingBuffer

CHUNK = 10_000


def _load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"


def _rows(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"obs": rng.standard_normal((n, 4), dtype=np.float32), "act": rng.integers(0, 4, (n, 1)),
            "rew": rng.standard_normal((n, 1), dtype=np.float32),
            "next_obs": rng.standard_normal((n, 4), dtype=np.float32), "done": np.zeros((n, 1), np.float32)}


class Adapter:
    """One library's buffer and its operations as zero-argument calls on prepared data."""

    def __init__(self, name: str, ops: dict, fill, sync=lambda: None):
        self.name, self.ops, self.fill, self.sync = name, ops, fill, sync


def _cycle(items):
    """A call that returns the next of `items` each time (so repeated calls do not reuse one batch's state)."""
    state = {"i": -1}

    def nxt():
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]
    return nxt


def first_use(device: torch.device) -> float:
    """Seconds the first use of a small prioritised buffer takes in this process (numba's kernels load from
    its cache, or compile on the first run after an install): a one-off cost, kept out of the timed calls."""
    t = time.perf_counter()
    buf = PrioritizedReplayBuffer(64, device=device)
    buf.extend({"x": torch.zeros(40, device=device)})
    buf.add({"x": torch.zeros((), device=device)})
    buf.update_priorities(buf.sample(8)[1]["index"], torch.ones(8, device=device))
    return time.perf_counter() - t


def ours(kind: str, args, device: torch.device) -> Adapter:
    rng = np.random.default_rng(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def tensors(rows):
        return {k: torch.from_numpy(v).to(device) for k, v in rows.items()}

    chunk, batch = tensors(_rows(CHUNK, rng)), tensors(_rows(args.batch, rng))
    one = {k: v[0].clone() for k, v in batch.items()}
    if kind == "per":
        buf = PrioritizedReplayBuffer(args.capacity, alpha=0.6, device=device, seed=0)
        gen = torch.Generator(device=device).manual_seed(1)
        draws = []

        def update():
            idx, p = nxt()
            buf.update_priorities(idx, p)
        ops = {"add": lambda: buf.add(one), "extend": lambda: buf.extend(batch),
               "sample": lambda: buf.sample(args.batch, beta=0.4), "update_priorities": update}
    else:
        buf = RingBuffer(args.capacity, device=device, seed=0)
        ops = {"add": lambda: buf.add(one), "extend": lambda: buf.extend(batch),
               "sample": lambda: buf.sample(args.batch)}

    def fill():
        for _ in range(args.capacity // CHUNK):
            buf.extend(chunk)
        if kind == "per" and not draws:      # the priorities the update rounds write: drawn once, reused in turn
            for _ in range(16):
                draws.append((buf.sample(args.batch, beta=0.4)[1]["index"],
                              torch.rand(args.batch, generator=gen, device=device)))
    if kind == "per":
        nxt = _cycle(draws)
    return Adapter(f"brainlearn[{device.type}]", ops, fill, sync)


def cpprb_adapter(kind: str, args) -> Adapter | str:
    try:
        import cpprb
    except ImportError:
        return "not installed"
    env = {"obs": {"shape": 4}, "act": {"shape": 1, "dtype": np.int64}, "rew": {}, "next_obs": {"shape": 4},
           "done": {}}
    rng = np.random.default_rng(0)
    chunk, batch = _rows(CHUNK, rng), _rows(args.batch, rng)
    one = {k: v[0] for k, v in batch.items()}
    if kind == "per":
        buf = cpprb.PrioritizedReplayBuffer(args.capacity, env, alpha=0.6)
        prio = np.random.default_rng(1)
        draws = []

        def update():
            idx, p = nxt()
            buf.update_priorities(idx, p)
        ops = {"add": lambda: buf.add(**one), "extend": lambda: buf.add(**batch),
               "sample": lambda: buf.sample(args.batch, beta=0.4), "update_priorities": update}
    else:
        buf = cpprb.ReplayBuffer(args.capacity, env)
        ops = {"add": lambda: buf.add(**one), "extend": lambda: buf.add(**batch),
               "sample": lambda: buf.sample(args.batch)}

    def fill():
        for _ in range(args.capacity // CHUNK):
            buf.add(**chunk)
        if kind == "per" and not draws:
            for _ in range(16):
                draws.append((buf.sample(args.batch, beta=0.4)["indexes"], prio.random(args.batch)))
    if kind == "per":
        nxt = _cycle(draws)
    return Adapter(f"cpprb {importlib.metadata.version('cpprb')}", ops, fill)


def torchrl_adapter(kind: str, args) -> Adapter | str:
    try:
        import torchrl
        from tensordict import TensorDict
        from torchrl.data import LazyTensorStorage, ReplayBuffer
        from torchrl.data import PrioritizedReplayBuffer as TorchRLPER
    except ImportError:
        return "not installed"
    logging.getLogger("torchrl").setLevel(logging.WARNING)     # its info lines go to stdout, not to our JSON
    rng = np.random.default_rng(0)

    def td(rows):
        return TensorDict({k: torch.from_numpy(v) for k, v in rows.items()}, batch_size=[len(rows["obs"])])

    chunk, batch = td(_rows(CHUNK, rng)), td(_rows(args.batch, rng))
    one = batch[0].clone()
    storage = LazyTensorStorage(args.capacity)
    try:
        buf = (TorchRLPER(alpha=0.6, beta=0.4, storage=storage, batch_size=args.batch) if kind == "per" else
               ReplayBuffer(storage=storage, batch_size=args.batch))
    except RuntimeError as exc:   # its C++ segment trees are missing when the wheel does not match torch
        return f"unavailable ({torchrl.__version__}): {str(exc).splitlines()[0]}"
    ops = {"add": lambda: buf.add(one), "extend": lambda: buf.extend(batch)}
    draws = []
    if kind == "per":
        gen = torch.Generator().manual_seed(1)

        def update():
            idx, p = nxt()
            buf.update_priority(idx, p)
        ops.update(sample=lambda: buf.sample(return_info=True), update_priorities=update)
    else:
        ops["sample"] = lambda: buf.sample()

    def fill():
        for _ in range(args.capacity // CHUNK):
            buf.extend(chunk)
        if kind == "per" and not draws:
            for _ in range(16):
                draws.append((buf.sample(return_info=True)[1]["index"], torch.rand(args.batch, generator=gen)))
    nxt = _cycle(draws)
    return Adapter(f"torchrl {torchrl.__version__}", ops, fill)


def _timed(fn, calls: int, sync) -> float:
    sync()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - t) / calls


def _rounds(libs: list, per_call: dict, args) -> None:
    """`args.rounds` rounds: every operation of every library in turn, the libraries in a rotating order."""
    for r in range(args.rounds):
        order = libs[r % len(libs):] + libs[:r % len(libs)]
        for op in (*libs[0].ops, "fill_per_row"):
            for lib in order:
                if op == "fill_per_row":      # a refill of the whole buffer, per row
                    per_call[lib.name][op].append(_timed(lib.fill, 1, lib.sync) / args.capacity)
                elif op in lib.ops:
                    per_call[lib.name][op].append(_timed(lib.ops[op], args.calls, lib.sync))


def compare(kind: str, args) -> dict:
    """Fill every library's buffer (chunks in turn), then interleaved rounds of every operation."""
    libs, skipped = [], {}
    candidates = [ours(kind, args, torch.device(args.device))]
    if not args.skip_reference:
        candidates += [("cpprb", cpprb_adapter(kind, args)), ("torchrl", torchrl_adapter(kind, args))]
    for c in candidates:
        if isinstance(c, tuple):
            if isinstance(c[1], str):
                skipped[c[0]] = c[1]
                continue
            c = c[1]
        libs.append(c)
    for lib in libs:        # fill each buffer once, then warm up: one call of each operation
        lib.fill()
        for fn in lib.ops.values():
            fn()
    per_call = {lib.name: {op: [] for op in (*lib.ops, "fill_per_row")} for lib in libs}
    # Python's garbage collector is paused while timing (as `timeit` does): a collection costs milliseconds
    # here and lands on whichever call happens to trigger it, the same one every round
    gc.collect()
    gc.disable()
    try:
        _rounds(libs, per_call, args)
    finally:
        gc.enable()
    out = {**({"skipped": skipped} if skipped else {})}
    for stat, fn in (("best", min), ("median", statistics.median)):
        us = {name: {op: round(1e6 * fn(t), 4) for op, t in ops.items()} for name, ops in per_call.items()}
        out[f"us_per_call_{stat}"] = us
        mine = us[libs[0].name]
        for lib in libs[1:]:
            ref = lib.name.split()[0]
            out[f"speedup_vs_{ref}_{stat}"] = {op: round(us[lib.name][op] / mine[op], 2) for op in mine
                                               if op in us[lib.name]}
    return out


def bench_planning(repeats: int) -> dict:
    """Gain x need backups per second of the prioritised-memory-access agent on the open maze (47 states)."""
    from brainlearn.models.pma import OPEN_MAZE, GridMaze, PMAgent, PMAgentConfig

    agent = PMAgent(PMAgentConfig(), GridMaze(OPEN_MAZE), seed=0)
    for _ in range(5):
        agent.episode()
    bouts = max(1, repeats)
    before = len(agent.events)
    t = time.perf_counter()
    for _ in range(bouts):
        agent.plan(agent.maze.start, "start")
    elapsed = time.perf_counter() - t
    return {"backups_per_s": round((len(agent.events) - before) / elapsed, 1), "bouts_per_s": round(bouts / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capacity", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sweep", action="store_true", help="every capacity of --capacities x batch of --batches")
    ap.add_argument("--capacities", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 256, 1024])
    ap.add_argument("--kinds", nargs="+", default=["per", "uniform"], choices=["per", "uniform"])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=30, help="calls per operation, library and round")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (cpprb is single-threaded)")
    ap.add_argument("--skip-reference", action="store_true", help="time brainlearn only")
    ap.add_argument("--planning", action="store_true", help="also time gain x need planning (PMA, open maze)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from brainlearn.replay import _kernels
    out = {"torch": torch.__version__, "threads": args.threads, "device": args.device, "rounds": args.rounds,
           "calls": args.calls, "tree_kernels": _kernels.best().name,
           "first_use_s": round(first_use(torch.device(args.device)), 3), "load_before": _load(), "runs": []}
    grid = [(c, b) for c in args.capacities for b in args.batches] if args.sweep else [(args.capacity, args.batch)]
    for capacity, batch in grid:
        for kind in args.kinds:
            run = argparse.Namespace(**{**vars(args), "capacity": capacity, "batch": batch})
            out["runs"].append({"kind": kind, "capacity": capacity, "batch": batch, **compare(kind, run)})
    if args.planning:
        out["pma_open_maze"] = bench_planning(50)
    out["load_after"] = _load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
