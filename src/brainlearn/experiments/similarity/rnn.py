"""similarity-rnn: do DSA, Procrustes and CKA see leaky RNNs reuse pretrained motifs (arXiv:2410.24070)?

Leaky RNNs (:class:`~brainlearn.models.compositional.CompositionalRNN`; or leaky GRUs,
``--set model.architecture=gru``) learn the composite anti + delay task of a motif family from scratch (master),
after pretraining on its motifs with frozen or unfrozen recurrent weights, after partial pretraining, or not at
all (see :mod:`~brainlearn.experiments.similarity.common`). Each group's stimulus-epoch dynamics are compared
with master's, over replicates and over learning. The paper finds that DSA separates the untrained networks
from every trained group and orders the groups as motif reuse predicts, where Procrustes and CKA do not single
out the untrained networks.
"""

from __future__ import annotations

from dataclasses import replace

from brainlearn import papers
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.estimate import steps_work
from brainlearn.experiments.similarity.common import (
    GROUPS,
    LARGE_EFFECT,
    OTHERS,
    CompositionalConfig,
    plot_figures,
    run_groups,
)
from brainlearn.models.compositional import CompositionalNetworkConfig
from brainlearn.runtime import RunContext

NOTE = "docs/experiments/similarity-rnn.md#known-non-reproduction-dsa-does-not-single-out-the-untrained-rnns"
RANK_BOUND = ("dsa-untrained-separated", "dsa-untrained-effect", "dsa-ordering")


def run(config: CompositionalConfig, seed: int, ctx: RunContext) -> Result:
    metrics, arrays = run_groups(config, seed, ctx, "similarity-rnn")
    return Result(metrics, arrays)


def claims(config: CompositionalConfig) -> list[Claim]:
    how = (f"{config.model.architecture} networks, {config.family} family, {config.replicates} replicates per group, "
           f"compared with the same replicate's master after all {config.steps} composite-task steps; "
           f"Welch t-tests, Benjamini-Hochberg over the 10 group pairs, partial groups pooled")
    cohen = f"Cohen's conventional large effect, d >= {LARGE_EFFECT}, fixed before any run"
    out = [
        Claim("dsa-untrained-separated", papers.GUILHOT, "Under DSA the untrained networks are farther from master "
              "than every trained group, significantly (FDR-adjusted).", "dsa_untrained_q", "<=", config.alpha,
              how=how + "; the largest adjusted p of untrained vs each trained group (1 if a group is farther)",
              reason=f"the paper reports p <= 2e-3 for every such pair; the conventional level {config.alpha}",
              expected="fail", note=NOTE, kind="outcome"),
        Claim("dsa-untrained-effect", papers.GUILHOT, "Under DSA the untrained networks' separation is a large effect.",
              "dsa_untrained_min_d", ">=", LARGE_EFFECT, how=how + "; the smallest Cohen's d, untrained vs each group",
              reason=cohen, expected="fail", note=NOTE, kind="outcome"),
        Claim("dsa-ordering", papers.GUILHOT, "Under DSA, frozen and unfrozen pretraining are closest to master, "
              "partial "
              "pretraining is intermediate and the untrained networks are farthest.", "dsa_ordering", ">=", 1.0,
              how=how + "; 1 when max(mean frozen, mean unfrozen) < mean partial < mean untrained, else 0",
              reason="the ordering the paper expects and reports, as an indicator", expected="fail", note=NOTE,
              kind="outcome"),
        Claim("frozen-unfrozen-alike", papers.GUILHOT, "Under DSA, frozen and unfrozen pretraining are not told apart.",
              "dsa_q_pretrain_frozen_vs_pretrain_unfrozen", ">", config.alpha, how=how,
              reason="the paper reports p = 0.15 for this pair; reported, not gated (a non-significant "
                     "difference is weak evidence at a few replicates)", gated=False, kind="outcome"),
        Claim("procrustes-not-singling-out", papers.GUILHOT, "Procrustes does not single out the untrained networks.",
              "procrustes_singles_out", "<=", 0.0, how=how + f"; singles out = farther than every trained group "
              f"with adjusted p <= {config.alpha} and d >= {LARGE_EFFECT}",
              reason="the paper: Procrustes fails to single out the untrained network (indicator)", kind="outcome"),
        Claim("cka-not-singling-out", papers.GUILHOT, "CKA does not single out the untrained networks.",
              "cka_singles_out", "<=", 0.0, how=how + f"; singles out = farther than every trained group "
              f"with adjusted p <= {config.alpha} and d >= {LARGE_EFFECT}",
              reason="the paper: CKA fails to single out the untrained network (indicator)", kind="outcome"),
        Claim("dsa-tracks-behaviour", papers.GUILHOT, "DSA dissimilarity to master rises with the accuracy difference "
              "to master.", "dsa_acc_gap_rho", ">=", 0.3, how="Spearman correlation over every group, replicate "
              "and checkpoint", reason="the paper's Fig 4 relation, without a number to calibrate on; a "
              "moderate correlation, reported only", gated=False, kind="outcome"),
    ]
    # on the CPU networks the DSA verdict on the untrained networks hinges on the DSA rank (NOTE, hypothesis 2):
    # known failures at the analysed 5 delays and rank 10, reported (not gated) at other DSA settings
    if config.model.n_hidden == CPU.n_hidden and (config.n_delays, config.rank) != (5, 10):
        out = [replace(c, gated=False) if c.id in RANK_BOUND else c for c in out]
    return out


def plot(result: Result, config: CompositionalConfig) -> dict:
    return plot_figures(result, config, f"{config.model.architecture}, {config.family}")


def compositional_work(c: CompositionalConfig) -> float:
    """``Experiment.work``: the networks' training (time steps of ~8 s trials, of batch x 3 x units² each), then
    DSA to master (solver iterations per network and checkpoint, of ~10 rank³ each)."""
    train = steps_work(len(GROUPS) * c.replicates * (c.pretrain_steps + c.steps) * 8000 / c.model.dt,
                       3 * c.batch_size * c.model.n_hidden ** 2)
    return train + steps_work(len(OTHERS) * c.replicates * len(c.fractions) * c.max_iter, 10 * c.rank ** 3)


CPU = CompositionalNetworkConfig(dt=200.0, tau=400.0, n_hidden=32)
QUICK = CompositionalConfig(model=CPU, n_delays=5, rank=10, replicates=3, pretrain_steps=30, steps=30, n_test=16,
                            max_iter=100)
register(Experiment(
    name="similarity-rnn", paper=papers.GUILHOT,
    summary="DSA vs Procrustes vs CKA on leaky RNNs that reuse pretrained motifs for a composite task",
    presets={
        "smoke": replace(QUICK, model=replace(CPU, n_hidden=8), replicates=2, pretrain_steps=2, steps=4,
                         fractions=(0.5, 1.0), n_test=4, batch_size=4, rank=4, n_delays=2, max_iter=20),
        "quick": QUICK,
        "full": CompositionalConfig(model=CPU, n_delays=5, rank=10, replicates=3, pretrain_steps=200, steps=200),
        "paper": CompositionalConfig(model=CompositionalNetworkConfig(dt=20.0, tau=100.0, n_hidden=128), replicates=5,
                                     lr=1e-3, pretrain_steps=3000, steps=3000, n_test=256, n_delays=33,
                                     delay_interval=6, rank=50, max_iter=1000, dsa_axes="reference"),
        # DSA's default rank 15 with 6 delays, the most that quick's 16 test trials allow (208 samples, 192 dims)
        "alt": replace(QUICK, n_delays=6, rank=15),
    },
    run=run, claims=claims, plot=plot, work=compositional_work, gpu_speedup=3.0,
))
