"""Dendritic microcircuit benchmark: speed of the full dynamics and of the steady-state form.

1. Full dynamics (Euler, dt 0.1 ms, the paper's conductances, plasticity on): simulated biological time
   per wall-clock second, one circuit (batch 1), for 30-20-10 and 784-500-10.
2. Steady state vs backprop on the same network (sigmoid, MSE on output potentials): training
   samples per second; one microcircuit step = settle + local updates + apply, one backprop step =
   brainlearn.nn.MLP forward + backward + SGD. Target: microcircuit time per sample <= 3x backprop's.

Prints one JSON object. Timings depend on machine load: the load average is recorded with them.

    python benchmarks/dendritic.py [--sim-ms 20] [--steps 200] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig, LearningRates, as_mlp


def time_dynamics(sizes, sim_ms: float, dt: float) -> dict:
    net = DendriticNetwork(DendriticNetworkConfig(sizes=tuple(sizes)), generator=torch.Generator().manual_seed(0))
    x = torch.rand(1, sizes[0])
    target = torch.rand(1, sizes[-1])
    rates = LearningRates()  # the paper's rates, per ms
    net.simulate(x, target, duration=5 * dt, dt=dt, rates=rates)  # warm-up
    t0 = time.perf_counter()
    net.simulate(x, target, duration=sim_ms, dt=dt, rates=rates)
    wall = time.perf_counter() - t0
    return {"sizes": list(sizes), "simulated_ms": sim_ms, "dt_ms": dt, "wall_s": round(wall, 3),
            "bio_ms_per_wall_s": round(sim_ms / wall, 2), "euler_steps_per_s": round(sim_ms / dt / wall, 1)}


def time_steady_state(sizes, steps: int, batch: int, sweeps: int) -> dict:
    config = DendriticNetworkConfig(sizes=tuple(sizes), activation="sigmoid", sweeps=sweeps)
    net = DendriticNetwork(config, generator=torch.Generator().manual_seed(0))
    mlp = as_mlp(net)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.01)
    xs = torch.rand(steps, batch, sizes[0])
    ts = torch.randn(steps, batch, sizes[-1])
    rates = LearningRates(forward=0.01)

    def microcircuit():
        for x, t in zip(xs, ts):
            net.train_step(x, t, rates)

    def backprop():
        for x, t in zip(xs, ts):
            opt.zero_grad(set_to_none=True)
            (0.5 * (mlp(x) - t).pow(2).sum(1).mean()).backward()
            opt.step()

    out = {"sizes": list(sizes), "batch": batch, "steps": steps, "sweeps": sweeps}
    for name, fn in (("microcircuit", microcircuit), ("backprop", backprop)):
        fn()  # warm-up
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[f"{name}_samples_per_s"] = round(steps * batch / best, 1)
    out["time_ratio_microcircuit_over_bp"] = round(out["backprop_samples_per_s"] / out["microcircuit_samples_per_s"], 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sim-ms", type=float, default=20.0, help="simulated ms per dynamics measurement")
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=200, help="training steps per steady-state measurement")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--sweeps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "dynamics": [time_dynamics(s, args.sim_ms, args.dt) for s in ((30, 20, 10), (784, 500, 10))],
        "steady_state": [time_steady_state(s, args.steps, args.batch, args.sweeps)
                         for s in ((30, 20, 10), (64, 100, 10), (784, 500, 10))],
        "threads": args.threads, "torch": torch.__version__, "loadavg": open("/proc/loadavg").read().split()[:3],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
