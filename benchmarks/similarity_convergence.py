"""DSA solver convergence on random operator pairs: how often the defaults reach a 30-restart solve.

    python benchmarks/similarity_convergence.py --n 10      # 100 random 10 x 10 pairs
    python benchmarks/similarity_convergence.py --n 20 --configs 16,32,2 default
    python benchmarks/similarity_convergence.py --n 20 --seed 7   # a fresh set of pairs
    python benchmarks/similarity_convergence.py --n 20 --configs --pool 96   # how rare the best basin is

Random operators as in the similarity-solver experiment (Gaussian, spectral radius 0.95), A and B drawn
independently. The reference is `align_operators(n_random=30, max_random=30, seed=999)` (30 random
rotations, each also transposed, plus the 6 structured starts); each config `n_random,max_random,confirm`
is solved with seed 0 ("default": `align_operators(A, B)` at its defaults). Prints, per config: wall and
CPU time (one torch thread), pairs within 1e-3 rad of the reference, pairs flagged converged, pairs flagged
converged but more than 1e-3 above the reference, pairs more than 1e-3 below it. With `--pool K`, each pair
is also solved from K further random rotations and their transposes alone (2K starts, another seed): the
quantiles over pairs of the share of those starts that end within 1e-3 of the best angle known (the pool's
or the reference's), and the expected number of pairs that m independent random starts would leave short
of it, sum_i (1 - share_i)^m (a pair whose best no pool start reached counts as half a hit).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from brainlearn.similarity import dsa
from brainlearn.similarity.dsa import align_operators


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--configs", nargs="*", default=["2,2,2", "16,32,2", "default"])
    p.add_argument("--pool", type=int, default=0, help="random rotations per pair for the basin-share estimate")
    p.add_argument("--seed", type=int, default=None, help="seed of the operators (default 1000 + n)")
    args = p.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1000 + args.n if args.seed is None else args.seed)

    def op():
        A = torch.randn(args.n, args.n, generator=g, dtype=torch.float64)
        return A * 0.95 / torch.linalg.eigvals(A).abs().max()

    A = torch.stack([op() for _ in range(args.pairs)])
    B = torch.stack([op() for _ in range(args.pairs)])
    t, cpu = time.perf_counter(), time.process_time()
    ref = align_operators(A, B, n_random=30, max_random=30, seed=999)
    rows = [{"config": "reference n_random=30", "wall_s": round(time.perf_counter() - t, 1),
             "cpu_s": round(time.process_time() - cpu, 1)}]
    for cfg in args.configs:
        kw = {} if cfg == "default" else dict(zip(("n_random", "max_random", "confirm"), map(int, cfg.split(","))))
        t, cpu = time.perf_counter(), time.process_time()
        r = align_operators(A, B, **kw)
        gap = r.angle - ref.angle
        ok = gap < 1e-3
        rows.append({"config": " ".join(f"{k}={v}" for k, v in kw.items()) or "defaults",
                     "wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(time.process_time() - cpu, 1),
                     "within_1e-3": int(ok.sum()),
                     "converged": int(r.converged.sum()), "converged_but_above": int((~ok & r.converged).sum()),
                     "below_reference": int((gap < -1e-3).sum())})
    out = {"n": args.n, "pairs": args.pairs, "seed": args.seed, "rows": rows}
    if args.pool:
        Q = dsa._haar(args.pool, args.n, torch.Generator().manual_seed(5))
        starts = torch.cat([Q, Q.mT])[None].expand(args.pairs, 2 * args.pool, args.n, args.n)
        angles = align_operators_from(A, B, starts)
        known = torch.minimum(ref.angle, angles.min(1).values)
        share = (angles <= known[:, None] + 1e-3).double().mean(1).clamp_min(0.5 / angles.shape[1]).numpy()
        out["pool"] = {"starts_per_pair": 2 * args.pool,
                       "share_quantiles_5_10_50": np.quantile(share, [0.05, 0.1, 0.5]).round(3).tolist(),
                       "expected_short_pairs": {m: round(float(((1 - share) ** m).sum()), 2)
                                                for m in (32, 64, 128, 256)}}
    print(json.dumps(out, indent=1))


def align_operators_from(A: torch.Tensor, B: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """The final angle (P, R) of every start (P, R, n, n), each run alone (the solver's own iteration)."""
    A, B = dsa._unit(A), dsa._unit(B)
    A0, B0 = dsa._traceless(A), dsa._traceless(B)
    none = torch.zeros(len(A), dtype=torch.bool)
    return dsa._solve_starts(A, B, A0, B0, starts, none, 500, 1e-6)[1]


if __name__ == "__main__":
    main()
