"""similarity-ssm: the compositional-learning groups with Mamba-style selective state-space models.

The groups of :mod:`~brainlearn.experiments.similarity.common`, with a selective SSM (a linear
embedding, residual Mamba blocks, a linear head; "frozen" trains only the embedding). The paper finds that
under DSA all SSM training groups look alike relative to master, while Procrustes separates almost every
pair of groups.
"""

from __future__ import annotations

from dataclasses import replace

from brainlearn import papers
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.similarity.common import (
    LARGE_EFFECT,
    CompositionalConfig,
    plot_figures,
    run_groups,
)
from brainlearn.experiments.similarity.rnn import compositional_work  # the same networks and DSA as rnn
from brainlearn.models.compositional import CompositionalNetworkConfig
from brainlearn.runtime import RunContext

NOTE = "docs/experiments/similarity-rnn.md#known-non-reproduction-procrustes-does-not-separate-the-ssm-groups"


def run(config: CompositionalConfig, seed: int, ctx: RunContext) -> Result:
    metrics, arrays = run_groups(config, seed, ctx, "similarity-ssm")
    return Result(metrics, arrays)


def claims(config: CompositionalConfig) -> list[Claim]:
    how = (f"{config.model.n_layers}-block selective SSM, d_model {config.model.n_hidden}, {config.family} family, "
           f"{config.replicates} replicates per group, compared with the same replicate's master after all "
           f"{config.steps} composite-task steps; Welch t-tests over the 6 pairs of the 4 trained groups "
           f"(master_frozen, pretrain_frozen, pretrain_unfrozen, pretrain_partial pooled), "
           f"Benjamini-Hochberg over all 10 group pairs")
    how_d = how + f"; fraction of those pairs with |Cohen's d| >= {LARGE_EFFECT}"
    how += f"; fraction of those pairs with adjusted p <= {config.alpha}"
    out = [
        Claim("dsa-groups-alike", papers.GUILHOT, "Under DSA the SSM training groups look alike relative to master.",
              "dsa_frac_significant", "<=", 1 / 6, how=how,
              reason="the paper finds roughly the same DSA dynamics for every group; at most one of six pairs",
              kind="outcome"),
        Claim("procrustes-separates", papers.GUILHOT, "Procrustes separates the SSM training groups.",
              "procrustes_frac_significant", ">=", 0.5, how=how,
              reason="the paper: Procrustes separates almost every pair (all but frozen vs unfrozen); "
                     "at least half of the pairs", expected="fail", note=NOTE, kind="outcome"),
        Claim("procrustes-large-effects", papers.GUILHOT, "Procrustes differences between the SSM training groups are "
              "large effects (reported).", "procrustes_frac_large", ">=", 0.5,
              how=how_d, reason="the same bar as procrustes-separates on effect sizes, which do not depend on the "
                           "number of replicates; reported only", gated=False, kind="outcome"),
        Claim("dsa-small-effects", papers.GUILHOT, "DSA differences between the SSM training groups are small "
              "(reported).", "dsa_frac_large", "<=", 1 / 6,
              how=how_d,
              reason="the same bar as dsa-groups-alike on effect sizes; reported only", gated=False, kind="outcome"),
        Claim("cka-separates", papers.GUILHOT, "CKA on the SSM training groups (reported).",
              "cka_frac_significant", ">=", 0.5, how=how,
              reason="the paper does not report CKA for the SSMs; reported only", gated=False, kind="outcome"),
    ]
    return out


def plot(result: Result, config: CompositionalConfig) -> dict:
    return plot_figures(result, config, f"selective SSM, {config.family}")


CPU = CompositionalNetworkConfig(architecture="ssm", scan="sequential", dt=200.0, n_hidden=16)
QUICK = CompositionalConfig(model=CPU, n_delays=5, rank=10, batch_size=32, replicates=3, pretrain_steps=20, steps=20,
                            n_test=16, max_iter=100)
register(Experiment(
    name="similarity-ssm", paper=papers.GUILHOT,
    summary="DSA vs Procrustes on Mamba-style selective SSMs trained in the compositional-learning groups",
    presets={
        "smoke": replace(QUICK, model=replace(CPU, n_hidden=8), replicates=2, pretrain_steps=2, steps=4,
                         fractions=(0.5, 1.0), n_test=4, batch_size=4, rank=4, n_delays=2, max_iter=20),
        "quick": QUICK,
        "full": CompositionalConfig(model=CPU, n_delays=5, rank=10, batch_size=32, replicates=3, pretrain_steps=100,
                                    steps=100),
        "paper": CompositionalConfig(model=CompositionalNetworkConfig(architecture="ssm", dt=20.0, n_hidden=16,
                                                                      n_layers=2),
                                     replicates=5, lr=1e-3, pretrain_steps=3000, steps=3000, n_test=256, n_delays=33,
                                     delay_interval=6, rank=50, max_iter=1000, dsa_axes="reference"),
        "alt": replace(QUICK, n_delays=7, rank=15),  # the config's own DSA defaults
    },
    run=run, claims=claims, plot=plot, work=compositional_work, gpu_speedup=3.0,
))
