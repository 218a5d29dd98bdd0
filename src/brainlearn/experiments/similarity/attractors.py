"""similarity-attractors: DSA vs Procrustes vs CKA on saddle / line / point attractors (Galgali et al.).

The three systems have identical condition averages by construction, so only the trial-to-trial
fluctuations reveal the vector field: DSA tells their dynamics apart, Procrustes and CKA cannot. Each
noise level sigma is one job (its own systems, from replicate seed ``replicate_seed(seed, k)`` of the
k-th sigma), checkpointed when done. CPU only: :mod:`brainlearn.similarity` computes on float64 CPU
tensors and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule
from brainlearn.experiments.estimate import steps_work
from brainlearn.experiments.similarity.common import plot_matrices, plot_mds
from brainlearn.runtime import Config, RunContext, param, replicate_seed, require, run_jobs
from brainlearn.similarity import CKA, DSA, Procrustes, condition_average, nn_accuracy, pairwise, separation_ratio
from brainlearn.similarity import testcases as tc


@dataclass(frozen=True)
class AttractorsConfig(Config):
    sigmas: tuple[float, ...] = param((0.02, 0.05, 0.1, 0.2), ge=0, nonempty=True, help="noise levels")
    n_per_type: int = param(3, ge=2, help="instances per attractor type (>= 2 for within-type distances)")
    n_trials: int = param(100, ge=2, help="trials per system (even: two input conditions)")
    n_steps: int = param(10_000, ge=1, help="Euler steps per trial")
    downsample: int = param(10, ge=1, help="keep every downsample-th step")
    n_delays: int = param(20, ge=1, help="DSA delay-embedding depth d")
    delay_interval: int = param(1, ge=1, help="DSA delay interval tau")
    rank: int = param(15, ge=1, help="DSA DMD rank")
    max_iter: int = param(500, ge=1, help="solver iteration cap per start")
    n_random: int = param(2, ge=0, help="random orthogonal starts per pair")

    def __post_init__(self):
        super().__post_init__()
        require(self.n_trials % 2 == 0, f"n_trials must be even, got {self.n_trials}")
        require(self.n_steps >= self.downsample, "need n_steps >= downsample >= 1")
        require(self.rank <= 2 * self.n_delays,    # checked before any work: the systems are planar
                f"rank={self.rank} exceeds the delay embedding's dimension 2 x n_delays = {2 * self.n_delays}")


METRICS = ("dsa_angular", "dsa_wasserstein", "procrustes", "procrustes_avg", "cka", "cka_avg")


def _key(metric: str, stat: str, sigma: float) -> str:
    return f"{metric}_{stat}_s{sigma:g}"


def noise_level(config: AttractorsConfig, sigma: float, seed: int) -> dict:
    """The six distance matrices of one noise level and their statistics (a job of :func:`run`)."""
    dmd = {"n_delays": config.n_delays, "delay_interval": config.delay_interval, "rank": config.rank}
    angular = DSA(**dmd, max_iter=config.max_iter, n_random=config.n_random)
    wasserstein = DSA(**dmd, score_method="wasserstein")
    systems, labels = tc.attractor_trio(config.n_per_type, sigma, config.n_trials, config.n_steps,
                                        downsample=config.downsample, seed=seed)
    fits = [angular.prepare(X) for X in systems]                       # one DMD per system, shared
    averages = [condition_average(X) for X in systems]
    mats = {
        "dsa_angular": pairwise(fits, angular),
        "dsa_wasserstein": pairwise(fits, wasserstein) ** 2,        # W2^2, the reference's convention
        "procrustes": pairwise(systems, Procrustes()),
        "procrustes_avg": pairwise(averages, Procrustes()),
        "cka": pairwise(systems, CKA()),
        "cka_avg": pairwise(averages, CKA()),
    }
    metrics = {}
    for name, D in mats.items():
        metrics[_key(name, "ratio", sigma)] = separation_ratio(D, labels)
        metrics[_key(name, "nn", sigma)] = nn_accuracy(D, labels)
    return {"metrics": metrics, "matrices": {name: D.tolist() for name, D in mats.items()},
            "labels": labels.tolist()}


def run(config: AttractorsConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"s{sigma:g}": (config, sigma, replicate_seed(seed, k)) for k, sigma in enumerate(config.sigmas)}
    steps = {name: k for k, name in enumerate(jobs)}
    sigma_of = dict(zip(jobs, config.sigmas))

    def record(name: str, out: dict) -> dict:
        s = sigma_of[name]
        return {"step": steps[name], "sigma": s, **{f"{n}_nn": out["metrics"][_key(n, "nn", s)] for n in METRICS}}

    done = run_jobs(noise_level, jobs, ctx, desc="similarity-attractors", on_result=record)
    metrics, arrays = {}, {}
    for name, out in done.items():
        metrics.update(out["metrics"])
        for metric, D in out["matrices"].items():
            arrays[f"D_{metric}_{name}"] = np.asarray(D)
        arrays["labels"] = np.asarray(out["labels"])
    return Result(metrics, arrays)


def claims(config: AttractorsConfig) -> list[Claim]:
    out = []
    how = (f"{config.n_per_type} instances per type, {config.n_trials} trials; DSA d={config.n_delays}, "
           f"rank={config.rank}; ratio = mean between-type / mean within-type distance; 1-NN = leave-one-out")
    ref = "calibrated with the reference library (dsa-metric) on the same test systems"
    if 0.05 in config.sigmas:
        s = 0.05
        out += [
            Claim("dsa-ratio", papers.OSTROW, "Angular DSA separates saddle, line and point attractors whose condition "
                  "averages are identical (sigma = 0.05).", _key("dsa_angular", "ratio", s), ">=", 2.5, how=how,
                  reason=f"{ref}: it gives 4.3 (3.9 at 300 iterations)", kind="outcome"),
            Claim("dsa-nn", papers.OSTROW, "Angular DSA identifies each system's type (sigma = 0.05).",
                  _key("dsa_angular", "nn", s), ">=", 0.9, how=how, reason=f"{ref}: it gives 1.0", kind="outcome"),
            Claim("wasserstein-ratio", papers.OSTROW, "Eigenvalue-Wasserstein DSA separates the three types "
                  "(sigma = 0.05).", _key("dsa_wasserstein", "ratio", s), ">=", 5.0, how=how + " (on W2^2)",
                  reason=f"{ref}: it gives 13.3 on its W2^2 convention", kind="outcome"),
            Claim("procrustes-blind", papers.OSTROW, "Procrustes on trials cannot separate the types.",
                  _key("procrustes", "ratio", s), "<=", 1.4, how=how, reason=f"{ref}: it gives 1.21", kind="outcome"),
            Claim("procrustes-nn-chance", papers.OSTROW, "Procrustes on trials does not identify the types.",
                  _key("procrustes", "nn", s), "<=", 0.5, how=how, reason=f"{ref}: it gives 0.00", kind="outcome"),
            Claim("procrustes-avg-closer", papers.OSTROW, "On condition averages, Procrustes puts different types "
                  "closer than same types (the means are matched).", _key("procrustes_avg", "ratio", s), "<", 1.0,
                  how=how, reason=f"{ref}: it gives 0.52", kind="outcome"),
            Claim("cka-blind", papers.OSTROW, "CKA on trials cannot separate the types.", _key("cka", "ratio", s), "<=",
                  1.4, how=how, reason=f"{ref}: it gives 0.88", kind="outcome"),
            Claim("cka-nn-chance", papers.OSTROW, "CKA on trials does not identify the types.", _key("cka", "nn", s),
                  "<=", 0.5, how=how, reason=f"{ref}: it gives 0.00", kind="outcome"),
            Claim("cka-avg-blind", papers.OSTROW, "CKA on condition averages cannot separate the types.",
                  _key("cka_avg", "ratio", s), "<=", 1.4, how=how,
                  reason="the same bound as cka-blind: no separation beyond a 1.4 between/within ratio",
                  kind="outcome"),
        ]
    for s in config.sigmas:
        if s in (0.05, 0.1):
            out.append(Claim(f"wasserstein-nn-{s:g}", papers.OSTROW, f"Eigenvalue-Wasserstein DSA identifies the types "
                             f"at sigma = {s:g}.", _key("dsa_wasserstein", "nn", s), ">=", 0.9, how=how,
                             reason=f"{ref}: it gives 1.0 at both 0.05 and 0.1", kind="outcome"))
        if s != 0.05:
            out.append(Claim(f"dsa-nn-{s:g}", papers.OSTROW, f"Angular DSA 1-NN accuracy at sigma = {s:g} "
                             "(reported: the separation is non-monotonic in noise).", _key("dsa_angular", "nn", s),
                             ">=", 0.8, how=how, reason="report only; the reference library gives 0.50 / 0.67 / "
                             "0.50 at 0.02 / 0.1 / 0.2", gated=False, kind="outcome"))
    return predates_aggregate_rule(out, was={"dsa-ratio": "mean", "dsa-nn": "mean", "wasserstein-ratio": "mean",
                                             "procrustes-blind": "mean", "procrustes-nn-chance": "mean",
                                             "procrustes-avg-closer": "mean", "cka-blind": "mean",
                                             "cka-nn-chance": "mean", "cka-avg-blind": "mean",
                                             "wasserstein-nn-0.05": "mean", "wasserstein-nn-0.1": "mean",
                                             "dsa-nn-0.1": "mean", "dsa-nn-0.02": "mean", "dsa-nn-0.2": "mean"})


def plot(result: Result, config: AttractorsConfig) -> dict:
    a, m = result.arrays, result.metrics
    labels = np.asarray(a["labels"])
    s0 = 0.05 if 0.05 in config.sigmas else config.sigmas[0]
    mats = {name: np.asarray(a[f"D_{name}_s{s0:g}"]) for name in METRICS}
    fig_nn, (ax,) = plotting.figure()
    plotting.curves(ax, config.sigmas, {name: [m[_key(name, "nn", s)] for s in config.sigmas] for name in METRICS},
                    reference=1 / 3, xlabel="noise sigma", ylabel="1-NN type accuracy", title="saddle / line / point",
                    xscale="log")
    return {"distance_matrices": plot_matrices(mats, labels, f"sigma = {s0:g}"),
            "nn_vs_noise": fig_nn,
            "mds": plot_mds({k: mats[k] for k in ("dsa_angular", "procrustes", "cka")}, labels, f"MDS, sigma = {s0:g}")}


register(Experiment(
    name="similarity-attractors", paper=papers.OSTROW,
    summary="DSA vs Procrustes vs CKA on saddle/line/point attractors with matched condition averages",
    presets={"smoke": AttractorsConfig(sigmas=(0.05, 0.1), n_per_type=2, n_trials=10, n_steps=1000, n_delays=5, rank=5,
                                       max_iter=50),
             "quick": AttractorsConfig(sigmas=(0.05, 0.1), n_steps=10_000), "full": AttractorsConfig(),
             # the paper's saddle / line / point attractors with matched condition averages; its delays, rank and
             # noise levels for this test are not set from the paper: paper = full
             "paper": AttractorsConfig()},
    run=run, claims=claims, plot=plot, cpu_only=True,
    # solver iterations (every pair of systems, per noise level), of ~10 rank³ each
    work=lambda c: steps_work(len(c.sigmas) * (3 * c.n_per_type) ** 2 * c.max_iter, 10 * c.rank ** 3),
))
