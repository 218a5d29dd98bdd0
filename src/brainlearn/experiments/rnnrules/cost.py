"""rnnrules-cost: time and memory per step of every rule against the network size n, with log-log slopes.

For each n in `sizes` and each rule: the wall-clock time of one step (median over `repeats` runs of
`steps` steps, after a warm-up, batch `batch_size`) and the memory the rule holds between steps (its traces)
plus what autograd saves for its backward pass over one update interval (BPTT's stored window),
counted in bytes from the tensors themselves. The slopes of log cost against log n are fitted over the
sizes >= `fit_from`. Theory: RTRL's time grows as n⁴ and its memory as n³; e-prop's and RFLO's as n².

The network is `model` with n units (its `n_hidden` is set by `sizes`).
``timing=False`` replaces the wall-clock time by the rule's multiply-add count per step from its
equations (deterministic, for tests); memory is always counted.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.data.rnn_tasks import add_task
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.rnnrules.common import VARIANTS, RuleVariants, build, network, rule_work
from brainlearn.rules.recurrent import LeakyRNNConfig
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, run_jobs

MEASURED = ("bptt10", "rtrl", "eprop", "rflo", "uoro", "kernl", "dni3", "bplambda")
"""The rule variants whose cost the full run measures."""


@dataclass(frozen=True)
class CostConfig(Config):
    renamed = {"batch": "batch_size"}

    rules: tuple[str, ...] = param(MEASURED, nonempty=True, help="rule variants measured (fields of variants)")
    model: LeakyRNNConfig = LeakyRNNConfig(n_in=1, n_hidden=1, n_out=2, alpha=1.0, gain=0.5)
    variants: RuleVariants = RuleVariants()
    sizes: tuple[int, ...] = param((16, 32, 64, 128), ge=2, nonempty=True, help="network sizes n")
    batch_size: int = param(8, ge=1)
    steps: int = param(10, ge=1, help="steps per timed run")
    repeats: int = param(3, ge=1, help="timed runs (the median is kept)")
    fit_from: int = param(32, ge=1, help="smallest n in the slope fits")
    timing: bool = param(True, help="measure wall-clock time (False: count multiply-adds from the equations)")

    def __post_init__(self):
        super().__post_init__()
        require(all(r in VARIANTS for r in self.rules), f"rules must be among {sorted(VARIANTS)}, got {self.rules}")
        require(self.model.n_hidden == 1, "model.n_hidden is set by sizes: leave it at 1")
        require(self.model.n_in == 1 and self.model.n_out == 2, "the Add task has model.n_in = 1 and model.n_out = 2")
        require(sum(n >= self.fit_from for n in self.sizes) >= 2, "need two sizes >= fit_from for the slopes")


def macs(rule: str, n: int, m: int = 1, o: int = 2) -> float:
    """Multiply-adds per step and sample, from each rule's equations (P = n + m + 1)."""
    p = n + m + 1
    base = n * p + n * o  # the forward step and the readout
    extra = {"rtrl": n * n * n * p + n * n * p, "eprop": 3 * n * p, "eprop_random": 3 * n * p, "rflo": 3 * n * p,
             "uoro": n * n + 4 * n * p, "kernl": 2 * n * n + 4 * n * p, "bptt": 2 * n * p, "bptt10": 2 * n * p,
             "bptt3": 2 * n * p, "dni3": 2 * n * p + 2 * n * n, "bplambda": 2 * n * n * (n + 1) + n * p,
             "readout": 0}
    return float(base + extra[rule])


def held_bytes(rule) -> int:
    """Bytes of every tensor a rule holds between steps (its traces and buffers; parameters excluded)."""
    seen, total = set(), 0
    for v in vars(rule).values():
        for t in (v if isinstance(v, list | tuple) else [v]):
            if torch.is_tensor(t) and id(t) not in seen and not isinstance(t, torch.nn.Parameter):
                seen.add(id(t))
                total += t.numel() * t.element_size()
    learner = getattr(rule, "learner", None)
    if learner is not None and learner.trace is not None:
        total += learner.trace_bytes()
    return total


def measure(config: CostConfig, rule_name: str, n: int, seed: int, device: str) -> dict:
    """Time (or multiply-adds) and memory per step of one rule at size n (streams init, data and noise of
    the run seed)."""
    model = network(dataclasses.replace(config.model, n_hidden=n), seed, device)
    rule = build(rule_name, model, "cross_entropy", config.variants, seed)
    data = make_generator(replicate_seed(seed, None, "data"))
    x, y, _ = add_task(config.batch_size, config.steps + rule.update_interval, generator=data)
    x, y = x.to(device), y.to(device)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    rule.reset(config.batch_size)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        for t in range(rule.update_interval):
            rule.step(x[:, t], y[:, t])
        memory = held_bytes(rule) + sum(saved)
        rule.finish()
    times = []
    if config.timing:
        for _ in range(config.repeats):
            rule.reset(config.batch_size)
            if x.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            for t in range(config.steps):
                rule.step(x[:, t], y[:, t])
            rule.finish()
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / config.steps)
    cost = float(np.median(times)) if config.timing else macs(rule_name, n) * config.batch_size
    return {"time": cost, "memory": float(memory)}


def slope(sizes, values) -> float:
    """The least-squares slope of log(value) against log(n)."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def run(config: CostConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{r}/{n}": (config, r, n, seed, str(ctx.device)) for r in config.rules
            for n in config.sizes}
    done = run_jobs(measure, jobs, ctx, desc="rnnrules-cost", on_result=lambda name, out: {"job": name, **out})
    fit = [n for n in config.sizes if n >= config.fit_from]
    metrics, arrays = {}, {"sizes": np.asarray(config.sizes)}
    for r in config.rules:
        for what in ("time", "memory"):
            values = [done[f"{r}/{n}"][what] for n in config.sizes]
            arrays[f"{what}_{r}"] = np.asarray(values)
            metrics[f"{r}_{what}_slope"] = slope(fit, [done[f"{r}/{n}"][what] for n in fit])
            metrics[f"{r}_{what}_n{config.sizes[-1]}"] = values[-1]
    return Result(metrics, arrays)


def claims(config: CostConfig) -> list[Claim]:
    paper = papers.HENHA_EYONO
    how = (f"log-log slope over n in {[n for n in config.sizes if n >= config.fit_from]}, batch {config.batch_size}, "
           f"{'median wall-clock time per step' if config.timing else 'multiply-adds per step'}; memory: bytes of the "
           "rule's traces plus autograd's saved tensors over one update")
    theory = "the asymptotic exponents (RTRL n⁴ time, n³ memory; trace rules n²), with room for overheads"
    # asymptotic claims need sizes where the O(n^k) terms dominate the per-step overheads: gated from n >= 64
    gated = max(config.sizes) >= 64
    if not gated:
        theory += "; ungated: the sizes stop below 64, where fixed per-step overheads dominate"
    out = []
    if "rtrl" in config.rules:
        out += [Claim("rtrl-time", paper, "RTRL's compute per step grows like n⁴ (slope >= 3 at these sizes).",
                      "rtrl_time_slope", ">=", 3.0, how=how, reason=theory, gated=gated, kind="outcome"),
                Claim("rtrl-memory", paper, "RTRL's memory grows like n³.", "rtrl_memory_slope", ">=", 2.9,
                      how=how, reason=theory, gated=gated, kind="outcome")]
    for r in ("eprop", "rflo"):
        if r in config.rules:
            out += [Claim(f"{r}-time", paper, f"{r}'s compute per step grows at most like n² (slope <= 2.5).",
                          f"{r}_time_slope", "<=", 2.5, how=how, reason=theory, gated=gated, kind="outcome"),
                    Claim(f"{r}-memory", paper, f"{r}'s memory grows like n² (slope <= 2.1).",
                          f"{r}_memory_slope", "<=", 2.1, how=how, reason=theory, gated=gated, kind="outcome")]
    return out


def plot(result: Result, config: CostConfig) -> dict:
    a, m = result.arrays, result.metrics
    fig, (ax_t, ax_m) = plotting.figure(2)
    label = {r: f"{r} ({m[f'{r}_time_slope']:.2f})" for r in config.rules}
    plotting.curves(ax_t, a["sizes"], {label[r]: a[f"time_{r}"] for r in config.rules}, xlabel="n",
                    ylabel="s per step" if config.timing else "multiply-adds per step",
                    title="time per step (fitted slope)", xscale="log", yscale="log")
    plotting.curves(ax_m, a["sizes"], {f"{r} ({m[f'{r}_memory_slope']:.2f})": a[f"memory_{r}"] for r in config.rules},
                    xlabel="n", ylabel="bytes", title="memory (fitted slope)", xscale="log", yscale="log")
    return {"scaling": fig}


register(Experiment(
    name="rnnrules-cost", paper=papers.HENHA_EYONO,
    seed_schemes=(2,),  # scheme-1 runs drew their data from the weights' seed: not resumable
    summary="time and memory per step of every recurrent learning rule against n, with fitted log-log slopes",
    presets={"smoke": CostConfig(rules=("rtrl", "eprop", "rflo"), sizes=(4, 8), fit_from=4, steps=2, timing=False),
             "quick": CostConfig(sizes=(8, 16, 32), fit_from=16, steps=5, repeats=2), "full": CostConfig(),
             # the perspective sets no scale of its own (no units, steps, seeds or tasks to match): paper = full
             "paper": CostConfig(),
             "alt": CostConfig(sizes=(12, 24, 48), fit_from=24, batch_size=4, steps=5, repeats=2)},
    run=run, claims=claims, plot=plot,
    work=lambda c: c.repeats * c.steps * sum(rule_work(c.rules, n, c.batch_size) for n in c.sizes),
))
