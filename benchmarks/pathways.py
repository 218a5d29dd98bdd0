"""Benchmark one MoP training step (forward + backward + schedule-free AdamW), batch-first vs the reference layout.

    python benchmarks/pathways.py                          # B 32 x T 100 and B 128 x T 350, 82 tasks, 0,16,32 x3
    python benchmarks/pathways.py --shapes 32x100 --repeats 5
    python benchmarks/pathways.py --device cuda            # on a GPU

"reference" computes the same weights the way the reference code does: the router GRU recurs over the batch
axis and every GRU expert runs over one unbatched stream of B*T steps. The two layouts compute different
functions (ours recurs over time within each sequence), so the ratio is what a training step costs in each
code, not a speed-up of one computation. The reference also removes the tokens expert dropout zeroes from each
expert's stream; `dropped_gate_fraction` is the fraction of (token, expert) gates zeroed in the timed window
(0: nothing to remove, so the reference layout here is the reference's computation as it is). Prints one JSON
object with steps/s (wall) and CPU seconds per step; record the machine load (`cat /proc/loadavg`) next to
the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from brainlearn.data.cognitive import TaskSuite
from brainlearn.experiments.pathways.mixture import PathwaysConfig, build_model
from brainlearn.models.pathways import MixtureOfPathwaysConfig, make_adamw, pathway_loss
from brainlearn.runtime import make_generator


def bench(batch: int, seq_len: int, layout: str, repeats: int, device: str, tasks: str) -> dict:
    suite = TaskSuite(tasks)
    config = PathwaysConfig(tasks=suite.names, model=MixtureOfPathwaysConfig(n_tasks=len(suite.names)), alpha=1e-5)
    model = build_model(config, 0, device)
    model.layout = layout
    opt = make_adamw(model.parameters(), config.lr)
    opt.train()
    window = next(suite.stream(batch, seq_len, make_generator(0, device)))
    with torch.no_grad():  # the gates expert dropout zeroes: the reference removes those tokens from its streams
        gates = model(window.inputs, window.task, generator=make_generator(1, device)).gates
    dropped = float(torch.stack([(g == 0).double().mean() for g in gates]).mean())
    drops = make_generator(1, device)

    def step():
        out = model(window.inputs, window.task, generator=drops)
        loss, _ = pathway_loss(out.logits, window.targets, window.task, window.fixation_mask, window.response_mask,
                               out.cost, len(suite), alpha=1e-5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    if layout == "batch_first":
        step()  # warm-up (a reference-layout step is long enough to make it negligible)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        step()
    wall, cpu = (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats
    return {"batch": batch, "seq_len": seq_len, "layout": layout, "repeats": repeats,
            "steps_per_s": 1 / wall, "wall_s_per_step": wall, "cpu_s_per_step": cpu,
            "dropped_gate_fraction": dropped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["32x100", "128x350"], help="BxT per benchmark")
    parser.add_argument("--layouts", nargs="+", default=["batch_first", "reference"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-repeats", type=int, default=1, help="the reference layout is slow")
    parser.add_argument("--tasks", default="modcog/all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for shape in args.shapes:
        b, t = (int(x) for x in shape.split("x"))
        for layout in args.layouts:
            reps = args.repeats if layout == "batch_first" else args.reference_repeats
            rows.append(bench(b, t, layout, reps, args.device, args.tasks))
    for b, t in {(r["batch"], r["seq_len"]) for r in rows}:
        pair = {r["layout"]: r for r in rows if (r["batch"], r["seq_len"]) == (b, t)}
        if len(pair) == 2:
            pair["batch_first"]["speedup_vs_reference"] = (pair["reference"]["wall_s_per_step"]
                                                           / pair["batch_first"]["wall_s_per_step"])
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    print(json.dumps({"device": args.device, "threads": args.threads, "loadavg": load, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
