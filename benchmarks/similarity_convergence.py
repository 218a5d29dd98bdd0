"""DSA solver convergence on random operator pairs: how often the defaults reach a 30-restart solve.

    python benchmarks/similarity_convergence.py --n 10      # 100 random 10 x 10 pairs
    python benchmarks/similarity_convergence.py --n 20 --configs 16,32,2 16,32,3

Random operators as in the similarity-solver experiment (Gaussian, spectral radius 0.95), A and B drawn
independently. The reference is `align_operators(n_random=30, max_random=30, seed=999)` (30 random
rotations, each also transposed, plus the 6 structured starts); each config `n_random,max_random,confirm`
is solved with seed 0. Prints, per config: wall time, pairs within 1e-3 rad of the reference, pairs flagged
converged, pairs flagged converged but more than 1e-3 above the reference, pairs more than 1e-3 below it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from brainlearn.similarity.dsa import align_operators


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--configs", nargs="+", default=["2,2,2", "2,32,2", "16,32,2"])
    args = p.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1000 + args.n)

    def op():
        A = torch.randn(args.n, args.n, generator=g, dtype=torch.float64)
        return A * 0.95 / torch.linalg.eigvals(A).abs().max()

    A = torch.stack([op() for _ in range(args.pairs)])
    B = torch.stack([op() for _ in range(args.pairs)])
    t = time.perf_counter()
    ref = align_operators(A, B, n_random=30, max_random=30, seed=999)
    rows = [{"config": "reference n_random=30", "wall_s": round(time.perf_counter() - t, 1)}]
    for cfg in args.configs:
        nr, mr, cf = (int(v) for v in cfg.split(","))
        t = time.perf_counter()
        r = align_operators(A, B, n_random=nr, max_random=mr, confirm=cf)
        gap = r.angle - ref.angle
        ok = gap < 1e-3
        rows.append({"config": f"n_random={nr} max_random={mr} confirm={cf}",
                     "wall_s": round(time.perf_counter() - t, 1), "within_1e-3": int(ok.sum()),
                     "converged": int(r.converged.sum()), "converged_but_above": int((~ok & r.converged).sum()),
                     "below_reference": int((gap < -1e-3).sum())})
    print(json.dumps({"n": args.n, "pairs": args.pairs, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
