"""Wall time of a 2 x 2 grid x 4-seed sweep of a small fa-vs-bp config: 1 vs 2 workers, local vs Ray.

Shows the scaling over workers and the per-point overhead of each backend (a point's own run time is
measured in-process first). Prints a JSON summary.

    python benchmarks/sweep.py [--seeds 4] [--backends local,ray]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from brainlearn.experiments import runner, sweep

GRID = ["lr=0.2,0.5", "model.n_hidden=50;100"]
FIXED = ("epochs=10", "angle_every=20")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--backends", default="local,ray")
    args = parser.parse_args()
    torch.set_num_threads(1)
    exp = runner.experiments.get("fa-vs-bp")
    config = runner.make_config(exp, "quick", [*FIXED, "model.n_hidden=100"])
    runner.run_experiment(exp, config, out=None)  # warm-up: data loading, first-call overheads
    t0 = time.perf_counter()
    for seed in range(3):
        runner.run_experiment(exp, config, seed=seed, out=None)
    point_seconds = (time.perf_counter() - t0) / 3
    n_points = 4 * args.seeds
    out = {"points": n_points, "one_point_in_process_s": round(point_seconds, 3), "load": os.getloadavg()[0],
           "cpus": os.cpu_count(), "runs": []}
    for backend in args.backends.split(","):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                sweep.sweep("fa-vs-bp", grid=GRID, seeds=args.seeds, overrides=FIXED, workers=workers,
                            backend=backend, out=tmp)
                wall = time.perf_counter() - t0
            out["runs"].append({"backend": backend, "workers": workers, "wall_s": round(wall, 2),
                                "overhead_per_point_s": round(wall * workers / n_points - point_seconds, 3)})
            print(json.dumps(out["runs"][-1]), flush=True)
    if "ray" in args.backends:
        import ray

        ray.shutdown()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
