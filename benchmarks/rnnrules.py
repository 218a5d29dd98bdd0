"""Recurrent learning rules benchmark: steps/s and memory per rule against n, and batched RTRL against a
straightforward per-sample numpy RTRL in the same run.

Per rule and n: steps/s at batch `--batch` (median of `--repeats` timed runs of `--steps` steps after a
warm-up step), and memory: on CUDA the peak allocated over a run, on the CPU the bytes of the rule's
traces plus what autograd saves over one update (counted from the tensors; see ``rnnrules-cost``).
RTRL and BP(λ) run only up to ``--rtrl-max-n`` (RTRL's influence matrix has B·n²(n+2) entries, BP(λ)'s
trace B·n²(n+1): 4.3 GB each at n = 256, B = 64 in float32). The reference for the trace rules is BPTT's
forward + backward per step (window 10). Torch and numpy run on `--threads` threads (default 1).

    python benchmarks/rnnrules.py                        # n = 32 64 128 256, batch 64, JSON on stdout
    python benchmarks/rnnrules.py --sizes 32 64 --device cuda
    python benchmarks/rnnrules.py --bounds --sizes 64 256 --numpy-n 0   # + each rule against its bound

`--bounds` adds, per size, each rule's floor on this machine, measured in the same process: for the trace rules
the time of the memory traffic they cannot avoid (one read and one write of their (B, n, P) traces per step, timed
as a `copy_` of a tensor of that size, plus the BPTT step's own work), for RTRL its multiply-adds at the
single-thread matrix-multiply peak (timed on a large `torch.mm`). `time_over_bound` is the rule's measured time
per step over that floor (1: at the bound).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from functools import partial

import numpy as np
import torch

from brainlearn.data.rnn_tasks import add_task
from brainlearn.experiments.rnnrules.common import RuleVariants, build, network
from brainlearn.experiments.rnnrules.cost import held_bytes
from brainlearn.rules.recurrent import LeakyRNNConfig
from brainlearn.runtime import make_generator, replicate_seed

BENCHMARKED = ("bptt10", "rtrl", "eprop", "rflo", "uoro", "kernl", "dni3", "bplambda", "readout")
MODEL = LeakyRNNConfig(n_in=1, n_hidden=32, n_out=2, alpha=1.0, gain=0.5)  # n_hidden: each size in turn
CUBIC = ("rtrl", "bplambda")  # O(n³) memory: B·n²(n+2) (RTRL's influence), B·n²(n+1) (BP(λ)'s trace)


def profile_ops(rule, x, y, steps: int) -> dict:
    """Self time per step (ms) of the costliest torch operations of `steps` steps of `rule`, by torch.profiler."""
    with torch.profiler.profile() as prof:
        for t in range(steps):
            rule.step(x[:, t], y[:, t])
    top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:6]
    return {e.key: round(e.self_cpu_time_total / 1e3 / steps, 3) for e in top}


def bench_rule(name: str, n: int, batch: int, steps: int, repeats: int, device: str, profile: bool = False) -> dict:
    model = network(dataclasses.replace(MODEL, n_hidden=n), 0, device)
    rule = build(name, model, "cross_entropy", RuleVariants(), 0)
    x, y, _ = add_task(batch, steps + 10, generator=make_generator(replicate_seed(0, None, "data")))
    x, y = x.to(device), y.to(device)
    saved = []
    rule.reset(batch)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * t.element_size()) or t,
                                                  lambda t: t):
        for t in range(rule.update_interval):
            rule.step(x[:, t], y[:, t])
        counted = held_bytes(rule) + sum(saved)
        rule.finish()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        rule.reset(batch)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for t in range(steps):
            rule.step(x[:, t], y[:, t])
        rule.finish()
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / steps)
    out = {"rule": name, "n": n, "steps_per_s": 1 / float(np.median(times)), "memory_bytes": counted}
    if profile:
        rule.reset(batch)
        out["profile_ms_per_step"] = profile_ops(rule, x, y, steps)
    if cuda:
        out["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
    return out


# (B, n, P) tensors a rule must read and write each step (spiking e-prop: ε^a and the filtered trace F_κ(e))
TRACES = {"eprop": 1, "rflo": 1, "kernl": 1, "uoro": 1, "eprop_spiking": 2}


def bench_spiking(n: int, batch: int, steps: int, repeats: int, device: str, profile: bool = False) -> dict:
    """Spiking e-prop (LIF/ALIF network, half the units adaptive) on random spike inputs: steps/s as bench_rule."""
    from brainlearn.rules.spiking import SpikingEProp, SpikingRNN, SpikingRNNConfig

    config = SpikingRNNConfig(n_in=MODEL.n_in, n_hidden=n, n_out=MODEL.n_out, beta=(0.0, 0.07) * (n // 2))
    model = SpikingRNN(config, generator=make_generator(replicate_seed(0, None, "init"))).to(device)
    rule = SpikingEProp(model, generator=make_generator(replicate_seed(0, None, "noise")))
    g = make_generator(replicate_seed(0, None, "data"))
    x = (torch.rand(batch, steps, MODEL.n_in, generator=g) < 0.3).float().to(device)
    y = torch.rand(batch, steps, MODEL.n_out, generator=g).to(device)
    times = []
    for _ in range(repeats):
        rule.reset(batch)
        start = time.perf_counter()
        for t in range(steps):
            rule.step(x[:, t], y[:, t])
        rule.finish()
        times.append((time.perf_counter() - start) / steps)
    out = {"rule": "eprop_spiking", "n": n, "steps_per_s": 1 / float(np.median(times)),
           "memory_bytes": held_bytes(rule)}
    if profile:
        rule.reset(batch)
        out["profile_ms_per_step"] = profile_ops(rule, x, y, steps)
    return out


def _best(fn, repeats: int = 7, inner: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return min(times)


def bounds(rows: list, n: int, batch: int, device: str) -> dict:
    """Each rule's floor at size n (see the module docstring) and its measured time over it."""
    P = n + MODEL.n_in + 1
    src, dst = torch.randn(batch, n, P, device=device), torch.empty(batch, n, P, device=device)
    copy_s = _best(lambda: dst.copy_(src))                       # one read + one write of a trace
    a, b = torch.randn(1024, 1024, device=device), torch.randn(1024, 1024, device=device)
    peak = 2 * 1024 ** 3 / _best(lambda: torch.mm(a, b))          # flop/s of a large single-thread sgemm
    step = {r["rule"]: 1 / r["steps_per_s"] for r in rows if r["n"] == n}
    out = {"n": n, "trace_mb": 4 * batch * n * P / 1e6, "copy_ms": 1e3 * copy_s,
           "stream_gb_per_s": 8 * batch * n * P / copy_s / 1e9, "mm_peak_gflop_per_s": peak / 1e9, "rules": {}}
    for rule, traces in TRACES.items():
        if rule in step:
            floor = traces * copy_s + step.get("bptt10", 0.0)
            out["rules"][rule] = {"ms": 1e3 * step[rule], "bound_ms": 1e3 * floor,
                                  "time_over_bound": step[rule] / floor}
    if "rtrl" in step:
        flops = 2 * batch * n ** 3 * P + 2 * batch * n ** 2 * P     # J_t M_{t-1} (a bmm) + the contraction
        out["rules"]["rtrl"] = {"ms": 1e3 * step["rtrl"], "gflop_per_step": flops / 1e9,
                                "fraction_of_mm_peak": flops / step["rtrl"] / peak}
    if "bptt10" in step:
        out["rules"]["bptt10"] = {"ms": 1e3 * step["bptt10"]}
    return out


def numpy_rtrl(n: int, batch: int, steps: int) -> float:
    """Steps/s of RTRL written per sample in numpy (the recursion M = J M + M̄, ∇W += c·M), same sizes."""
    rng = np.random.default_rng(0)
    P = n + 2
    W = rng.standard_normal((n, P)) * 0.5 / np.sqrt(n)
    Wo = rng.standard_normal((2, n)) / np.sqrt(n)
    a = np.zeros((batch, n))
    M = np.zeros((batch, n, n, P))
    grad = np.zeros((n, P))
    x = (rng.random((steps, batch)) < 0.5).astype(float)
    start = time.perf_counter()
    for t in range(steps):
        for b in range(batch):
            ahat = np.concatenate([a[b], [x[t, b], 1.0]])
            phi = np.tanh(W @ ahat)
            dphi = 1 - phi ** 2
            J = dphi[:, None] * W[:, :n]
            M[b] = np.tensordot(J, M[b], axes=(1, 0))
            M[b, np.arange(n), np.arange(n)] += dphi[:, None] * ahat
            a[b] = phi
            e = np.exp(Wo @ phi)
            e = e / e.sum() - np.array([0.5, 0.5])
            grad += np.tensordot(Wo.T @ e, M[b], axes=(0, 0))
    return steps / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rtrl-max-n", type=int, default=64)
    parser.add_argument("--numpy-n", type=int, default=64)
    parser.add_argument("--numpy-steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rules", nargs="+", default=[*BENCHMARKED, "eprop_spiking"], help="which rules to time")
    parser.add_argument("--bounds", action="store_true", help="also each rule against its floor (see above)")
    parser.add_argument("--profile", action="store_true", help="the costliest ops of each rule at the largest n")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.sizes:
        for name in args.rules:
            if name in CUBIC and n > args.rtrl_max_n:
                continue
            bench = bench_spiking if name == "eprop_spiking" else partial(bench_rule, name)
            profile = args.profile and n == max(args.sizes)
            rows.append(bench(n, args.batch, args.steps, args.repeats, args.device, profile))
    out = {"device": args.device, "batch": args.batch, "rows": rows}
    if args.bounds:
        out["bounds"] = [bounds(rows, n, args.batch, args.device) for n in args.sizes]
    top = max(args.sizes)
    ref = next((r["steps_per_s"] for r in rows if r["rule"] == "bptt10" and r["n"] == top), None)
    if ref is not None:
        out["per_step_cost_vs_bptt"] = {r["rule"]: ref / r["steps_per_s"] for r in rows if r["n"] == top}
    if args.numpy_n in args.sizes and args.numpy_n <= args.rtrl_max_n and "rtrl" in args.rules:
        torch_rtrl = next(r["steps_per_s"] for r in rows if r["rule"] == "rtrl" and r["n"] == args.numpy_n)
        np_rtrl = numpy_rtrl(args.numpy_n, args.batch, args.numpy_steps)
        out["rtrl_vs_numpy"] = {"n": args.numpy_n, "torch_steps_per_s": torch_rtrl, "numpy_steps_per_s": np_rtrl,
                                "speedup": torch_rtrl / np_rtrl}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
