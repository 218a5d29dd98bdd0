"""Compositional-learning benchmark: training steps/s of the leaky RNN, leaky GRU and selective SSM on motif
trials, the SSM's parallel scan against its sequential reference, and the time of the comparison stage
(one replicate's groups against master at one checkpoint, per metric) of similarity-rnn.

    python benchmarks/compositional.py                      # CPU-preset sizes, JSON on stdout
    python benchmarks/compositional.py --device cuda --hidden 128 --dt 20
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from brainlearn.data.cognitive.motifs import MotifTasks
from brainlearn.models.compositional import CompositionalNetworkConfig, build_network, parallel_scan, sequential_scan
from brainlearn.runtime import make_generator


def _timed(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def training_steps(args) -> dict:
    tasks = MotifTasks("pdm", dt=args.dt)
    batch = tasks.trials(args.batch, make_generator(0)).to(args.device)
    out = {}
    for arch in ("rnn", "gru", "ssm"):
        hidden = args.d_model if arch == "ssm" else args.hidden
        config = CompositionalNetworkConfig(architecture=arch, n_in=tasks.n_inputs, n_out=tasks.n_outputs,
                                            n_hidden=hidden, dt=args.dt)
        net = build_network(config, generator=make_generator(0)).to(args.device)
        opt = torch.optim.Adam(net.parameters(), 1e-3)

        def step(net=net, opt=opt):
            logits, _ = net(batch.inputs)
            loss = logits.square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[arch] = {"steps_per_s": 1 / _timed(step, args.repeats), "hidden": hidden, "T": batch.inputs.shape[1]}
    return out


def scans(args) -> dict:
    out = {}
    for T in args.lengths:
        g = torch.Generator().manual_seed(0)
        a = torch.rand(args.batch, T, 2 * args.d_model, 8, generator=g).to(args.device)
        b = torch.randn(args.batch, T, 2 * args.d_model, 8, generator=g).to(args.device)
        out[str(T)] = {"parallel_ms": 1e3 * _timed(lambda a=a, b=b: parallel_scan(a, b), args.repeats),
                       "sequential_ms": 1e3 * _timed(lambda a=a, b=b: sequential_scan(a, b), args.repeats)}
    return out


def comparison(args) -> dict:
    from brainlearn.experiments.similarity.common import OTHERS, CompositionalConfig, metric_objects
    from brainlearn.similarity import pairwise

    config = CompositionalConfig(model=CompositionalNetworkConfig(dt=200.0, n_hidden=32), n_delays=5, rank=10)
    tasks = MotifTasks("pdm", dt=config.model.dt)
    steps = tasks.stimulus_steps(config.drop_ms)
    g = torch.Generator().manual_seed(0)
    shape = (config.n_test, steps.stop - steps.start, config.model.n_hidden)
    systems = [torch.randn(shape, generator=g).cumsum(1).double().numpy() for _ in range(len(OTHERS) + 1)]
    out = {}
    for name, metric in metric_objects(config).items():
        start = time.perf_counter()
        pairwise(systems[1:], metric, others=systems[:1])
        out[name] = {"seconds": time.perf_counter() - start, "pairs": len(OTHERS)}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--d-model", type=int, default=16)
    p.add_argument("--dt", type=float, default=200.0)
    p.add_argument("--lengths", type=int, nargs="+", default=[36, 350])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(json.dumps({"device": args.device, "training": training_steps(args), "scan": scans(args),
                      "comparison": comparison(args)}, indent=1))


if __name__ == "__main__":
    main()
