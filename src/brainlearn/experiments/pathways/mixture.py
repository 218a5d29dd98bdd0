"""pathways: Mixture-of-Pathways vs a heterogeneous-MoE baseline on Mod-Cog tasks (arXiv:2506.02813).

One run trains `replicates` MoP models (routing cost + performance scaling + expert dropout) and, with
``baseline=True``, as many baseline models (same architecture, no biases) on continuous streams of mixed
tasks, then measures per task in inference mode the response accuracy, the response-period learned pathway
complexity (LPC) and the routing weights, with and without low-weight experts (self-sufficiency) and with
the largest expert lesioned. Claims A1-A5 compare the two conditions. Replicate r of run seed s draws its
weights from ``replicate_seed(s, r, "init")``, its training windows from its ``data`` stream and its expert
dropout from its ``noise`` stream. The evaluation windows come from the run's ``eval`` stream, shared by all
models of the run (not the training data, unlike the reference).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from brainlearn import papers, plotting
from brainlearn.data.cognitive import N_CLASSES, TaskSuite
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule, revise
from brainlearn.experiments.estimate import steps_work
from brainlearn.models.pathways import (
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
    make_adamw,
    parse_experts,
    pathway_loss,
    set_optimizer_mode,
)
from brainlearn.models.pathways_analysis import (
    DIFFICULTY,
    consistency,
    difficulties,
    distinctness,
    evaluate,
    lpc_rise,
    measure,
    spearman,
)
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

CPU_TASKS = ("rtgo", "rtanti", "go", "anti", "dm1", "dlydm1", "dms", "dlygointr")  # spans the difficulty range


@dataclass(frozen=True)
class PathwaysConfig(Config):
    tasks: tuple[str, ...] = param(CPU_TASKS, nonempty=True, help="Mod-Cog task names (model.n_tasks must match)")
    model: MixtureOfPathwaysConfig = MixtureOfPathwaysConfig(n_tasks=len(CPU_TASKS), experts="0,8,16;0,8,16",
                                                             n_hidden=32, router_dim=32, task_dim=8)
    batch_size: int = param(16, ge=1)
    seq_len: int = param(50, ge=1)
    steps: int = param(100, ge=1)
    replicates: int = param(2, ge=1)
    baseline: bool = True
    optimizer: Literal["schedulefree", "adamw"] = "schedulefree"
    lr: float = param(1e-2, gt=0)
    # the loss's two biases of MoP (the third, expert dropout, is model.expert_dropout; the baseline turns all off)
    alpha: float = param(3e-4, ge=0, help="weight of the routing cost")
    eps: float = param(1e-2, gt=0, help="epsilon of the performance scaling alpha LPC / (L + eps)")
    scaling: bool = True
    detach_denominator: bool = False
    fixation_loss: bool = True
    # evaluation
    eval_batches: int = param(2, ge=1)
    eval_every: int = param(50, ge=1, help="training steps between LPC checkpoints")
    prune_threshold: float = param(0.1, ge=0, lt=1)
    # A1, A4 and A5 are reported but not gated (the quick preset is too short for pathways to form)
    exploratory: bool = False
    difficulty: Literal["measure", "stored"] = param(
        "measure", help="A1's task difficulty: 'measure' measures tasks without a stored value (a single-task GRU, "
                        "seeds 0-2) before training; 'stored' accepts only tasks with a stored value")

    renamed = {"d": "model.n_hidden", **{k: f"model.{k}" for k in (
        "experts", "router_dim", "task_dim", "task_embedding", "cost_exponent", "expert_dropout", "dropout_max_prob",
        "dropout_threshold")}}

    def __post_init__(self):
        super().__post_init__()
        TaskSuite(self.tasks)
        missing = [t for t in self.tasks if t not in DIFFICULTY]
        require(self.difficulty == "measure" or not missing,
                f"difficulty='stored' but no stored difficulty for {', '.join(missing)} (stored: "
                f"{', '.join(DIFFICULTY)}): set difficulty=measure or choose tasks among the stored")
        require(self.model.n_tasks == len(self.tasks), f"model.n_tasks={self.model.n_tasks} must be the number of "
                f"tasks, {len(self.tasks)}: set model.n_tasks={len(self.tasks)} with tasks")

    def baseline_config(self) -> PathwaysConfig:
        """The same architecture and budget with all three biases off."""
        return replace(self, alpha=0.0, scaling=False, model=replace(self.model, expert_dropout=False))


def build_model(config: PathwaysConfig, seed: int, device) -> MixtureOfPathways:
    with isolated_rng(seed):  # nn.Module initialisation draws from the global RNG
        model = MixtureOfPathways(config.model)
    return place(model, device)


def train_model(config: PathwaysConfig, seed: int, replicate: int, device, eval_windows,
                ctx: RunContext | None = None, tag: str = "") -> tuple[MixtureOfPathways, dict]:
    """Train replicate `replicate` of run seed `seed`; returns the model and its curves (loss per step,
    response LPC per task at checkpoints). With `ctx`, logs the loss and LPC every `eval_every` steps."""
    suite = TaskSuite(config.tasks)
    model = build_model(config, replicate_seed(seed, replicate, "init"), device)
    optimizer = make_adamw(model.parameters(), config.lr, schedule_free=config.optimizer == "schedulefree")
    data = suite.stream(config.batch_size, config.seq_len, make_generator(replicate_seed(seed, replicate, "data"),
                                                                          device))
    drops = make_generator(replicate_seed(seed, replicate, "noise"), device)
    curves: dict[str, list] = {"loss": [], "lpc_step": [], "lpc_curve": []}
    k = len(config.tasks)
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            set_optimizer_mode(optimizer, False)
            curves["lpc_step"].append(step)
            curves["lpc_curve"].append(evaluate(model, eval_windows[:2])["lpc"].tolist())
        if step == config.steps:
            break
        model.train()
        set_optimizer_mode(optimizer, True)
        w = next(data)
        out = model(w.inputs, w.task, generator=drops)
        loss, parts = pathway_loss(out.logits, w.targets, w.task, w.fixation_mask, w.response_mask, out.cost, k,
                                   alpha=config.alpha, eps=config.eps, scaling=config.scaling,
                                   detach_denominator=config.detach_denominator, fixation_loss=config.fixation_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        curves["loss"].append(loss.item())
        if ctx is not None and step % config.eval_every == 0:
            ctx.log(step, **{f"{tag}loss": loss.item(), f"{tag}lpc": parts["lpc"].detach().nanmean().item()})
    set_optimizer_mode(optimizer, False)
    model.eval()
    return model, curves


def fit(config: PathwaysConfig, seed: int, replicate: int, device, eval_windows, ctx: RunContext | None = None,
        tag: str = "") -> dict:
    """Train one model and measure it (lists, ready for a checkpoint): one job of :func:`run`."""
    model, curves = train_model(config, seed, replicate, device, eval_windows, ctx, tag)
    measured = measure(model, eval_windows, config.prune_threshold)
    return {**{n: np.asarray(v).tolist() for n, v in measured.items()}, **curves}


def run(config: PathwaysConfig, seed: int, ctx: RunContext) -> Result:
    suite = TaskSuite(config.tasks)
    difficulty = difficulties(config.tasks)  # before training: every task of any subset, on one scale
    evals = suite.stream(config.batch_size, config.seq_len,
                         make_generator(replicate_seed(seed, stream="eval"), ctx.device))
    eval_windows = [next(evals) for _ in range(config.eval_batches)]
    conditions = {"mop": config}
    if config.baseline:
        conditions["baseline"] = config.baseline_config()
    # one job per "<condition>/<replicate>", resumable per model; per-step logging only in this process
    here = ctx if ctx.workers == 1 else None
    jobs = {f"{c}/{r}": (cond, seed, r, str(ctx.device), eval_windows, here, f"{c}{r}_")
            for c, cond in conditions.items() for r in range(config.replicates)}
    done = run_jobs(fit, jobs, ctx, desc="pathways")
    return summarise(config, done, list(conditions), difficulty)


def summarise(config: PathwaysConfig, done: dict, conditions: list[str], difficulty: np.ndarray) -> Result:
    """The metrics and arrays of one run from its finished jobs `done` and the tasks' `difficulty` (K,)."""
    metrics, arrays = {}, {"difficulty": difficulty}
    for cond in conditions:
        runs = [done[f"{cond}/{r}"] for r in range(config.replicates)]
        get = {n: np.array([x[n] for x in runs], float) for n in ("accuracy", "lpc", "routing", "pruned_accuracy",
                                                                    "lesion_accuracy", "lpc_curve")}
        acc = np.nanmean(get["accuracy"], 1)  # per replicate, tasks weighted equally
        pruned = np.nanmean(get["pruned_accuracy"], 1)
        lesion = np.nanmean(get["lesion_accuracy"], 1)
        rho = [spearman(difficulty, lpc) for lpc in get["lpc"]]
        rise = [spearman(difficulty, lpc_rise(c)) for c in get["lpc_curve"]]  # Fig. 6: early rise vs difficulty
        metrics.update({
            f"{cond}_accuracy": float(acc.mean()),
            f"{cond}_lpc": float(np.nanmean(get["lpc"])),
            f"{cond}_rho": float(np.mean(rho)),
            f"{cond}_lpc_consistency": consistency(get["lpc"]),
            f"{cond}_routing_consistency": consistency(get["routing"]),
            f"{cond}_pruned_accuracy": float(pruned.mean()),
            f"{cond}_prune_drop": float((acc - pruned).mean()),
            f"{cond}_lesion_accuracy": float(lesion.mean()),
            f"{cond}_distinctness": float(np.mean([distinctness(r) for r in get["routing"]])),
            f"{cond}_rise_rho": float(np.mean(rise)),
        })
        for n, v in get.items():
            arrays[f"{cond}_{n}"] = v
        arrays[f"{cond}_lpc_step"] = np.asarray(runs[0]["lpc_step"])
        arrays[f"{cond}_loss"] = np.array([x["loss"] for x in runs])
    metrics["mop_accuracy_x_chance"] = metrics["mop_accuracy"] * N_CLASSES
    if "baseline" in conditions:
        metrics["rho_gap"] = metrics["mop_rho"] - metrics["baseline_rho"]
        metrics["lpc_ratio"] = metrics["mop_lpc"] / max(metrics["baseline_lpc"], 1e-12)
        metrics["accuracy_ratio"] = metrics["mop_accuracy"] / max(metrics["baseline_accuracy"], 1e-12)
        metrics["consistency_gap"] = metrics["mop_lpc_consistency"] - metrics["baseline_lpc_consistency"]
        metrics["prune_drop_gap"] = metrics["baseline_prune_drop"] - metrics["mop_prune_drop"]
    return Result(metrics, arrays)


def claims(config: PathwaysConfig) -> list[Claim]:
    """A1-A5: MoP against the baseline, each on the mean over the run's replicates. The thresholds were fixed
    before the first run, from the paper's reported values where it gives them, and not tuned to any result."""
    ungated = config.exploratory  # the quick preset is too short for the pathway claims (see the docs)
    out = [
        Claim("A1-difficulty-lpc", papers.MOP, "Harder tasks recruit more complex experts: difficulty and "
              "response-period LPC correlate across tasks in MoP.", "mop_rho", ">=", 0.5,
              how="Spearman rho(difficulty_i, LPC_i) over the tasks, mean over replicates (inference mode)",
              reason="the paper reports r = 0.54 on 82 tasks; 0.5 asks for a correlation of that size",
              gated=not ungated, kind="outcome"),
        Claim("A1-gap", papers.MOP, "The difficulty-complexity correlation is a product of the biases (baseline ~0).",
              "rho_gap", ">=", 0.4, how="MoP rho minus baseline rho",
              reason="the paper's MoP and baseline correlations are 0.54 and -0.01; 0.4 keeps most of that gap",
              gated=not ungated, kind="outcome"),
        Claim("A2-cost", papers.MOP, "The routing cost shifts tokens to the skip and small experts.", "lpc_ratio",
              "<=", 0.5,
              how="mean response-period LPC of MoP over that of the baseline",
              reason="the cost must at least halve the complexity of the routes the uncosted baseline takes",
              kind="outcome"),
        Claim("A3-accuracy-kept", papers.MOP, "Pathway formation costs only a little accuracy.", "accuracy_ratio",
              ">=", 0.85,
              how="MoP over baseline response accuracy (tasks weighted equally)",
              reason="the paper's ratio is 83 / 91 = 0.91; 0.85 leaves a margin below it", kind="outcome"),
        Claim("A3-above-chance", papers.MOP, "MoP solves the tasks well above chance.", "mop_accuracy_x_chance",
              ">=", 3.0,
              how="MoP response accuracy times 17 classes",
              reason="chance is 1 in 17; three times chance means the tasks are being solved, not guessed",
              kind="outcome"),
        Claim("A4-consistency", papers.MOP, "Independently trained MoP models route the tasks alike (pathways are "
              "consistent); baseline models do not.", "consistency_gap", ">=", 0.3,
              how="mean pairwise Pearson r of per-task LPC vectors across replicates, MoP minus baseline",
              reason="the paper reports 0.51 for MoP against 0.03 for the baseline; 0.3 keeps most of that gap",
              gated=not ungated, kind="outcome"),
        Claim("A5-self-sufficiency", papers.MOP, "MoP pathways are self-sufficient: removing experts with weight < 0.1 "
              "costs MoP less accuracy than the baseline.", "prune_drop_gap", ">", 0.0,
              how="baseline accuracy drop minus MoP accuracy drop when experts with w < 0.1 are removed",
              reason="in the paper MoP drops 11 points and the baseline 82; the claim is the sign of that gap",
              gated=not ungated, kind="outcome"),
    ]
    if not ungated and config.steps < PAPER.steps:
        out = revise(out, {"A5-self-sufficiency": {"expected": "fail", "note": SELF_SUFFICIENCY_ANALYSIS}},
                     date="2026-12-01",
                     measured={"A5-self-sufficiency": "full preset: -0.055 (seed 0), -0.030 (seed 1)"},
                     was={"A5-self-sufficiency": "mean"},
                     reason="a known non-reproduction below the paper's budget: the baseline's routing is not sparse "
                            "after 1200 steps, so pruning removes almost nothing from it (the analysis is in the docs)")
    return predates_aggregate_rule(out, was={"A1-difficulty-lpc": "mean", "A1-gap": "mean", "A2-cost": "mean",
                                             "A3-accuracy-kept": "mean", "A3-above-chance": "mean",
                                             "A4-consistency": "mean", "A5-self-sufficiency": "mean"})


def plot(result: Result, config: PathwaysConfig) -> dict:
    a, figs = result.arrays, {}
    conds = [c for c in ("mop", "baseline") if f"{c}_routing" in a]
    sizes = parse_experts(config.model.experts)
    n_tasks = a[f"{conds[0]}_routing"].shape[1]
    fig, axes = plotting.figure(len(conds), panel=(5, 0.35 * n_tasks + 1.5))
    for ax, c in zip(axes, conds):
        r = a[f"{c}_routing"][0]  # (K, L, E) of the first replicate
        plotting.matrix(ax, r.reshape(len(r), -1), title=f"{c}: routing weights", colorbar=c == conds[-1],
                        vmin=0, vmax=1, aspect="auto")
        ax.set_yticks(range(len(r)), config.tasks, fontsize=7)
        ax.set_xticks(range(r.shape[1] * r.shape[2]),
                      [f"L{i}:{s}" for i, layer in enumerate(sizes) for s in layer], rotation=90, fontsize=7)
    figs["routing"] = fig
    fig, (ax,) = plotting.figure()
    for c in conds:
        ax.scatter(np.repeat(a["difficulty"][None], len(a[f"{c}_lpc"]), 0), a[f"{c}_lpc"], s=12,
                   label=f"{c} (rho {result.metrics[f'{c}_rho']:.2f})")
    ax.set(xlabel="task difficulty (log steps)", ylabel="response-period LPC", title="difficulty vs complexity")
    ax.legend()
    figs["difficulty_lpc"] = fig
    fig, (ax,) = plotting.figure()
    x = np.arange(len(conds))
    for i, (name, label) in enumerate([("accuracy", "intact"), ("pruned_accuracy", "w < 0.1 removed"),
                                       ("lesion_accuracy", "largest expert lesioned")]):
        ax.bar(x + 0.27 * (i - 1), [result.metrics[f"{c}_{name}"] for c in conds], 0.27, label=label)
    ax.set_xticks(x, conds)
    ax.set(ylabel="response accuracy", title="self-sufficiency and lesion")
    ax.legend()
    figs["self_sufficiency"] = fig
    fig, axes = plotting.figure(len(conds))
    for ax, c in zip(axes, conds):
        curve = a[f"{c}_lpc_curve"].mean(0)  # (checkpoints, K)
        plotting.curves(ax, a[f"{c}_lpc_step"], {name: curve[:, t] for t, name in enumerate(config.tasks)},
                        xlabel="training step", ylabel="response LPC", title=f"{c}: LPC over training")
        if curve.shape[1] > 12 and (legend := ax.get_legend()) is not None:  # a legend of every task would not fit
            legend.remove()
    figs["lpc_over_training"] = fig
    return figs


SELF_SUFFICIENCY_ANALYSIS = "docs/experiments/pathways.md#known-non-reproduction-a5-self-sufficiency-at-the-full-budget"
QUICK = PathwaysConfig(exploratory=True)
SMOKE = replace(QUICK, steps=6, batch_size=4, seq_len=30, eval_batches=1, eval_every=1, lr=0.05)
FULL = PathwaysConfig(model=MixtureOfPathwaysConfig(n_tasks=len(CPU_TASKS)), batch_size=32, seq_len=100, steps=1200,
                      replicates=3, alpha=1e-4, eval_batches=8, eval_every=100)
MODCOG = tuple(TaskSuite("modcog/all").names)
# the paper's training: all 82 Mod-Cog tasks, 10 epochs x 1000 steps of batch 128, sequences of 350, α 1e-5,
# tests on 50 batches, 20 runs per condition
PAPER = replace(FULL, tasks=MODCOG, model=MixtureOfPathwaysConfig(n_tasks=len(MODCOG)), batch_size=128, seq_len=350,
                steps=10_000, alpha=1e-5, eval_batches=50, eval_every=1000, replicates=20)
# the alt preset's tasks: the other members of the quick tasks' families (go, anti, decision, match), none of CPU_TASKS
ALT_TASKS = ("dlygo", "dlyanti", "dm2", "ctxdm1", "multidm", "dlydm2", "dnms", "dmc")

register(Experiment(
    name="pathways-mixture", aliases=("pathways",), paper=papers.MOP,
    nan_metrics=("*_rho",),  # Spearman correlations are undefined for fewer than 3 tasks or a constant
    seed_schemes=(2,),  # scheme-1 runs drew their data from the weights' seed: not resumable
    summary="Mixture-of-Pathways vs heterogeneous-MoE baseline on Mod-Cog: difficulty vs complexity, "
            "consistency, self-sufficiency",
    presets={"smoke": SMOKE, "quick": QUICK, "full": FULL, "paper": PAPER,
             "no-cost": replace(FULL, alpha=0.0), "no-scaling": replace(FULL, scaling=False),
             "no-dropout": replace(FULL, model=replace(FULL.model, expert_dropout=False)),
             "alpha-1e-4": replace(FULL, alpha=1e-4), "alpha-1e-6": replace(FULL, alpha=1e-6),
             "detached": replace(FULL, detach_denominator=True),
             "alt": replace(QUICK, tasks=ALT_TASKS)},
    run=run, claims=claims, plot=plot, gpu_speedup=5.0,  # batches of 128 x 350 steps of GRU experts
    # time steps (of MoP and the baseline over the replicates) of batch x 3 x the experts' squared widths
    work=lambda c: steps_work(c.steps * c.seq_len * c.replicates * (1 + c.baseline), 3 * c.batch_size
                              * sum(int(e) ** 2 for layer in c.model.experts.split(";") for e in layer.split(","))),
))

__all__ = ["PathwaysConfig", "build_model", "claims", "fit", "plot", "run", "summarise", "train_model"]
