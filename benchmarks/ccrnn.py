"""Updates per second of truncated BPTT (cRNN), ccRNN and full BPTT on line drawing and seq-Fashion-MNIST.

Prints a JSON summary with the ratios ccRNN / cRNN time per update (target: within 2x). Tiny RNNs are
dominated by per-step overhead: run with one torch thread per process and parallelise over seeds.

    python benchmarks/ccrnn.py --steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from brainlearn.data import load_images
from brainlearn.data.sequences import image_rows, line_drawing, line_targets
from brainlearn.models.ccrnn import (
    CorticoCerebellarRNN,
    CorticoCerebellarRNNConfig,
    make_optimizer,
    sparse_mse_loss,
    update,
)


def time_updates(model, x, loss, updates: int, warmup: int = 3) -> float:
    """Seconds per update (Adam step, global clip 1, all windows) averaged over `updates` updates."""
    opt = make_optimizer(model, 1e-3)
    for _ in range(warmup):
        update(model, opt, x, loss)
    start = time.perf_counter()
    for _ in range(updates):
        update(model, opt, x, loss)
    return (time.perf_counter() - start) / updates


def bench(name, x, target, every, n_hidden, cerebellum, window, steps):
    T = x.shape[1]
    loss = sparse_mse_loss(target, every)
    out = {}
    for kind, cb, k in (("crnn", None, window), ("ccrnn", cerebellum, window), ("bptt", None, T)):
        config = CorticoCerebellarRNNConfig(n_in=x.shape[2], n_out=target.shape[2], n_hidden=n_hidden, cerebellum=cb,
                                            window=k)
        model = CorticoCerebellarRNN(config, generator=torch.Generator().manual_seed(0))
        out[f"{kind}_updates_per_s"] = round(1.0 / time_updates(model, x, loss, steps), 2)
    out["ccrnn_over_crnn_time"] = round(out["crnn_updates_per_s"] / out["ccrnn_updates_per_s"], 3)
    out["ccrnn_over_bptt_time"] = round(out["bptt_updates_per_s"] / out["ccrnn_updates_per_s"], 3)
    return {name: {"T": T, "K": window, "n_hidden": n_hidden, "cerebellum": list(cerebellum), **out}}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed updates per learner")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-fashion", action="store_true", help="skip seq-Fashion-MNIST (needs the dataset)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x, y, _ = line_drawing(args.batch_size, generator=g)
    results = bench("linedraw", x, y, 2, 50, (400, 400), 1, args.steps)
    if not args.no_fashion:
        data = load_images("fashion-mnist", n_train=args.batch_size, n_test=10, seed=0)
        xf = image_rows(data.x_train)
        results |= bench("seq-fashion-mnist", xf, line_targets(data.y_train, xf.shape[1]), 4, 30, (300,), 3,
                         args.steps)
    summary = {"benchmark": "ccrnn", "torch": torch.__version__, "threads": args.threads, "batch_size": args.batch_size,
               "steps": args.steps, "machine": platform.machine(),
               "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None, "results": results}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
