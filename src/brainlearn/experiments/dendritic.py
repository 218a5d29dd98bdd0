"""dendritic: dendritic cortical microcircuits approximate backprop (Sacramento et al. 2018, arXiv:1810.11393).

Four parts, each a claim group (spec: shared/notes/burstccn_dendritic.md, S1-S4), all in the
steady-state form of :class:`~brainlearn.models.dendritic.DendriticNetwork`:

- S1 self-prediction: from random lateral weights and random inputs with no target, pyr->int and
  int->pyr plasticity drive the apical potentials to ~0 (the self-predicting state).
- S2 backprop alignment: in the SPS with symmetric feedback (B = W^T), the steady-state update of
  every layer points along backprop's gradient on the same batch.
- S3 teacher-student regression (30-20-10 softplus): learning all layers beats learning the output
  layer only ("shallow"), with symmetric and with fixed random top-down weights.
- S4 classification (digits, Fashion-MNIST, MNIST given a root): the microcircuit with symmetric and
  with random feedback, against backprop on the same network (brainlearn.nn.MLP, same init and lr).

Each part draws its own generators from (seed, part), so the parts are independent and a resumed run
skips the finished ones with identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from brainlearn.data import ImageDataConfig, accuracy, minibatches
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.models.dendritic import Conductances, DendriticNetwork, Dynamics, LearningRates, angles_to_backprop
from brainlearn.nn import MLP
from brainlearn.runtime import RunContext, make_generator, require

SACRAMENTO = "1810.11393"  # Sacramento, Costa, Bengio & Senn, "Dendritic cortical microcircuits approximate ..."


@dataclass(frozen=True)
class DendriticConfig(ImageDataConfig):
    # network (S1-S3): the paper's 30-20-10 softplus network
    sizes: tuple[int, ...] = (30, 20, 10)
    activation: Literal["softplus", "sigmoid"] = "softplus"
    g_som: float = 0.8
    sweeps: int = 3
    bias: bool = False
    feedback_gain: float = 1.0
    # S1: learning the self-predicting state
    sps_steps: int = 3000
    sps_batch: int = 16
    sps_lr: float = 0.1
    # S2: alignment with backprop
    align_sizes: tuple[int, ...] = (30, 50, 20, 10)
    align_batches: int = 20
    align_batch: int = 16
    align_g_som: float = 0.1
    align_g_soms: tuple[float, ...] = (0.02, 0.1, 0.3, 0.8)
    # S3: teacher-student regression
    ts_steps: int = 2500
    ts_batch: int = 16
    ts_lr: float = 0.1
    ts_lateral_lr: float = 0.05
    teacher_gain: float = 2.0
    ts_test: int = 512
    ts_eval_every: int = 100
    # S4: classification (dataset, data_root, n_train, n_test inherited)
    skip_classification: bool = False
    clf_hidden: tuple[int, ...] = (100,)
    clf_activation: Literal["softplus", "sigmoid"] = "sigmoid"
    clf_lr: float = 1.0
    clf_bp_lr: float = 0.1
    clf_lateral_lr: float = 0.1
    clf_batch: int = 32
    clf_epochs_tied: int = 20
    clf_epochs_random: int = 60
    clf_init_gain: float = 3.6
    target_low: float = 0.1
    target_high: float = 0.9

    def __post_init__(self):
        for name in ("sps_steps", "sps_batch", "align_batches", "align_batch", "ts_steps", "ts_batch", "ts_test",
                     "ts_eval_every", "clf_batch", "clf_epochs_tied", "clf_epochs_random", "sweeps"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sps_lr", "ts_lr", "clf_lr", "clf_bp_lr", "teacher_gain", "feedback_gain", "clf_init_gain"):
            require(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        require(self.align_g_som > 0 and all(g > 0 for g in self.align_g_soms),
                f"align_g_som and align_g_soms must be > 0, got {self.align_g_som}, {self.align_g_soms}")
        for name in ("g_som", "ts_lateral_lr", "clf_lateral_lr"):
            require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("sizes", "align_sizes"):
            sizes = getattr(self, name)
            require(len(sizes) >= 3 and min(sizes) >= 1,
                    f"{name} must list input, at least one hidden and an output width, got {sizes}")
        require(len(self.clf_hidden) >= 1 and min(self.clf_hidden) >= 1,
                f"clf_hidden must list at least one positive width, got {self.clf_hidden}")
        require(0 < self.target_low < self.target_high < 1,
                f"need 0 < target_low < target_high < 1, got {self.target_low}, {self.target_high}")

    def network(self, sizes, generator, *, feedback="tied", self_predicting=True, activation=None,
                init_gain=1.0, bias=None) -> DendriticNetwork:
        return DendriticNetwork(sizes, activation or self.activation, Conductances(g_som=self.g_som),
                                feedback=feedback, self_predicting=self_predicting, init_gain=init_gain,
                                feedback_gain=self.feedback_gain, sweeps=self.sweeps,
                                bias=self.bias if bias is None else bias, generator=generator)


def _gen(seed: int, part: int) -> torch.Generator:
    return make_generator(1000 * seed + part)


def mean_apical(net: DendriticNetwork, x: torch.Tensor) -> float:
    """Mean |v_A| over hidden layers and units in the settled state without a target."""
    return float(torch.stack([v.abs().mean() for v in net.settle(x).v_apical]).mean())


# ---------------------------------------------------------------- S1
def learn_self_prediction(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    """Random lateral weights and fixed random top-down weights; random inputs, no target.
    Only the lateral (pyr->int, int->pyr) weights learn; the forward weights stay fixed."""
    gen = _gen(seed, 1)
    net = config.network(config.sizes, gen, feedback="random", self_predicting=False).to(ctx.device)
    probe = torch.rand(256, config.sizes[0], generator=gen).to(ctx.device)
    rates = LearningRates(forward=0.0, ip=config.sps_lr, pi=config.sps_lr)
    every = max(1, config.sps_steps // 50)
    curve_step, curve = [0], [mean_apical(net, probe)]
    for step in ctx.progress(range(1, config.sps_steps + 1), desc="dendritic S1"):
        net.train_step(torch.rand(config.sps_batch, config.sizes[0], generator=gen).to(ctx.device), None, rates)
        if step % every == 0 or step == config.sps_steps:
            curve_step.append(step)
            curve.append(mean_apical(net, probe))
            ctx.log(step, sps_apical=curve[-1])
    metrics = {"sps_apical_start": curve[0], "sps_apical_end": curve[-1],
               "sps_apical_drop": 1.0 - curve[-1] / curve[0]}
    return Result(metrics, {"sps_step": np.asarray(curve_step), "sps_apical": np.asarray(curve)})


# ---------------------------------------------------------------- S2
def backprop_alignment(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    """SPS with B = W^T, untrained network; targets from a random teacher of the same shape. The
    angles are measured for each nudging conductance in `align_g_soms` on the same batches; the
    gated metric is at `align_g_som` (weak nudging), the others are reported."""
    gen = _gen(seed, 2)
    soms = sorted({*config.align_g_soms, config.align_g_som, config.g_som})
    student = config.network(config.align_sizes, gen)
    teacher = config.network(config.align_sizes, gen, init_gain=config.teacher_gain).to(ctx.device)
    nets = {}
    for g_som in soms:
        nets[g_som] = replace(config, g_som=g_som).network(config.align_sizes, None).to(ctx.device)
        nets[g_som].load_state_dict(student.state_dict())
    nudge = {g: [] for g in soms}
    potential = []
    for _ in range(config.align_batches):
        x = torch.rand(config.align_batch, config.align_sizes[0], generator=gen).to(ctx.device)
        target = teacher(x)
        for g_som, net in nets.items():
            nudge[g_som].append(angles_to_backprop(net, x, target, "nudge"))
        potential.append(angles_to_backprop(nets[config.align_g_som], x, target, "potential"))
    nudge = {g: np.asarray(a).mean(0) for g, a in nudge.items()}
    potential = np.asarray(potential).mean(0)
    weak, paper = nudge[config.align_g_som], nudge[config.g_som]
    metrics = {"align_hidden_max": float(weak[:-1].max()), "align_output": float(weak[-1]),
               "align_hidden_max_potential_mse": float(potential[:-1].max()),
               "align_hidden_max_paper_g_som": float(paper[:-1].max())}
    return Result(metrics, {"align_g_som": np.asarray(soms), "align_nudge": np.stack([nudge[g] for g in soms]),
                            "align_potential": potential})


# ---------------------------------------------------------------- S3
def teacher_student(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    """30-20-10 student learns a random teacher's output potentials: deep (tied and random feedback)
    against shallow (output layer only), from identical initial forward weights."""
    gen = _gen(seed, 3)
    teacher = config.network(config.sizes, gen, init_gain=config.teacher_gain).to(ctx.device)
    x_test = torch.rand(config.ts_test, config.sizes[0], generator=gen).to(ctx.device)
    y_test = teacher(x_test)
    init_state = gen.get_state()
    L = len(config.sizes) - 1
    runs = {"tied": ("tied", config.ts_lr), "random": ("random", config.ts_lr), "shallow": ("tied", 0.0)}
    arrays, metrics = {}, {}
    for name, (feedback, hidden_lr) in runs.items():
        gen.set_state(init_state)  # same student weights and the same input stream for every run
        net = config.network(config.sizes, gen, feedback=feedback).to(ctx.device)
        rates = LearningRates(forward=(hidden_lr,) * (L - 1) + (config.ts_lr,), ip=config.ts_lateral_lr,
                              pi=config.ts_lateral_lr)
        steps, mse, angle_rate, angle_pot = [], [], [], []
        for step in ctx.progress(range(config.ts_steps + 1), desc=f"dendritic S3 {name}"):
            if step % config.ts_eval_every == 0 or step == config.ts_steps:
                steps.append(step)
                mse.append(float((net(x_test) - y_test).pow(2).mean()))
                batch = x_test[:64]
                angle_rate.append(angles_to_backprop(net, batch, teacher(batch), "nudge")[0])
                angle_pot.append(angles_to_backprop(net, batch, teacher(batch), "potential")[0])
                ctx.log(step, **{f"ts_{name}_mse": mse[-1], f"ts_{name}_angle": angle_rate[-1]})
            if step == config.ts_steps:
                break
            x = torch.rand(config.ts_batch, config.sizes[0], generator=gen).to(ctx.device)
            net.train_step(x, teacher(x), rates)
        arrays.update({f"ts_{name}_step": np.asarray(steps), f"ts_{name}_mse": np.asarray(mse),
                       f"ts_{name}_angle": np.asarray(angle_rate), f"ts_{name}_angle_potential": np.asarray(angle_pot)})
        metrics[f"ts_{name}_mse"] = mse[-1]
    metrics["ts_initial_mse"] = float(arrays["ts_tied_mse"][0])
    metrics["ts_tied_over_initial"] = metrics["ts_tied_mse"] / metrics["ts_initial_mse"]
    # a diverged baseline would make any deep run look good: compare against a shallow run that learned
    shallow = metrics["ts_shallow_mse"] if metrics["ts_shallow_mse"] < metrics["ts_initial_mse"] else float("nan")
    metrics["ts_tied_over_shallow"] = metrics["ts_tied_mse"] / shallow
    metrics["ts_random_over_shallow"] = metrics["ts_random_mse"] / shallow
    return Result(metrics, arrays)


# ---------------------------------------------------------------- S4
def classification(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    """Targets are the output potentials whose sigmoid is target_high (true class) or target_low.
    Backprop trains brainlearn.nn.MLP on the same network function (weights c_k W_k), same init,
    same loss on the output potentials, and per-layer learning rates that make its steps in W equal
    to SGD with clf_lr on W."""
    data = config.load(seed, ctx.device)
    x_train, x_test = data.flat()
    sizes = (data.n_features, *config.clf_hidden, data.n_classes)
    low, high = (float(torch.logit(torch.tensor(p))) for p in (config.target_low, config.target_high))

    def targets(y):
        return torch.full((len(y), data.n_classes), low, device=y.device).scatter_(1, y[:, None], high)

    arrays, metrics = {}, {}
    runs = {"tied": config.clf_epochs_tied, "random": config.clf_epochs_random,
            "bp": max(config.clf_epochs_tied, config.clf_epochs_random)}
    for name, epochs in runs.items():
        init, shuffle = _gen(seed, 4), _gen(seed, 5)  # same init and batch order for every run
        net = config.network(sizes, init, feedback="random" if name == "random" else "tied",
                             activation=config.clf_activation, init_gain=config.clf_init_gain, bias=True).to(ctx.device)
        rates = LearningRates(forward=config.clf_lr, ip=config.clf_lateral_lr, pi=config.clf_lateral_lr)
        if name == "bp":
            mlp = _as_mlp(net)
            opt = torch.optim.SGD([{"params": layer.parameters(), "lr": config.clf_bp_lr * c ** 2}
                                   for layer, c in zip(mlp.layers, net.attenuation)])
            predict = mlp
        else:
            predict = net
        acc = []
        for epoch in ctx.progress(range(epochs), desc=f"dendritic S4 {name}"):
            for idx in minibatches(len(x_train), config.clf_batch, shuffle):
                xb, tb = x_train[idx], targets(data.y_train[idx])
                if name == "bp":
                    opt.zero_grad(set_to_none=True)
                    (0.5 * (mlp(xb) - tb).pow(2).sum(1).mean()).backward()
                    opt.step()
                else:
                    net.train_step(xb, tb, rates)
            acc.append(accuracy(predict, x_test, data.y_test))
            ctx.log(epoch + 1, **{f"clf_{name}_acc": acc[-1]})
        arrays[f"clf_{name}_acc"] = np.asarray(acc)
        metrics[f"clf_{name}_acc"] = acc[-1]
    metrics["clf_bp_at_tied_epochs"] = float(arrays["clf_bp_acc"][config.clf_epochs_tied - 1])
    metrics["clf_bp_minus_tied"] = metrics["clf_bp_at_tied_epochs"] - metrics["clf_tied_acc"]
    return Result(metrics, arrays)


def _as_mlp(net: DendriticNetwork) -> MLP:
    """An MLP computing the free network: layer k has weights c_k W_k, bias c_k b_k, phi on hidden layers."""
    mlp = MLP(net.sizes, net.activation, None, rule="bp")
    with torch.no_grad():
        for layer, W, b, c in zip(mlp.layers, net.W, net.b, net.attenuation):
            layer.weight.copy_(c * W)
            layer.bias.copy_(c * b)
    return mlp.to(net.W[0].device)


PARTS = {"s1": learn_self_prediction, "s2": backprop_alignment, "s3": teacher_student, "s4": classification}


def run(config: DendriticConfig, seed: int, ctx: RunContext) -> Result:
    state = ctx.restore() or {"done": {}}
    for part, fn in PARTS.items():
        if part in state["done"] or (part == "s4" and config.skip_classification):
            continue
        result = fn(config, seed, ctx)
        state["done"][part] = {"metrics": result.metrics,
                               "arrays": {k: np.asarray(v).tolist() for k, v in result.arrays.items()}}
        ctx.checkpoint(len(state["done"]), state)
    out = Result()
    for part in state["done"].values():
        out.metrics.update(part["metrics"])
        out.arrays.update({k: np.asarray(v) for k, v in part["arrays"].items()})
    return out


# Thresholds were calibrated once on this implementation and then frozen; the measured values
# behind each are in docs/experiments/dendritic.md.
CLASSIFY_FLOOR = {"digits": (0.88, 0.85), "fashion-mnist": (0.80, 0.75), "mnist": (0.93, 0.90),
                  "cifar10": (0.35, 0.30)}


def claims(config: DendriticConfig) -> list[Claim]:
    tied_floor, random_floor = CLASSIFY_FLOOR[config.dataset]
    out = [
        Claim("S1-self-prediction", SACRAMENTO,
              "From random lateral weights, with random inputs and no target, interneuron plasticity learns "
              "the self-predicting state: apical potentials decay to ~0.", "sps_apical_drop", ">=", 0.9,
              how="1 - mean|v_A| after / before lateral learning, settled, on a fixed probe batch",
              reason="note S1: measured -97% at 3000 steps; 90% is 'decays to ~0'"),
        Claim("S2-align-hidden", SACRAMENTO,
              "With symmetric feedback in the self-predicting state and weak nudging, the hidden-layer updates "
              "approximate backprop.", "align_hidden_max", "<", 10.0,
              how="max over hidden layers of the angle (deg) between the steady-state update and backprop of the "
                  "weak-nudging error phi'(u_N)(u_trgt - u_N); g_som = align_g_som (0.1); mean over batches; "
                  "untrained 30-50-20-10 net; teacher targets",
              reason="note S2 (< 10 deg); measured 3.3 deg (seed 0); the angle -> 0 as g_som -> 0 (tests)"),
        Claim("S2-align-hidden-potential-mse", SACRAMENTO,
              "The same updates against backprop of the plain MSE on output potentials (exploratory).",
              "align_hidden_max_potential_mse", "<", 10.0,
              how="as S2-align-hidden, reference loss 1/2||u_trgt - u_N||^2",
              reason="reported, not gated: differs from the delivered error by the phi'(u_N) weighting",
              gated=False),
        Claim("S2-align-hidden-paper-g-som", SACRAMENTO,
              "The same angle at the paper's strong nudging g_som = 0.8 (exploratory).",
              "align_hidden_max_paper_g_som", "<", 10.0,
              how="as S2-align-hidden with g_som = 0.8",
              reason="reported, not gated: with an untrained net the target is far and the nudge is strong, "
                     "outside the weak-nudging limit", gated=False),
        Claim("S3-deep-learns", SACRAMENTO,
              "Teacher-student regression: with symmetric feedback the network learns the teacher.",
              "ts_tied_over_initial", "<=", 0.1, how="final / initial test MSE (output potentials), tied",
              reason="note S3: measured 0.027x"),
        Claim("S3-deep-beats-shallow", SACRAMENTO,
              "Learning in all layers beats learning in the output layer only.", "ts_tied_over_shallow", "<=", 0.6,
              how="final test MSE, tied deep / shallow (hidden weights frozen)",
              reason="note S3: measured 0.38x"),
        Claim("S3-random-beats-shallow", SACRAMENTO,
              "Deep learning beats shallow learning also with fixed random top-down weights.",
              "ts_random_over_shallow", "<", 1.0, how="final test MSE, random-feedback deep / shallow",
              reason="note S3: measured 0.056 vs 0.069 (0.81x); direction only"),
    ]
    if not config.skip_classification:
        out += [
            Claim("S4-tied-accuracy", SACRAMENTO,
                  f"The microcircuit with symmetric feedback learns to classify {config.dataset}.",
                  "clf_tied_acc", ">=", tied_floor, how=f"test accuracy after {config.clf_epochs_tied} epochs",
                  reason="note S4 (digits: >= 88%, measured 90.6%); other datasets calibrated here (docs)"),
            Claim("S4-random-accuracy", SACRAMENTO,
                  f"The microcircuit with fixed random feedback learns to classify {config.dataset}.",
                  "clf_random_acc", ">=", random_floor, how=f"test accuracy after {config.clf_epochs_random} epochs",
                  reason="note S4 (digits: >= 85%, measured 90.6%); other datasets calibrated here (docs)"),
            Claim("S4-near-backprop", SACRAMENTO,
                  "With symmetric feedback the microcircuit classifies nearly as well as backprop on the same "
                  "network.", "clf_bp_minus_tied", "<=", 0.03,
                  how="BP minus tied test accuracy after the same number of epochs",
                  reason="note S4 stretch goal: within 3 points of BP"),
        ]
    return out


def plot(result: Result, config: DendriticConfig) -> dict:
    import matplotlib.pyplot as plt

    a, figs = result.arrays, {}
    if "sps_apical" in a:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(a["sps_step"], a["sps_apical"])
        ax.set(xlabel="training step (no target)", ylabel="mean |apical potential|", yscale="log",
               title="S1: learning the self-predicting state")
        figs["self_prediction"] = fig
    if "align_nudge" in a:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        layers = np.arange(1, a["align_nudge"].shape[1] + 1)
        for g_som, angles in zip(a["align_g_som"], a["align_nudge"]):
            ax.plot(layers, angles, marker="o", label=f"g_som = {g_som:g}")
        ax.plot(layers, a["align_potential"], marker="x", ls="--", color="grey",
                label=f"vs potential MSE, g_som = {config.align_g_som:g}")
        ax.set(xlabel="layer", ylabel="angle to backprop (deg)", xticks=layers, title="S2: alignment, B = W^T, SPS")
        ax.legend(fontsize=7)
        figs["angle_per_layer"] = fig
    if "ts_tied_mse" in a:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
        for name, label in (("tied", "deep, B = W^T"), ("random", "deep, random B"), ("shallow", "output only")):
            ax.plot(a[f"ts_{name}_step"], a[f"ts_{name}_mse"], label=label)
            if name != "shallow":
                ax2.plot(a[f"ts_{name}_step"], a[f"ts_{name}_angle"], label=label)
        ax.set(xlabel="step", ylabel="test MSE", yscale="log", title="S3: teacher-student")
        ax2.set(xlabel="step", ylabel="hidden angle to BP (deg)", title="S3: hidden-layer alignment")
        ax.legend()
        ax2.legend()
        figs["teacher_student"] = fig
    if "clf_tied_acc" in a:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, label in (("tied", "microcircuit, B = W^T"), ("random", "microcircuit, random B"),
                            ("bp", "backprop")):
            ax.plot(np.arange(1, len(a[f"clf_{name}_acc"]) + 1), a[f"clf_{name}_acc"], label=label)
        ax.set(xlabel="epoch", ylabel="test accuracy", title=f"S4: {config.dataset}")
        ax.legend()
        figs["classification"] = fig
    return figs


FULL = DendriticConfig()
register(Experiment(
    name="dendritic", paper=SACRAMENTO,
    summary="dendritic microcircuits: self-prediction, BP alignment, teacher-student, classification",
    presets={
        "quick": replace(FULL, sps_steps=600, ts_eval_every=500, clf_epochs_tied=10, clf_epochs_random=15),
        "full": FULL,
        "fashion-mnist": replace(FULL, dataset="fashion-mnist", clf_hidden=(500,), clf_lr=0.3, clf_lateral_lr=0.03,
                                 clf_bp_lr=0.03, clf_epochs_tied=3, clf_epochs_random=3),
    },
    run=run, claims=claims, plot=plot,
))


# ---------------------------------------------------------------- the time-continuous form
@dataclass(frozen=True)
class DynamicsConfig:
    """dendritic-dynamics: the Euler-integrated network with the paper's parameters.

    D1: with frozen weights the dynamics settle onto the steady state that the other experiments use.
    D2: S1 in continuous time: random lateral weights, fixed random top-down weights, random input
    patterns each held `duration` ms, somatic noise, all four pathways plastic at the paper's rates
    (times `rate_scale`), no target; the apical potentials decay.
    """

    sizes: tuple[int, ...] = (30, 20, 10)
    settle_ms: float = 60.0
    patterns: int = 60
    batch: int = 4
    duration: float = 100.0
    dt: float = 0.1
    noise: float = 0.1
    rate_scale: float = 1.0

    def __post_init__(self):
        require(len(self.sizes) >= 3 and min(self.sizes) >= 1, f"sizes need a hidden layer, got {self.sizes}")
        for name in ("patterns", "batch"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("settle_ms", "duration", "dt", "rate_scale"):
            require(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        require(self.dt <= 0.5, f"dt must be <= 0.5 ms for a stable Euler step, got {self.dt}")
        require(self.noise >= 0, f"noise must be >= 0, got {self.noise}")


def run_dynamics(config: DynamicsConfig, seed: int, ctx: RunContext) -> Result:
    gen = _gen(seed, 10)
    check = DendriticNetwork(config.sizes, feedback="random", generator=gen).to(ctx.device)
    x = torch.rand(8, config.sizes[0], generator=gen).to(ctx.device)
    target = torch.randn(8, config.sizes[-1], generator=gen).to(ctx.device)
    dyn, _ = check.simulate(x, target, duration=config.settle_ms, dt=config.dt)
    steady = check.settle(x, target, sweeps=50)
    settle_error = max(float((a - b).abs().max()) for a, b in zip(dyn.u + dyn.u_int, steady.u + steady.u_int))

    net = DendriticNetwork(config.sizes, feedback="random", self_predicting=False, generator=gen).to(ctx.device)
    probe = torch.rand(256, config.sizes[0], generator=gen).to(ctx.device)
    paper = LearningRates()
    rates = LearningRates(forward=paper.forward * config.rate_scale, ip=paper.ip * config.rate_scale,
                          pi=paper.pi * config.rate_scale)
    curve = {"pattern": [0], "apical": [mean_apical(net, probe)], "t": [], "trace": []}
    dyn, start = None, 0
    state = ctx.restore()
    if state is not None:
        net.load_state_dict(state["net"])
        gen.set_state(state["gen"])
        dyn = Dynamics(state["dyn"]["x"], state["dyn"]["u"], state["dyn"]["u_int"], state["dyn"]["dW"],
                       state["dyn"]["t"])
        curve, start = state["curve"], state["pattern"]
    for pattern in ctx.progress(range(start, config.patterns), total=config.patterns, initial=start,
                                desc="dendritic-dynamics"):
        x = torch.rand(config.batch, config.sizes[0], generator=gen).to(ctx.device)
        dyn, rec = net.simulate(x, duration=config.duration, dt=config.dt, noise=config.noise, rates=rates,
                                dynamics=dyn, generator=gen, record_every=max(1, int(round(1.0 / config.dt))))
        curve["t"] += rec["t"].tolist()
        curve["trace"] += rec["apical"].tolist()
        curve["pattern"].append(pattern + 1)
        curve["apical"].append(mean_apical(net, probe))
        ctx.log(pattern + 1, dyn_apical=curve["apical"][-1])
        if (pattern + 1) % 10 == 0:
            ctx.checkpoint(pattern + 1, {"net": net.state_dict(), "gen": gen.get_state(), "curve": curve,
                                         "pattern": pattern + 1,
                                         "dyn": {"x": dyn.x, "u": dyn.u, "u_int": dyn.u_int, "dW": dyn.dW,
                                                 "t": dyn.t}})
    metrics = {"settle_error": settle_error, "dyn_apical_start": curve["apical"][0],
               "dyn_apical_end": curve["apical"][-1], "dyn_apical_drop": 1.0 - curve["apical"][-1] / curve["apical"][0]}
    return Result(metrics, {"dyn_pattern": np.asarray(curve["pattern"]), "dyn_apical": np.asarray(curve["apical"]),
                            "dyn_t": np.asarray(curve["t"]), "dyn_trace": np.asarray(curve["trace"])})


def dynamics_claims(config: DynamicsConfig) -> list[Claim]:
    return [
        Claim("D1-settles", SACRAMENTO, "The time-continuous dynamics settle onto the steady state used for training.",
              "settle_error", "<=", 1e-3, how=f"max |u_dynamics - u_steady| over all cells after {config.settle_ms} ms "
              "(noise off, frozen weights, a target on)", reason="Euler fixed point = steady state; 60 ms is ~30 "
              "membrane time constants"),
        Claim("D2-self-prediction-dynamics", SACRAMENTO,
              "In continuous time, with noise and the paper's parameters, plasticity learns the self-predicting "
              "state from random lateral weights: apical potentials decay to ~0.", "dyn_apical_drop", ">=", 0.9,
              how="1 - mean|v_A| after / before (settled, probe batch)",
              reason="the same line as S1 (90%)"),
    ]


def plot_dynamics(result: Result, config: DynamicsConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax.plot(a["dyn_t"], a["dyn_trace"], lw=0.5)
    ax.set(xlabel="time (ms)", ylabel="mean |v_A| (simulated)", yscale="log", title="D2: apical potential")
    ax2.plot(a["dyn_pattern"], a["dyn_apical"], marker=".")
    ax2.set(xlabel=f"patterns (x {config.duration:g} ms)", ylabel="mean |v_A| (settled probe)", yscale="log",
            title="D2: self-prediction in continuous time")
    return {"self_prediction_dynamics": fig}


register(Experiment(
    name="dendritic-dynamics", paper=SACRAMENTO,
    summary="dendritic microcircuit in continuous time: settling, and learning the self-predicting state",
    presets={"quick": DynamicsConfig(patterns=5, duration=50.0, rate_scale=10.0), "full": DynamicsConfig()},
    run=run_dynamics, claims=dynamics_claims, plot=plot_dynamics,
))
