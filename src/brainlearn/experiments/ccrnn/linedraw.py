"""ccrnn-linedraw: line drawing with cRNN, ccRNN and full BPTT (Pemberton et al. 2021, Fig. 2).

A cue at t = 0 selects one of 7 lines; T = 10, K = 1, feedback every 2nd step. Measures: MSE, the
dysmetria score (trajectory irregularity) and the cosine between the cerebellum's output and the true
future gradient. A run over seed s trains `replicates` independent replicates, so that
``brainlearn verify ccrnn-linedraw --full`` judges the paper's across-seed statements in one run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.data.sequences import (
    circle_points,
    line_drawing,
    straight_lines,
    target_mask,
    trajectory_irregularity,
)
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule, revise
from brainlearn.experiments.ccrnn.common import (
    KINDS,
    NAMES,
    LearnerConfig,
    frac_below,
    run_replicates,
    stack,
    trajectories,
    work,
)
from brainlearn.models.ccrnn import (
    CorticoCerebellarRNNConfig,
    drawing_mse,
    gradient_cosine,
    make_optimizer,
    sparse_mse_loss,
    update,
)
from brainlearn.runtime import RunContext, isolated_rng, make_generator, param, place, replicate_seed, require


@dataclass(frozen=True)
class LineDrawConfig(LearnerConfig):
    """Line drawing: a cue at t = 0, T steps, feedback every `target_every` steps (the model has 1 input and
    2 outputs)."""

    T: int = param(10, ge=3, help="sequence length")
    n_cues: int = param(7, ge=3, help="cues (lines), odd: the middle cue means 'stay'")
    target_every: int = param(2, ge=1, help="feedback at steps t with t % target_every == 0")
    noise: float = param(0.0, ge=0, help="std of the input noise of the training sequences")
    train_size: int = param(800, ge=1, help="fresh training sequences per epoch")
    align_every: int = param(10, ge=1, help="epochs between gradient-alignment measurements")

    def __post_init__(self):
        super().__post_init__()
        require(self.n_cues % 2 == 1, f"n_cues must be odd and >= 3, got {self.n_cues}")
        require(self.train_size >= self.batch_size, "train_size must be >= batch_size")
        require(self.model.n_in == 1 and self.model.n_out == 2,
                f"line drawing has 1 input and 2 outputs: need model.n_in=1, model.n_out=2, got "
                f"{self.model.n_in}, {self.model.n_out}")


def _cue_set(config: LineDrawConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence per cue (the task's whole test distribution, each cue equally likely)."""
    k = torch.arange(config.n_cues)
    x = torch.zeros(config.n_cues, config.T, 1)
    x[:, 0, 0] = 0.1 * (k - config.n_cues // 2).float()
    mid = config.n_cues // 2
    index = torch.where(k == mid, 0, torch.where(k < mid, k + 1, k))
    return x, straight_lines(circle_points(config.n_cues), config.T)[index]


def train_one(config: LineDrawConfig, kind: str, seed: int, replicate: int, device: torch.device) -> dict:
    """Train learner `kind` of replicate `replicate`; its validation curve, drawn paths and alignment."""
    init = replicate_seed(seed, replicate)
    with isolated_rng(init):
        model = place(config.learner(kind, 1, 2, config.T, make_generator(init)), device)
    opt = make_optimizer(model, config.lr)
    # the same training sequences for every learner of a replicate
    stream = make_generator(replicate_seed(seed, replicate, "batches"))
    probe = make_generator(replicate_seed(seed, replicate, "probe"))
    x_eval, y_eval = (t.to(device) for t in _cue_set(config))
    x_align, y_align, _ = line_drawing(config.batch_size, config.T, config.n_cues, generator=probe)
    x_align, y_align = x_align.to(device), y_align.to(device)
    align_loss = sparse_mse_loss(y_align, config.target_every)
    curve, cos_true, cos_disc, align_epoch = [], [], [], []
    for epoch in range(1, config.epochs + 1):
        if config.ablate_epoch and epoch == config.ablate_epoch:
            model.lesion_cerebellum()
        for _ in range(config.train_size // config.batch_size):
            x, y, _ = line_drawing(config.batch_size, config.T, config.n_cues, noise=config.noise,
                                   generator=stream)
            update(model, opt, x.to(device), sparse_mse_loss(y.to(device), config.target_every),
                   clip=config.clip, clip_cerebellum=config.clip_cerebellum)
        with torch.no_grad():
            curve.append(drawing_mse(model(x_eval), y_eval))
        if kind == "ccrnn" and (epoch % config.align_every == 0 or epoch == config.epochs):
            g = model.synthetic_gradients(x_align)
            cos_true.append(gradient_cosine(g, model.future_gradients(x_align, align_loss)))
            cos_disc.append(gradient_cosine(g, model.future_gradients(x_align, align_loss,
                                                                      discount=model.discount)))
            align_epoch.append(epoch)
    with torch.no_grad():
        drawn = model(x_eval)
    return {"final": curve[-1], "curve": curve, "auc": float(np.mean(curve)),
            "irregularity": float(trajectory_irregularity(drawn)), "drawn": drawn.tolist(),
            "cos_true": cos_true, "cos_discounted": cos_disc, "align_epoch": align_epoch}


def run(config: LineDrawConfig, seed: int, ctx: RunContext) -> Result:
    done = run_replicates(train_one, config, seed, ctx, "ccrnn-linedraw")
    x_eval, y_eval = _cue_set(config)
    chance = drawing_mse(y_eval.mean(0, keepdim=True).expand_as(y_eval), y_eval)
    fin = {k: stack(done, k, "final") for k in KINDS}
    irr = {k: stack(done, k, "irregularity") for k in KINDS}
    cos_true = np.asarray([d["ccrnn"]["cos_true"][-1] for d in done])
    cos_disc = np.asarray([d["ccrnn"]["cos_discounted"][-1] for d in done])
    nan = float("nan")
    metrics = {
        "chance_mse": chance,
        "crnn_final_mse_median": float(np.median(fin["crnn"])),
        "ccrnn_final_mse_median": float(np.median(fin["ccrnn"])),
        "crnn_final_mse_mean": float(np.mean(fin["crnn"])),
        "ccrnn_final_mse_mean": float(np.mean(fin["ccrnn"])),
        "bptt_final_mse_max": float(np.max(fin["bptt"])) if len(fin["bptt"]) else nan,
        "bptt_to_crnn_median": float(np.max(fin["bptt"]) / np.median(fin["crnn"])) if len(fin["bptt"]) else nan,
        "ccrnn_minus_crnn_median_mse": float(np.median(fin["ccrnn"]) - np.median(fin["crnn"])),
        "ccrnn_better_frac": frac_below(done, "ccrnn", "final", "crnn"),
        "crnn_auc_mean": float(np.mean(stack(done, "crnn", "auc"))),
        "ccrnn_auc_mean": float(np.mean(stack(done, "ccrnn", "auc"))),
        "crnn_irregularity_mean": float(np.mean(irr["crnn"])),
        "ccrnn_irregularity_mean": float(np.mean(irr["ccrnn"])),
        "bptt_irregularity_mean": float(np.mean(irr["bptt"])) if len(irr["bptt"]) else nan,
        "ccrnn_smoother_frac": frac_below(done, "ccrnn", "irregularity", "crnn"),
        "irregularity_ratio": float(np.mean(irr["ccrnn"]) / np.mean(irr["crnn"])),
        "crnn_learned_frac": float(np.mean(fin["crnn"] < chance / 2)),
        "ccrnn_learned_frac": float(np.mean(fin["ccrnn"] < chance / 2)),
        "cos_future_gradient": float(np.mean(cos_true)),
        "cos_discounted_gradient": float(np.mean(cos_disc)),
    } | _path_measures(done, config)
    arrays = {f"{k}_curves": np.asarray([d[k]["curve"] for d in done if k in d]) for k in KINDS}
    arrays |= {f"{k}_final": fin[k] for k in KINDS} | {f"{k}_irregularity": irr[k] for k in KINDS}
    arrays |= {f"{k}_drawn": np.asarray(done[0][k]["drawn"]) for k in done[0]}
    arrays |= {"target": y_eval.numpy(), "align_epoch": np.asarray(done[0]["ccrnn"]["align_epoch"]),
               "cos_true": np.asarray([d["ccrnn"]["cos_true"] for d in done]),
               "cos_discounted": np.asarray([d["ccrnn"]["cos_discounted"] for d in done])}
    return Result(metrics, arrays)


def _path_measures(done: list[dict], config: LineDrawConfig) -> dict[str, float]:
    """Reported (not gated) diagnostics of the drawn paths, mean over replicates, per learner: the mean
    squared step length (path amplitude, the scale of the irregularity) and the irregularity split into
    second differences centred on steps with a target and on steps without one."""
    at_targets = target_mask(config.T, config.target_every)
    split = bool(at_targets[1:-1].any()) and not bool(at_targets[1:-1].all())
    out = {}
    for kind in KINDS:
        paths = [torch.tensor(d[kind]["drawn"]) for d in done if kind in d]
        if not paths:
            continue
        out[f"{kind}_step_sq_mean"] = float(np.mean([(y[:, 1:] - y[:, :-1]).pow(2).sum(-1).mean() for y in paths]))
        if split:
            out[f"{kind}_irregularity_at_targets"] = float(
                np.mean([trajectory_irregularity(y, at_targets) for y in paths]))
            out[f"{kind}_irregularity_between_targets"] = float(
                np.mean([trajectory_irregularity(y, ~at_targets) for y in paths]))
    return out


# The thresholds were fixed before the full preset was run, from the paper's statements about Fig. 2 and
# the values an earlier implementation of the same setup measured (quoted in each reason); the values
# measured with this implementation are in docs/experiments/ccrnn.md.
def claims(config: LineDrawConfig) -> list[Claim]:
    n = config.replicates
    out = [
        Claim("3a-bptt-solves", papers.PEMBERTON, "Full BPTT (K = T) solves line drawing: final MSE below 0.5 on every "
              "replicate.", "bptt_final_mse_max", "<", 0.5,
              how="validation MSE (summed over x, y; mean over steps and the 7 cues) after the last epoch, max "
              "over the full-BPTT replicates",
              reason="chance is 30.16; an earlier implementation of this setup reached 0.12-0.18 after 1600 "
              "updates, so 0.5 separates a solved task from a partial fit", kind="outcome"),
        Claim("3a-bptt-upper-bound", papers.PEMBERTON, "Full BPTT is the upper bound: far below the truncated cRNN.",
              "bptt_to_crnn_median", "<", 0.2,
              how="worst full-BPTT final MSE / median cRNN final MSE",
              reason="an earlier implementation of this setup measured a ratio of about 0.03; 0.2 asks for "
              "full BPTT at least 5x better than truncation", kind="outcome"),
        Claim("3b-less-dysmetria", papers.PEMBERTON, "The cerebellum reduces dysmetria: ccRNN draws more regular "
              f"trajectories than the cRNN in at least 9 of 10 replicates (here {n}).",
              "ccrnn_smoother_frac", ">=", 0.9,
              how="fraction of replicates whose ccRNN trajectory irregularity (mean squared second difference "
              "of the drawn path over the 7 cues) is below its paired cRNN's",
              reason="the paper's Fig. 2 shows smoother ccRNN paths; an earlier implementation of this setup "
              "found ccRNN smoother in 10/10 replicates, so at most one exception is allowed", kind="outcome"),
        Claim("3b-dysmetria-ratio", papers.PEMBERTON,
              "ccRNN's mean trajectory irregularity is at most 0.75 x the cRNN's.",
              "irregularity_ratio", "<=", 0.75, how="mean ccRNN irregularity / mean cRNN irregularity over "
              "replicates",
              reason="an earlier implementation of this setup measured 0.50; 0.75 asks for a clear reduction",
              kind="outcome"),
        Claim("3c-ccrnn-mse", papers.PEMBERTON, "ccRNN learns better than the cRNN: median final MSE no higher.",
              "ccrnn_minus_crnn_median_mse", "<=", 0.0,
              how="median ccRNN final MSE minus median cRNN final MSE over replicates",
              reason="reported, not gated, because the per-seed outcome is bimodal (an earlier implementation "
              "of this setup: median 3.3 vs 6.2, ccRNN better in 5/10 replicates)", gated=False, kind="outcome"),
        Claim("3d-crnn-learns", papers.PEMBERTON, "The cRNN learns the task: final MSE below half the chance level in "
              "at least 8 of 10 replicates.", "crnn_learned_frac", ">=", 0.8,
              how="fraction of replicates with final MSE < chance/2 (chance = predicting the mean trajectory)",
              reason="the paper's cRNN learns the lines, less well; an earlier implementation "
              "of this setup: 10/10 replicates below half chance, so two exceptions are allowed", kind="outcome"),
        Claim("3d-ccrnn-learns", papers.PEMBERTON, "ccRNN learns the task: final MSE below half the chance level in "
              "at least 8 of 10 replicates.", "ccrnn_learned_frac", ">=", 0.8,
              how="fraction of replicates with final MSE < chance/2",
              reason="an earlier implementation of this setup: 9/10 replicates below half chance, so two "
              "exceptions are allowed", kind="outcome"),
    ]
    if config.replicates > 1:  # the across-replicate statement; one replicate (quick) cannot judge it
        known = {"expected": "fail", "note": DYSMETRIA_ANALYSIS}
        out = revise(out, {"3b-less-dysmetria": known, "3b-dysmetria-ratio": known}, date="2026-12-01",
                     reason="a known non-reproduction: the smoothness benefit fails at two seeds with a faithful "
                            "implementation (the analysis is in the docs); the feedback-step reading stays reported",
                     measured={"3b-less-dysmetria": "full preset: 6/10 (seed 0), 5/10 (seed 1)",
                               "3b-dysmetria-ratio": "full preset: 0.81 (seed 0), 1.12 (seed 1)"},
                     was={"3b-less-dysmetria": "min", "3b-dysmetria-ratio": "max"})
    return predates_aggregate_rule(out, was={"3a-bptt-solves": "max", "3a-bptt-upper-bound": "max",
                                             "3b-less-dysmetria": "min", "3b-dysmetria-ratio": "max",
                                             "3c-ccrnn-mse": "mean", "3d-crnn-learns": "min", "3d-ccrnn-learns": "min"})


DYSMETRIA_ANALYSIS = "docs/experiments/ccrnn.md#known-non-reproduction-3b-less-dysmetria"


def plot(result: Result, config: LineDrawConfig) -> dict:
    a = result.arrays
    present = [k for k in KINDS if f"{k}_drawn" in a]
    fig_traj = trajectories(a, title="drawn trajectories (replicate 0)")
    fig_mse, (ax,) = plotting.figure()
    plotting.curves(ax, np.arange(1, a["crnn_curves"].shape[1] + 1),
                    {f"{NAMES[k]} (median of {len(a[f'{k}_curves'])})": np.median(a[f"{k}_curves"], 0)
                     for k in present if len(a[f"{k}_curves"])},
                    xlabel="epoch", ylabel="validation MSE", yscale="log", title="line drawing")
    fig_bar, (ax,) = plotting.figure()
    plotting.bars(ax, {NAMES[k]: float(np.mean(a[f"{k}_irregularity"])) for k in present},
                  {NAMES[k]: float(np.std(a[f"{k}_irregularity"])) for k in present},
                  ylabel="trajectory irregularity", title="dysmetria score")
    fig_cos, (ax,) = plotting.figure()
    plotting.curves(ax, a["align_epoch"], {"true future gradient": a["cos_true"].mean(0),
                                           "β-discounted (reference fixed point)": a["cos_discounted"].mean(0)},
                    xlabel="epoch", ylabel="cosine", title="cerebellar output vs gradient")
    return {"trajectories": fig_traj, "mse_curves": fig_mse, "dysmetria": fig_bar, "alignment": fig_cos}


register(Experiment(
    name="ccrnn-linedraw", paper=papers.PEMBERTON,
    summary="line drawing with cRNN / ccRNN / full BPTT (T=10, K=1): MSE, dysmetria, gradient alignment",
    presets={
        # quick: one replicate (the test-suite budget) with a 2 x 100 cerebellum; the across-seed statements
        # are judged by the full preset's 10 replicates.
        "quick": LineDrawConfig(replicates=1, bptt_replicates=1,
                                model=CorticoCerebellarRNNConfig(cerebellum=(100, 100)), align_every=50),
        "full": LineDrawConfig(),
        "unbiased": LineDrawConfig(model=CorticoCerebellarRNNConfig(bootstrap_discount="unbiased")),
        "clip-cortex-only": LineDrawConfig(clip_cerebellum=False),
        "lesion": LineDrawConfig(ablate_epoch=50),
        # a few seconds, several checkpoints: the contract and fault-injection tests run it
        "smoke": LineDrawConfig(replicates=2, bptt_replicates=1, epochs=2, train_size=100,
                                model=CorticoCerebellarRNNConfig(cerebellum=(16,)), align_every=1),
        # the paper's Fig. 2: LSTM n=50, cerebellum 2 x 400, K=1, T=10, a target every 2nd step, Adam 1e-3,
        # batch 50, 800 fresh sequences per epoch, 100 epochs, clip 1, 10 seeds: full, with BPTT on all 10 seeds
        "paper": LineDrawConfig(bptt_replicates=10),
    },
    run=run, claims=claims, plot=plot, work=lambda c: work(c, c.train_size, c.T),
))
