"""What the cortico-cerebellar RNN experiments share: the learner config, the replicate jobs, the
image-row tasks (ccrnn-seqdraw and ccrnn-seqclass).

Three learners share one cortex (LSTM + linear readout) and one training stream per replicate:
- cRNN: the cortex alone, truncated BPTT with horizon K;
- ccRNN: the same plus a cerebellum predicting future feedback (synthetic gradients, β = 0.1);
- full BPTT (K = T): the upper bound.

A run over seed s trains `replicates` independent replicates r (seed streams
``replicate_seed(s, r, ...)``); every learner of a replicate starts from the same cortex and sees the same
training sequences, so the comparisons are paired.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from brainlearn import plotting
from brainlearn.data import ImageDataConfig, minibatches
from brainlearn.data.sequences import digit_templates, image_rows, line_targets, trajectory_irregularity
from brainlearn.experiments import Result
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.models.ccrnn import (
    CaptionModelConfig,
    CorticoCerebellarRNN,
    CorticoCerebellarRNNConfig,
    certainty,
    drawing_mse,
    last_step_cross_entropy,
    make_optimizer,
    sparse_mse_loss,
    update,
)
from brainlearn.runtime import (
    Config,
    RunContext,
    choice,
    isolated_rng,
    make_generator,
    param,
    place,
    replicate_seed,
    require,
    run_jobs,
)

KINDS = ("crnn", "ccrnn", "bptt")
NAMES = {"crnn": "cRNN", "ccrnn": "ccRNN", "bptt": "full BPTT"}

#: Keys of the configs before the model's own config was nested (`model.*`).
RENAMED = {"hidden": "model.n_hidden", "cerebellum": "model.cerebellum", "window": "model.window",
           "sg_scale": "model.sg_scale", "bootstrap": "model.bootstrap_discount"}


@dataclass(frozen=True)
class LearnerConfig(Config):
    """Fields every ccRNN experiment shares (the reference's defaults for line drawing). `model` is the
    ccRNN learner's config (its n_in and n_out are set by the task); the cRNN is the same without its
    cerebellum, full BPTT the cRNN with K = T."""

    renamed = RENAMED

    model: CorticoCerebellarRNNConfig = CorticoCerebellarRNNConfig()
    clip: float = param(1.0, ge=0, help="global gradient-norm clip (0 = no clipping)")
    clip_cerebellum: bool = param(True, help="the clip's norm includes the cerebellum's gradients")
    lr: float = param(1e-3, gt=0)
    batch_size: int = param(50, ge=1)
    epochs: int = param(100, ge=1)
    replicates: int = param(10, ge=1, help="independent replicates of cRNN and ccRNN")
    bptt_replicates: int = param(3, ge=0, help="the first this many replicates also train full BPTT")
    ablate_epoch: int = param(0, ge=0, help="epoch at which the cerebellum is lesioned (0 = never)")

    def __post_init__(self):
        super().__post_init__()
        require(self.bptt_replicates <= self.replicates,
                f"bptt_replicates must be in [0, replicates], got {self.bptt_replicates}")
        require(self.model.cerebellum is not None, "model.cerebellum must not be none: the ccRNN learner needs "
                "a cerebellum (the cRNN and full BPTT are built without it)")

    def learner_config(self, kind: str, T: int, window: int | None = None, **sizes
                       ) -> CorticoCerebellarRNNConfig | CaptionModelConfig:
        """`model` for learner `kind` ("crnn", "ccrnn" or "bptt") on sequences of length T, with K = `window`
        (default: the model's) and the task's sizes (`n_in`, `n_out`, ...)."""
        choice(kind, "kind", KINDS)
        return dataclasses.replace(self.model, cerebellum=self.model.cerebellum if kind == "ccrnn" else None,
                                   window=T if kind == "bptt" else (window or self.model.window), **sizes)

    def learner(self, kind: str, n_in: int, n_out: int, T: int, generator: torch.Generator,
                encoder: nn.Module | None = None, window: int | None = None) -> CorticoCerebellarRNN:
        """The learner `kind` for sequences of length T (see :meth:`learner_config`)."""
        config = self.learner_config(kind, T, window, n_in=n_in, n_out=n_out)
        return CorticoCerebellarRNN(config, encoder=encoder, generator=generator)

    def kinds(self, replicate: int) -> tuple[str, ...]:
        return ("crnn", "ccrnn") + (("bptt",) if replicate < self.bptt_replicates else ())


def work(config: LearnerConfig, sequences: int, steps: int, windows: int = 1) -> float:
    """The ``Experiment.work`` of a ccRNN experiment: the time steps (batches x `steps`) of every network trained
    (cRNN and ccRNN per window and replicate, and the BPTT ones), of batch x weights (LSTM and cerebellum) each."""
    m = config.model  # type: ignore[attr-defined]  # every subclass has one
    nets = 2 * config.replicates * windows + config.bptt_replicates
    weights = 4 * m.n_hidden ** 2 + dense_weights(m.n_hidden, *m.cerebellum, m.n_hidden)
    return steps_work(sequences / config.batch_size * config.epochs * steps * nets, config.batch_size * weights)


def run_replicates(train_one: Callable[..., dict], config: LearnerConfig, seed: int, ctx: RunContext,
                   desc: str) -> list[dict]:
    """Train every (replicate, kind) with ``train_one(config, kind, seed, replicate, device) -> dict`` (a
    module-level function, so that ``ctx.workers`` processes can run them); returns one ``{kind: result}``
    per replicate."""
    meta = {f"r{r}-{kind}": (r, kind) for r in range(config.replicates) for kind in config.kinds(r)}
    jobs = {name: (config, kind, seed, r, ctx.device) for name, (r, kind) in meta.items()}

    def record(name: str, result: dict) -> dict:
        r, kind = meta[name]
        return {"step": r + 1, f"{kind}_final": result["final"]}

    results = run_jobs(train_one, jobs, ctx, desc=desc, on_result=record)
    return [{kind: results[f"r{r}-{kind}"] for kind in config.kinds(r)} for r in range(config.replicates)]


def stack(done: list[dict], kind: str, key: str) -> np.ndarray:
    return np.asarray([d[kind][key] for d in done if kind in d], dtype=float)


def frac_below(done: list[dict], kind: str, key: str, other: str) -> float:
    pairs = [(d[kind][key], d[other][key]) for d in done]
    return float(np.mean([a < b for a, b in pairs]))


def mean_curves(ax, arrays: dict, *, xlabel: str, ylabel: str, title: str, **axis) -> None:
    """Each learner's mean curve over its replicates (arrays ``<kind>_curves``, one row per replicate)."""
    curves = {NAMES[k]: arrays[f"{k}_curves"].mean(0) for k in KINDS
              if f"{k}_curves" in arrays and len(arrays[f"{k}_curves"])}
    longest = max((len(c) for c in curves.values()), default=0)
    plotting.curves(ax, np.arange(1, longest + 1), curves, xlabel=xlabel, ylabel=ylabel, title=title, **axis)


def trajectories(arrays: dict, n: int | None = None, title: str | None = None):
    """One panel per learner with drawn paths (arrays ``<kind>_drawn``) over the dashed targets."""
    present = [k for k in KINDS if f"{k}_drawn" in arrays]
    fig, axes = plotting.figure(len(present), panel=(3.2, 3.2), title=title)
    for ax, k in zip(axes, present):
        for tgt, drawn in zip(arrays["target"][:n], arrays[f"{k}_drawn"][:n]):
            ax.plot(tgt[:, 0], tgt[:, 1], color="grey", lw=0.8, ls="--")
            ax.plot(drawn[:, 0], drawn[:, 1], marker="." if n is None else None, lw=1)
        ax.set(title=NAMES[k], aspect="equal")
    return fig


# =====================================================================================================
# Image-row tasks: ccrnn-seqdraw (online line / digit drawing) and ccrnn-seqclass (classification)
# =====================================================================================================
@dataclass(frozen=True)
class RowTaskConfig(LearnerConfig, ImageDataConfig):
    """An image read row by row (T = image height). cRNN and ccRNN are trained at every K in `windows` (the
    K/T sweep); `model.window` is the headline K the claims compare at (it must be one of `windows`)."""

    windows: tuple[int, ...] = param((3,), ge=1, nonempty=True, help="the K of the sweep")
    eval_every: int = param(1, ge=1, help="epochs between test evaluations")

    def __post_init__(self):
        super().__post_init__()
        require(self.model.window in self.windows,
                f"model.window={self.model.window} must be one of windows={self.windows}")


def row_data(config: RowTaskConfig, seed: int):
    """(train rows, train labels, test rows, test labels, classes), on the CPU (shared by every job)."""
    data = config.load(seed)
    return image_rows(data.x_train), data.y_train, image_rows(data.x_test), data.y_test, data.n_classes


def draw_targets(config: RowTaskConfig, labels: torch.Tensor, T: int) -> torch.Tensor:
    if config.task == "line":
        return line_targets(labels, T)
    return digit_templates(T)[labels]


def train_rows(config: RowTaskConfig, kind: str, window: int, seed: int, replicate: int, data, classify: bool,
               device: torch.device) -> dict:
    """Train one learner of replicate `replicate` on an image-row task; returns its eval curve and final
    measures."""
    x_tr, y_tr, x_te, y_te, n_classes = data
    T = x_tr.shape[1]
    t_tr = None if classify else draw_targets(config, y_tr, T).to(device)
    t_te = None if classify else draw_targets(config, y_te, T).to(device)
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in (x_tr, y_tr, x_te, y_te))
    out = n_classes if classify else 2
    init = replicate_seed(seed, replicate)
    with isolated_rng(init):
        model = place(config.learner(kind, x_tr.shape[2], out, T, make_generator(init), window=window), device)
    opt = make_optimizer(model, config.lr)
    shuffle = make_generator(replicate_seed(seed, replicate, "batches"))
    curve = []
    for epoch in range(1, config.epochs + 1):
        for idx in minibatches(len(x_tr), config.batch_size, shuffle):
            loss = (last_step_cross_entropy(y_tr[idx], T) if classify
                    else sparse_mse_loss(t_tr[idx], config.target_every))
            update(model, opt, x_tr[idx], loss, clip=config.clip, clip_cerebellum=config.clip_cerebellum)
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            with torch.no_grad():
                y = model(x_te)
            if classify:
                logits = y[:, -1]
                curve.append(float((logits.argmax(1) == y_te).float().mean()))
            else:
                curve.append(drawing_mse(y, t_te))
    result = {"final": curve[-1], "curve": curve}
    if classify:
        result["certainty"] = certainty(logits)
        result["nll"] = float(torch.nn.functional.cross_entropy(logits, y_te))
    else:
        result["irregularity"] = float(trajectory_irregularity(y))
        result["drawn"] = y[:20].tolist()
    return result


def run_rows(config: RowTaskConfig, seed: int, ctx: RunContext, classify: bool, desc: str) -> list[dict]:
    """For each replicate and each K in the sweep: cRNN and ccRNN; full BPTT once per replicate."""
    data = row_data(config, seed)
    T = data[0].shape[1]
    meta = {f"r{r}-{kind}-K{k}": (r, kind, k)
            for r in range(config.replicates) for k in config.windows for kind in ("crnn", "ccrnn")}
    meta |= {f"r{r}-bptt": (r, "bptt", T) for r in range(config.bptt_replicates)}
    jobs = {name: (config, kind, k, seed, r, data, classify, ctx.device) for name, (r, kind, k) in meta.items()}

    def record(name: str, result: dict) -> dict:
        _, kind, k = meta[name]
        return {f"{kind}_K{k}_final": result["final"]}

    results = run_jobs(train_rows, jobs, ctx, desc=desc, on_result=record)
    return [{"replicate": r, "kind": kind, "window": k, **results[name]} for name, (r, kind, k) in meta.items()]


def row_summary(done: list[dict], config: RowTaskConfig, key: str = "final") -> tuple[dict, dict]:
    metrics, arrays = {}, {}
    for kind in ("crnn", "ccrnn"):
        for k in config.windows:
            vals = [d[key] for d in done if d["kind"] == kind and d["window"] == k]
            metrics[f"{kind}_K{k}_{key}"] = float(np.mean(vals))
        arrays[f"{kind}_sweep"] = np.asarray([metrics[f"{kind}_K{k}_{key}"] for k in config.windows])
    bptt = [d[key] for d in done if d["kind"] == "bptt"]
    metrics[f"bptt_{key}"] = float(np.mean(bptt)) if bptt else float("nan")
    arrays["windows"] = np.asarray(config.windows)
    for kind in KINDS:
        curves = [d["curve"] for d in done
                  if d["kind"] == kind and (kind == "bptt" or d["window"] == config.model.window)]
        arrays[f"{kind}_curves"] = np.asarray(curves)
    return metrics, arrays


def plot_rows(result: Result, config: RowTaskConfig) -> dict:
    a = result.arrays
    fig_sweep, (ax,) = plotting.figure()
    plotting.curves(ax, a["windows"], {"cRNN": a["crnn_sweep"], "ccRNN": a["ccrnn_sweep"]},
                    xlabel="feedback horizon K (steps)", ylabel="final test metric", title="K sweep")
    for line in ax.lines:
        line.set_marker("o")
    fig_curves, (ax,) = plotting.figure()
    mean_curves(ax, a, xlabel="evaluation", ylabel="test metric", title="learning curves")
    figs = {"kt_sweep": fig_sweep, "curves": fig_curves}
    if "target" in a:
        figs["trajectories"] = trajectories(a, n=5)
    return figs
