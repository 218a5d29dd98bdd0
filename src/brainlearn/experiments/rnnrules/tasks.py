"""rnnrules-tasks: every rule on every task of :mod:`brainlearn.data.rnn_tasks`, one table.

One job per (task, rule): a LeakyRNN learns from `iterations` batches of fresh sequences (one optimiser
step per sequence, whatever the rule: its update is summed over the sequence); the table entry is the
test loss after learning divided by the test loss of the same network before learning (1: nothing
learned, 0: perfect), on a fixed test batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import plotting
from brainlearn.data.rnn_tasks import TASKS
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.rnnrules.common import HENHA_EYONO, SPECS, build, network, task_loss
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, run_jobs

RULES = ("readout", "bptt", "rtrl", "eprop", "eprop_random", "rflo", "uoro", "kernl", "dni3", "bplambda")


@dataclass(frozen=True)
class TasksConfig(Config):
    tasks: tuple[str, ...] = param(tuple(TASKS), nonempty=True, help="task names")
    rules: tuple[str, ...] = param(RULES, nonempty=True, help="rules (names of common.SPECS)")
    n_hidden: int = param(16, ge=1)
    alpha: float = param(0.5, gt=0, le=1)
    gain: float = param(0.9, gt=0)
    lr: float = param(3e-3, gt=0)
    iterations: int = param(100, ge=1, help="training batches")
    batch: int = param(16, ge=1)
    length: int = param(24, ge=6, help="sequence length T (digits: 8 rows)")
    test_batch: int = param(128, ge=1)

    def __post_init__(self):
        super().__post_init__()
        require(all(t in TASKS for t in self.tasks), f"tasks must be among {sorted(TASKS)}, got {self.tasks}")
        require(all(r in SPECS for r in self.rules), f"rules must be among {sorted(SPECS)}, got {self.rules}")


def learn(config: TasksConfig, task: str, rule_name: str, seed: int, device: str) -> dict:
    spec = TASKS[task]
    model = network(spec.n_in, config.n_hidden, spec.n_out, config.alpha, config.gain, seed, device)
    rule = build(rule_name, model, spec.loss, seed)
    opt = torch.optim.Adam(rule.parameters(), lr=config.lr)
    data = make_generator(replicate_seed(seed, None, "data"))
    test_seed = replicate_seed(seed, None, "test")
    before = task_loss(model, task, config.test_batch, config.length, make_generator(test_seed))
    for _ in range(config.iterations):
        x, y, w = spec.sample(config.batch, config.length, data)
        rule.run(x.to(device), y.to(device), w.to(device))
        opt.step()
        opt.zero_grad(set_to_none=True)
    after = task_loss(model, task, config.test_batch, config.length, make_generator(test_seed))
    return {"before": before, "after": after}


def run(config: TasksConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{t}/{r}": (config, t, r, replicate_seed(seed, k), str(ctx.device))
            for k, t in enumerate(config.tasks) for r in config.rules}
    done = run_jobs(learn, jobs, ctx, desc="rnnrules-tasks", on_result=lambda name, out: {"job": name, **out})
    table = np.asarray([[done[f"{t}/{r}"]["after"] / done[f"{t}/{r}"]["before"] for t in config.tasks]
                        for r in config.rules])
    metrics = {f"{t}_{r}": float(table[i, j]) for i, r in enumerate(config.rules) for j, t in enumerate(config.tasks)}
    if "readout" in config.rules:
        for t in config.tasks:
            exact = [metrics[f"{t}_{r}"] for r in ("bptt", "rtrl") if r in config.rules]
            if exact:
                metrics[f"{t}_exact_gain"] = metrics[f"{t}_readout"] - min(exact)
    return Result(metrics, {"table": table})


def claims(config: TasksConfig) -> list[Claim]:
    how = (f"test loss after / before {config.iterations} batches of {config.batch} (n = {config.n_hidden}, "
           f"α = {config.alpha:g}, T = {config.length})")
    out = []
    if "readout" in config.rules and ({"bptt", "rtrl"} & set(config.rules)):
        for t in config.tasks:
            out.append(Claim(f"exact-beats-readout-{t}", HENHA_EYONO, f"On {t}, an exact-gradient rule (BPTT or RTRL) "
                             "learns more than the readout alone.", f"{t}_exact_gain", ">", 0.0, how=how,
                             reason="report only: the table is descriptive", gated=False,
                             kind="outcome"))
    return out


def plot(result: Result, config: TasksConfig) -> dict:
    fig, (ax,) = plotting.figure(panel=(1.0 + 0.9 * len(config.tasks), 1.0 + 0.35 * len(config.rules)))
    table = np.asarray(result.arrays["table"])
    plotting.matrix(ax, np.clip(table, 0, 1.5), title="test loss after / before learning", colorbar=True,
                    cmap="viridis_r", vmin=0, vmax=1.5, aspect="auto")
    ax.set_xticks(range(len(config.tasks)), config.tasks)
    ax.set_yticks(range(len(config.rules)), config.rules)
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    return {"rules_x_tasks": fig}


register(Experiment(
    name="rnnrules-tasks", paper=HENHA_EYONO,
    summary="every recurrent learning rule on Add, flip-flop, delayed non-match, sine generation and sequential digits",
    presets={"quick": TasksConfig(tasks=("add", "flipflop"), rules=("readout", "bptt", "eprop"), iterations=10,
                                  batch=8, test_batch=32), "full": TasksConfig()},
    run=run, claims=claims, plot=plot,
))
