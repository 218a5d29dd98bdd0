"""BP(λ) benchmark: updates/s of BPTT, n-step DNI, online BP(λ) and online without SG; memory vs sequence length.

Throughput: the LSTM harness of ``bplambda-seqclass`` (one update = one batch of sequences) on the toy
recall task (binary cue at step 0, target at the last step) and on Fashion-MNIST rows (T = 28; random
pixels stand in when the dataset is absent). Memory: one update at T = 28, 280, 2800, each in a fresh
subprocess; we report the peak resident-set growth over the process baseline and, exactly, the bytes BPTT
saves for its backward pass (``saved_tensors_hooks``) against the bytes of BP(λ)'s eligibility trace.

    python benchmarks/bplambda.py                     # small defaults, JSON on stdout
    python benchmarks/bplambda.py --lengths 28 280 2800 --steps 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from brainlearn.experiments.bplambda.common import METHODS, LearningConfig, MethodTrainer, cross_entropy, mse_loss
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig


def toy_batch(batch, steps, n_in, gen):
    x = torch.zeros(batch, steps, n_in)
    x[:, 0] = (torch.rand(batch, n_in, generator=gen) < 0.5).float()
    targets = x[:, :1, :2].expand(-1, steps, -1).clone()
    mask = torch.zeros(steps, dtype=torch.bool)
    mask[-1] = True
    return x, targets, mask


def fmnist_batch(batch, gen):
    try:
        from brainlearn.data import load_images
        data = load_images("fashion-mnist", n_train=batch, n_test=10, seed=0)
        x, y = data.x_train[:, 0], data.y_train
    except Exception:  # noqa: BLE001 - the dataset is optional here
        x, y = torch.rand(batch, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    mask = torch.zeros(28, dtype=torch.bool)
    mask[-1] = True
    return x, y[:, None].expand(-1, 28), mask


def throughput(task, method, args):
    gen = torch.Generator().manual_seed(0)
    config = LearningConfig(model=OnlineRNNConfig(n_hidden=args.n_hidden, cell="lstm"), batch_size=args.batch_size)
    if task == "toy":
        x, targets, mask = toy_batch(args.batch_size, args.toy_steps, 10, gen)
        model, loss = OnlineRNN(config.network(10, 2), generator=gen), mse_loss
    else:
        x, targets, mask = fmnist_batch(args.batch_size, gen)
        model, loss = OnlineRNN(config.network(28, 10), generator=gen), cross_entropy
    trainer = MethodTrainer(method, model, config, loss)
    trainer.train_batch(x, targets, mask)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.steps):
        trainer.train_batch(x, targets, mask)
    return args.steps / (time.perf_counter() - t0)


def _status_kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_child(method, steps, n_hidden, batch_size):
    """Run one update at length `steps`; print {"peak_rss_mb", "saved_mb", "trace_mb"} (called in a subprocess)."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, targets, mask = toy_batch(batch_size, steps, 28, gen)
    config = LearningConfig(model=OnlineRNNConfig(n_hidden=n_hidden, cell="lstm"), batch_size=batch_size)
    model = OnlineRNN(config.network(28, 2), generator=gen)
    trainer = MethodTrainer(method, model, config, mse_loss)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak RSS (VmHWM) to the current RSS
        f.write("5")
    base = _status_kb("VmRSS")
    live, peak_saved = {}, [0]  # storage pointer -> [references, bytes], for tensors saved for backward

    class Saved:  # released when autograd frees the graph that saved it
        def __init__(self, t):
            # keyed by the view (a step's slice x[:, t] of the input counts as that slice, not all of x)
            self.t, self.key = t, (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
            entry = live.setdefault(self.key, [0, t.numel() * t.element_size()])
            entry[0] += 1
            peak_saved[0] = max(peak_saved[0], sum(b for _, b in live.values()))

        def __del__(self):
            live[self.key][0] -= 1
            if live[self.key][0] == 0:
                del live[self.key]

    with torch.autograd.graph.saved_tensors_hooks(Saved, lambda s: s.t):
        trainer.train_batch(x, targets, mask)
    peak = _status_kb("VmHWM")
    trace = trainer.learner.trace_bytes() if trainer.learner is not None else 0
    print(json.dumps({"peak_rss_growth_mb": (peak - base) / 1024, "saved_for_backward_mb": peak_saved[0] / 2**20,
                      "trace_mb": trace / 2**20}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--n-hidden", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--toy-steps", type=int, default=10)
    p.add_argument("--steps", type=int, default=5, help="timed updates per method")
    p.add_argument("--lengths", type=int, nargs="+", default=[28, 280, 2800])
    p.add_argument("--memory-batch-size", type=int, default=16)
    p.add_argument("--memory-n-hidden", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-throughput", action="store_true", help="memory scaling only")
    p.add_argument("--child", nargs=2, metavar=("METHOD", "STEPS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        return memory_child(args.child[0], int(args.child[1]), args.memory_n_hidden, args.memory_batch_size)
    out = {"config": vars(args), "torch": torch.__version__, "updates_per_s": {}, "memory": {}}
    for task in () if args.no_throughput else ("toy", "seq-fashion-mnist"):
        out["updates_per_s"][task] = {m: round(throughput(task, m, args), 3) for m in args.methods}
    for method in ("bptt", "bplambda"):
        out["memory"][method] = {}
        for steps in args.lengths:
            res = subprocess.run([sys.executable, __file__, "--child", method, str(steps), "--memory-n-hidden",
                                  str(args.memory_n_hidden), "--memory-batch-size", str(args.memory_batch_size)],
                                 capture_output=True, text=True, check=True)
            out["memory"][method][steps] = json.loads(res.stdout.strip().splitlines()[-1])
    with open("/proc/loadavg") as f:
        out["loadavg"] = f.read().strip()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
