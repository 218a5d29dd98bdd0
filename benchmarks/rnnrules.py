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
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

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


def bench_rule(name: str, n: int, batch: int, steps: int, repeats: int, device: str) -> dict:
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
    if cuda:
        out["peak_cuda_bytes"] = torch.cuda.max_memory_allocated()
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
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for n in args.sizes:
        for name in BENCHMARKED:
            if name in CUBIC and n > args.rtrl_max_n:
                continue
            rows.append(bench_rule(name, n, args.batch, args.steps, args.repeats, args.device))
    out = {"device": args.device, "batch": args.batch, "rows": rows}
    top = max(args.sizes)
    ref = next(r["steps_per_s"] for r in rows if r["rule"] == "bptt10" and r["n"] == top)
    out["per_step_cost_vs_bptt"] = {r["rule"]: ref / r["steps_per_s"] for r in rows if r["n"] == top}
    if args.numpy_n in args.sizes and args.numpy_n <= args.rtrl_max_n:
        torch_rtrl = next(r["steps_per_s"] for r in rows if r["rule"] == "rtrl" and r["n"] == args.numpy_n)
        np_rtrl = numpy_rtrl(args.numpy_n, args.batch, args.numpy_steps)
        out["rtrl_vs_numpy"] = {"n": args.numpy_n, "torch_steps_per_s": torch_rtrl, "numpy_steps_per_s": np_rtrl,
                                "speedup": torch_rtrl / np_rtrl}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
