"""Speed of the predictive-processing models and of the NWB path.

    python benchmarks/predictive.py                  # CPU, one thread
    python benchmarks/predictive.py --device cuda    # the models on a GPU (NWB I/O stays on the CPU)

Measures: simulated seconds per wall second of the PE microcircuit's rate dynamics (dt = 1 ms, one trial)
at 1,000 E cells (143 PV, SST and VIP each, the 140:20 ratio) and at 100,000 E cells (20 of each
interneuron type: the dense interneuron-to-E matrices of the full ratio would not fit a workstation);
simulated seconds per wall second of the temporal PC network on a 16-channel sequence (250 ms bins,
closed-form settling, learning on) and of the hierarchical PC network's iterative inference
(784-256-64, batch 64, 50 steps per input); NWB write and read rates in MB/s of the response data
(float32 time x cells): a full read and an event-aligned (lazy) read of 200 windows. Prints one JSON
summary with the load average (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from brainlearn.models.predictive import (
    HierarchicalPC,
    HierarchicalPCConfig,
    PEMicrocircuit,
    PEMicrocircuitConfig,
    TemporalPC,
    TemporalPCConfig,
)
from brainlearn.paradigms import SequenceProtocol, stimulus_matrix
from brainlearn.runtime import make_generator


def _load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def microcircuit(n_e: int, n_i: int, device, seconds: float) -> float:
    config = PEMicrocircuitConfig(n_e=n_e, n_pv=n_i, n_sst=n_i, n_vip=n_i)
    c = PEMicrocircuit(config, generator=make_generator(0)).to(device)
    steps = int(seconds / 0.001)
    S = torch.full((steps, 1), 2.0, device=device)
    c.simulate(S[:10], S[:10])
    _sync(device)
    t = time.perf_counter()
    c.simulate(S, S)
    _sync(device)
    return seconds / (time.perf_counter() - t)


def temporal_pc(device) -> float:
    proto = SequenceProtocol(habituation_min=2.0, n_test=0 + 1, n_control=0)
    X = stimulus_matrix(proto.generate(0), proto.element, 16).to(device)[:, None]
    net = TemporalPC(TemporalPCConfig(n_in=16, n_latent=16), generator=make_generator(0)).to(device)
    _sync(device)
    t = time.perf_counter()
    net.run(X, lr=0.05)
    _sync(device)
    return len(X) * proto.element / (time.perf_counter() - t)


def hierarchical_pc(device) -> float:
    net = HierarchicalPC(HierarchicalPCConfig((784, 256, 64)), generator=make_generator(0)).to(device)
    x = torch.rand(64, 784, generator=make_generator(1)).to(device)
    net.infer(x, steps=5)
    _sync(device)
    t = time.perf_counter()
    net.infer(x, steps=50)
    _sync(device)
    return 64 / (time.perf_counter() - t)  # inputs settled per second


def nwb(frames: int, cells: int) -> dict:
    from brainlearn.io.nwb import read_nwb, write_nwb
    from brainlearn.paradigms import OddballProtocol

    rate = 30.0
    table = OddballProtocol(n_oddball=int(frames / rate / 1.25) - 60, tuning_repeats=0, rf_grid=0).generate(0)
    R = np.random.default_rng(0).random((frames, cells)).astype(np.float32)
    mb = R.nbytes / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.nwb"
        t = time.perf_counter()
        write_nwb(path, R, rate=rate, events=table, identifier="bench")
        write = mb / (time.perf_counter() - t)
        t = time.perf_counter()
        with read_nwb(path) as s:
            s.read_all()
        read = mb / (time.perf_counter() - t)
        onsets = table["start_time"][1:201]
        t = time.perf_counter()
        with read_nwb(path) as s:
            A = s.align(onsets, pre=0.5, post=1.0)
        aligned_s = time.perf_counter() - t
    return {"data_MB": round(mb, 1), "write_MB_s": round(write, 1), "read_all_MB_s": round(read, 1),
            "aligned_read_200_windows_s": round(aligned_s, 3), "aligned_MB": round(A.nbytes / 1e6, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frames", type=int, default=60_000)
    ap.add_argument("--cells", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out = {"device": str(device), "threads": args.threads, "load_before": _load(),
           "microcircuit_1k_sim_s_per_s": round(microcircuit(1000, 143, device, 1.0), 3),
           "microcircuit_100k_sim_s_per_s": round(microcircuit(100_000, 20, device, 0.05), 4),
           "temporal_pc_sim_s_per_s": round(temporal_pc(device), 1),
           "hierarchical_pc_inputs_per_s": round(hierarchical_pc(device), 1)}
    try:
        out["nwb"] = nwb(args.frames, args.cells)
    except Exception as e:  # the nwb extra is optional
        out["nwb"] = f"skipped: {e}"
    out["load_after"] = _load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
