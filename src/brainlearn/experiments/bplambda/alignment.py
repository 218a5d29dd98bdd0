"""bplambda-alignment: how well a BP(λ) synthesiser predicts the true future gradient, per λ and time step.

A fixed linear RNN, a binary cue, a target only at the last step. Only the synthesiser learns (by
BP(λ)); we measure the cosine between its prediction g(s_t) and the true future gradient ∂L/∂s_t from
autograd. λ = 1 (γ = 1) regresses onto the true gradient and aligns at once; λ = 0 bootstraps and is
biased early on, most at long delays; the bias fades with updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.analysis import cosine
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule, revise
from brainlearn.experiments.bplambda.common import mse_loss
from brainlearn.experiments.estimate import steps_work
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig, future_gradients, online_gradients
from brainlearn.nn import Synthesiser, SynthesiserConfig
from brainlearn.rules.bplambda import BPLambda, BPLambdaConfig
from brainlearn.runtime import (
    Config,
    RunContext,
    isolated_rng,
    make_generator,
    param,
    place,
    replicate_seed,
    require,
    run_jobs,
)


@dataclass(frozen=True)
class ToyRNNConfig(OnlineRNNConfig):
    """The toy task's fixed network: a linear vanilla RNN of 30 units, 10 cue inputs, 2 outputs."""

    n_in: int = param(10, ge=1, help="cue width (the cue state is s_0 = W_in c)")
    n_hidden: int = param(30, ge=1, help="recurrent units")
    n_out: int = param(2, ge=1, help="readout width (the task's target (0, 1) needs 2)")
    cell: Literal["rnn", "lstm"] = param("rnn", help="vanilla RNN or LSTM")
    nonlinearity: Literal["tanh", "linear"] = param("linear", help="the vanilla cell's f")
    spectral_radius: float = param(0.95, gt=0, help="the vanilla cell's spectral radius (fixed: it does not learn)")


@dataclass(frozen=True)
class AlignmentConfig(Config):
    """The toy task of the paper.

    A fixed RNN (`model`: linear, model.n_hidden units, spectral radius model.spectral_radius) starts in
    the cue state s_0 = W_in c of a random binary cue c (model.n_in values) and receives zeros
    afterwards; a 2-D target (0, 1) is given only at step T = `delay`. Only the synthesiser learns. Each
    run repeats the task for `replicates` task seeds (replicates 0, 1, ... of the run seed) so that "on
    every seed" is a property of one run.
    """

    renamed = {"n_hidden": "model.n_hidden", "n_cue": "model.n_in", "spectral_radius": "model.spectral_radius",
               "updates": "steps", "long_updates": "long_steps"}

    model: ToyRNNConfig = ToyRNNConfig()
    n_cues: int = param(1, ge=1, help="distinct cue patterns in a batch (1: a batch of identical sequences)")
    lambdas: tuple[float, ...] = param((0.0, 0.5, 1.0), ge=0, le=1, help="λ values at delay T = `delay`")
    gamma: float = param(1.0, ge=0, le=1)
    delay: int = param(10, ge=1, help="steps T from the cue state to the target")
    long_delay: int = param(30, ge=1)
    long_lambdas: tuple[float, ...] = param((0.0, 1.0), ge=0, le=1, help="λ values at `long_delay`")
    steps: int = param(120, ge=1, help="updates after which the alignment claims are read")
    long_steps: int = param(600, ge=1, help="updates of the 'bias fades' check (delay `delay`, every λ)")
    replicates: int = param(3, ge=1, le=1000, help="task seeds at `delay`")
    long_replicates: int = param(2, ge=1, le=1000, help="task seeds at `long_delay`")
    batch_size: int = param(10, ge=1)
    lr: float = param(1e-3, gt=0)
    clip: float = param(1.0, gt=0, help="norm bound of each step's synthesiser update")
    synth_hidden: tuple[int, ...] = param((), ge=1, help="hidden widths of the synthesiser (empty: linear)")

    def __post_init__(self):
        super().__post_init__()
        require(self.long_steps >= self.steps, f"long_steps must be >= steps ({self.steps}), got {self.long_steps}")
        require(self.model.n_out == 2, f"the target (0, 1) has 2 values: need model.n_out=2, got {self.model.n_out}")
        require(self.batch_size >= self.n_cues, f"batch_size must be >= n_cues, got {self.batch_size}")
        require(0.0 in self.lambdas and 1.0 in self.lambdas, f"lambdas must include 0 and 1, got {self.lambdas}")
        require(len(set(self.lambdas)) == len(self.lambdas) and len(set(self.long_lambdas)) == len(self.long_lambdas),
                "lambdas and long_lambdas must not repeat a value")


def _toy_task(config: AlignmentConfig, delay: int, task_seed: int, device: str):
    """The fixed RNN (placed on `device`) and one batch: the cue state s_0 = W_in cue (B, n), zero inputs
    x (B, delay, model.n_in), targets and mask (the target (0, 1) at the last step only). The network and
    the cues are drawn, in that order, from one generator seeded with `task_seed`."""
    gen = make_generator(task_seed)
    n_cue = config.model.n_in
    model = OnlineRNN(config.model, generator=gen)
    cues = (torch.rand(config.n_cues, n_cue, generator=gen) < 0.5).float()
    cues = cues[torch.arange(config.batch_size) % config.n_cues].to(device)
    model = place(model, device)
    with torch.no_grad():
        state0 = model.cell(model.initial_state(cues[:, None]), cues)
    x = torch.zeros(config.batch_size, delay, n_cue, device=device)
    targets = torch.zeros(config.batch_size, delay, 2, device=device)
    targets[:, :, 1] = 1.0
    mask = torch.zeros(delay, dtype=torch.bool)
    mask[-1] = True
    return model, state0, x, targets, mask


def train_synthesiser(config: AlignmentConfig, lam: float, delay: int, steps: int, seed: int, replicate: int,
                      read_at: dict[str, int], device: str = "cpu") -> dict:
    """Train a zero-initialised synthesiser by BP(λ) for `steps` updates on task `replicate` of run seed
    `seed` (its network and cues from the replicate's ``init`` stream); cosines to the true gradient.

    Returns {"cue": cosine at the cue state s_0 after every update (a list of `steps` floats),
             "profile": {name: cosine per state s_0..s_{T-1} after update read_at[name] (`delay` floats)}}.
    """
    task_seed = replicate_seed(seed, replicate, "init")
    with isolated_rng(task_seed):  # torch's default init of the readout, overwritten from `task_seed`
        model, state0, x, targets, mask = _toy_task(config, delay, task_seed, device)
        synth = place(Synthesiser(SynthesiserConfig(model.state_dim, config.synth_hidden)), device)
    true = future_gradients(model, x, targets, mask, mse_loss, state0)[:-1]  # s_0..s_{T-1}; G_T = 0
    states = torch.cat([state0[:, None], model(x, state0)[1][:, :-1]], 1).transpose(0, 1)  # (T, B, n)
    learner = BPLambda(synth, BPLambdaConfig(gamma=config.gamma, lam=lam, clip=config.clip))
    opt = torch.optim.Adam(learner.parameters, lr=config.lr)
    cue, profile = [], {}
    for update in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        online_gradients(model, x, targets, mask, mse_loss, learner=learner, train_rnn=False, state0=state0)
        learner.accumulate_grad()
        opt.step()
        with torch.no_grad():
            cos = cosine(synth(states.flatten(0, 1)).view_as(states), true).mean(1)  # (T,)
        cue.append(float(cos[0]))
        for name, at in read_at.items():
            if update == at:
                profile[name] = cos.cpu().tolist()
    return {"cue": cue, "profile": profile}


def run(config: AlignmentConfig, seed: int, ctx: RunContext) -> Result:
    device = str(ctx.device)
    jobs, what = {}, {}
    for lam in config.lambdas:  # T = delay, read after `steps` and after `long_steps`
        for r in range(config.replicates):
            name = f"T{config.delay}-lam{lam:g}-r{r}"
            jobs[name] = (config, lam, config.delay, config.long_steps, seed, r,
                          {"early": config.steps, "late": config.long_steps}, device)
            what[name] = ("short", lam, r)
    for lam in config.long_lambdas:  # T = long_delay, read after `steps`
        for r in range(config.long_replicates):
            name = f"long-T{config.long_delay}-lam{lam:g}-r{r}"
            jobs[name] = (config, lam, config.long_delay, config.steps, seed, r, {"early": config.steps}, device)
            what[name] = ("long", lam, r)

    def logged(name: str, out: dict) -> dict:
        kind, lam, r = what[name]
        if kind == "short":
            return {"step": r + 1, "lam": lam, "replicate": r, "cos_cue": out["cue"][config.steps - 1],
                    "cos_cue_late": out["cue"][-1]}
        return {"step": 0, "lam": lam, "replicate": r, "delay": config.long_delay, "cos_cue": out["cue"][-1]}

    done = run_jobs(train_synthesiser, jobs, ctx, desc="bplambda-alignment", on_result=logged)

    metrics, arrays = {}, {}
    short = {lam: [] for lam in config.lambdas}
    faded = {lam: [] for lam in config.lambdas}
    long = {lam: [] for lam in config.long_lambdas}
    for name, out in done.items():
        kind, lam, r = what[name]
        if kind == "short":
            short[lam].append(out["cue"][config.steps - 1])
            faded[lam].append(out["cue"][-1])
            if r == 0:
                arrays[f"curve_lam{lam:g}"] = np.asarray(out["cue"])
                arrays[f"profile_lam{lam:g}"] = np.asarray(out["profile"]["early"])
                arrays[f"profile_late_lam{lam:g}"] = np.asarray(out["profile"]["late"])
        else:
            long[lam].append(out["cue"][-1])
            if r == 0:
                arrays[f"profile_long_lam{lam:g}"] = np.asarray(out["profile"]["early"])
    for lam in config.lambdas:
        metrics[f"cos_lam{lam:g}_mean"] = float(np.mean(short[lam]))
        metrics[f"cos_lam{lam:g}_min"] = float(np.min(short[lam]))
        metrics[f"cos_late_lam{lam:g}_min"] = float(np.min(faded[lam]))
        arrays[f"cos_lam{lam:g}"] = np.asarray(short[lam])
    for lam in config.long_lambdas:
        metrics[f"cos_long_lam{lam:g}_mean"] = float(np.mean(long[lam]))
        metrics[f"cos_long_lam{lam:g}_min"] = float(np.min(long[lam]))
    m0, m1 = metrics["cos_lam0_mean"], metrics["cos_lam1_mean"]
    metrics["gap_lam1_minus_lam0"] = m1 - m0
    middle = [lam for lam in config.lambdas if 0 < lam < 1]
    metrics["middle_between"] = min((min(metrics[f"cos_lam{lam:g}_mean"] - m0, m1 - metrics[f"cos_lam{lam:g}_mean"])
                                     for lam in middle), default=float("nan"))
    metrics["cos_late_min"] = min(metrics[f"cos_late_lam{lam:g}_min"] for lam in config.lambdas)
    return Result(metrics, arrays)


def claims(config: AlignmentConfig) -> list[Claim]:
    u, ul, d, dl = config.steps, config.long_steps, config.delay, config.long_delay
    how = f"cosine between g(s_cue) and autograd's ∂L/∂s_cue after {u} updates, T={d}"
    out = [
        Claim("lambda1-aligned", papers.BPLAMBDA,
              "With λ = 1 the synthetic gradient aligns with the true BPTT gradient.",
              "cos_lam1_min", ">=", 0.95, how=how + f", min over {config.replicates} task seeds",
              reason="λ = 1, γ = 1 regresses onto the true gradient without bias; measured 1.00 on task seeds "
                     "0-2, so 0.95 leaves room for rounding and optimiser noise", kind="limit"),
        Claim("lambda-ordering", papers.BPLAMBDA, "Larger λ removes the bootstrapping bias: λ = 1 aligns far better "
              "than λ = 0 early in learning.", "gap_lam1_minus_lam0", ">=", 0.3,
              how=how + ", mean over task seeds, λ=1 minus λ=0",
              reason="a gap of 0.3 in cosine is far beyond seed-to-seed noise; measured 0.319 on task seed 0 "
                     "and 0.314 over task seeds 0-2", kind="outcome"),
        Claim("lambda-middle", papers.BPLAMBDA, "Intermediate λ lies between λ = 0 and λ = 1.", "middle_between",
              ">=", 0.0,
              how=how + ", min over intermediate λ of the margins to λ=0 and λ=1 means",
              reason="the ordering itself: measured margins 0.018 (task seed 0) and 0.019 (task seeds 0-2)",
              kind="outcome"),
        Claim("long-lambda1", papers.BPLAMBDA, "BP(1) stays aligned at long delays ('particularly suited for longer "
              "timescales').", "cos_long_lam1_min", ">=", 0.95,
              how=f"cosine at the cue state after {u} updates, T={dl}, min over {config.long_replicates} task seeds",
              reason="as for T=10, the unbiased λ = 1 target should align at any delay; measured 0.9997-1.000 on "
                     "task seeds 0-1", kind="limit"),
        Claim("long-lambda0-biased", papers.BPLAMBDA, "One-step bootstrapping (λ = 0) is still biased at long delays.",
              "cos_long_lam0_mean", "<=", 0.8,
              how=f"cosine at the cue state after {u} updates, T={dl}, mean over {config.long_replicates} task seeds",
              reason="measured 0.776 (task seed 0) and 0.360 (task seed 1): λ = 0 varies widely between seeds, "
                     "so only a mean well below λ = 1's 1.0 is claimed", kind="outcome"),
        Claim("bias-fades", papers.BPLAMBDA,
              "The bootstrapping bias is transient: every λ aligns given enough updates.",
              "cos_late_min", ">=", 0.85,
              how=f"cosine at the cue state after {ul} updates, T={d}, min over λ and task seeds",
              reason="measured λ = 0 at 600 updates: 0.852, 0.984, 0.947 on task seeds 0-2 (λ = 0.5 and 1 are "
                     "higher); λ = 0's cosine oscillates between 0.6 and 0.9 over updates under Adam's noise",
                     kind="limit"),
    ]
    out = predates_aggregate_rule(out, was={"lambda-ordering": "mean", "lambda-middle": "mean",
                                            "long-lambda0-biased": "mean"})
    if config.replicates == 1:  # one task seed (quick): the gap is one draw from a wide spread, see the docs
        out = revise(out, {"lambda-ordering": {"expected": "fail", "note": ORDERING_ANALYSIS}}, date="2026-12-07",
                     reason="seed scheme 2 changed the quick preset's task seed: its gap is one draw from a spread "
                            "(0.16-1.14 over five seeds) that straddles 0.3; a known non-reproduction at one task "
                            "seed, the median over seeds holds",
                     measured={"lambda-ordering": "quick, seed 0: 0.319 (scheme 1), 0.232 (scheme 2)"})
    return out


ORDERING_ANALYSIS = "docs/experiments/bplambda.md#bplambda-alignment-under-seed-scheme-2"


def _lambdas(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    return {f"λ={key.removeprefix(prefix)}": value for key, value in arrays.items() if key.startswith(prefix)}


def plot(result: Result, config: AlignmentConfig) -> dict:
    a = result.arrays
    figs = {}
    for key, title in (("profile", f"T={config.delay}, {config.steps} updates"),
                       ("profile_late", f"T={config.delay}, {config.long_steps} updates"),
                       ("profile_long", f"T={config.long_delay}, {config.steps} updates")):
        ys = _lambdas(a, f"{key}_lam")
        fig, (ax,) = plotting.figure()
        steps = np.arange(max(len(y) for y in ys.values()))
        plotting.curves(ax, steps, ys, xlabel="time step (0 = cue state)", ylabel="cos(g(s_t), ∂L/∂s_t)",
                        title=title, ylim=(-1.05, 1.05))
        figs[f"cosine_per_step_{key.replace('profile', '').strip('_') or 'early'}"] = fig
    ys = _lambdas(a, "curve_lam")
    fig, (ax,) = plotting.figure()
    plotting.curves(ax, np.arange(1, max(len(y) for y in ys.values()) + 1), ys, xlabel="update",
                    ylabel="cosine at the cue state", title=f"alignment over learning, T={config.delay}")
    ax.axvline(config.steps, color="grey", lw=0.8, ls="--")
    figs["alignment_curves"] = fig
    return figs


register(Experiment(
    name="bplambda-alignment", paper=papers.BPLAMBDA,
    summary="BP(λ) synthesiser on a fixed linear RNN: cosine to the true BPTT gradient vs λ and time step",
    presets={
        # With one cue pattern the batch holds identical sequences, so its size does not change the update
        # (the batch mean of identical terms); both presets use 1 sequence for speed (--set batch_size=10
        # gives the paper's batch, same numbers up to rounding). quick: one task seed; full: 3 (T=10) + 2 (T=30).
        "quick": AlignmentConfig(batch_size=1, replicates=1, long_replicates=1),
        "full": AlignmentConfig(batch_size=1),
        "lambdas": AlignmentConfig(lambdas=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0)),
        # a few seconds, several checkpoints: the contract and fault-injection tests run it
        "smoke": AlignmentConfig(delay=3, long_delay=4, steps=4, long_steps=4, replicates=2, long_replicates=1,
                                 batch_size=1),
        # the paper's toy task: fixed linear RNN n=30, T=10, batch 10, lr 1e-4, 10 epochs x 100 batches
        "paper": AlignmentConfig(batch_size=10, lr=1e-4, long_steps=1000),
    },
    run=run, claims=claims, plot=plot,
    # time steps (updates x delay, over the λs and task seeds) of units² each (the batch's sequences are identical)
    work=lambda c: steps_work(c.long_steps * c.delay * len(c.lambdas) * c.replicates
                              + c.steps * c.long_delay * len(c.long_lambdas) * c.long_replicates,
                              c.model.n_hidden ** 2),
))
