"""Throughput of the generalisation system: procedural dSprites rendering, VAE training, best-IoU search.

    python benchmarks/generalisation.py                 # CPU, one thread
    python benchmarks/generalisation.py --full-grid     # also render the whole 64 x 64 grid (737,280 images)
    python benchmarks/generalisation.py --device cuda

- render: images per second of ``dsprites_procedural_v1`` at 64 x 64 (a 16,384-image sample spread over the
  grid; ``--full-grid`` times all 737,280 images: the target is under 60 s on one core) and at 32 x 32;
- train: beta-VAE (burgess, z = 10, batch 64, Adam) training steps per second at 32 x 32 and 64 x 64;
- iou: best-IoU search throughput (query-grid pairs per second) of 256 queries against 16,384 64 x 64
  grid images, searched in chunks of 4,096.

Prints one JSON summary with the machine's load average (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from brainlearn.analysis.disentanglement import best_iou_match
from brainlearn.data.factors import DSprites, render_dsprites
from brainlearn.models.generative import Trainer, VAEConfig, build_model


def _load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"


def render(size: int, n: int) -> float:
    d = DSprites(size)
    v = d.values_of(d.classes_of(np.linspace(0, len(d) - 1, n).astype(np.int64)))
    t = time.perf_counter()
    render_dsprites(*v[:, 1:].T, size=size)
    return n / (time.perf_counter() - t)


def full_grid() -> float:
    d = DSprites(64, cache_blocks=0)
    t = time.perf_counter()
    for b in range(0, len(d), d.block):
        d._render(d.classes_of(np.arange(b, min(len(d), b + d.block))))
    return time.perf_counter() - t


def train(size: int, steps: int, device: str) -> float:
    torch.manual_seed(0)
    model = build_model("vae", (1, size, size), VAEConfig(arch="burgess")).to(device)
    trainer = Trainer(model)
    x = (torch.rand(64, 1, size, size, device=device) > 0.8).float()
    trainer.step(x)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.step(x)
    sync()
    return steps / (time.perf_counter() - t)


def iou(device: str) -> float:
    d = DSprites(64)
    grid = np.arange(16_384)
    d.images_uint8(grid)                          # rendered and cached before timing
    q = d.images(grid[::64])
    t = time.perf_counter()
    best_iou_match(q, d.images_uint8, len(grid), chunk=4096, device=device)
    return len(q) * len(grid) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20, help="timed training steps per resolution")
    p.add_argument("--full-grid", action="store_true", help="also time rendering all 737,280 64 x 64 images")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = {"device": args.device, "threads": args.threads, "load_before": _load(),
           "render_64_images_per_s": round(render(64, 16_384)), "render_32_images_per_s": round(render(32, 16_384))}
    out["full_grid_64_estimate_s"] = round(737_280 / out["render_64_images_per_s"], 1)
    if args.full_grid:
        out["full_grid_64_s"] = round(full_grid(), 1)
    out["vae_steps_per_s_32"] = round(train(32, args.steps, args.device), 2)
    out["vae_steps_per_s_64"] = round(train(64, max(2, args.steps // 4), args.device), 2)
    out["iou_pairs_per_s"] = float(f"{iou(args.device):.3g}")
    out["load_after"] = _load()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
