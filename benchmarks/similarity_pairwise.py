"""All-pairs linear CKA (or R^2_CCA) for many networks in bounded memory: time and peak memory.

    python benchmarks/similarity_pairwise.py                          # 1000 networks x 1000 conditions x 512 units
    python benchmarks/similarity_pairwise.py --networks 100 --device cuda

The networks are seeded Gaussian data (the cost does not depend on the values), generated in float32 and
held in memory (about 2 GB at the default size); `pairwise_linear` reads them a block at a time. Prints one
JSON line: wall and CPU seconds, the peak resident memory of the process, and a spot check of one entry
against the CKA estimator in float64.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import torch

from brainlearn.similarity import CCA, CKA
from brainlearn.similarity.pairwise import pairwise_linear


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=1000)
    p.add_argument("--conditions", type=int, default=1000)
    p.add_argument("--units", type=int, default=512)
    p.add_argument("--measure", choices=("cka", "cca"), default="cka")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-mib", type=int, default=256, help="working-memory budget per block")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = torch.empty(args.networks, args.conditions, args.units)
    for i in range(0, args.networks, 50):                         # shared latent structure + private noise
        k = min(50, args.networks - i)
        base = torch.randn(args.conditions, 16, generator=g)
        data[i:i + k] = base @ torch.randn(k, 16, args.units, generator=g) + torch.randn(
            k, args.conditions, args.units, generator=g)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    S = pairwise_linear(data, args.measure, device=args.device, memory=args.memory_mib * 2**20)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ref = (CKA(score_method="cka") if args.measure == "cka" else CCA(summary="mean_squared")).fit_score(
        data[0].double(), data[1].double())
    print(json.dumps({
        "networks": args.networks, "conditions": args.conditions, "units": args.units, "measure": args.measure,
        "device": args.device, "threads": args.threads, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "data_rss_mib": round(rss_data), "memory_budget_mib": args.memory_mib,
        "entry_01": float(S[0, 1]), "entry_01_float64_estimator": ref, "abs_error": abs(float(S[0, 1]) - ref),
        "load": open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"}))


if __name__ == "__main__":
    main()
