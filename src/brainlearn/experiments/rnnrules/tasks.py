"""rnnrules-tasks: every rule on every task of :mod:`brainlearn.data.rnn_tasks`, one table.

One job per (task, rule): a LeakyRNN (`model`, with the task's n_in and n_out) learns from `steps` batches
of fresh sequences (one optimiser step per sequence batch, whatever the rule: its update is summed over the
sequence); the table entry is the test loss after learning divided by the test loss of the same network
before learning (1: nothing learned, 0: perfect), on a fixed test batch. A task's network, data, test
batch and rule draws come from streams init, data, test and noise of the run seed, item = the task's
place in :data:`~brainlearn.data.rnn_tasks.TASKS` (shared by every rule: a paired comparison; a task's
numbers do not depend on which other tasks run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.data.rnn_tasks import TASKS
from brainlearn.ensemble import STACKABLE_RULES, Ensemble, StackedAdam, StackedRule
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.rnnrules.common import (
    VARIANTS,
    RuleVariants,
    build,
    network,
    rule_of,
    rule_work,
    task_loss,
)
from brainlearn.rules.recurrent import LeakyRNNConfig
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, run_jobs
from brainlearn.runtime.loop import run_jobs_stacked

COMPARED = ("readout", "bptt", "rtrl", "eprop", "eprop_random", "rflo", "uoro", "kernl", "dni3", "bplambda")
"""The rule variants the full table compares."""


@dataclass(frozen=True)
class TasksConfig(Config):
    renamed = {"iterations": "steps", "batch": "batch_size", "test_batch": "test_batch_size",
               "n_hidden": "model.n_hidden", "alpha": "model.alpha", "gain": "model.gain"}

    tasks: tuple[str, ...] = param(("add", "flipflop", "dnm", "sine", "digits"), nonempty=True, help="task names")
    rules: tuple[str, ...] = param(COMPARED, nonempty=True, help="rule variants (fields of variants)")
    model: LeakyRNNConfig = LeakyRNNConfig(n_in=1, n_hidden=16, n_out=1, alpha=0.5, gain=0.9)
    variants: RuleVariants = RuleVariants()
    lr: float = param(3e-3, gt=0)
    steps: int = param(100, ge=1, help="training batches (one optimiser step each)")
    batch_size: int = param(16, ge=1)
    length: int = param(24, ge=6, help="sequence length T (digits: 8 rows)")
    test_batch_size: int = param(128, ge=1)

    def __post_init__(self):
        super().__post_init__()
        require(all(t in TASKS for t in self.tasks), f"tasks must be among {sorted(TASKS)}, got {self.tasks}")
        require(all(r in VARIANTS for r in self.rules), f"rules must be among {sorted(VARIANTS)}, got {self.rules}")
        require(self.model.n_in == 1 and self.model.n_out == 1,
                "model.n_in and model.n_out are each task's own (set per task): leave them at 1")


def learn(config: TasksConfig, task: str, rule_name: str, seed: int, device: str) -> dict:
    spec = TASKS[task]
    item = list(TASKS).index(task)
    model = network(dataclasses.replace(config.model, n_in=spec.n_in, n_out=spec.n_out), seed, device, index=item)
    rule = build(rule_name, model, spec.loss, config.variants, seed, index=item)
    opt = torch.optim.Adam(rule.parameters(), lr=config.lr)
    data = make_generator(replicate_seed(seed, None, "data", index=item))
    test_seed = replicate_seed(seed, None, "test", index=item)
    before = task_loss(model, task, config.test_batch_size, config.length, make_generator(test_seed))
    for _ in range(config.steps):
        x, y, w = spec.sample(config.batch_size, config.length, data)
        rule.run(x.to(device), y.to(device), w.to(device))
        opt.step()
        opt.zero_grad(set_to_none=True)
    after = task_loss(model, task, config.test_batch_size, config.length, make_generator(test_seed))
    return {"before": before, "after": after}


def learn_stacked(configs: list[TasksConfig], task: str, rule_name: str, seeds: list[int], device: str,
                  chunk: int | None = None) -> list[dict]:
    """:func:`learn` for several (config, seed) members at once: each member's network, rule draws, batches
    and test batch from its own streams, the rule stacked (:class:`~brainlearn.ensemble.StackedRule`)."""
    spec, item, config = TASKS[task], list(TASKS).index(task), configs[0]
    nets, rules, before, data = [], [], [], []
    for c, seed in zip(configs, seeds):
        model = network(dataclasses.replace(c.model, n_in=spec.n_in, n_out=spec.n_out), seed, device, index=item)
        nets.append(model)
        rules.append(build(rule_name, model, spec.loss, c.variants, seed, index=item))
        data.append(make_generator(replicate_seed(seed, None, "data", index=item)))
        test = make_generator(replicate_seed(seed, None, "test", index=item))
        before.append(task_loss(model, task, c.test_batch_size, c.length, test))
    ens = Ensemble(nets)
    rule, opt = StackedRule(ens, rules), StackedAdam(ens.params, lr=[c.lr for c in configs])
    for _ in range(config.steps):
        x, y, w = (torch.stack(parts).to(device) for parts in
                   zip(*(spec.sample(config.batch_size, config.length, g) for g in data)))
        opt.step(rule.accumulate(x, y, w, chunk=chunk)[0])
    return [{"before": b, "after": task_loss(ens.member(k), task, c.test_batch_size, c.length,
                                             make_generator(replicate_seed(seed, None, "test", index=item)))}
            for k, (b, c, seed) in enumerate(zip(before, configs, seeds))]


def run(config: TasksConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{t}/{r}": (config, t, r, seed, str(ctx.device)) for t in config.tasks for r in config.rules}
    done = run_jobs(learn, jobs, ctx, desc="rnnrules-tasks", on_result=lambda name, out: {"job": name, **out})
    return _result(config, done)


def run_stacked(configs: list[TasksConfig], seeds: list[int], ctxs: list[RunContext]) -> list[Result]:
    """The runs of several seeds (and learning rates): each (task, rule) job of every member at once, stacked
    where the rule stacks, one member after another where it does not (DNI, BP(λ))."""
    config, device = configs[0], str(ctxs[0].device)

    def job(name: str, members: list[int]) -> list[dict]:
        task, variant = name.split("/")
        cs, ss = [configs[k] for k in members], [seeds[k] for k in members]
        if rule_of(variant, config.variants) in STACKABLE_RULES:
            return learn_stacked(cs, task, variant, ss, device, ctxs[0].chunk)
        return [learn(c, task, variant, s, device) for c, s in zip(cs, ss)]

    names = [f"{t}/{r}" for t in config.tasks for r in config.rules]
    done = run_jobs_stacked(job, names, ctxs, desc=f"rnnrules-tasks x{len(seeds)}",
                            on_result=lambda name, out: {"job": name, **out})
    return [_result(c, d) for c, d in zip(configs, done)]


def _result(config: TasksConfig, done: dict) -> Result:
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
    paper = papers.HENHA_EYONO
    how = (f"test loss after / before {config.steps} batches of {config.batch_size} (n = {config.model.n_hidden}, "
           f"α = {config.model.alpha:g}, T = {config.length})")
    out = []
    if "readout" in config.rules and ({"bptt", "rtrl"} & set(config.rules)):
        for t in config.tasks:
            out.append(Claim(f"exact-beats-readout-{t}", paper, f"On {t}, an exact-gradient rule (BPTT or RTRL) "
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
    name="rnnrules-tasks", paper=papers.HENHA_EYONO,
    summary="every recurrent learning rule on Add, flip-flop, delayed non-match, sine generation and sequential digits",
    presets={"smoke": TasksConfig(tasks=("add", "dnm"), rules=("readout", "rtrl", "eprop"), steps=5, batch_size=2,
                                  test_batch_size=4,
                                  model=LeakyRNNConfig(n_in=1, n_hidden=4, n_out=1, alpha=0.5, gain=0.9)),
             "quick": TasksConfig(tasks=("add", "flipflop"), rules=("readout", "bptt", "eprop"), steps=10,
                                  batch_size=8, test_batch_size=32),
             "full": TasksConfig(),
             # the perspective sets no scale of its own (no units, steps, seeds or tasks to match): paper = full
             "paper": TasksConfig(),
             "alt": TasksConfig(tasks=("dnm", "sine"), rules=("readout", "bptt", "eprop"), steps=10, batch_size=8,
                                test_batch_size=32)},
    run=run, claims=claims, plot=plot, run_stacked=run_stacked, stack_fields=("lr",),
    work=lambda c: len(c.tasks) * c.steps * c.length * rule_work(c.rules, c.model.n_hidden, c.batch_size),
    stack_from=2,  # quick, 3 seeds: 6.7 s stacked, 8.0 s one by one (wall, with the process start)
))
