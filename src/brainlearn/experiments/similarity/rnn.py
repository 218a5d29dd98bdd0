"""similarity-rnn: do DSA, Procrustes and CKA see leaky RNNs reuse pretrained motifs (arXiv:2410.24070)?

Leaky RNNs (or leaky GRUs, ``architecture="gru"``) learn the composite anti + delay task of a motif family
from scratch (master), after pretraining on its motifs with frozen or unfrozen recurrent weights, after
partial pretraining, or not at all (see :mod:`~brainlearn.experiments.similarity.compositional`). Each
group's stimulus-epoch dynamics are compared with master's, over replicates and over learning. The paper
finds that DSA separates the untrained networks from every trained group and orders the groups as motif
reuse predicts, where Procrustes and CKA do not single out the untrained networks.
"""

from __future__ import annotations

from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.similarity.common import GUILHOT
from brainlearn.experiments.similarity.compositional import (
    LARGE_EFFECT,
    CompositionalConfig,
    plot_figures,
    run_groups,
)
from brainlearn.runtime import RunContext

NOTE = "docs/experiments/similarity-rnn.md#known-non-reproduction-dsa-does-not-single-out-the-untrained-rnns"


def run(config: CompositionalConfig, seed: int, ctx: RunContext) -> Result:
    metrics, arrays = run_groups(config, seed, ctx, "similarity-rnn")
    return Result(metrics, arrays)


def claims(config: CompositionalConfig) -> list[Claim]:
    how = (f"{config.architecture} networks, {config.family} family, {config.n_replicates} replicates per group, "
           f"compared with the same replicate's master after all {config.train_steps} composite-task steps; "
           f"Welch t-tests, Benjamini-Hochberg over the 10 group pairs, partial groups pooled")
    cohen = f"Cohen's conventional large effect, d >= {LARGE_EFFECT}, fixed before any run"
    out = [
        Claim("dsa-untrained-separated", GUILHOT, "Under DSA the untrained networks are farther from master than "
              "every trained group, significantly (FDR-adjusted).", "dsa_untrained_q", "<=", config.alpha,
              how=how + "; the largest adjusted p of untrained vs each trained group (1 if a group is farther)",
              reason=f"the paper reports p <= 2e-3 for every such pair; the conventional level {config.alpha}",
              expected="fail", note=NOTE, kind="outcome"),
        Claim("dsa-untrained-effect", GUILHOT, "Under DSA the untrained networks' separation is a large effect.",
              "dsa_untrained_min_d", ">=", LARGE_EFFECT, how=how + "; the smallest Cohen's d, untrained vs each group",
              reason=cohen, expected="fail", note=NOTE, kind="outcome"),
        Claim("dsa-ordering", GUILHOT, "Under DSA, frozen and unfrozen pretraining are closest to master, partial "
              "pretraining is intermediate and the untrained networks are farthest.", "dsa_ordering", ">=", 1.0,
              how=how + "; 1 when max(mean frozen, mean unfrozen) < mean partial < mean untrained, else 0",
              reason="the ordering the paper expects and reports, as an indicator", expected="fail", note=NOTE,
              kind="outcome"),
        Claim("frozen-unfrozen-alike", GUILHOT, "Under DSA, frozen and unfrozen pretraining are not told apart.",
              "dsa_q_pretrain_frozen_vs_pretrain_unfrozen", ">", config.alpha, how=how,
              reason="the paper reports p = 0.15 for this pair; reported, not gated (a non-significant "
                     "difference is weak evidence at a few replicates)", gated=False, kind="outcome"),
        Claim("procrustes-not-singling-out", GUILHOT, "Procrustes does not single out the untrained networks.",
              "procrustes_singles_out", "<=", 0.0, how=how + f"; singles out = farther than every trained group "
              f"with adjusted p <= {config.alpha} and d >= {LARGE_EFFECT}",
              reason="the paper: Procrustes fails to single out the untrained network (indicator)", kind="outcome"),
        Claim("cka-not-singling-out", GUILHOT, "CKA does not single out the untrained networks.",
              "cka_singles_out", "<=", 0.0, how=how + f"; singles out = farther than every trained group "
              f"with adjusted p <= {config.alpha} and d >= {LARGE_EFFECT}",
              reason="the paper: CKA fails to single out the untrained network (indicator)", kind="outcome"),
        Claim("dsa-tracks-behaviour", GUILHOT, "DSA dissimilarity to master rises with the accuracy difference "
              "to master.", "dsa_acc_gap_rho", ">=", 0.3, how="Spearman correlation over every group, replicate "
              "and checkpoint", reason="the paper's Fig 4 relation, without a number to calibrate on; a "
              "moderate correlation, reported only", gated=False, kind="outcome"),
    ]
    return out


def plot(result: Result, config: CompositionalConfig) -> dict:
    return plot_figures(result, config, f"{config.architecture}, {config.family}")


CPU = dict(dt=200.0, tau=400.0, n_hidden=32, n_delays=5, rank=10)
register(Experiment(
    name="similarity-rnn", paper=GUILHOT,
    summary="DSA vs Procrustes vs CKA on leaky RNNs that reuse pretrained motifs for a composite task",
    presets={
        "quick": CompositionalConfig(**CPU, n_replicates=3, pretrain_steps=30, train_steps=30, n_test=16,
                                     max_iter=100),
        "full": CompositionalConfig(**CPU, n_replicates=3, pretrain_steps=200, train_steps=200),
        "paper": CompositionalConfig(dt=20.0, tau=100.0, n_hidden=128, n_replicates=5, lr=1e-3,
                                     pretrain_steps=3000, train_steps=3000, n_test=64, n_delays=33,
                                     delay_interval=6, rank=50, max_iter=1000),
    },
    run=run, claims=claims, plot=plot,
))
