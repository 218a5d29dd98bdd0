"""bplambda-copyrepeat: Graves' copy-repeat task with a curriculum; the level each method reaches.

Each method (see ``common``) trains its own LSTM from the same initial weights on the same stream of
batches for `steps` batches; the curriculum steps up (R, then N) whenever a batch's loss is below the
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from brainlearn import papers
from brainlearn.data.copy_repeat import CopyRepeatCurriculum, copy_repeat_batch
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule
from brainlearn.experiments.bplambda.common import LearningConfig, MethodTrainer, plot_learning_curves
from brainlearn.experiments.estimate import steps_work
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig
from brainlearn.runtime import RunContext, isolated_rng, make_generator, param, place, replicate_seed, run_jobs


@dataclass(frozen=True)
class CopyRepeatConfig(LearningConfig):
    """Copy-repeat with a curriculum from N = R = 1; each method gets `steps` batches (one update each)."""

    renamed = LearningConfig.renamed | {"updates": "steps"}

    bits: int = param(8, ge=1, help="bits per pattern step")
    steps: int = param(300, ge=1, help="training batches (updates) per method")
    model: OnlineRNNConfig = OnlineRNNConfig(n_hidden=32, cell="lstm")
    batch_size: int = param(32, ge=1)
    lr: float = param(1e-3, gt=0, help="Adam learning rate of the RNN and readout")
    synth_lr: float = param(1e-5, gt=0, help="Adam learning rate of the synthesiser")
    beta: float = param(1.0, ge=0, help="scale of the synthetic gradient in the learning signal")
    threshold: float = param(0.15, gt=0, help="bits per sequence below which the curriculum steps up")
    max_length: int = param(60, ge=5, help="the curriculum stops growing past this sequence length")


def bce_bits(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy in bits, summed over channels, (B,)."""
    return F.binary_cross_entropy_with_logits(out, target, reduction="none").sum(1) / math.log(2)


def train_method(config: CopyRepeatConfig, seed: int, method: str, device: str = "cpu") -> dict:
    """Train `method` for `config.steps` batches along the curriculum; its level and loss per update."""
    with isolated_rng(replicate_seed(seed)):  # torch's default inits, overwritten or zero (linear synthesiser)
        model = place(OnlineRNN(config.network(config.bits + 2, config.bits + 1),
                                generator=make_generator(replicate_seed(seed))), device)
        trainer = MethodTrainer(method, model, config, bce_bits)
    curriculum = CopyRepeatCurriculum(threshold=config.threshold)
    data = make_generator(replicate_seed(seed, stream="data"))  # the same batches for every method
    levels, losses = [], []
    for _ in range(config.steps):
        x, targets, mask = copy_repeat_batch(curriculum.n, curriculum.r, config.batch_size, data, config.bits)
        loss = trainer.train_batch(x.to(device), targets.to(device), mask)
        nxt = CopyRepeatCurriculum(curriculum.n, curriculum.r)
        nxt.update(0.0)
        if nxt.length <= config.max_length:
            curriculum.update(loss)
        levels.append(curriculum.level)
        losses.append(loss)
    return {"level": levels, "loss": losses, "final": curriculum.state_dict(), "length": curriculum.length}


def run(config: CopyRepeatConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {m: (config, seed, m, str(ctx.device)) for m in config.methods}

    def logged(method: str, out: dict) -> dict:
        final = out["final"]
        return {"step": config.steps, "method": method, "level": final["level"], "n": final["n"], "r": final["r"]}

    done = run_jobs(train_method, jobs, ctx, desc="bplambda-copyrepeat", on_result=logged)
    arrays: dict[str, list] = {"update": list(range(1, config.steps + 1))}
    metrics = {}
    for method, out in done.items():
        arrays[f"{method}_level"], arrays[f"{method}_loss"] = out["level"], out["loss"]
        metrics[f"{method}_level"] = float(out["final"]["level"])
        metrics[f"{method}_length"] = float(out["length"])
    if {"bplambda", "online"} <= set(config.methods):
        metrics["bplambda_minus_online_level"] = metrics["bplambda_level"] - metrics["online_level"]
    if {"bplambda", "dni"} <= set(config.methods):
        metrics["bplambda_minus_dni_level"] = metrics["bplambda_level"] - metrics["dni_level"]
    return Result(metrics, {k: np.asarray(v) for k, v in arrays.items()})


def claims(config: CopyRepeatConfig) -> list[Claim]:
    how = (f"curriculum level reached in {config.steps} updates (batch {config.batch_size}, "
           f"LSTM {config.model.n_hidden})")
    out = [
        Claim("bptt-climbs", papers.BPLAMBDA, "BPTT climbs the copy-repeat curriculum.", "bptt_level", ">=", 1.0,
              how=how, reason="exploratory: a smoke test of the task and curriculum", gated=False, kind="outcome"),
        Claim("bplambda-beats-online", papers.BPLAMBDA, "BP(λ) reaches a higher curriculum level than online learning "
              "without synthetic gradients.", "bplambda_minus_online_level", ">", 0.0, how=how + ", difference",
              reason="exploratory (Jaderberg-style copy-repeat comparison; not calibrated at CPU scale)", gated=False,
              kind="outcome"),
        Claim("bplambda-vs-dni", papers.BPLAMBDA, "BP(λ) reaches at least n-step DNI's curriculum level.",
              "bplambda_minus_dni_level", ">=", 0.0, how=how + ", difference",
              reason="exploratory (not calibrated at CPU scale)", gated=False, kind="outcome"),
    ]
    return predates_aggregate_rule(out, was={"bptt-climbs": "mean", "bplambda-beats-online": "mean",
                                             "bplambda-vs-dni": "mean"})


def plot(result: Result, config: CopyRepeatConfig) -> dict:
    return plot_learning_curves(result, key="level", ylabel="curriculum level")


register(Experiment(
    name="bplambda-copyrepeat", paper=papers.BPLAMBDA,
    summary="Copy-repeat with a curriculum: level reached by BPTT, n-step DNI, online BP(λ) and online without SG",
    presets={
        "quick": CopyRepeatConfig(steps=150, lr=1e-2),
        "full": CopyRepeatConfig(steps=2000),
        # a few seconds, several checkpoints: the contract and fault-injection tests run it
        "smoke": CopyRepeatConfig(steps=6, model=OnlineRNNConfig(n_hidden=4, cell="lstm"), batch_size=4, lr=1e-2),
        # the paper's copy-repeat: LSTM n=100, batch 100, lr 1e-3 (synthesiser 1e-5), up to 15000 epochs of 10
        # batches; its curriculum has no length cap, this one stops growing at max_length
        "paper": CopyRepeatConfig(steps=150_000, model=OnlineRNNConfig(n_hidden=100, cell="lstm"), batch_size=100),
    },
    run=run, claims=claims, plot=plot,
    # updates (over the methods) of batch x 4 units² each (the curriculum's sequence length, unknown before the
    # run, left out)
    work=lambda c: steps_work(c.steps * len(c.methods), c.batch_size * 4 * c.model.n_hidden ** 2), gpu_speedup=2.0,
))
