"""dendritic-dynamics: the dendritic microcircuit in continuous time (Sacramento et al. 2018, arXiv:1810.11393).

The Euler-integrated :meth:`~brainlearn.models.dendritic.DendriticNetwork.simulate` with the paper's
parameters:

- D1: with frozen weights the dynamics settle onto the steady state that the `dendritic` experiment uses.
- D2: S1 of `dendritic` in continuous time: random lateral weights, fixed random top-down weights, random
  input patterns each held `duration` ms, somatic noise, forward and lateral pathways plastic at the
  paper's rates (times `rate_scale`), no target; the apical potentials decay.

One pattern per round of :func:`~brainlearn.runtime.train`, so an interrupted run resumes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig, Dynamics, LearningRates, mean_apical
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, train


@dataclass(frozen=True)
class DynamicsConfig(Config):
    """`network` is the circuit of D1 and D2 with fixed random top-down weights (the experiment sets
    `feedback="random"`; D2 starts from random lateral weights); its `rates` are the paper's, per ms, times
    `rate_scale` in D2."""

    renamed = {"sizes": "network.sizes", "batch": "batch_size"}

    network: DendriticNetworkConfig = DendriticNetworkConfig(sizes=(30, 20, 10))
    settle_ms: float = param(60.0, gt=0, help="D1: integration time from rest (ms)")
    patterns: int = param(60, ge=1, help="D2: input patterns presented")
    batch_size: int = param(4, ge=1, help="D2: circuits sharing the weights")
    duration: float = param(100.0, gt=0, help="D2: ms each pattern is held")
    dt: float = param(0.1, gt=0, le=0.5, help="Euler step (ms; <= 0.5 for a stable step)")
    noise: float = param(0.1, ge=0, help="D2: somatic noise sigma")
    rate_scale: float = param(1.0, gt=0, help="D2: factor on the paper's learning rates")

    def __post_init__(self):
        super().__post_init__()
        require(len(self.network.sizes) >= 3, f"network.sizes need a hidden layer, got {self.network.sizes}")


class Learner:
    """D1 at construction; then D2, one input pattern per round."""

    def __init__(self, config: DynamicsConfig, seed: int, ctx: RunContext):
        self.config, self.device = config, ctx.device
        gen = self.gen = make_generator(replicate_seed(seed, 10))
        network = replace(config.network, feedback="random")
        sizes = network.sizes
        check = ctx.place(DendriticNetwork(network, generator=gen))
        x = torch.rand(8, sizes[0], generator=gen).to(ctx.device)
        target = torch.randn(8, sizes[-1], generator=gen).to(ctx.device)
        dyn, _ = check.simulate(x, target, duration=config.settle_ms, dt=config.dt)
        steady = check.settle(x, target, sweeps=50)
        self.settle_error = max(float((a - b).abs().max())
                                for a, b in zip(dyn.u + dyn.u_int, steady.u + steady.u_int))

        self.net = ctx.place(DendriticNetwork(replace(network, self_predicting=False), generator=gen))
        self.probe = torch.rand(256, sizes[0], generator=gen).to(ctx.device)
        paper, k = config.network.rates, config.rate_scale
        forward = tuple(r * k for r in paper.forward) if isinstance(paper.forward, tuple) else paper.forward * k
        self.rates = LearningRates(forward=forward, ip=paper.ip * k, pi=paper.pi * k, td=paper.td * k)
        self.curve = {"pattern": [0], "apical": [mean_apical(self.net, self.probe)], "t": [], "trace": []}
        self.dyn: Dynamics | None = None

    def step(self, pattern: int) -> dict:
        config = self.config
        x = torch.rand(config.batch_size, config.network.sizes[0], generator=self.gen).to(self.device)
        self.dyn, rec = self.net.simulate(x, duration=config.duration, dt=config.dt, noise=config.noise,
                                          rates=self.rates, dynamics=self.dyn, generator=self.gen,
                                          record_every=max(1, int(round(1.0 / config.dt))))
        self.curve["t"] += rec["t"].tolist()
        self.curve["trace"] += rec["apical"].tolist()
        self.curve["pattern"].append(pattern + 1)
        self.curve["apical"].append(mean_apical(self.net, self.probe))
        return {"dyn_apical": self.curve["apical"][-1]}

    def state_dict(self) -> dict:
        dyn = None if self.dyn is None else {f.name: getattr(self.dyn, f.name) for f in fields(Dynamics)}
        return {"net": self.net.state_dict(), "gen": self.gen.get_state(), "curve": self.curve, "dyn": dyn}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.gen.set_state(state["gen"])
        self.curve = state["curve"]
        self.dyn = None if state["dyn"] is None else Dynamics(**state["dyn"])


def run(config: DynamicsConfig, seed: int, ctx: RunContext) -> Result:
    learner = train(Learner(config, seed, ctx), config.patterns, ctx, desc="dendritic-dynamics")
    curve = learner.curve
    metrics = {"settle_error": learner.settle_error, "dyn_apical_start": curve["apical"][0],
               "dyn_apical_end": curve["apical"][-1], "dyn_apical_drop": 1.0 - curve["apical"][-1] / curve["apical"][0]}
    return Result(metrics, {"dyn_pattern": np.asarray(curve["pattern"]), "dyn_apical": np.asarray(curve["apical"]),
                            "dyn_t": np.asarray(curve["t"]), "dyn_trace": np.asarray(curve["trace"])})


def claims(config: DynamicsConfig) -> list[Claim]:
    out = [
        Claim("D1-settles", papers.SACRAMENTO,
              "The time-continuous dynamics settle onto the steady state used for training.",
              "settle_error", "<=", 1e-3, how=f"max |u_dynamics - u_steady| over all cells after {config.settle_ms} ms "
              "(noise off, frozen weights, a target on)", reason="Euler fixed point = steady state; 60 ms is ~30 "
              "membrane time constants", kind="limit"),
        Claim("D2-self-prediction-dynamics", papers.SACRAMENTO,
              "In continuous time, with noise and the paper's parameters, plasticity learns the self-predicting "
              "state from random lateral weights: apical potentials decay to ~0.", "dyn_apical_drop", ">=", 0.9,
              how="1 - mean|v_A| after / before (settled, probe batch)",
              reason="the line of the steady-state S1-self-prediction (a 90% drop is 'decays to ~0'); measured "
                     "0.943 (quick) and 0.950 (full) on seed 0", kind="outcome"),
    ]
    return predates_aggregate_rule(out, was={"D1-settles": "mean", "D2-self-prediction-dynamics": "mean"})


def plot(result: Result, config: DynamicsConfig) -> dict:
    a = result.arrays
    fig, (ax, ax2) = plotting.figure(2)
    plotting.curves(ax, a["dyn_t"], {"simulated": a["dyn_trace"]}, xlabel="time (ms)",
                    ylabel="mean |v_A| (simulated)", yscale="log", title="D2: apical potential")
    ax2.plot(a["dyn_pattern"], a["dyn_apical"], marker=".")
    ax2.set(xlabel=f"patterns (x {config.duration:g} ms)", ylabel="mean |v_A| (settled probe)", yscale="log",
            title="D2: self-prediction in continuous time")
    return {"self_prediction_dynamics": fig}


register(Experiment(
    name="dendritic-dynamics", paper=papers.SACRAMENTO,
    summary="dendritic microcircuit in continuous time: settling, and learning the self-predicting state",
    presets={"quick": DynamicsConfig(patterns=5, duration=50.0, rate_scale=10.0), "full": DynamicsConfig(),
             "smoke": DynamicsConfig(network=DendriticNetworkConfig(sizes=(6, 5, 3)), settle_ms=5,
                                     patterns=6, duration=5, batch_size=2),
             # the paper's continuous-time learning of the self-predicting state: 30-20-10, each pattern held
             # 100 ms, the scale full runs at: paper = full
             "paper": DynamicsConfig()},
    run=run, claims=claims, plot=plot,
    # integration steps of batch x weights each (small batches of small layers: no gain on a GPU)
    work=lambda c: steps_work(c.patterns * c.duration / c.dt, c.batch_size * dense_weights(*c.network.sizes)),
))
