"""generalisation-diagnosis: when a generative model fails on unseen combinations, is it the encoder or the
decoder? (Montero et al.)

On one failing split (R2R ``sqr2tx`` by default) three models are trained on the same training images:
the generative model (a VAE by default), a *ground-truth decoder* (the true factors -> image: the
decoder half given perfect latents) and a *supervised encoder* (image -> factors: the encoder half
trained to invert the generative process directly). If the ground-truth decoder renders held-out
combinations better than the VAE while the supervised encoder misreads them, the failure sits in the
encoding. One job per (model, replicate), each checkpointed when done.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from brainlearn import papers, plotting
from brainlearn.analysis.disentanglement import best_iou_match, reconstruction_loss
from brainlearn.data.factors import FactorDataset
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
from brainlearn.models.generative import (
    GroundTruthDecoder,
    GroundTruthDecoderConfig,
    SupervisedEncoder,
    SupervisedEncoderConfig,
)
from brainlearn.runtime import Config, RunContext, isolated_rng, make_generator, param, place, replicate_seed, run_jobs

PARTS = ("vae", "gt-decoder", "supervised")

# below the calibrated budget a VAE may still be on its blob-rendering plateau (see this section)
PLATEAU_NOTE = ("docs/experiments/generalisation.md#known-non-reproduction-r2r-decoded-shape-and-r2r-posx-at-the-"
                "quick-budget")
ELL2TX = "recomb2range/ell2tx"  # the alt preset's split: ellipses held out on the right
ELLIPSE_NOTE = "docs/experiments/generalisation.md#known-non-reproduction-at-alt-the-supervised-encoder-on-ellipses"


@dataclass(frozen=True)
class DiagnosisConfig(Config):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    split: str = param("recomb2range/sqr2tx", help="condition/variant of the failing split")
    replicates: int = param(3, ge=1, help="models of each kind; metrics are the median over them")

    def __post_init__(self):
        super().__post_init__()
        parse_split(self.split, self.data.dataset)


def factor_targets(ds: FactorDataset, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape labels ``(n, 1)``, the other varying factors scaled to [0, 1] ``(n, m)``, and the decoder's
    input features (one-hot shape and the scaled factors)."""
    c = ds.classes_of(idx)
    s = ds.factor_index("shape")
    varying = [k for k, n in enumerate(ds.factor_sizes) if n > 1 and k != s]
    cont = np.stack([c[:, k] / (ds.factor_sizes[k] - 1) for k in varying], 1).astype(np.float32)
    labels = torch.as_tensor(c[:, [s]])
    feats = torch.cat([F.one_hot(labels[:, 0], ds.factor_sizes[s]).float(), torch.as_tensor(cont)], 1)
    return labels, torch.as_tensor(cont), feats


def _batches(n: int, m: ModelConfig, seed: int, replicate: int):
    g = make_generator(replicate_seed(seed, replicate, "batches"))
    for _ in range(m.steps):
        yield torch.randint(0, n, (m.batch_size,), generator=g)


def fit_part(config: DiagnosisConfig, part: str, seed: int, replicate: int, device: str) -> dict:
    """Train and evaluate one of the three models (a job of :func:`run`)."""
    ds, m = make_dataset(config.data), config.model
    sets = partition(ds, config.split, config.data, seed, replicate)
    dev = torch.device(device)
    if part == "vae":
        trainer = fit_generative(ds, sets["train"], m, seed, replicate, device)
        metrics, arrays = evaluate(trainer.model, ds, sets, device)
        return {"metrics": metrics, "arrays": {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}}
    labels, cont, feats = factor_targets(ds, sets["train"])
    x = ds.images(sets["train"]).to(dev)
    fam = m.family                      # the diagnostic models share the generative model's architecture
    with isolated_rng(replicate_seed(seed, replicate, "init")):
        net = (GroundTruthDecoder(GroundTruthDecoderConfig(arch=fam.arch, n_latent=fam.n_latent), feats.shape[1],
                                  ds.image_shape) if part == "gt-decoder"
               else SupervisedEncoder(SupervisedEncoderConfig(arch=fam.arch), ds.image_shape,
                                      (ds.factor_sizes[ds.factor_index("shape")],), cont.shape[1]))
    net = place(net, dev)
    opt = torch.optim.Adam(net.parameters(), lr=m.lr)
    labels, cont, feats = labels.to(dev), cont.to(dev), feats.to(dev)
    for idx in _batches(len(x), m, seed, replicate):
        idx = idx.to(dev)
        loss = (net.loss(feats[idx], x[idx]) if part == "gt-decoder" else net.loss(x[idx], labels[idx], cont[idx]))[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    out, arrays = {}, {}
    s, px = ds.factor_index("shape"), ds.factor_index("posX")
    with torch.no_grad():
        for name in ("id", "heldout"):
            lab, cn, ft = factor_targets(ds, sets[name])
            xs = ds.images(sets[name]).to(dev)
            if part == "gt-decoder":
                logits = net(ft.to(dev))
                out[f"bce_{name}"] = float(reconstruction_loss(logits, xs).mean())
                best, _ = best_iou_match(torch.sigmoid(logits) > 0.5, ds.images_uint8, len(ds), device=dev)
                out[f"decoded_shape_{name}"] = float((ds.classes_of(best)[:, s] == lab[:, 0].numpy()).mean())
                if name == "heldout":
                    pick = np.unique(np.linspace(0, len(xs) - 1, 8).astype(np.int64))   # as in common.evaluate
                    arrays["recons"] = (torch.sigmoid(logits[pick]) > 0.5).any(1).cpu()
            else:
                logits, pred = net(xs)
                out[f"shape_acc_{name}"] = float((logits[0].argmax(1).cpu() == lab[:, 0]).float().mean())
                col = [k for k, n in enumerate(ds.factor_sizes) if n > 1 and k != s].index(px)
                y = cn[:, col].numpy()
                out[f"posx_r2_{name}"] = float(1 - ((pred[:, col].cpu().numpy() - y) ** 2).sum()
                                               / ((y - y.mean()) ** 2).sum())
                if name == "heldout":
                    arrays["predicted_shapes"] = torch.bincount(logits[0].argmax(1).cpu(), minlength=3).float()
    if part == "gt-decoder":
        out["bce_ratio"] = out["bce_heldout"] / out["bce_id"]
    return {"metrics": out, "arrays": arrays}


def run(config: DiagnosisConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{p}/r{r}": (config, p, seed, r, str(ctx.device)) for p in PARTS for r in range(config.replicates)}
    done = run_jobs(fit_part, jobs, ctx, desc="generalisation-diagnosis",
                    on_result=lambda name, out: {"job": name, **out["metrics"]} if "vae" not in name else
                    {"job": name, "bce_ratio": out["metrics"]["bce_ratio"]})
    metrics, arrays = {}, {}
    for p in PARTS:
        outs = [done[f"{p}/r{r}"] for r in range(config.replicates)]
        prefix = {"vae": "vae", "gt-decoder": "gt", "supervised": "sup"}[p]
        for name in outs[0]["metrics"]:
            metrics[f"{prefix}_{name}"] = float(np.median([o["metrics"][name] for o in outs]))
        for name, a in outs[0]["arrays"].items():
            arrays[f"{prefix}_{name}"] = a.numpy()
    metrics["gt_over_vae_heldout"] = metrics["gt_bce_heldout"] / metrics["vae_bce_heldout"]
    metrics["sup_shape_gap"] = metrics["sup_shape_acc_id"] - metrics["sup_shape_acc_heldout"]
    metrics["gt_minus_vae_decoded_shape"] = metrics["gt_decoded_shape_heldout"] - metrics["vae_decoded_shape_heldout"]
    return Result(metrics, arrays)


def claims(config: DiagnosisConfig) -> list[Claim]:
    paper = papers.MONTERO
    how = (f"split {config.split}, {config.data.dataset} at {config.data.size} px, {config.model.steps} steps "
           f"each; median over {config.replicates} replicates")
    reason = "the direction of the paper's statement, set before any run: the ratio must fall below 1"
    crit = "the acceptance criterion of the R2R readouts (held-out at least 0.3 below ID), set before any run"
    out = [
        Claim("gt-decoder-renders", paper, "Given the true factors, a decoder renders the held-out combinations "
              "better than the VAE does (the decoding half is not what fails).", "gt_over_vae_heldout", "<", 1.0,
              how=how + "; held-out BCE of the ground-truth decoder / of the VAE", reason=reason, expected="fail",
              note="docs/experiments/generalisation.md#known-non-reproduction-the-ground-truth-decoder-also-fails",
              kind="outcome"),
        Claim("gt-decoded-shape", paper, "The ground-truth decoder's held-out renderings have the right shape "
              "more often than the VAE's.", "gt_minus_vae_decoded_shape", ">", 0.0,
              how=how + "; best-IoU decoded shape, ground-truth decoder minus VAE", reason=reason, gated=False,
              kind="outcome"),
        Claim("supervised-misreads", paper, "A supervised encoder trained to read the factors misreads the "
              "held-out combinations' shape (the encoding half fails).", "sup_shape_gap", ">=", 0.3,
              how=how + "; shape accuracy ID minus held-out", reason=crit, kind="outcome"),
        Claim("supervised-reads-posx", paper, "... while it still reads their position.", "sup_posx_r2_heldout",
              ">=", 0.5, how=how + "; R^2 of the predicted posX on held-out images",
              reason="the R2R posX criterion (R^2 >= 0.5), set before any run", kind="outcome"),
        Claim("vae-encoder-transfer", paper, "The VAE's encoder maps held-out squares outside the square region: a "
              "shape readout of its latents reads them less than halfway from chance to its accuracy on "
              "in-distribution squares.", "vae_shape_transfer", "<=", 0.5, how=how + "; " + TRANSFER_HOW,
              reason=TRANSFER_REASON, kind="outcome"),
    ]
    if config.model.steps < CALIBRATED_STEPS:  # the VAE may still draw blobs: any decoder beats it, no test
        out = [dataclasses.replace(c, gated=False, note=PLATEAU_NOTE) if c.id == "gt-decoder-renders" else c
               for c in out]
    if config.split == ELL2TX:  # the supervised encoder reads held-out ellipses' shape but not their position
        out = [dataclasses.replace(c, expected="fail", note=ELLIPSE_NOTE) if c.id.startswith("supervised-") else c
               for c in out]
    # the transfer is undefined where the probe reads ID images of the held-out shape near chance: always for
    # squares (TRANSFER_NOTE); for another shape the seed decides, so it is reported, not gated
    squares = parse_split(config.split, config.data.dataset)[1].startswith("sqr")
    return [dataclasses.replace(c, expected="fail", note=TRANSFER_NOTE, gated=c.gated and squares)
            if c.id in TRANSFER_CLAIMS else c for c in out]


def plot(result: Result, config: DiagnosisConfig) -> dict:
    a, m = result.arrays, result.metrics
    fig, (ax,) = plotting.figure(1, panel=(4.5, 2.4))
    show_images(ax, [list(a["vae_targets"].astype(float)), list(a["vae_recons"].astype(float)),
                     list(a["gt_recons"].astype(float))], "held-out targets / VAE / ground-truth decoder")
    fig2, axes = plotting.figure(2)
    plotting.bars(axes[0], {"VAE": m["vae_bce_heldout"], "GT decoder": m["gt_bce_heldout"]},
                  ylabel="held-out BCE per image", title="decoding")
    plotting.bars(axes[1], {"sup. shape ID": m["sup_shape_acc_id"], "sup. shape held-out": m["sup_shape_acc_heldout"],
                            "VAE probe held-out": m["vae_shape_probe_heldout"],
                            "sup. posX R2 held-out": max(m["sup_posx_r2_heldout"], 0.0)},
                  ylabel="score", title="encoding")
    return {"diagnosis_reconstructions": fig, "encoder_vs_decoder": fig2}


register(Experiment(
    name="generalisation-diagnosis", paper=papers.MONTERO,
    nan_metrics=TRANSFER_NAN,  # shape transfer is undefined where the probe reads ID squares near chance
    summary="encoder or decoder? ground-truth decoder and supervised encoder on a failing split",
    presets={"quick": DiagnosisConfig(model=ModelConfig(steps=1000), replicates=1), "full": DiagnosisConfig(),
             "smoke": DiagnosisConfig(data=DataConfig(max_eval=40), model=ModelConfig(steps=4, batch_size=8),
                                      replicates=1),
             "paper": DiagnosisConfig(data=DataConfig(dataset="dsprites", size=64, max_eval=5000),
                                      model=ModelConfig(steps=PAPER_STEPS)),
             "alt": DiagnosisConfig(split=ELL2TX, model=ModelConfig(steps=1000), replicates=1)},
    run=run, claims=claims, plot=plot, gpu_speedup=10.0,  # convolutional VAEs on batches of 64 images
    # updates (over replicates) of batch x pixels x ~10⁴ (the VAE's multiply-adds per pixel, both passes)
    work=lambda c: steps_work(c.model.steps * c.replicates, c.model.batch_size * c.data.size ** 2 * 1e4),
))
