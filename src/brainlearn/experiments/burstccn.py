"""BurstCCN experiments (Greedy et al. 2022, arXiv:2206.11769).

* ``burstccn``: exactness probes at initialisation (B1, B2) and image classification (B3): BurstCCN
  with tied and with random feedback against the backprop and FA sigmoid/MSE ANNs and two-phase
  Burstprop, all from the same weights (the FA ANN also shares BurstCCN's random Y as its feedback).
* ``burstccn-alignment``: the angle between each layer's update and the backprop gradient over
  training, for fixed random feedback (FA-like), learned Kolen-Pollack feedback and the FA ANN (B4).
* ``burstccn-q``: Q learning from random Q in a single phase (teacher always on): Q aligns with p_b Y
  and the apical potential without a teacher falls towards zero (B5).

* ``burstccn-continuous``: the continuous-time form learning a random teacher online (B6).

The steady-state dendritic-error network (EDN, Sacramento et al. 2018; brainlearn.models.dendritic) is a
baseline of ``burstccn`` (method ``edn``): tied feedback, self-predicting lateral weights, trained on the
logits of 0.1 / 0.9 rate targets as in the dendritic experiment, with the same lr on its forward weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from brainlearn.analysis import angle
from brainlearn.data import ImageDataConfig, accuracy, minibatches
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.models.burstccn import BurstCCN, burst_convnet, burst_mlp, matching_mlp
from brainlearn.models.burstprop import Burstprop
from brainlearn.models.dendritic import DendriticNetwork, LearningRates
from brainlearn.nn import one_hot_mse
from brainlearn.rules import use_rule
from brainlearn.runtime import RunContext, choice, make_generator, require

GREEDY = "2206.11769"
BURSTPROP_P_BASELINE = 0.2  # Payeur et al.'s output baseline burst probability
METHODS = ("bp", "fa", "tied", "random", "burstprop", "edn")
EDN_TARGETS = (0.1, 0.9)  # the EDN's output potentials are nudged to the logits of these rates
EDN_LOGITS = tuple(float(torch.logit(torch.tensor(p))) for p in EDN_TARGETS)
EDN_LATERAL_LR = 0.1  # its lateral (interneuron) rates, relative to lr (the dendritic experiment's ratio)


# --------------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BurstConfig(ImageDataConfig):
    """Fields every BurstCCN experiment shares (dataset fields come from ImageDataConfig)."""

    hidden: tuple[int, ...] = (100,)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.5
    init_gain: float = 3.6
    feedback_std: float = 0.5
    p_baseline: float = 0.5
    angle_every: int = 50

    def __post_init__(self):
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"lr must be > 0, got {self.lr}")
        require(self.init_gain > 0, f"init_gain must be > 0, got {self.init_gain}")
        require(self.feedback_std > 0, f"feedback_std must be > 0, got {self.feedback_std}")
        require(0 < self.p_baseline <= 0.5, f"p_baseline must be in (0, 0.5], got {self.p_baseline}")
        require(self.angle_every >= 1, f"angle_every must be >= 1, got {self.angle_every}")
        require(len(self.hidden) >= 1 and min(self.hidden) >= 1,
                f"hidden must list at least one positive width, got {self.hidden}")


class _Learner:
    """One network and its optimiser; `update(x, y)` does one training step with the method's rule.
    The EDN has no optimiser: its plasticity applies its own updates at `lr`."""

    def __init__(self, name: str, net: torch.nn.Module, opt: torch.optim.Optimizer | None, kind: str,
                 rates: LearningRates | None = None):
        self.name, self.net, self.opt, self.kind, self.rates = name, net, opt, kind, rates

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.kind == "edn":
            low, high = EDN_LOGITS
            target = torch.full((len(y), self.net.sizes[-1]), low, device=y.device).scatter_(1, y[:, None], high)
            self.net.train_step(x, target, self.rates)
            return
        self.opt.zero_grad(set_to_none=True)
        if self.kind == "burst":
            self.net.backward_local(x, y)
        elif self.kind == "burst-bp":  # a BurstCCN-shaped network trained by autograd (conv baseline)
            for p, g in zip(self.net.forward_parameters(), self.net.backprop_grads(x, y)):
                p.grad = g
        else:
            one_hot_mse(self.net(x), y).backward()
        self.opt.step()

    def weight_grads(self) -> list[torch.Tensor]:
        layers = self.net.layers
        return [layer.weight.grad for layer in layers]

    def bp_weight_grads(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Backprop gradient of the same network on the same batch, per layer."""
        if isinstance(self.net, BurstCCN):
            return self.net.backprop_grads(x, y)[0::2]
        with use_rule(self.net, "bp"):
            return list(torch.autograd.grad(one_hot_mse(self.net(x), y), [m.weight for m in self.net.layers]))

    def update_with_angles(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """One training step; returns the per-layer angle (deg) between its update and backprop's."""
        reference = self.bp_weight_grads(x, y)
        self.update(x, y)
        return [angle(g, r) for g, r in zip(self.weight_grads(), reference)]


def _burst_net(config: BurstConfig, shape: tuple, n_classes: int, feedback: str, generator: torch.Generator,
               arch: str = "mlp", **kwargs) -> BurstCCN:
    common = dict(p_baseline=config.p_baseline, feedback=feedback, feedback_std=config.feedback_std,
                  init_gain=config.init_gain, generator=generator)
    common.update(kwargs)
    if arch == "conv":
        return burst_convnet(in_shape=shape, hidden=config.hidden, n_classes=n_classes, **common)
    return burst_mlp([int(np.prod(shape)), *config.hidden, n_classes], **common)


def _save(ctx: RunContext, step: int, epoch: int, learners: dict, shuffle: torch.Generator, curves: dict) -> None:
    ctx.checkpoint(step, {"nets": {k: v.net.state_dict() for k, v in learners.items()},
                          "opts": {k: v.opt.state_dict() for k, v in learners.items() if v.opt is not None},
                          "shuffle": shuffle.get_state(), "curves": curves, "step": step, "epoch": epoch})


def _restore(ctx: RunContext, learners: dict, shuffle: torch.Generator, curves: dict) -> tuple[dict, int, int]:
    state = ctx.restore()
    if state is None:
        return curves, 0, 0
    for k, v in learners.items():
        v.net.load_state_dict(state["nets"][k])
        if v.opt is not None:
            v.opt.load_state_dict(state["opts"][k])
    shuffle.set_state(state["shuffle"])
    return state["curves"], state["step"], state["epoch"]


# --------------------------------------------------------------------------------------------------
# burstccn: exactness probes and classification
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BurstCCNConfig(BurstConfig):
    """arch "mlp" (methods bp, fa, tied, random, burstprop) or "conv" (the Payeur CIFAR net; no fa; the
    bp conv baseline is the same network trained by autograd). Burstprop uses tied Y. `probe_depth`
    hidden layers of width hidden[0] form the net of the exactness probes (B1, B2)."""

    arch: Literal["mlp", "conv"] = "mlp"
    methods: tuple[str, ...] = METHODS
    probe_depth: int = 3

    def __post_init__(self):
        super().__post_init__()
        choice(self.arch, "arch", ("mlp", "conv"))
        require(len(self.methods) >= 1, "methods must not be empty")
        for m in self.methods:
            choice(m, "methods", METHODS)
        require(self.arch == "mlp" or not {"fa", "edn"} & set(self.methods),
                "methods 'fa' and 'edn' need arch='mlp' (they are provided for dense layers only)")
        require(self.probe_depth >= 1, f"probe_depth must be >= 1, got {self.probe_depth}")


def exactness_probe(config: BurstCCNConfig, n_in: int, n_classes: int, x: torch.Tensor, y: torch.Tensor,
                    seed: int) -> dict[str, float]:
    """B1/B2 on an untrained net with `probe_depth` hidden layers: angles of BurstCCN's update to BP
    (tied Y) and to FA (random Y), and the largest update without a target."""
    sizes = [n_in, *[config.hidden[0]] * config.probe_depth, n_classes]
    out = {}
    for feedback in ("tied", "random"):
        net = burst_mlp(sizes, feedback=feedback, p_baseline=config.p_baseline, feedback_std=config.feedback_std,
                        init_gain=config.init_gain, generator=make_generator(seed)).to(x.device)
        net.backward_local(x, y)
        bp = net.backprop_grads(x, y)[0::2]
        to_bp = [angle(layer.weight.grad, g) for layer, g in zip(net.layers, bp)]
        if feedback == "tied":
            out["probe_tied_max_angle"] = max(to_bp)
            out["probe_output_angle"] = to_bp[-1]
        else:
            fa = matching_mlp(net, "fa")
            fa_grads = torch.autograd.grad(one_hot_mse(fa(x), y), [m.weight for m in fa.layers])
            out["probe_random_fa_max_angle"] = max(angle(layer.weight.grad, g)
                                                   for layer, g in zip(net.layers, fa_grads))
            out["probe_random_bp_min_angle"] = min(to_bp[:-1])
        net.zero_grad(set_to_none=True)
        net.backward_local(x, None)
        out[f"probe_{feedback}_no_target_max_update"] = max(float(p.grad.abs().max())
                                                            for p in net.forward_parameters())
    out["probe_no_target_max_update"] = max(out.pop("probe_tied_no_target_max_update"),
                                            out.pop("probe_random_no_target_max_update"))
    return out


def run_burstccn(config: BurstCCNConfig, seed: int, ctx: RunContext) -> Result:
    data = config.load(seed, ctx.device)
    if config.arch == "mlp":
        x_train, x_test = data.flat()
    else:
        x_train, x_test = data.x_train, data.x_test
    shape = tuple(x_train.shape[1:])
    learners: dict[str, _Learner] = {}
    for method in config.methods:
        if method == "edn":
            edn = DendriticNetwork([int(np.prod(shape)), *config.hidden, data.n_classes], "sigmoid",
                                   init_gain=config.init_gain, generator=make_generator(seed)).to(ctx.device)
            rates = LearningRates(forward=config.lr, ip=EDN_LATERAL_LR * config.lr, pi=EDN_LATERAL_LR * config.lr)
            learners[method] = _Learner(method, edn, None, "edn", rates)
            continue
        feedback = "random" if method in ("fa", "random") else "tied"
        # Every method starts from the same W (and the FA ANN from the same Y): one seed for all.
        extra = {"network": Burstprop, "p_baseline": BURSTPROP_P_BASELINE} if method == "burstprop" else {}
        net = _burst_net(config, shape, data.n_classes, feedback, make_generator(seed), config.arch,
                         **extra).to(ctx.device)
        kind = "burst"
        if method in ("bp", "fa"):
            if config.arch == "mlp":
                net, kind = matching_mlp(net, method), "ann"
            else:
                kind = "burst-bp"
        learners[method] = _Learner(method, net, torch.optim.SGD(net.parameters(), lr=config.lr), kind)

    probe = {}
    if config.arch == "mlp":
        idx = torch.arange(min(config.batch_size, len(x_train)), device=ctx.device)
        probe = exactness_probe(config, x_train.shape[1], data.n_classes, x_train[idx], data.y_train[idx], seed)
    angle_methods = [m for m in config.methods if m in ("tied", "random", "fa", "burstprop")]
    curves = {"epoch": [], **{f"{m}_acc": [] for m in config.methods}, "angle_step": [],
              **{f"angle_{m}": [] for m in angle_methods}}
    shuffle = make_generator(seed + 1)
    curves, step, start = _restore(ctx, learners, shuffle, curves)
    for epoch in ctx.progress(range(start, config.epochs), total=config.epochs, initial=start, desc="burstccn"):
        for idx in minibatches(len(x_train), config.batch_size, shuffle):
            xb, yb = x_train[idx], data.y_train[idx]
            measure = step % config.angle_every == 0
            if measure:
                curves["angle_step"].append(step)
            for name, learner in learners.items():
                if measure and name in angle_methods:
                    curves[f"angle_{name}"].append(learner.update_with_angles(xb, yb))
                else:
                    learner.update(xb, yb)
            step += 1
        curves["epoch"].append(epoch + 1)
        for name, learner in learners.items():
            curves[f"{name}_acc"].append(accuracy(learner.net, x_test, data.y_test))
        ctx.log(step, epoch=epoch + 1, **{f"{m}_acc": curves[f"{m}_acc"][-1] for m in config.methods})
        _save(ctx, step, epoch + 1, learners, shuffle, curves)

    metrics = dict(probe)
    acc = {m: curves[f"{m}_acc"][-1] for m in config.methods}
    metrics.update({f"{m}_test_acc": a for m, a in acc.items()})
    if "bp" in acc and "tied" in acc:
        metrics["tied_gap_to_bp"] = abs(acc["bp"] - acc["tied"])
    if "fa" in acc and "random" in acc:
        metrics["random_gap_to_fa"] = abs(acc["fa"] - acc["random"])
    for m in angle_methods:
        a = np.asarray(curves[f"angle_{m}"])
        metrics[f"{m}_hidden_angle_end"] = float(a[-max(1, len(a) // 10):, :-1].mean())
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


# Accuracy floors: calibrated once on this implementation (seed 0; see docs/experiments/burstccn.md),
# a little below what BurstCCN reaches; the fashion-mnist ones are the notes' proposals (measured
# 83.61% tied, 83.21% random there).
TIED_FLOOR = {"digits": 0.94, "fashion-mnist": 0.82, "mnist": 0.95, "cifar10": 0.35}
RANDOM_FLOOR = {"digits": 0.88, "fashion-mnist": 0.80, "mnist": 0.93, "cifar10": 0.30}


def claims_burstccn(config: BurstCCNConfig) -> list[Claim]:
    out = []
    if config.arch == "mlp":
        out += [
            Claim("B1-tied-bp", GREEDY, "With feedback tied to the forward weights and Q = p_b Y, every layer's "
                  "burst-dependent update follows the backprop gradient.", "probe_tied_max_angle", "<", 2.0,
                  how=f"max over layers of the angle (deg) to the BP gradient, untrained net with "
                  f"{config.probe_depth} hidden layers, one batch", aggregate="max",
                  reason="the hidden layers differ from BP only by the O(u^3) sigmoid term (measured <= 0.3 deg)"),
            Claim("B1-output-exact", GREEDY, "The output layer's update is the backprop gradient of the MSE.",
                  "probe_output_angle", "<", 1e-3, how="angle (deg) of the output update to BP", aggregate="max",
                  reason="identical up to float32 rounding"),
            Claim("B1-single-phase", GREEDY, "Without a teacher no weight changes: no separate phase is needed.",
                  "probe_no_target_max_update", "<", 1e-7, how="max |ΔW| over layers, tied and random Y, "
                  "no target", aggregate="max", reason="exactly zero in theory; 1e-7 allows float32 rounding"),
            Claim("B2-fa", GREEDY, "With fixed random feedback BurstCCN's update is feedback alignment's.",
                  "probe_random_fa_max_angle", "<", 2.0, how="max over layers of the angle (deg) to the FA ANN "
                  "update with B = Y, same weights and batch", aggregate="max",
                  reason="same O(u^3) term as B1"),
            Claim("B2-orthogonal", GREEDY, "At initialisation random-feedback updates are far from backprop.",
                  "probe_random_bp_min_angle", ">", 60.0, how="min over hidden layers of the angle (deg) to BP",
                  aggregate="min", reason="random Y in high dimension gives ~90 deg (notes: > 60)"),
        ]
    if "tied" in config.methods:
        out.append(Claim("B3-tied-accuracy", GREEDY, f"BurstCCN with tied feedback learns {config.dataset}.",
                         "tied_test_acc", ">=", TIED_FLOOR[config.dataset], how="test accuracy after the last epoch",
                         aggregate="min", reason="calibrated a little below the measured accuracy"))
    if "tied" in config.methods and "bp" in config.methods:
        out.append(Claim("B3-tied-matches-bp", GREEDY, "With tied feedback BurstCCN matches the backprop ANN.",
                         "tied_gap_to_bp", "<=", 0.005, how="|BP - BurstCCN tied| test accuracy, same init",
                         reason="notes' proposal: within 0.5 points (measured 0.01 points)"))
    if "random" in config.methods:
        out.append(Claim("B3-random-accuracy", GREEDY, f"BurstCCN with random feedback learns {config.dataset}.",
                         "random_test_acc", ">=", RANDOM_FLOOR[config.dataset],
                         how="test accuracy after the last epoch", aggregate="min",
                         reason="calibrated a little below the measured accuracy"))
    if "random" in config.methods and "fa" in config.methods:
        out.append(Claim("B3-random-matches-fa", GREEDY, "With random feedback BurstCCN matches the FA ANN.",
                         "random_gap_to_fa", "<=", 0.015, how="|FA - BurstCCN random| test accuracy, same W and Y",
                         reason="notes' proposal: within 1.5 points"))
    return out


def plot_burstccn(result: Result, config: BurstCCNConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    labels = {"bp": "backprop ANN", "fa": "FA ANN", "tied": "BurstCCN, tied Y", "random": "BurstCCN, random Y",
              "burstprop": "Burstprop (two-phase), tied Y", "edn": "dendritic-error network (EDN)"}
    fig_acc, ax = plt.subplots(figsize=(5, 3.5))
    for m in config.methods:
        ax.plot(a["epoch"], a[f"{m}_acc"], label=labels[m], ls="--" if m in ("bp", "fa", "edn") else "-")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"{config.dataset}: learning curves")
    ax.legend()
    figs = {"learning_curves": fig_acc}
    angle_methods = [m for m in ("tied", "random", "fa", "burstprop") if f"angle_{m}" in a]
    if angle_methods:
        fig_angle, axes = plt.subplots(1, len(angle_methods), figsize=(4 * len(angle_methods), 3.5), squeeze=False)
        for ax, m in zip(axes[0], angle_methods):
            angles = np.asarray(a[f"angle_{m}"])
            for layer in range(angles.shape[1]):
                name = "output" if layer == angles.shape[1] - 1 else f"layer {layer + 1}"
                ax.plot(a["angle_step"], angles[:, layer], label=name)
            ax.set(xlabel="training step", ylabel="angle to BP gradient (deg)", title=labels[m], ylim=(0, 100))
            ax.legend(fontsize=7)
        fig_angle.tight_layout()
        figs["angle_to_bp"] = fig_angle
    return figs


register(Experiment(
    name="burstccn", paper=GREEDY,
    summary="BurstCCN (tied / random feedback) vs backprop and FA ANNs: exactness probes and accuracy",
    presets={
        "quick": BurstCCNConfig(angle_every=100),
        "full": BurstCCNConfig(dataset="fashion-mnist", hidden=(500,), epochs=2, lr=0.3, angle_every=200),
        "cifar10": BurstCCNConfig(dataset="cifar10", arch="conv", hidden=(1480,), methods=("bp", "tied", "random"),
                                  epochs=2, lr=0.05, init_gain=1.0, angle_every=200),
    },
    run=run_burstccn, claims=claims_burstccn, plot=plot_burstccn,
))


# --------------------------------------------------------------------------------------------------
# burstccn-alignment: angle to backprop over training (random and Kolen-Pollack feedback, FA ANN)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlignmentConfig(BurstConfig):
    """`kp_decay`: weight decay on W and Y of the Kolen-Pollack ("learned") network, which makes W_{l+1}
    and Y_l converge (their difference decays as (1 - lr kp_decay)^steps)."""

    epochs: int = 60
    kp_decay: float = 0.001
    angle_every: int = 45

    def __post_init__(self):
        super().__post_init__()
        require(self.kp_decay >= 0, f"kp_decay must be >= 0, got {self.kp_decay}")


def run_alignment(config: AlignmentConfig, seed: int, ctx: RunContext) -> Result:
    data = config.load(seed, ctx.device)
    x_train, x_test = data.flat()
    shape = tuple(x_train.shape[1:])
    learners = {}
    for name, feedback in (("random", "random"), ("learned", "learned"), ("fa", "random")):
        net = _burst_net(config, shape, data.n_classes, feedback, make_generator(seed)).to(ctx.device)
        if name == "fa":
            net = matching_mlp(net, "fa")
            opt = torch.optim.SGD(net.parameters(), lr=config.lr)
        elif name == "learned":
            weights = [layer.weight for layer in net.layers] + net.y_parameters()
            biases = [layer.bias for layer in net.layers]
            opt = torch.optim.SGD([{"params": weights, "weight_decay": config.kp_decay}, {"params": biases}],
                                  lr=config.lr)
        else:
            opt = torch.optim.SGD(net.parameters(), lr=config.lr)
        learners[name] = _Learner(name, net, opt, "ann" if name == "fa" else "burst")

    curves = {"epoch": [], **{f"{m}_acc": [] for m in learners}, "angle_step": [],
              **{f"angle_{m}": [] for m in learners}, "y_w_angle": []}
    shuffle = make_generator(seed + 1)
    curves, step, start = _restore(ctx, learners, shuffle, curves)
    kp = learners["learned"].net
    for epoch in ctx.progress(range(start, config.epochs), total=config.epochs, initial=start, desc="alignment"):
        for idx in minibatches(len(x_train), config.batch_size, shuffle):
            xb, yb = x_train[idx], data.y_train[idx]
            if step % config.angle_every == 0:
                curves["angle_step"].append(step)
                for name, learner in learners.items():
                    curves[f"angle_{name}"].append(learner.update_with_angles(xb, yb))
                curves["y_w_angle"].append([angle(y, a.weight) for y, a in zip(kp.y_parameters(), kp.layers[1:])])
            else:
                for learner in learners.values():
                    learner.update(xb, yb)
            step += 1
        curves["epoch"].append(epoch + 1)
        for name, learner in learners.items():
            curves[f"{name}_acc"].append(accuracy(learner.net, x_test, data.y_test))
        ctx.log(step, epoch=epoch + 1, random_angle=float(np.mean(curves["angle_random"][-1][:-1])))
        _save(ctx, step, epoch + 1, learners, shuffle, curves)

    metrics = {f"{m}_test_acc": curves[f"{m}_acc"][-1] for m in learners}
    for m in learners:
        a = np.asarray(curves[f"angle_{m}"])[:, :-1]  # hidden layers
        k = max(1, len(a) // 10)
        metrics[f"{m}_angle_start"] = float(a[0].mean())
        metrics[f"{m}_angle_end"] = float(a[-k:].mean())
        metrics[f"{m}_angle_drop"] = float(a[0].mean() - a[-k:].mean())
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


def claims_alignment(config: AlignmentConfig) -> list[Claim]:
    return [
        Claim("B4-random-aligns", GREEDY, "With fixed random feedback the hidden updates come to align with "
              "backprop, as in feedback alignment.", "random_angle_end", "<=", 80.0,
              how="hidden-layer angle (deg) to BP, mean of the last 10% of measurements", aggregate="max",
              reason="notes' proposal (measured 93.9 -> 68.5 deg on digits, 30 epochs)"),
        Claim("B4-random-angle-falls", GREEDY, "The random-feedback angle falls well below its start.",
              "random_angle_drop", ">=", 15.0, how="first minus final hidden angle (deg)", aggregate="min",
              reason="notes' proposal: at least 15 deg"),
        Claim("B4-kp-aligns", GREEDY, "Learned (Kolen-Pollack) feedback brings the updates close to backprop.",
              "learned_angle_end", "<=", 30.0, how="hidden-layer angle (deg) to BP at the end", aggregate="max",
              reason="exploratory: W and Y converge under the shared update plus weight decay; 30 deg is "
              "'close' and well below FA's ~70", gated=False),
    ]


def plot_alignment(result: Result, config: AlignmentConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    labels = {"random": "BurstCCN, random Y", "learned": "BurstCCN, learned Y (KP)", "fa": "FA ANN"}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for m, label in labels.items():
        angles = np.asarray(a[f"angle_{m}"])
        for layer in range(angles.shape[1] - 1):
            ax.plot(a["angle_step"], angles[:, layer], label=f"{label}, layer {layer + 1}",
                    ls="--" if m == "fa" else "-")
    ax.set(xlabel="training step", ylabel="hidden angle to BP gradient (deg)", ylim=(0, 100),
           title=f"{config.dataset}: alignment")
    ax.legend(fontsize=7)
    return {"angle_to_bp": fig}


register(Experiment(
    name="burstccn-alignment", paper=GREEDY,
    summary="angle of BurstCCN's updates to backprop over training: random vs learned (KP) feedback vs FA",
    presets={
        "quick": AlignmentConfig(),
        "full": AlignmentConfig(hidden=(100, 100, 100), epochs=100),
    },
    run=run_alignment, claims=claims_alignment, plot=plot_alignment,
))


# --------------------------------------------------------------------------------------------------
# burstccn-q: Q learning towards the cancelling state, single phase
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QConfig(BurstConfig):
    """Random fixed Y, Q from random (std `q_std`), learned at `q_lr` while the teacher is always on.
    The apical potential without a teacher is measured on `probe_size` test images after each epoch."""

    epochs: int = 40
    q_lr: float = 1.0
    q_std: float = 0.5
    probe_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        require(self.q_lr > 0, f"q_lr must be > 0, got {self.q_lr}")
        require(self.q_std > 0, f"q_std must be > 0, got {self.q_std}")
        require(self.probe_size >= 1, f"probe_size must be >= 1, got {self.probe_size}")


def _q_measures(net: BurstCCN, probe: torch.Tensor) -> tuple[float, float]:
    """∠(Q, p_b Y) over all hidden layers (flattened) and the mean |u| without a teacher."""
    q = torch.cat([q.flatten() for q in net.q_parameters()])
    y = torch.cat([net.p_baseline * y.flatten() for y in net.feedback_weights()])
    state = net.burst_pass(probe, None)
    return angle(q, y), float(torch.cat([u.abs().flatten() for u in state.u]).mean())


def run_q(config: QConfig, seed: int, ctx: RunContext) -> Result:
    data = config.load(seed, ctx.device)
    x_train, x_test = data.flat()
    net = _burst_net(config, tuple(x_train.shape[1:]), data.n_classes, "random", make_generator(seed),
                     q_mode="learned", q_init="random", q_std=config.q_std).to(ctx.device)
    opt = torch.optim.SGD([{"params": net.forward_parameters()},
                           {"params": net.q_parameters(), "lr": config.q_lr}], lr=config.lr)
    learners = {"burstccn": _Learner("burstccn", net, opt, "burst")}
    probe = x_test[: config.probe_size]
    q_angle, apical = _q_measures(net, probe)
    curves = {"epoch": [0], "q_angle": [q_angle], "apical_no_target": [apical], "acc": [float("nan")]}
    shuffle = make_generator(seed + 1)
    curves, step, start = _restore(ctx, learners, shuffle, curves)
    for epoch in ctx.progress(range(start, config.epochs), total=config.epochs, initial=start, desc="q-learning"):
        for idx in minibatches(len(x_train), config.batch_size, shuffle):
            learners["burstccn"].update(x_train[idx], data.y_train[idx])
            step += 1
        q_angle, apical = _q_measures(net, probe)
        curves["epoch"].append(epoch + 1)
        curves["q_angle"].append(q_angle)
        curves["apical_no_target"].append(apical)
        curves["acc"].append(accuracy(net, x_test, data.y_test))
        ctx.log(step, epoch=epoch + 1, q_angle=q_angle, apical_no_target=apical, acc=curves["acc"][-1])
        _save(ctx, step, epoch + 1, learners, shuffle, curves)

    a0, a1 = curves["apical_no_target"][0], curves["apical_no_target"][-1]
    metrics = {"q_angle_start": curves["q_angle"][0], "q_angle_end": curves["q_angle"][-1],
               "apical_start": a0, "apical_end": a1, "apical_reduction": 1 - a1 / a0,
               "test_acc": curves["acc"][-1]}
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


def claims_q(config: QConfig) -> list[Claim]:
    return [
        Claim("B5-q-aligns", GREEDY, "Q learning drives Q to the cancelling state Q = p_b Y.",
              "q_angle_end", "<", 10.0, how="angle (deg) between Q and p_b Y after the last epoch, all layers",
              aggregate="max", reason="notes' proposal (measured 83.8 -> 2.6 deg on digits, q_lr 1, 40 epochs)"),
        Claim("B5-apical-cancelled", GREEDY, "Without a teacher the apical potential is cancelled.",
              "apical_reduction", ">=", 0.8, how="1 - final/initial mean |u| on test images, no target",
              aggregate="min", reason="notes' proposal: at least 80% lower (measured -89%)"),
        Claim("B5-learns", GREEDY, "The network learns while Q is learned, in a single phase.",
              "test_acc", ">=", 0.90, how="test accuracy after the last epoch", aggregate="min",
              reason="notes' proposal (measured 92.5%)"),
    ]


def plot_q(result: Result, config: QConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(a["epoch"], a["apical_no_target"])
    ax1.set(xlabel="epoch", ylabel="mean |u| without a teacher", title="apical activity over Q learning",
            yscale="log")
    ax2.plot(a["epoch"], a["q_angle"])
    ax2.set(xlabel="epoch", ylabel="angle(Q, p_b Y) (deg)", title="Q towards the cancelling state")
    return {"q_learning": fig}


register(Experiment(
    name="burstccn-q", paper=GREEDY,
    summary="Q learning from random Q in a single phase: Q -> p_b Y and the teacher-free apical potential -> 0",
    presets={"quick": QConfig(), "full": QConfig(epochs=60)},
    run=run_q, claims=claims_q, plot=plot_q,
))



# --------------------------------------------------------------------------------------------------
# burstccn-continuous: online learning in continuous time, single phase (B6)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ContinuousConfig:
    """A student BurstCCN (n_in-hidden-1, tied Y and Q = p_b Y) integrated with Euler steps of `dt`
    learns online from a fixed random sigmoid teacher (n_in-teacher_hidden-1, xavier weights times
    `teacher_gain`, output bias set so that its mean drive over the run is 0) driven by cosines with
    random periods in [min_period, max_period] (time units;
    τ_v = τ_u = `tau`). Phases: `rest_steps` without a teacher (must not learn), `train_steps` with the
    teacher on and plasticity W += lr·ΔW every step, `test_steps` without plasticity (MSE), the last
    also run before training for the baseline MSE."""

    n_in: int = 3
    hidden: int = 50
    teacher_hidden: int = 25
    teacher_gain: float = 3.0
    init_gain: float = 3.6
    dt: float = 0.02
    tau: float = 0.1
    min_period: float = 4.0
    max_period: float = 12.0
    rest_steps: int = 1000
    train_steps: int = 20000
    test_steps: int = 3000
    lr: float = 0.05
    angle_every: int = 20

    def __post_init__(self):
        for name in ("n_in", "hidden", "teacher_hidden", "train_steps", "test_steps", "angle_every"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        require(self.rest_steps >= 0, f"rest_steps must be >= 0, got {self.rest_steps}")
        for name in ("teacher_gain", "init_gain", "lr"):
            require(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        require(0 < self.dt <= self.tau, f"need 0 < dt <= tau, got dt={self.dt}, tau={self.tau}")
        require(0 < self.min_period <= self.max_period,
                f"need 0 < min_period <= max_period, got {self.min_period}, {self.max_period}")


def _state_backprop(net: BurstCCN, state, target: torch.Tensor) -> torch.Tensor:
    """Backprop's gradient for W_1 of the instantaneous error ½‖e_L − t‖², through the network's current
    (not settled) rates: δ_L = (e_L − t) e_L(1 − e_L), δ_l = e_l(1 − e_l) ⊙ W_{l+1}ᵀ δ_{l+1}."""
    e = state.e
    delta = (e[-1] - target) * e[-1] * (1 - e[-1])
    for i in reversed(range(1, len(net.layers))):
        delta = net.layers[i].adjoint(delta, net.layers[i].weight, e[i].shape) * e[i] * (1 - e[i])
    return net.layers[0].outer(delta, e[0])


def run_continuous(config: ContinuousConfig, seed: int, ctx: RunContext) -> Result:
    gen = make_generator(seed)
    teacher = burst_mlp([config.n_in, config.teacher_hidden, 1], init_gain=config.teacher_gain, generator=gen)
    periods = config.min_period + (config.max_period - config.min_period) * torch.rand(config.n_in, generator=gen)
    phases = 2 * torch.pi * torch.rand(config.n_in, generator=gen)
    student = burst_mlp([config.n_in, config.hidden, 1], feedback="tied", init_gain=config.init_gain,
                        generator=make_generator(seed + 1))
    teacher, student = teacher.to(ctx.device), student.to(ctx.device)
    periods, phases = periods.to(ctx.device), phases.to(ctx.device)
    total = config.rest_steps + config.train_steps + 2 * config.test_steps
    with torch.no_grad():  # centre the teacher's output drive over the run so that it is not saturated
        xs = torch.cos(2 * torch.pi * torch.arange(total, device=ctx.device)[:, None] * config.dt / periods + phases)
        hidden = torch.sigmoid(teacher.layers[0].drive(xs))
        teacher.layers[1].bias.sub_(teacher.layers[1].drive(hidden).mean(0))
    clock = {"t": 0}
    euler = dict(dt=config.dt, tau_v=config.tau, tau_u=config.tau)

    def inputs():
        x = torch.cos(2 * torch.pi * clock["t"] * config.dt / periods + phases)[None]
        with torch.no_grad():
            return x, teacher(x)

    v, u = student.rest(torch.zeros(1, config.n_in, device=ctx.device))

    def run_phase(steps, teach, learn, measure=False):
        nonlocal v, u
        errors, angles = [], []
        for _ in range(steps):
            x, t = inputs()
            v, u, state = student.euler_step(x, v, u, t if teach else None, **euler)
            errors.append(float((state.e[-1] - t).pow(2).mean()))
            if learn:
                student.zero_grad(set_to_none=True)
                student.local_grads(state)
                if measure and clock["t"] % config.angle_every == 0:
                    angles.append(angle(student.layers[0].weight.grad, _state_backprop(student, state, t)))
                with torch.no_grad():
                    for p in student.forward_parameters():
                        p.sub_(config.lr * p.grad)
            clock["t"] += 1
        return np.asarray(errors), np.asarray(angles)

    w0 = [p.detach().clone() for p in student.forward_parameters()]
    run_phase(config.rest_steps, teach=False, learn=True)  # no teacher: plasticity on, nothing should change
    rest_change = max(float((p.detach() - q).abs().max()) for p, q in zip(student.forward_parameters(), w0))
    before, _ = run_phase(config.test_steps, teach=False, learn=False)
    with torch.no_grad():  # the target's variance over a test window: the MSE of predicting its mean
        xs = torch.cos(2 * torch.pi * (clock["t"] + torch.arange(config.test_steps, device=ctx.device)[:, None])
                       * config.dt / periods + phases)
        target_var = float(teacher(xs).var())
    errors, angles = [], []
    chunk = max(1, config.train_steps // 20)
    for start in ctx.progress(range(0, config.train_steps, chunk), desc="continuous"):
        e, a = run_phase(min(chunk, config.train_steps - start), teach=True, learn=True, measure=True)
        errors.append(e)
        angles.append(a)
        ctx.log(clock["t"], train_mse=float(e.mean()))
    errors, angles = np.concatenate(errors), np.concatenate(angles)
    after, _ = run_phase(config.test_steps, teach=False, learn=False)
    k = max(1, len(angles) // 10)
    metrics = {"rest_weight_change": rest_change, "mse_before": float(before.mean()),
               "mse_after": float(after.mean()), "mse_ratio": float(after.mean() / before.mean()),
               "angle_end": float(np.nanmean(angles[-k:])), "target_var": target_var,
               "unexplained_variance": float(after.mean()) / target_var}
    window = max(1, len(errors) // 100)
    smooth = errors[: len(errors) // window * window].reshape(-1, window).mean(1)
    return Result(metrics, {"train_mse": smooth, "angle": angles})


def claims_continuous(config: ContinuousConfig) -> list[Claim]:
    return [
        Claim("B6-single-phase", GREEDY, "In continuous time, without a teacher nothing is learned.",
              "rest_weight_change", "<", 1e-7, how="max |W - W_0| after the teacher-free phase with plasticity on",
              aggregate="max", reason="exactly zero in theory (u stays 0); 1e-7 allows rounding"),
        Claim("B6-learns-online", GREEDY, "The continuous-time network learns the teacher online, in a single "
              "phase.", "mse_ratio", "<=", 0.5, how="test MSE after / before training (no plasticity)",
              aggregate="max", reason="notes' proposal: at most half the pre-training MSE"),
        Claim("B6-beyond-the-mean", GREEDY, "It learns the teacher's time course, not only its mean.",
              "unexplained_variance", "<=", 0.5, how="test MSE after training / variance of the target over "
              "the test window", aggregate="max", reason="stricter than B6-learns-online, which a constant "
              "output can pass; calibrated here: half the variance"),
        Claim("B6-follows-bp", GREEDY, "Its online hidden updates follow the backprop gradient.", "angle_end", "<",
              45.0, how="mean angle (deg) between the hidden ΔW and BP's gradient of the instantaneous error "
              "through the current rates, last 10% of training", aggregate="max", reason="notes' proposal"),
    ]


def plot_continuous(result: Result, config: ContinuousConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(np.arange(len(a["train_mse"])) * config.train_steps / max(1, len(a["train_mse"])), a["train_mse"])
    ax1.set(xlabel="training step", ylabel="squared error (smoothed)", yscale="log", title="online learning")
    angles = np.asarray(a["angle"], dtype=float)
    steps = np.arange(len(angles)) * config.angle_every
    ax2.plot(steps, angles, ".", ms=2, alpha=0.4, label="each measurement")
    w = max(1, len(angles) // 50)
    medians = [np.nanmedian(angles[i:i + w]) for i in range(0, len(angles), w)]
    ax2.plot(steps[::w], medians, label=f"running median ({w})")
    ax2.set(xlabel="training step", ylabel="hidden ΔW angle to BP (deg)", ylim=(0, 180),
            title="alignment during the dynamics")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"continuous": fig}


register(Experiment(
    name="burstccn-continuous", paper=GREEDY,
    summary="continuous-time BurstCCN learning a random teacher online in a single phase (B6, exploratory)",
    presets={"quick": ContinuousConfig(rest_steps=500, train_steps=5000, test_steps=1000),
             "full": ContinuousConfig(train_steps=60000)},
    run=run_continuous, claims=claims_continuous, plot=plot_continuous,
))
