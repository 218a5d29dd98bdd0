"""Training throughput and peak memory: BurstCCN's local rule vs backprop on the same network.

Cases: the MLP 784-500-500-500-10 at batch 32 and 256, and the Payeur CIFAR-10 conv net. Backprop is
the sigmoid/MSE ANN (brainlearn.nn.MLP) for the MLP and autograd through the same layers for the conv
net. Each (case, method) runs in its own subprocess so that the peak-memory figure is its own: on CPU
it is the growth of the process's max RSS during training (warm-up included) over its RSS before the
first step; on CUDA torch.cuda.max_memory_allocated over the allocation before the first step.
Prints a JSON summary with the time-per-sample ratio BurstCCN / BP.

    python benchmarks/burstccn.py                       # defaults: small step counts
    python benchmarks/burstccn.py --steps 100 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CASES = {"mlp-b32": ("mlp", 32), "mlp-b256": ("mlp", 256), "conv-b32": ("conv", 32)}


def measure(case: str, method: str, steps: int, warmup: int, device: str, threads: int) -> dict:
    import torch

    from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig, matching_mlp

    torch.set_num_threads(threads)
    arch, batch = CASES[case]
    gen = torch.Generator().manual_seed(0)
    if arch == "mlp":
        net = BurstCCN(BurstCCNConfig(in_shape=(784,), n_hidden=(500, 500, 500), n_out=10), generator=gen)
        x = torch.rand(batch, 784, generator=gen)
    else:
        net = BurstCCN(BurstCCNConfig(in_shape=(3, 32, 32), n_hidden=(1480,), init_gain=1.0), generator=gen)
        x = torch.rand(batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    if method == "bp" and arch == "mlp":
        net = matching_mlp(net, "bp")
    net, x, y = net.to(device), x.to(device), y.to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    target = torch.nn.functional.one_hot(y, 10).float()

    def step():
        opt.zero_grad(set_to_none=True)
        if method == "burstccn":
            net.backward_local(x, y)
        elif arch == "mlp":
            (0.5 * (net(x) - target).pow(2).sum(1).mean()).backward()
        else:
            for p, g in zip(net.forward_parameters(), net.backprop_grads(x, y)):
                p.grad = g
        opt.step()

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    # Memory is counted from before the first step, so gradients, optimiser buffers and activations
    # (all allocated during training) are included; the weights and the batch are not.
    if device.startswith("cuda"):
        sync()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss_before = _rss_mib()
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    elapsed = time.perf_counter() - start
    if device.startswith("cuda"):
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before)
    return {"case": case, "method": method, "samples_per_s": steps * batch / elapsed,
            "us_per_sample": 1e6 * elapsed / (steps * batch), "peak_mem_mib": peak}


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per case and method")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--single", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(measure(*args.single, args.steps, args.warmup, args.device, args.threads)))
        return
    rows = []
    for case in args.cases:
        for method in ("bp", "burstccn"):
            cmd = [sys.executable, __file__, "--single", case, method, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--device", args.device, "--threads", str(args.threads)]
            rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    summary = {"device": args.device, "threads": args.threads, "steps": args.steps,
               "loadavg": open("/proc/loadavg").read().split()[:3], "rows": rows, "ratio_time_per_sample": {}}
    for case in args.cases:
        bp, burst = (next(r for r in rows if r["case"] == case and r["method"] == m) for m in ("bp", "burstccn"))
        summary["ratio_time_per_sample"][case] = burst["us_per_sample"] / bp["us_per_sample"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
