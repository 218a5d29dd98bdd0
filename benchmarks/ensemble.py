"""Ensemble benchmark: member-steps per second and peak memory of N members trained stacked (one pass,
:mod:`brainlearn.ensemble`) against a sequential loop over the members in one process, and against one
process per member (today's sweep path), side by side in one run, one torch thread.

Cases (each step: one minibatch per member, forward, update, optimiser):

    fa-mlp       the fa-vs-bp MLP, 64-100-10 (sigmoid, MSE), feedback alignment, SGD, batch 32, digits
    eprop-rnn    a leaky RNN of 64 units trained by e-prop on Add-task sequences (T = 50, batch 8), Adam
    gru          the compositional GRU of similarity-rnn (32 units, dt 200 ms) on motif trials (batch 64), Adam
    mlp-fmnist   an MLP 784-256-256-10 (relu, cross-entropy), backprop, SGD, batch 128, Fashion-MNIST

Every measurement runs in a fresh process (peak RSS: the process's peak while building the members and
stepping, less its RSS just before, with the data loaded; Linux /proc); "processes" is the sequential
rate of one member plus the interpreter start and imports (measured here) per member, amortised over
`--run-steps` steps.

    python benchmarks/ensemble.py                          # JSON on stdout, the table on stderr
    python benchmarks/ensemble.py --members 1 8 --cases fa-mlp --device cuda
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

CASES = ("fa-mlp", "eprop-rnn", "gru", "mlp-fmnist")
POOL = 2  # distinct batches per member, cycled


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def _reset_peak() -> float:
    """Reset the process's peak RSS to its current RSS (Linux), which is returned, in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS:")


def _case(name: str, n: int, device: str):
    """(build(seed) -> (module, rule or None), loss(module, x, y) or None, batches (steps, N, ...), optimiser)."""
    from brainlearn.runtime import make_generator

    g = torch.Generator().manual_seed(0)
    if name in ("fa-mlp", "mlp-fmnist"):
        from brainlearn.data import load_images
        from brainlearn.nn import MLP, MLPConfig, one_hot_mse

        fa = name == "fa-mlp"
        data = load_images("digits" if fa else "fashion-mnist").to(device)
        x_all = data.x_train.flatten(1)
        config = (MLPConfig(n_in=64, n_hidden=(100,), n_out=10, rule="fa", init_gain=3.6, feedback_std=0.5,
                            output_activation="sigmoid") if fa else
                  MLPConfig(n_in=784, n_hidden=(256, 256), n_out=10, activation="relu"))
        batch = 32 if fa else 128
        idx = torch.randint(0, len(x_all), (POOL, n, batch), generator=g).to(device)
        xs, ys = x_all[idx], data.y_train[idx]
        loss = (lambda m, x, y: one_hot_mse(m(x), y)) if fa else (lambda m, x, y: F.cross_entropy(m(x), y))
        return (lambda s: (MLP(config, generator=make_generator(s)).to(device), None)), loss, xs, ys, "sgd"
    if name == "eprop-rnn":
        from brainlearn.data.rnn_tasks import add_task
        from brainlearn.rules.recurrent import make_rule
        from brainlearn.rules.rnn_base import LeakyRNN, LeakyRNNConfig

        config = LeakyRNNConfig(n_in=1, n_hidden=64, n_out=2, alpha=1.0, gain=0.5)
        pairs = [add_task(8, 50, generator=g) for _ in range(POOL * n)]
        xs = torch.stack([p[0] for p in pairs]).view(POOL, n, 8, 50, 1).to(device)
        ys = torch.stack([p[1] for p in pairs]).view(POOL, n, 8, 50, 2).to(device)

        def build(s):
            net = LeakyRNN(config, generator=make_generator(s)).to(device)
            return net, make_rule("eprop", net, generator=make_generator(s))
        return build, None, xs, ys, "adam"
    if name == "gru":
        from brainlearn.data.cognitive.motifs import MotifTasks
        from brainlearn.models.compositional import CompositionalGRU, CompositionalGRUConfig

        tasks = MotifTasks("pdm", dt=200.0)
        trials = tasks.trials(64, make_generator(0))
        config = CompositionalGRUConfig(n_in=tasks.n_inputs, n_out=tasks.n_outputs, n_hidden=32, dt=200.0, tau=400.0)
        x = trials.inputs.to(device)
        y = trials.targets.argmax(-1).to(device) if trials.targets.is_floating_point() else trials.targets.to(device)
        xs, ys = x.expand(POOL, n, *x.shape).contiguous(), y.expand(POOL, n, *y.shape).contiguous()

        def loss(m, x, y):
            logits = m(x)[0]
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        return (lambda s: (CompositionalGRU(config, generator=make_generator(s)).to(device), None)), loss, xs, ys, \
            "adam"
    raise SystemExit(f"unknown case {name!r}; expected one of {', '.join(CASES)}")


def measure(name: str, n: int, path: str, device: str, seconds: float) -> dict:
    """One (case, N, path) in this process: member-steps/s and the peak RSS it added."""
    from brainlearn.ensemble import Ensemble, StackedAdam, StackedRule, StackedSGD

    torch.set_num_threads(1)
    build, loss, xs, ys, opt_name = _case(name, n, device)
    base = _reset_peak()  # the data is loaded: what follows is the members' and the steps' memory
    t0 = time.perf_counter()
    members = [build(s) for s in range(n)]
    lr = 0.1 if opt_name == "sgd" else 1e-3
    if path == "stacked":
        ens = Ensemble([m for m, _ in members])
        opt = (StackedSGD if opt_name == "sgd" else StackedAdam)(ens.params, lr=lr)
        rule = StackedRule(ens, [r for _, r in members]) if members[0][1] is not None else None
        built = time.perf_counter() - t0  # the members built alone, then stacked

        def step(i):
            grads = rule.accumulate(xs[i], ys[i])[0] if rule else ens.grad_and_value(loss, xs[i], ys[i])[0]
            opt.step(grads)
    else:
        opts = [(torch.optim.SGD if opt_name == "sgd" else torch.optim.Adam)(
            (r.parameters() if r is not None else m.parameters()), lr=lr) for m, r in members]
        built = time.perf_counter() - t0

        def step(i):
            for k, ((m, r), o) in enumerate(zip(members, opts)):
                o.zero_grad()
                if r is not None:
                    r.run(xs[i, k], ys[i, k])
                else:
                    loss(m, xs[i, k], ys[i, k]).backward()
                o.step()
    step(0)  # warm-up (first-call costs: functorch's imports)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        step(count % len(xs))
        count += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"member_steps_per_s": n * count / elapsed, "peak_rss_mb": _status_mb("VmHWM:") - base, "steps": count,
            "build_s": built}


def startup_seconds() -> float:
    """An interpreter starting and importing torch and brainlearn's models (the fixed cost of a process)."""
    start = time.perf_counter()
    imports = "import torch, brainlearn.nn, brainlearn.rules, brainlearn.models.compositional"
    subprocess.run([sys.executable, "-c", imports], check=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--members", nargs="+", type=int, default=[1, 8, 64, 256])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    p.add_argument("--repeats", type=int, default=2, help="measurements per path, alternating; the best is kept")
    p.add_argument("--run-steps", type=int, default=1000, help="steps a member's run has (amortises a process start)")
    p.add_argument("--one", nargs=3, metavar=("CASE", "N", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        name, n, path = args.one
        print(json.dumps(measure(name, int(n), path, args.device, args.seconds)))
        return
    startup = min(startup_seconds() for _ in range(3))
    results = {"device": args.device, "torch_threads": 1, "startup_s": startup, "run_steps": args.run_steps,
               "cases": {}}
    print(f"process start + imports: {startup:.2f} s", file=sys.stderr)
    print(f"{'case':<11} {'N':>4} {'stacked/s':>11} {'sequential/s':>13} {'processes/s':>12} {'x seq':>6} "
          f"{'x proc':>7} {'RSS stacked':>12} {'RSS seq':>8}", file=sys.stderr)
    for name in args.cases:
        rows = results["cases"][name] = {}
        for n in args.members:
            row = {}
            for _ in range(args.repeats):  # alternating, best of each: the machine may be shared
                for path in ("stacked", "sequential"):
                    out = subprocess.run([sys.executable, __file__, "--one", name, str(n), path, "--device",
                                          args.device, "--seconds", str(args.seconds)],
                                         capture_output=True, text=True, check=True)
                    got = json.loads(out.stdout.strip().splitlines()[-1])
                    if path not in row or got["member_steps_per_s"] > row[path]["member_steps_per_s"]:
                        row[path] = got
            alone = row["sequential"]["member_steps_per_s"]
            row["processes"] = {"member_steps_per_s": args.run_steps / (startup + args.run_steps / alone)}
            s = row["stacked"]["member_steps_per_s"]
            row["speedup_vs_sequential"] = s / alone
            row["speedup_vs_processes"] = s / row["processes"]["member_steps_per_s"]
            rows[str(n)] = row
            print(f"{name:<11} {n:>4} {s:>11.0f} {alone:>13.0f} {row['processes']['member_steps_per_s']:>12.0f} "
                  f"{row['speedup_vs_sequential']:>6.2f} {row['speedup_vs_processes']:>7.2f} "
                  f"{row['stacked']['peak_rss_mb']:>9.0f} MB {row['sequential']['peak_rss_mb']:>5.0f} MB",
                  file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
