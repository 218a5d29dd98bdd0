"""rnnrules-add: every rule learns the Add task online; test cross-entropy against the task's exact floors.

One job per (rule, replicate): a LeakyRNN (n = 32, α = 1, orthogonal W_rec of gain 0.5) learns online on
one Add-task stream of `steps` steps (batch 1, Adam, a step per rule update: every step for the
online rules, every window for BPTT and DNI), then is tested frozen on a fresh stream of `test_steps`.
Replicate k's network, streams and rule draws come from streams init, data, test and noise of (seed, k),
shared by every rule (a paired comparison).
With the default lags (5, 9) the exact floors are 0.662 nats (nothing learned), 0.519 (the lag-5 dependency) and
0.454 (both lags); `lags` and `coefs` set the task. The readout-only rule is held to the floor it can reach:
the best readout of the fixed untrained network's states for the lags in use (:func:`best_readout_ce`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.data.rnn_tasks import add_task_floors
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.rnnrules.common import (
    VARIANTS,
    RuleVariants,
    add_stream,
    add_test_ce,
    best_readout_ce,
    build,
    network,
    rule_work,
    train_online,
)
from brainlearn.rules.recurrent import LeakyRNNConfig
from brainlearn.runtime import Config, RunContext, param, require, run_jobs

COMPARED = ("readout", "bptt10", "rtrl", "eprop", "eprop_random", "rflo", "bptt3", "dni3")
"""The rule variants the full comparison runs."""


@dataclass(frozen=True)
class AddConfig(Config):
    renamed = {"train_steps": "steps", "n_hidden": "model.n_hidden", "alpha": "model.alpha", "gain": "model.gain"}

    rules: tuple[str, ...] = param(COMPARED, nonempty=True, help="rule variants compared (fields of variants)")
    model: LeakyRNNConfig = LeakyRNNConfig(n_in=1, n_hidden=32, n_out=2, alpha=1.0, gain=0.5)
    variants: RuleVariants = RuleVariants()
    lr: float = param(1e-3, gt=0, help="Adam learning rate")
    steps: int = param(20_000, ge=1, help="online training steps (one stream, batch 1)")
    test_steps: int = param(2_000, ge=1)
    replicates: int = param(3, ge=1, help="independent networks and streams per rule")
    bin_size: int = param(500, ge=1, help="steps per point of the learning curve")
    lags: tuple[int, ...] = param((5, 9), ge=1, nonempty=True, help="the Add task's dependencies (distinct lags)")
    coefs: tuple[float, ...] = param((0.5, -0.25), help="their weights on P(y = 1) = 0.5 + sum coef x_{t-lag}")

    def __post_init__(self):
        super().__post_init__()
        add_task_floors(self.lags, self.coefs)  # a ConfigError for repeated lags, unequal lengths or P outside [0, 1]
        require(all(r in VARIANTS for r in self.rules), f"rules must be among {sorted(VARIANTS)}, got {self.rules}")
        require(self.model.n_in == 1 and self.model.n_out == 2, "the Add task has model.n_in = 1 and model.n_out = 2")
        require(self.bin_size <= self.steps, "need bin_size <= steps")


def learn(config: AddConfig, rule_name: str, seed: int, replicate: int, device: str) -> dict:
    """One replicate of one rule: its learning curve and its test cross-entropy; for the readout-only rule also
    the floor a readout of the untrained network reaches on the same streams."""
    model = network(config.model, seed, device, replicate)
    rule = build(rule_name, model, "cross_entropy", config.variants, seed, replicate)
    opt = torch.optim.Adam(rule.parameters(), lr=config.lr)
    x, y = add_stream(config.steps, seed, replicate, "data", device, config.lags, config.coefs)
    xt, yt = add_stream(config.test_steps, seed, replicate, "test", device, config.lags, config.coefs)
    out = {}
    if rule_name == "readout":  # before training, which changes only the readout: the states are the same
        out["reachable"] = best_readout_ce(model, x, y, xt, yt)
    curve = train_online(rule, opt, x, y, config.bin_size)
    return {**out, "curve": curve, "test_ce": add_test_ce(model, xt, yt)}


def run(config: AddConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{r}/{k}": (config, r, seed, k, str(ctx.device))
            for r in config.rules for k in range(config.replicates)}
    done = run_jobs(learn, jobs, ctx, desc="rnnrules-add",
                    on_result=lambda name, out: {"job": name, "test_ce": out["test_ce"]})
    metrics, arrays = {}, {}
    for r in config.rules:
        ces = [done[f"{r}/{k}"]["test_ce"] for k in range(config.replicates)]
        metrics[f"{r}_ce_mean"], metrics[f"{r}_ce_best"] = float(np.mean(ces)), float(np.min(ces))
        arrays[f"curve_{r}"] = np.asarray([done[f"{r}/{k}"]["curve"] for k in range(config.replicates)])
    if "readout" in config.rules:
        metrics["readout_reachable"] = float(np.mean([done[f"readout/{k}"]["reachable"]
                                                      for k in range(config.replicates)]))
        metrics["readout_excess"] = metrics["readout_ce_mean"] - metrics["readout_reachable"]
    if "bptt3" in config.rules and "dni3" in config.rules:
        metrics["dni3_gain"] = metrics["bptt3_ce_mean"] - metrics["dni3_ce_mean"]
    return Result(metrics, arrays)


def claims(config: AddConfig) -> list[Claim]:
    paper = papers.HENHA_EYONO
    floors = add_task_floors(config.lags, config.coefs)
    m, first = config.model, config.lags[0]  # the claims name the lags in use
    how = (f"n = {m.n_hidden}, α = {m.alpha:g}, gain {m.gain:g}, Adam {config.lr:g}, "
           f"{config.steps} online steps, test CE over {config.test_steps} steps, "
           f"{config.replicates} replicates; lags {', '.join(map(str, config.lags))}; floors "
           + " / ".join(f"{f:.3f}" for f in floors))
    crit = "the acceptance criterion set for this comparison before any run"
    specs = [
        ("rtrl-learns-both", "rtrl", "mean", "<=", 0.47,
         f"RTRL learns both dependencies (mean test CE near {floors[-1]:.3f})."),
        ("bptt10-learns-both", "bptt10", "mean", "<=", 0.47, "BPTT over 10 steps learns both dependencies."),
        ("eprop-learns", "eprop", "mean", "<=", 0.52, f"Symmetric e-prop learns at least the lag-{first} dependency."),
        ("rflo-best", "rflo", "best", "<=", 0.52, f"RFLO learns the lag-{first} dependency on its best replicate."),
        ("rflo-mean", "rflo", "mean", "<=", 0.62, "RFLO improves on the no-learning floor on average."),
        ("eprop-random-best", "eprop_random", "best", "<=", 0.52, f"Random e-prop learns the lag-{first} dependency on "
         "its best replicate."),
        ("eprop-random-mean", "eprop_random", "mean", "<=", 0.62, "Random e-prop improves on the floor on average."),
    ]
    # the thresholds are for the full budget (20k steps) and the default task; other runs report them ungated
    budget = config.steps >= 20_000
    default_task = (config.lags, config.coefs) == (AddConfig.lags, AddConfig.coefs)
    gated = budget and default_task
    if not budget:
        crit += "; ungated below the 20k-step budget the thresholds are set for"
    if not default_task:
        crit += "; ungated for other lags or coefs than the 5, 9 and 0.5, -0.25 the thresholds are set for"
    known = {  # known non-reproductions at this budget, each analysed on the docs page (e-prop's no longer is)
        "bptt10-learns-both": "docs/experiments/rnnrules.md#bptt10-sits-at-the-threshold",
        "rflo-best": "docs/experiments/rnnrules.md#e-prop-and-rflo-spread-across-seeds",
    }
    out = [Claim(cid, paper, text, f"{rule}_ce_{stat}", cmp, thr, how=how, reason=crit, gated=gated,
                 kind="outcome", **({"expected": "fail", "note": known[cid]} if cid in known and gated else {}))
           for cid, rule, stat, cmp, thr, text in specs if rule in config.rules]
    if "readout" in config.rules:
        p = m.n_out * (m.n_hidden + 1)
        out.append(Claim("readout-reachable", paper, "The readout alone learns no more than the untrained network's "
                         "states carry for the lags in use: its mean test CE is not below the best readout of "
                         "those states (the reachable floor) by more than fitting noise.", "readout_excess", ">=",
                         -0.02, how=how + "; readout_excess = readout-only mean test CE − reachable floor (the "
                         "readout minimising the CE over the untrained network's states on the training stream, "
                         "tested on the test stream)",
                         reason=f"a readout trained on the same stream can beat the best one only by fitting noise, "
                                f"about p / 2N = {p} / (2 x {config.steps}) = {p / (2 * config.steps):.4f} nats "
                                "(the AIC bias of a fitted log-likelihood); 0.02 bounds it from 2,000 steps on "
                                "(replaces readout-floor, >= 0.62, which described the preset's lags and learning "
                                "rate, not what a readout of the network can reach)", gated=budget,
                         kind="limit"))  # for any lags
    if "bptt3" in config.rules and "dni3" in config.rules:
        out.append(Claim("dni-beats-bptt3", paper, "Synthetic gradients extend truncated BPTT: DNI with a "
                         "3-step window beats plain 3-step BPTT by at least 0.02 nats.", "dni3_gain", ">=", 0.02,
                         how=how, reason=crit + " (not calibrated)", gated=gated, kind="outcome"))
    return out


def plot(result: Result, config: AddConfig) -> dict:
    fig, (ax,) = plotting.figure()
    curves = {r: np.asarray(result.arrays[f"curve_{r}"]).mean(0) for r in config.rules}
    steps = (np.arange(len(next(iter(curves.values())))) + 1) * config.bin_size
    plotting.curves(ax, steps, curves, xlabel="online step", ylabel="training CE (nats)",
                    reference=add_task_floors(config.lags, config.coefs)[-1],
                    title="Add task: learning curves (dotted: both-lags floor)", dashed=("readout",))
    return {"learning_curves": fig}


register(Experiment(
    name="rnnrules-add", paper=papers.HENHA_EYONO,
    summary="BPTT, RTRL, e-prop, RFLO, DNI and the readout alone learn the Add task online, against its exact floors",
    presets={"smoke": AddConfig(rules=("readout", "bptt10", "eprop"), steps=200, test_steps=20, bin_size=20,
                                model=LeakyRNNConfig(n_in=1, n_hidden=4, n_out=2, alpha=1.0, gain=0.5), replicates=2),
             "quick": AddConfig(rules=("readout", "bptt10", "eprop"), steps=2000, test_steps=500, replicates=1),
             "full": AddConfig(),
             # the perspective sets no scale of its own (no units, steps, seeds or tasks to match): paper = full
             "paper": AddConfig(),
             "alt": AddConfig(rules=("readout", "bptt10", "eprop"), steps=2000, test_steps=500, replicates=1,
                              lags=(4, 8))},
    run=run, claims=claims, plot=plot,
    work=lambda c: c.replicates * (c.steps + c.test_steps) * rule_work(c.rules, c.model.n_hidden),  # online
))
