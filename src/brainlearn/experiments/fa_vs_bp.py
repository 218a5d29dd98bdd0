"""fa-vs-bp: an MLP trained by backprop and by feedback alignment (Lillicrap et al. 2016).

The baseline every credit-assignment model in brainlearn compares to. Both networks start from the
same weights; FA's random feedback matrices are fixed. Every `angle_every` steps we measure the angle
between FA's hidden-layer update and the backprop gradient of the same network on the same batch:
it starts near 90 degrees (random feedback is orthogonal to anything in high dimension) and falls as
the forward weights come to align with the feedback ("alignment").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from brainlearn.analysis import angle
from brainlearn.data import ImageDataConfig, accuracy, minibatches
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.nn import MLP, one_hot_mse
from brainlearn.rules import use_rule
from brainlearn.runtime import RunContext, make_generator, require

LILLICRAP = "1411.0247"  # Lillicrap et al., "Random feedback weights support learning in deep neural networks"


@dataclass(frozen=True)
class FAvsBPConfig(ImageDataConfig):
    hidden: tuple[int, ...] = (100,)
    activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid"
    loss: Literal["mse", "ce"] = "mse"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.5
    init_gain: float = 3.6
    feedback_std: float = 0.5
    angle_every: int = 50

    def __post_init__(self):
        require(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"lr must be > 0, got {self.lr}")
        require(self.feedback_std > 0, f"feedback_std must be > 0, got {self.feedback_std}")
        require(self.angle_every >= 1, f"angle_every must be >= 1, got {self.angle_every}")
        require(len(self.hidden) >= 1 and min(self.hidden) >= 1,
                f"hidden must list at least one positive width, got {self.hidden}")


def _loss(config: FAvsBPConfig, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if config.loss == "ce":
        return F.cross_entropy(out, y)
    return one_hot_mse(out, y)


def run(config: FAvsBPConfig, seed: int, ctx: RunContext) -> Result:
    data = config.load(seed, ctx.device)
    x_train, x_test = data.flat()
    sizes = (data.n_features, *config.hidden, data.n_classes)
    init = make_generator(seed)
    out_act = "sigmoid" if config.loss == "mse" else None
    nets = {}
    for rule in ("bp", "fa"):
        init.manual_seed(seed)  # identical forward weights for both rules
        nets[rule] = MLP(sizes, config.activation, out_act, rule=rule, init_gain=config.init_gain,
                         feedback_std=config.feedback_std,
                         generator=init).to(ctx.device)
    opts = {r: torch.optim.SGD(n.parameters(), lr=config.lr) for r, n in nets.items()}
    shuffle = make_generator(seed + 1)
    curves = {"epoch": [], "bp_acc": [], "fa_acc": [], "angle_step": [], "angle": []}
    step, start_epoch = 0, 0

    state = ctx.restore()
    if state is not None:
        for r in nets:
            nets[r].load_state_dict(state["nets"][r])
            opts[r].load_state_dict(state["opts"][r])
        shuffle.set_state(state["shuffle"])
        curves, step, start_epoch = state["curves"], state["step"], state["epoch"]

    fa = nets["fa"]
    hidden_weight = fa.layers[0].weight
    for epoch in ctx.progress(range(start_epoch, config.epochs), total=config.epochs, initial=start_epoch,
                              desc="fa-vs-bp"):
        for idx in minibatches(len(x_train), config.batch_size, shuffle):
            xb, yb = x_train[idx], data.y_train[idx]
            if step % config.angle_every == 0:
                with use_rule(fa, "bp"):
                    g_bp = torch.autograd.grad(_loss(config, fa(xb), yb), hidden_weight)[0]
                g_fa = torch.autograd.grad(_loss(config, fa(xb), yb), hidden_weight)[0]
                curves["angle_step"].append(step)
                curves["angle"].append(angle(g_fa, g_bp))
                ctx.log(step, angle=curves["angle"][-1])
            for rule, net in nets.items():
                opts[rule].zero_grad(set_to_none=True)
                _loss(config, net(xb), yb).backward()
                opts[rule].step()
            step += 1
        curves["epoch"].append(epoch + 1)
        for rule, net in nets.items():
            curves[f"{rule}_acc"].append(accuracy(net, x_test, data.y_test))
        ctx.log(step, epoch=epoch + 1, bp_acc=curves["bp_acc"][-1], fa_acc=curves["fa_acc"][-1])
        ctx.checkpoint(step, {"nets": {r: n.state_dict() for r, n in nets.items()},
                              "opts": {r: o.state_dict() for r, o in opts.items()},
                              "shuffle": shuffle.get_state(), "curves": curves, "step": step,
                              "epoch": epoch + 1})

    angles = np.asarray(curves["angle"])
    k = max(1, len(angles) // 10)
    metrics = {
        "bp_test_acc": curves["bp_acc"][-1],
        "fa_test_acc": curves["fa_acc"][-1],
        "bp_minus_fa": curves["bp_acc"][-1] - curves["fa_acc"][-1],
        "angle_start": float(angles[0]),
        "angle_end": float(angles[-k:].mean()),
        "angle_drop": float(angles[0] - angles[-k:].mean()),
    }
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


# Thresholds were calibrated once on this implementation (seeds 0-4) and then frozen; see
# docs/experiments/fa-vs-bp.md for the measured values behind each.
ACCURACY_FLOOR = {"digits": 0.93, "fashion-mnist": 0.84, "mnist": 0.95, "cifar10": 0.40}


def claims(config: FAvsBPConfig) -> list[Claim]:
    return [
        Claim("bp-accuracy", LILLICRAP, f"Backprop trains the MLP to high test accuracy on {config.dataset}.",
              "bp_test_acc", ">=", ACCURACY_FLOOR[config.dataset],
              how="test accuracy of the BP network after the last epoch",
              reason="calibrated once on seeds 0-4, a margin below the lowest seed (digits: 0.944-0.958; "
                     "Fashion-MNIST: see docs)"),
        Claim("fa-near-bp", LILLICRAP, "Feedback alignment learns nearly as well as backprop.",
              "bp_minus_fa", "<=", 0.03, how="BP minus FA test accuracy after the last epoch",
              reason="'within a few points' in the paper; 3 points"),
        Claim("angle-start-orthogonal", LILLICRAP,
              "At initialisation FA's hidden update is roughly orthogonal to the backprop gradient.",
              "angle_start", ">=", 80.0, how="angle (deg) between FA's and BP's hidden-weight updates, first batch",
              reason="random feedback in high dimension: ~90 deg, allow 10"),
        Claim("angle-falls", LILLICRAP, "The forward weights come to align with the feedback: "
              "the angle falls well below 90 degrees.", "angle_drop", ">=", 10.0,
              how="first angle minus the mean angle of the last 10% of measurements (deg)",
              reason="calibrated once on digits seeds 0-4: drops of 14.8-30.7 deg"),
    ]


def plot(result: Result, config: FAvsBPConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    fig_acc, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(a["epoch"], a["bp_acc"], label="backprop")
    ax.plot(a["epoch"], a["fa_acc"], label="feedback alignment")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"{config.dataset}: learning curves")
    ax.legend()
    fig_angle, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(a["angle_step"], a["angle"])
    ax.axhline(90, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="training step", ylabel="angle to BP gradient (deg)", title="FA hidden-layer alignment")
    return {"learning_curves": fig_acc, "angle": fig_angle}


register(Experiment(
    name="fa-vs-bp", paper=LILLICRAP,
    summary="MLP trained by backprop and by feedback alignment; accuracy and alignment angle",
    presets={
        "quick": FAvsBPConfig(),
        "full": FAvsBPConfig(dataset="fashion-mnist", hidden=(500,), epochs=5, lr=0.3, angle_every=200),
    },
    run=run, claims=claims, plot=plot,
))
