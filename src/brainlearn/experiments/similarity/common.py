"""What the similarity experiments share: the distance-matrix figures, and for similarity-rnn and similarity-ssm
the compositional-learning groups, their training and the comparison.

**Groups** (every network of one replicate starts from the same initial weights and sees the same
composite-task training batches):

- ``master``: trained on the composite task (anti + delay) directly, all weights;
- ``master_frozen``: the same, input layer only;
- ``pretrain_frozen`` / ``pretrain_unfrozen``: pretrained on basic, anti and delay, then trained on the
  composite task with the input layer only / all weights;
- ``partial_<rules>``: pretrained on one or two rules (basic, anti, delay, basic+anti, basic+delay,
  anti+delay), then input layer only; pooled as ``pretrain_partial`` in the statistics;
- ``untrained``: the initial network.

Composite-task training is checkpointed at fixed fractions of its steps. At each checkpoint the hidden
states in the stimulus epoch of fixed composite-task test trials (the same trials for every network) are
recorded, and each group's network is compared with the master network of the same replicate at the same
fraction, under DSA, Procrustes and CKA (one :func:`~brainlearn.similarity.pairwise` call per replicate,
fraction and metric, all groups at once).

**DSA axis order.** The states are (trials, time, units), which is what :class:`~brainlearn.similarity.DSA`
reads: trials are independent trajectories and the delay embedding runs along time. ``dsa_axes="reference"``
passes them as (time, trials, units) instead, the reading of the reference code, which hands DSA
(time, batch, units) arrays so that it embeds across trials at each time step.

**Units.** DSA is the angle in radians in [0, pi]; Procrustes and CKA are the paper's dissimilarities
2 theta_P / pi and 2 arccos(CKA) / pi in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import stats
from torch.nn import functional as F

from brainlearn import plotting
from brainlearn.data.cognitive.motifs import COMPOSITE, MotifTasks
from brainlearn.models.compositional import CompositionalNetworkConfig, build_network
from brainlearn.runtime import Config, isolated_rng, make_generator, param, place, replicate_seed, require, run_jobs
from brainlearn.similarity import CKA, DSA, Procrustes, classical_mds, pairwise
from brainlearn.similarity.stats import compare_groups

PANEL = (3.2, 3.2)


def plot_matrices(mats: dict[str, np.ndarray], labels, title: str):
    """One panel per ``name -> (n, n)`` distance matrix, rows and columns labelled with the (n,) `labels`."""
    fig, axes = plotting.figure(len(mats), panel=PANEL, title=title)
    for ax, (name, D) in zip(axes, mats.items()):
        plotting.matrix(ax, D, [str(lab) for lab in labels], title=name)
    return fig


def plot_mds(mats: dict[str, np.ndarray], labels: np.ndarray, title: str):
    """One panel per ``name -> (n, n)`` distance matrix: its 2-d classical MDS, coloured by (n,) `labels`."""
    fig, axes = plotting.figure(len(mats), panel=PANEL, title=title)
    for ax, (name, D) in zip(axes, mats.items()):
        Y = classical_mds(D)
        for lab in dict.fromkeys(labels):
            sel = labels == lab
            ax.scatter(Y[sel, 0], Y[sel, 1], label=str(lab), s=20)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend()
    return fig


# ------------------------------------------------------------------------------------------------
# similarity-rnn and similarity-ssm: the compositional-learning groups

PARTIAL = ("basic", "anti", "delay", "basic+anti", "basic+delay", "anti+delay")
LINEAGES = {"scratch": ("master", "master_frozen", "untrained"),
            "pretrain": ("pretrain_frozen", "pretrain_unfrozen"),
            **{p: (f"partial_{p}",) for p in PARTIAL}}
GROUPS = tuple(g for groups in LINEAGES.values() for g in groups)
OTHERS = tuple(g for g in GROUPS if g != "master")                 # compared with master
POOLED = ("master_frozen", "pretrain_frozen", "pretrain_unfrozen", "pretrain_partial", "untrained")
TRAINED = POOLED[:-1]
METRICS = ("dsa", "procrustes", "cka")
LARGE_EFFECT = 0.8                                                 # Cohen's conventional "large" d


@dataclass(frozen=True)
class CompositionalConfig(Config):
    model: CompositionalNetworkConfig = CompositionalNetworkConfig()
    family: Literal["pdm", "gonogo"] = param("pdm", help="task family: pdm (perceptual decision making) or gonogo")
    replicates: int = param(3, ge=2, help="networks per group (each replicate its own initial weights)")
    lr: float = param(1e-2, gt=0, help="Adam learning rate")
    batch_size: int = param(64, ge=1, help="trials per training step")
    clip: float = param(1.0, gt=0, help="gradient-norm clipping threshold")
    l2: float = param(1e-4, ge=0, help="L2 penalty on the trained weights")
    response_weight: float = param(5.0, gt=0, help="loss weight of the decision steps relative to the others")
    pretrain_steps: int = param(300, ge=1, help="training steps on the pretraining rules")
    steps: int = param(300, ge=1, help="training steps on the composite task")
    fractions: tuple[float, ...] = param((0.25, 0.5, 0.75, 1.0), gt=0, le=1, nonempty=True,
                                         help="fractions of composite training at which networks are compared")
    n_test: int = param(32, ge=2, help="composite-task test trials whose states are compared")
    drop_ms: float = param(500.0, ge=0, help="stimulus-epoch transient left out, in ms")
    n_delays: int = param(7, ge=1, help="DSA delay-embedding depth d")
    delay_interval: int = param(1, ge=1, help="DSA delay interval tau")
    rank: int = param(15, ge=1, help="DSA DMD rank")
    max_iter: int = param(300, ge=1, help="DSA solver iteration cap per start")
    n_random: int = param(2, ge=0, help="DSA random orthogonal starts per pair")
    dsa_axes: Literal["trials", "reference"] = param("trials", help="trials: (trials, time, units); reference: "
                                                                   "(time, trials, units)")
    alpha: float = param(0.05, gt=0, lt=1, help="significance level of the FDR-adjusted tests")

    renamed = {"n_replicates": "replicates", "train_steps": "steps",
               **{k: f"model.{k}" for k in ("architecture", "n_hidden", "n_layers", "d_state", "scan", "activation",
                                            "dt", "tau", "sigma_rec")}}

    def __post_init__(self):
        super().__post_init__()
        require((self.model.n_in, self.model.n_out) == (MotifTasks.n_inputs, MotifTasks.n_outputs),
                f"the motif tasks have {MotifTasks.n_inputs} inputs and {MotifTasks.n_outputs} outputs: "
                f"model.n_in and model.n_out must match, got {self.model.n_in} and {self.model.n_out}")
        require(list(self.fractions) == sorted(set(self.fractions)), f"fractions must increase, got {self.fractions}")
        require(all(round(f * self.steps) >= 1 for f in self.fractions),
                f"every fraction of steps={self.steps} must be at least one step")
        # known before any training: DSA's rank is at most the delay embedding's dimension and its sample count
        dim = self.n_delays * self.model.n_hidden
        require(self.rank <= dim, f"rank={self.rank} exceeds the delay embedding's dimension n_delays x "
                                  f"model.n_hidden = {dim}")
        samples = self.dsa_samples()
        require(self.rank <= samples, f"rank={self.rank} exceeds the {samples} delay-embedded samples of the "
                                      f"n_test={self.n_test} test trials' stimulus epochs")
        require(samples >= dim, f"the {samples} delay-embedded samples are fewer than the embedding's {dim} "
                                "dimensions (n_delays x model.n_hidden): use fewer delays or more test trials")

    def dsa_samples(self) -> int:
        """How many delay-embedded samples DSA fits: (trials) x (time points left after the delays), with
        trials and time swapped on the reference axes."""
        window = MotifTasks(self.family, dt=self.model.dt).stimulus_steps(self.drop_ms)   # checks drop_ms too
        trials, time = self.n_test, window.stop - window.start
        if self.dsa_axes == "reference":
            trials, time = time, trials
        return trials * max(0, time - (self.n_delays - 1) * self.delay_interval)


def checkpoint_steps(config: CompositionalConfig) -> list[int]:
    return [round(f * config.steps) for f in config.fractions]


def _loss(logits, batch, config: CompositionalConfig, params) -> torch.Tensor:
    """Cross-entropy over the valid steps, decision steps weighted by response_weight, plus the L2 term."""
    ce = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="none").view_as(batch.targets)
    w = batch.valid.float() * torch.where(batch.response_mask, config.response_weight, 1.0)
    l2 = sum(p.square().sum() for p in params if p.ndim > 1)
    return (ce * w).sum() / w.sum() + config.l2 * l2


def _accuracy(logits, batch) -> float:
    """Fraction of decision steps of the (test) trials on which the argmax output is the target."""
    mask = batch.response_mask
    return float((logits.argmax(-1) == batch.targets)[mask].float().mean())


def _train(net, params, tasks, rules, steps, data, noise, config, device, record=None, at=()):
    opt = torch.optim.Adam(params, lr=config.lr)
    losses = []
    for i in range(steps):
        batch = tasks.trials(config.batch_size, data, rules).to(device)
        logits, _ = net(batch.inputs, noise=noise)
        loss = _loss(logits, batch, config, params)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.clip)
        opt.step()
        losses.append(float(loss.detach()))
        if i + 1 in at:
            record()
    return losses


def train_lineage(config: CompositionalConfig, seed: int, replicate: int, lineage: str, device: str = "cpu") -> dict:
    """One replicate's networks of one lineage (see LINEAGES): pretraining if any, then composite training
    with its checkpoints. Returns ``{group: {"states": (F, n_test, T, H) float32, "acc": [F], "loss": [...]}}``."""
    tasks = MotifTasks(config.family, dt=config.model.dt)
    with isolated_rng(replicate_seed(seed, replicate, "init")):   # torch.nn's initialisers (all overwritten)
        net = place(build_network(config.model, generator=make_generator(replicate_seed(seed, replicate, "init"))),
                    device)
    test = tasks.trials(config.n_test, make_generator(replicate_seed(seed, replicate, "test")), COMPOSITE,
                        test=True).to(device)
    window = tasks.stimulus_steps(config.drop_ms)
    noise = make_generator(replicate_seed(seed, replicate, "noise"))
    out = {}

    def snapshot(group):
        def record():
            with torch.no_grad():
                logits, hidden = net(test.inputs)                  # no recurrent noise at test
            out[group]["states"].append(hidden[:, window].float().cpu())
            out[group]["acc"].append(_accuracy(logits, test))
        return record

    initial = {k: v.clone() for k, v in net.state_dict().items()}
    if lineage != "scratch":
        rules = ("basic", "anti", "delay") if lineage == "pretrain" else tuple(lineage.split("+"))
        _train(net, list(net.parameters()), tasks, rules, config.pretrain_steps,
               make_generator(replicate_seed(seed, replicate, "data")), noise, config, device)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    at = set(checkpoint_steps(config))
    for group in LINEAGES[lineage]:
        out[group] = {"states": [], "acc": [], "loss": []}
        net.load_state_dict(start)
        if group == "untrained":
            net.load_state_dict(initial)
            for _ in config.fractions:
                snapshot(group)()
            continue
        params = list(net.parameters()) if group in ("master", "pretrain_unfrozen") else net.input_parameters()
        out[group]["loss"] = _train(net, params, tasks, COMPOSITE, config.steps,
                                    make_generator(replicate_seed(seed, replicate, "batches")), noise, config, device,
                                    snapshot(group), at)
    for group in out:
        out[group]["states"] = torch.stack(out[group]["states"])
    return out


def metric_objects(config: CompositionalConfig) -> dict:
    return {"dsa": DSA(n_delays=config.n_delays, delay_interval=config.delay_interval, rank=config.rank,
                       max_iter=config.max_iter, n_random=config.n_random),
            "procrustes": Procrustes(), "cka": CKA()}


def _as_metric_input(states: torch.Tensor, metric: str, config: CompositionalConfig) -> np.ndarray:
    X = states.double().numpy()
    return X.transpose(1, 0, 2) if metric == "dsa" and config.dsa_axes == "reference" else X


def _scale(D: np.ndarray, metric: str) -> np.ndarray:
    """DSA in radians; Procrustes and CKA angles in radians rescaled to the paper's [0, 1] dissimilarity."""
    return D if metric == "dsa" else D * 2 / math.pi


def dissimilarities(config: CompositionalConfig, done: dict) -> dict[str, np.ndarray]:
    """``metric -> (len(OTHERS), n_replicates, F)`` distances to master, and ``"acc" -> (len(GROUPS), R, F)``.

    `done` maps ``"r<replicate>/<lineage>"`` to :func:`train_lineage` results."""
    R, n_f = config.replicates, len(config.fractions)
    states = {(g, r): res["states"] for r in range(R) for lineage in LINEAGES
              for g, res in done[f"r{r}/{lineage}"].items()}
    acc = np.array([[done[f"r{r}/{lin}"][g]["acc"] for r in range(R)] for lin in LINEAGES for g in LINEAGES[lin]])
    out = {"acc": acc}
    for name, metric in metric_objects(config).items():
        D = np.empty((len(OTHERS), R, n_f))
        for r in range(R):
            for k in range(n_f):
                systems = [_as_metric_input(states[g, r][k], name, config) for g in OTHERS]
                ref = [_as_metric_input(states["master", r][k], name, config)]
                D[:, r, k] = _scale(pairwise(systems, metric, others=ref)[:, 0], name)
        out[name] = D
    return out


def pooled(D: np.ndarray, k: int = -1) -> dict[str, np.ndarray]:
    """The values per pooled group at fraction index k from a (len(OTHERS), R, F) array."""
    at = {g: D[i, :, k] for i, g in enumerate(OTHERS)}
    groups = {g: at[g] for g in POOLED if g != "pretrain_partial"}
    groups["pretrain_partial"] = np.concatenate([at[f"partial_{p}"] for p in PARTIAL])
    return {g: groups[g] for g in POOLED}


def statistics(config: CompositionalConfig, mats: dict[str, np.ndarray]) -> dict[str, float]:
    """Means, FDR-adjusted pairwise tests and effect sizes at the last fraction, and summary indices."""
    m = {}
    acc = mats["acc"]
    master_acc = acc[GROUPS.index("master")]
    for g_i, g in enumerate(GROUPS):
        m[f"acc_{g}"] = float(acc[g_i, :, -1].mean())
    acc_gap = np.abs(acc[[GROUPS.index(g) for g in OTHERS]] - master_acc[None])
    for name in METRICS:
        groups = pooled(mats[name])
        tests = compare_groups(groups)
        means = {g: float(v.mean()) for g, v in groups.items()}
        for g, v in means.items():
            m[f"{name}_{g}"] = v
        for (a, b), t in tests.items():
            m[f"{name}_q_{a}_vs_{b}"], m[f"{name}_d_{a}_vs_{b}"] = t["q"], t["d"]
        vs_untrained = [tests[g, "untrained"] for g in TRAINED]
        # untrained farther than every trained group: the largest adjusted p (1 if any group is farther)
        m[f"{name}_untrained_q"] = max(t["q"] if t["d"] < 0 else 1.0 for t in vs_untrained)
        m[f"{name}_untrained_min_d"] = min(-t["d"] for t in vs_untrained)
        m[f"{name}_singles_out"] = float(m[f"{name}_untrained_q"] <= config.alpha
                                         and m[f"{name}_untrained_min_d"] >= LARGE_EFFECT)
        m[f"{name}_ordering"] = float(max(means["pretrain_frozen"], means["pretrain_unfrozen"])
                                      < means["pretrain_partial"] < means["untrained"])
        trained_pairs = [t for (a, b), t in tests.items() if a in TRAINED and b in TRAINED]
        m[f"{name}_frac_significant"] = float(np.mean([t["q"] <= config.alpha for t in trained_pairs]))
        m[f"{name}_frac_large"] = float(np.mean([abs(t["d"]) >= LARGE_EFFECT for t in trained_pairs]))
        x, y = mats[name].ravel(), acc_gap.ravel()
        varies = np.ptp(x) > 0 and np.ptp(y) > 0                   # otherwise the correlation is undefined: 0
        m[f"{name}_acc_gap_rho"] = float(stats.spearmanr(x, y).statistic) if varies else 0.0
    return m


def mean_curves(D: np.ndarray) -> dict[str, np.ndarray]:
    """Per pooled group, the mean over its networks at each fraction: ``group -> (F,)``."""
    return {g: np.array([v.mean() for v in (pooled(D, k)[g] for k in range(D.shape[-1]))]) for g in POOLED}


def _stars(q: float) -> str:
    return "***" if q <= 1e-3 else "**" if q <= 1e-2 else "*" if q <= 0.05 else "n.s."


def plot_figures(result, config: CompositionalConfig, title: str) -> dict:
    a, m = result.arrays, result.metrics
    fig_bar, axes = plotting.figure(len(METRICS), panel=(3.4, 3.0), title=f"{title}: dissimilarity to master "
                                     "(mean, sem; marks: FDR-adjusted test against untrained)")
    for ax, name in zip(axes, METRICS):
        groups = pooled(np.asarray(a[f"D_{name}"]))
        means = {g: float(v.mean()) for g, v in groups.items()}
        sems = {g: float(v.std(ddof=1) / math.sqrt(len(v))) for g, v in groups.items()}
        plotting.bars(ax, means, sems, ylabel="rad" if name == "dsa" else "dissimilarity", title=name)
        for i, g in enumerate(TRAINED):                           # each trained group against untrained
            ax.text(i, means[g] + sems[g], _stars(m[f"{name}_q_{g}_vs_untrained"]), ha="center", va="bottom",
                    fontsize=7)
    fig_learn, axes = plotting.figure(len(METRICS), panel=(3.4, 3.0), title=f"{title}: over learning")
    for ax, name in zip(axes, METRICS):
        plotting.curves(ax, list(config.fractions), mean_curves(np.asarray(a[f"D_{name}"])),
                        xlabel="fraction of composite training", ylabel="to master", title=name, dashed=("untrained",))
    fig_acc, axes = plotting.figure(len(METRICS), panel=(3.4, 3.0), title=f"{title}: dissimilarity and behaviour")
    acc = np.asarray(a["acc"])
    gap = np.abs(acc[[GROUPS.index(g) for g in OTHERS]] - acc[GROUPS.index("master")][None])
    for ax, name in zip(axes, METRICS):
        D = np.asarray(a[f"D_{name}"])
        for i, g in enumerate(OTHERS):
            partial = g.startswith("partial")
            label = ("pretrain_partial" if g == f"partial_{PARTIAL[0]}" else None) if partial else g
            ax.scatter(gap[i].ravel(), D[i].ravel(), s=8, label=label if name == "dsa" else None,
                       color="grey" if partial else None)
        ax.set(xlabel="|accuracy - master accuracy|", ylabel="to master",
               title=f"{name} (Spearman {m[f'{name}_acc_gap_rho']:.2f})")
    axes[0].legend(fontsize=5)
    return {"dissimilarity_to_master": fig_bar, "over_learning": fig_learn, "vs_accuracy": fig_acc}


def run_groups(config: CompositionalConfig, seed: int, ctx, desc: str):
    """All jobs (replicate x lineage) through run_jobs, then the comparison: (metrics, arrays)."""
    jobs = {f"r{r}/{lin}": (config, seed, r, lin, str(ctx.device))
            for r in range(config.replicates) for lin in LINEAGES}
    steps = {name: k for k, name in enumerate(jobs)}

    def record(name: str, out: dict) -> dict:
        return {"step": steps[name], "job": name, **{f"acc_{g}": res["acc"][-1] for g, res in out.items()}}

    done = run_jobs(train_lineage, jobs, ctx, desc=desc, on_result=record)
    mats = dissimilarities(config, done)
    arrays = {f"D_{name}": mats[name] for name in METRICS}
    arrays.update(acc=mats["acc"], fractions=np.asarray(config.fractions))
    return statistics(config, mats), arrays
