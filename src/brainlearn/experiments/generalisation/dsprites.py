"""generalisation-dsprites: do generative models generalise to unseen factor combinations? (Montero et al.)

One model per (split, replicate) is trained on the split's training images and evaluated on an
in-distribution test set and on the held-out combinations: reconstruction BCE, the decoded factors of
each reconstruction (its best-IoU match in the whole rendered grid), logistic / linear readouts of
shape and posX from the latent means, and where held-out encodings land. The default splits are the
dSprites-lite tier: R2R ``sqr2tx`` (squares never seen on the right half), a large R2E (36 corner
squares at scale 1) and a small R2E (4 central squares at scale 1). Each job is checkpointed when done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.estimate import steps_work
from brainlearn.experiments.generalisation.common import (
    CALIBRATED_STEPS,
    PAPER_STEPS,
    TRANSFER_CLAIMS,
    TRANSFER_HOW,
    TRANSFER_NAN,
    TRANSFER_NOTE,
    TRANSFER_REASON,
    DataConfig,
    ModelConfig,
    evaluate,
    fit_generative,
    make_dataset,
    parse_split,
    partition,
    show_images,
)
from brainlearn.runtime import Config, RunContext, param, require, run_jobs

QUICK_NOTE = "docs/experiments/generalisation.md#known-non-reproduction-r2r-bce-at-the-quick-budget"
SMALL_BCE_NOTE = "docs/experiments/generalisation.md#known-non-reproduction-at-alt-r2e-small-bce-at-the-quick-budget"
# under seed scheme 2 the 1,000-step VAE has often not yet learnt to render shape (seeds 0-2): see this section
QUICK_SHAPE_NOTE = ("docs/experiments/generalisation.md#known-non-reproduction-r2r-decoded-shape-and-r2r-posx-at-the-"
                    "quick-budget")
R2R, R2E_LARGE, R2E_SMALL = "recomb2range/sqr2tx", "recomb2element/sqr_corner", "recomb2element/sqr_centre"
SHAPES = ("square", "ellipse", "heart")


@dataclass(frozen=True)
class DSpritesConfig(Config):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    splits: tuple[str, ...] = param((R2R, R2E_LARGE, R2E_SMALL), nonempty=True,
                                    help="condition/variant of each split (brainlearn.data.splits)")
    replicates: int = param(3, ge=1, help="models per split; metrics are the median over them")

    def __post_init__(self):
        super().__post_init__()
        for s in self.splits:
            parse_split(s, self.data.dataset)
        require(len(set(self.splits)) == len(self.splits), f"splits repeat: {self.splits}")


def key(split: str) -> str:
    return split.partition("/")[2]


def fit_and_evaluate(config: DSpritesConfig, split: str, seed: int, replicate: int, device: str) -> dict:
    """Train one model on `split` and evaluate it (a job of :func:`run`)."""
    ds = make_dataset(config.data)
    sets = partition(ds, split, config.data, seed, replicate)
    trainer = fit_generative(ds, sets["train"], config.model, seed, replicate, device)
    metrics, arrays = evaluate(trainer.model, ds, sets, device)
    metrics["n_heldout"] = float(len(sets["heldout"]))
    return {"metrics": metrics, "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}}


def run(config: DSpritesConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{key(s)}/r{r}": (config, s, seed, r, str(ctx.device)) for s in config.splits
            for r in range(config.replicates)}

    def record(name: str, out: dict) -> dict:
        m = out["metrics"]
        return {"job": name, "bce_ratio": m["bce_ratio"], "decoded_shape_heldout": m["decoded_shape_heldout"]}

    done = run_jobs(fit_and_evaluate, jobs, ctx, desc="generalisation-dsprites", on_result=record)
    metrics, arrays = {}, {}
    for s in config.splits:
        outs = [done[f"{key(s)}/r{r}"] for r in range(config.replicates)]
        for name in outs[0]["metrics"]:
            metrics[f"{key(s)}_{name}"] = float(np.median([o["metrics"][name] for o in outs]))
        for name, a in outs[0]["arrays"].items():
            arrays[f"{key(s)}_{name}"] = a.numpy()
    if R2E_LARGE in config.splits and R2E_SMALL in config.splits:
        metrics["exclusion_effect"] = metrics[f"{key(R2E_LARGE)}_bce_ratio"] - metrics[f"{key(R2E_SMALL)}_bce_ratio"]
    return Result(metrics, arrays)


def claims(config: DSpritesConfig) -> list[Claim]:
    paper = papers.MONTERO
    fam = config.model.family
    how = (f"{config.data.dataset} at {config.data.size} px, {config.model.kind} ({fam.arch}, "
           f"z={fam.n_latent}), {config.model.steps} steps; median over {config.replicates} replicates; "
           "decoded factors = best-IoU match of the binarised reconstruction in the whole grid")
    crit = ("the acceptance criterion set before any run, from the dSprites-lite calibration "
            "(3 shapes x 2 scales x 16 x 16 positions at 32 px, conv VAE, 1.5k-3k steps)")
    out = []
    if R2R in config.splits:
        k = key(R2R)
        out += [
            Claim("r2r-bce", paper, "Recombination-to-range fails: held-out squares on the right are reconstructed "
                  "worse than in-distribution images.", f"{k}_bce_ratio", ">=", 1.3, how=how + "; BCE held-out / ID",
                  reason=crit, kind="outcome"),
            Claim("r2r-decoded-shape", paper, "Held-out squares are rendered with the wrong shape: decoded-shape "
                  "accuracy falls at least 0.3 below its in-distribution value.", f"{k}_decoded_shape_gap", ">=",
                  0.3, how=how + "; ID minus held-out decoded-shape accuracy", reason=crit, kind="outcome"),
            Claim("r2r-shape-transfer", paper, "The encoder fails too: a logistic shape readout fitted on training "
                  "encodings reads held-out squares less than halfway from chance to its accuracy on in-distribution "
                  "squares.", f"{k}_shape_transfer", "<=", 0.5, how=how + "; " + TRANSFER_HOW,
                  reason=TRANSFER_REASON, kind="outcome"),
            Claim("r2r-shape-probe-id", paper, "The shape readout works in distribution (above chance).",
                  f"{k}_shape_probe_id", ">=", 0.45, how=how, reason=crit + "; chance is 1/3", kind="outcome"),
            Claim("r2r-posx", paper, "The failure is shape-specific: posX is still read out linearly from held-out "
                  "encodings.", f"{k}_posx_r2_heldout", ">=", 0.5, how=how + "; ridge regression R^2", reason=crit,
                  kind="outcome"),
        ]
    if R2E_SMALL in config.splits:
        k = key(R2E_SMALL)
        out += [
            Claim("r2e-small-bce", paper, "Recombination-to-element with few excluded combinations succeeds: "
                  "held-out images are reconstructed about as well as ID ones.", f"{k}_bce_ratio", "<=", 1.2,
                  how=how + "; BCE held-out / ID", reason=crit, kind="outcome"),
            Claim("r2e-small-decoded", paper, "... and are decoded with the right shape (within 0.1 of ID).",
                  f"{k}_decoded_shape_gap", "<=", 0.1, how=how, reason=crit, kind="outcome"),
            Claim("r2e-small-shape-transfer", paper, "... and their encodings are read as squares: the logistic shape "
                  "readout gets at least halfway from chance to its accuracy on in-distribution squares.",
                  f"{k}_shape_transfer", ">=", 0.5, how=how + "; " + TRANSFER_HOW, reason=TRANSFER_REASON,
                  kind="outcome"),
        ]
    if R2E_LARGE in config.splits and R2E_SMALL in config.splits:
        out.append(Claim("exclusion-size", paper, "Excluding more combinations hurts: the BCE ratio of the 36-image "
                         "R2E split exceeds that of the 4-image split by more than 0.3.", "exclusion_effect", ">",
                         0.3, how=how + "; difference of BCE ratios", reason=crit, kind="outcome"))
    if config.model.steps < CALIBRATED_STEPS:
        notes = {"r2r-bce": QUICK_NOTE, "r2r-decoded-shape": QUICK_SHAPE_NOTE, "r2r-posx": QUICK_SHAPE_NOTE,
                 "r2e-small-bce": SMALL_BCE_NOTE}
        out = [dataclasses.replace(c, expected="fail", note=notes[c.id]) if c.id in notes else c for c in out]
    return [dataclasses.replace(c, expected="fail", note=TRANSFER_NOTE) if c.id in TRANSFER_CLAIMS else c
            for c in out]


def plot(result: Result, config: DSpritesConfig) -> dict:
    a, m = result.arrays, result.metrics
    ks = [key(s) for s in config.splits]
    figs = {}
    fig, axes = plotting.figure(len(ks), panel=(3.2, 1.8))
    for ax, k in zip(axes, ks):
        show_images(ax, [list(a[f"{k}_targets"].astype(float)), list(a[f"{k}_recons"].astype(float))],
                    f"{k}: held-out targets / reconstructions")
    figs["heldout_reconstructions"] = fig
    fig, axes = plotting.figure(len(ks), panel=(3.2, 2.6))
    for ax, k in zip(axes, ks):
        show_images(ax, list(a[f"{k}_traversal"]), f"{k}: latent traversals (+-2 sd)")
    figs["traversals"] = fig
    fig, axes = plotting.figure(len(ks))
    for ax, k in zip(axes, ks):
        plotting.bars(ax, {"shape probe ID": m[f"{k}_shape_probe_id"], "shape probe ID squares":
                           m[f"{k}_shape_probe_matched"], "shape probe held-out": m[f"{k}_shape_probe_heldout"],
                           "decoded shape ID": m[f"{k}_decoded_shape_id"],
                           "decoded shape held-out": m[f"{k}_decoded_shape_heldout"],
                           "posX R2 held-out": max(m[f"{k}_posx_r2_heldout"], 0.0)}, ylabel="score", title=k)
    figs["readouts"] = fig
    fig, axes = plotting.figure(len(ks))
    for ax, k in zip(axes, ks):
        tr, sh = a[f"{k}_map_train"], a[f"{k}_map_train_shape"]
        for c, name in enumerate(SHAPES):
            ax.scatter(tr[sh == c, 0], tr[sh == c, 1], s=4, alpha=0.4, label=f"train {name}")
        ho = a[f"{k}_map_heldout"]
        ax.scatter(ho[:, 0], ho[:, 1], s=14, marker="x", color="k", label="held-out")
        ax.set(xlabel="PC 1", ylabel="PC 2", title=f"{k}: latent means")
        ax.legend()
    figs["latent_map"] = fig
    return figs


QUICK = DSpritesConfig(model=ModelConfig(steps=1000), splits=(R2R,), replicates=1)
SMOKE = DSpritesConfig(data=DataConfig(max_eval=40), model=ModelConfig(steps=4, batch_size=8), splits=(R2R, R2E_SMALL),
                       replicates=2)
register(Experiment(
    name="generalisation-dsprites", paper=papers.MONTERO,
    nan_metrics=TRANSFER_NAN,  # shape transfer is undefined where the probe reads ID squares near chance
    summary="VAEs on dSprites splits: R2R fails through the shape encoding, small R2E succeeds",
    presets={"quick": QUICK, "full": DSpritesConfig(), "smoke": SMOKE,
             "paper": DSpritesConfig(data=DataConfig(dataset="dsprites", size=64, max_eval=5000),
                                     model=ModelConfig(steps=PAPER_STEPS),
                                     splits=(R2R, "recomb2element/leave1out", "extrp/blank_side"), replicates=3),
             "alt": dataclasses.replace(QUICK, splits=(R2E_SMALL,))},
    run=run, claims=claims, plot=plot, gpu_speedup=10.0,  # convolutional VAEs on batches of 64 images
    # updates (over splits and replicates) of batch x pixels x ~10⁴ (the VAE's multiply-adds per pixel, both passes)
    work=lambda c: steps_work(c.model.steps * len(c.splits) * c.replicates,
                              c.model.batch_size * c.data.size ** 2 * 1e4),
))
