"""fa-vs-bp: an MLP trained by backprop and by feedback alignment (Lillicrap et al. 2016).

The baseline every credit-assignment model in brainlearn compares to. Both networks start from the
same weights; FA's random feedback matrices are fixed. Every `angle_every` steps we measure the angle
between FA's hidden-layer update and the backprop gradient of the same network on the same batch:
it starts near 90 degrees (random feedback is orthogonal to anything in high dimension) and falls as
the forward weights come to align with the feedback ("alignment").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from brainlearn import papers, plotting
from brainlearn.analysis import angle, angles, tail_mean
from brainlearn.data import ImageDataConfig, accuracy, minibatches
from brainlearn.data.images import PIXELS
from brainlearn.ensemble import Ensemble, StackedSGD
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.nn import MLP, MLPConfig, one_hot_mse
from brainlearn.rules import use_rule
from brainlearn.runtime import RunContext, make_generator, param, replicate_seed, require, train
from brainlearn.runtime.loop import train_stacked


@dataclass(frozen=True)
class FAvsBPConfig(ImageDataConfig):
    """`model` is the network both rules train; its `n_in` and `n_out` follow the dataset, its `rule` is set
    per network (bp and fa) and its `output_activation` by `loss` (sigmoid for mse, none for ce)."""

    renamed = {"hidden": "model.n_hidden", "activation": "model.activation", "init_gain": "model.init_gain",
               "feedback_std": "model.feedback_std"}

    model: MLPConfig = MLPConfig(n_hidden=(100,), init_gain=3.6, feedback_std=0.5)
    loss: Literal["mse", "ce"] = "mse"
    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(0.5, gt=0)
    angle_every: int = param(50, ge=1, help="training steps between angle measurements")

    def __post_init__(self):
        super().__post_init__()
        require(len(self.model.n_hidden) >= 1, "model.n_hidden: FA needs at least one hidden layer")


def _loss(config: FAvsBPConfig, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if config.loss == "ce":
        return F.cross_entropy(out, y)
    return one_hot_mse(out, y)


class Learner:
    """The BP and the FA network trained side by side on the same batches; one epoch per round."""

    def __init__(self, config: FAvsBPConfig, seed: int, ctx: RunContext):
        self.config = config
        data = self.data = config.load(seed, ctx.device)
        self.x_train, self.x_test = data.flat()
        model = replace(config.model, n_in=data.n_features, n_out=data.n_classes,
                        output_activation="sigmoid" if config.loss == "mse" else None)
        self.nets = {rule: ctx.place(MLP(replace(model, rule=rule),  # the same forward weights
                                         generator=make_generator(replicate_seed(seed))))
                     for rule in ("bp", "fa")}
        self.opts = {r: torch.optim.SGD(n.parameters(), lr=config.lr) for r, n in self.nets.items()}
        self.shuffle = make_generator(replicate_seed(seed, stream="data"))
        self.curves = {"epoch": [], "bp_acc": [], "fa_acc": [], "angle_step": [], "angle": []}
        self.steps = 0

    def step(self, epoch: int) -> list[dict]:
        config, fa = self.config, self.nets["fa"]
        hidden_weight = fa.layers[0].weight
        records = []
        for idx in minibatches(len(self.x_train), config.batch_size, self.shuffle):
            xb, yb = self.x_train[idx], self.data.y_train[idx]
            if self.steps % config.angle_every == 0:
                with use_rule(fa, "bp"):
                    g_bp = torch.autograd.grad(_loss(config, fa(xb), yb), hidden_weight)[0]
                g_fa = torch.autograd.grad(_loss(config, fa(xb), yb), hidden_weight)[0]
                self.curves["angle_step"].append(self.steps)
                self.curves["angle"].append(angle(g_fa, g_bp))
                records.append({"step": self.steps, "angle": self.curves["angle"][-1]})
            for rule, net in self.nets.items():
                self.opts[rule].zero_grad(set_to_none=True)
                _loss(config, net(xb), yb).backward()
                self.opts[rule].step()
            self.steps += 1
        self.curves["epoch"].append(epoch + 1)
        for rule, net in self.nets.items():
            self.curves[f"{rule}_acc"].append(accuracy(net, self.x_test, self.data.y_test))
        records.append({"step": self.steps, "epoch": epoch + 1, "bp_acc": self.curves["bp_acc"][-1],
                        "fa_acc": self.curves["fa_acc"][-1]})
        return records

    def state_dict(self) -> dict:
        return {"nets": {r: n.state_dict() for r, n in self.nets.items()},
                "opts": {r: o.state_dict() for r, o in self.opts.items()},
                "shuffle": self.shuffle.get_state(), "curves": self.curves, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        for r in self.nets:
            self.nets[r].load_state_dict(state["nets"][r])
            self.opts[r].load_state_dict(state["opts"][r])
        self.shuffle.set_state(state["shuffle"])
        self.curves, self.steps = state["curves"], state["steps"]


class StackedLearner:
    """:class:`Learner` for N members (seeds, learning rates, init gains, feedback scales) in one pass: the
    BP and the FA networks of every member stacked (:mod:`brainlearn.ensemble`), each member drawing its
    weights, feedback and batches from its own generators exactly as its Learner does alone."""

    def __init__(self, configs: list[FAvsBPConfig], seeds: list[int], ctx: RunContext):
        self.configs, config = configs, configs[0]
        if config.n_train is None and config.n_test is None:  # the whole dataset: one copy for every member
            data = [config.load(seeds[0], ctx.device)] * len(seeds)
        else:
            data = [config.load(seed, ctx.device) for seed in seeds]
        self.shared = data[0] is data[-1]
        flat = [d.flat() for d in data]
        self.x_train = flat[0][0] if self.shared else torch.stack([f[0] for f in flat])
        self.x_test = flat[0][1] if self.shared else torch.stack([f[1] for f in flat])
        self.y_train = torch.stack([d.y_train for d in data])
        self.y_test = torch.stack([d.y_test for d in data])
        self.ens = {}
        for rule in ("bp", "fa"):
            nets = []
            for c, seed in zip(configs, seeds):
                model = replace(c.model, n_in=data[0].n_features, n_out=data[0].n_classes, rule=rule,
                                output_activation="sigmoid" if c.loss == "mse" else None)
                nets.append(ctx.place(MLP(model, generator=make_generator(replicate_seed(seed)))))
            self.ens[rule] = Ensemble(nets)
        self.opts = {r: StackedSGD(e.params, lr=[c.lr for c in configs]) for r, e in self.ens.items()}
        self.shuffles = [make_generator(replicate_seed(seed, stream="data")) for seed in seeds]
        self.curves = [{"epoch": [], "bp_acc": [], "fa_acc": [], "angle_step": [], "angle": []} for _ in seeds]
        self.steps = 0
        self.names = [n for n, _ in self.ens["bp"].template.named_parameters()]
        self.chunk = ctx.chunk

    def _rows(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Each member's rows `idx` (N, b) of x ((n, d) shared or (N, n, d)): (N, b, d)."""
        return x[idx] if self.shared else torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.shape[-1]))

    def step(self, epoch: int) -> list[list[dict]]:
        config, n = self.configs[0], len(self.shuffles)
        loss = lambda net, xb, yb: _loss(config, net(xb), yb)  # noqa: E731
        records: list[list[dict]] = [[] for _ in range(n)]
        perms = torch.stack([torch.randperm(self.x_train.shape[-2], generator=g) for g in self.shuffles])
        for idx in perms.to(self.y_train.device).split(config.batch_size, dim=1):
            xb, yb = self._rows(self.x_train, idx), torch.gather(self.y_train, 1, idx)
            grads = {r: self.ens[r].grad_and_value(loss, xb, yb, chunk=self.chunk)[0] for r in ("fa", "bp")}
            if self.steps % config.angle_every == 0:  # FA's update against BP's gradient of the same network
                with use_rule(self.ens["fa"].template, "bp"):
                    g_bp = self.ens["fa"].grad_and_value(loss, xb, yb, chunk=self.chunk)[0][self.names[0]]
                for k, a in enumerate(angles(grads["fa"][self.names[0]], g_bp)):
                    self.curves[k]["angle_step"].append(self.steps)
                    self.curves[k]["angle"].append(a)
                    records[k].append({"step": self.steps, "angle": a})
            for rule, opt in self.opts.items():
                opt.step(grads[rule])
            self.steps += 1
        acc = {r: self._accuracy(e) for r, e in self.ens.items()}
        for k, curves in enumerate(self.curves):
            curves["epoch"].append(epoch + 1)
            curves["bp_acc"].append(acc["bp"][k])
            curves["fa_acc"].append(acc["fa"][k])
            records[k].append({"step": self.steps, "epoch": epoch + 1, "bp_acc": acc["bp"][k],
                               "fa_acc": acc["fa"][k]})
        return records

    @torch.no_grad()
    def _accuracy(self, ens: Ensemble, batch_size: int = 2048) -> list[float]:
        correct = 0
        for start in range(0, self.y_test.shape[1], batch_size):
            x = self.x_test[..., start:start + batch_size, :]
            out = ens(x, in_dims=None if self.shared else 0, chunk=self.chunk)
            correct = correct + (out.argmax(-1) == self.y_test[:, start:start + batch_size]).sum(1)
        return [c / self.y_test.shape[1] for c in correct.tolist()]  # as accuracy() divides: in Python

    def member_state_dict(self, k: int) -> dict:
        """Member k's state as its :class:`Learner` saves it."""
        return {"nets": {r: e.member_state_dict(k) for r, e in self.ens.items()},
                "opts": {r: o.member_state_dict(k, self.names) for r, o in self.opts.items()},
                "shuffle": self.shuffles[k].get_state(), "curves": self.curves[k], "steps": self.steps}

    def load_member_state_dict(self, k: int, state: dict) -> None:
        for r, e in self.ens.items():
            e.load_member_state_dict(k, state["nets"][r])
            self.opts[r].load_member_state_dict(k, state["opts"][r], self.names)
        self.shuffles[k].set_state(state["shuffle"])
        self.curves[k], self.steps = state["curves"], state["steps"]


def run(config: FAvsBPConfig, seed: int, ctx: RunContext) -> Result:
    return _result(train(Learner(config, seed, ctx), config.epochs, ctx, desc="fa-vs-bp").curves)


def run_stacked(configs: list[FAvsBPConfig], seeds: list[int], ctxs: list[RunContext]) -> list[Result]:
    learner = train_stacked(StackedLearner(configs, seeds, ctxs[0]), configs[0].epochs, ctxs,
                            desc=f"fa-vs-bp x{len(seeds)}")
    return [_result(curves) for curves in learner.curves]


def _result(curves: dict) -> Result:
    angles = np.asarray(curves["angle"])
    metrics = {
        "bp_test_acc": curves["bp_acc"][-1],
        "fa_test_acc": curves["fa_acc"][-1],
        "bp_minus_fa": curves["bp_acc"][-1] - curves["fa_acc"][-1],
        "angle_start": float(angles[0]),
        "angle_end": tail_mean(angles),
        "angle_drop": float(angles[0] - tail_mean(angles)),
    }
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


# Thresholds were calibrated once on this implementation (seeds 0-4) and then frozen; see
# docs/experiments/fa-vs-bp.md for the measured values behind each.
ACCURACY_FLOOR = {"digits": 0.93, "fashion-mnist": 0.84, "mnist": 0.95, "cifar10": 0.40}
# Under seed scheme 2, seed 0's FA network on digits sits on a plateau (0.83) until epoch ~30 and catches
# up by 60 epochs (gap 0.012); the quick preset's 30 epochs judge it on that plateau.
QUICK_BUDGET_EPOCHS = 60
QUICK_NOTE = "docs/experiments/fa-vs-bp.md#known-non-reproduction-fa-near-bp-at-the-quick-budget"


def claims(config: FAvsBPConfig) -> list[Claim]:
    out = [
        Claim("bp-accuracy", papers.LILLICRAP, f"Backprop trains the MLP to high test accuracy on {config.dataset}.",
              "bp_test_acc", ">=", ACCURACY_FLOOR[config.dataset],
              how="test accuracy of the BP network after the last epoch",
              reason="calibrated once on seeds 0-4, a margin below the lowest seed (digits: 0.944-0.958; "
                     "Fashion-MNIST: see docs)", kind="outcome"),
        Claim("fa-near-bp", papers.LILLICRAP, "Feedback alignment learns nearly as well as backprop.",
              "bp_minus_fa", "<=", 0.03, how="BP minus FA test accuracy after the last epoch",
              reason="'within a few points' in the paper; 3 points", kind="outcome"),
        Claim("angle-start-orthogonal", papers.LILLICRAP,
              "At initialisation FA's hidden update is roughly orthogonal to the backprop gradient.",
              "angle_start", ">=", 80.0, how="angle (deg) between FA's and BP's hidden-weight updates, first batch",
              reason="random feedback in high dimension: ~90 deg, allow 10", kind="limit"),
        Claim("angle-falls", papers.LILLICRAP, "The forward weights come to align with the feedback: "
              "the angle falls well below 90 degrees.", "angle_drop", ">=", 10.0,
              how="first angle minus the mean angle of the last 10% of measurements (deg)",
              reason="calibrated once on digits seeds 0-4: drops of 14.8-30.7 deg", kind="outcome"),
    ]
    if config.dataset == "digits" and config.epochs < QUICK_BUDGET_EPOCHS:
        out = [replace(c, expected="fail", note=QUICK_NOTE) if c.id == "fa-near-bp" else c for c in out]
    return predates_aggregate_rule(out, was={"bp-accuracy": "mean", "fa-near-bp": "mean",
                                             "angle-start-orthogonal": "mean", "angle-falls": "mean"})


def plot(result: Result, config: FAvsBPConfig) -> dict:
    a = result.arrays
    fig_acc, (ax,) = plotting.figure()
    plotting.curves(ax, a["epoch"], {"backprop": a["bp_acc"], "feedback alignment": a["fa_acc"]}, xlabel="epoch",
           ylabel="test accuracy", title=f"{config.dataset}: learning curves")
    fig_angle, (ax,) = plotting.figure()
    plotting.curves(ax, a["angle_step"], {"FA": a["angle"]}, reference=90, xlabel="training step",
           ylabel="angle to BP gradient (deg)", title="FA hidden-layer alignment")
    return {"learning_curves": fig_acc, "angle": fig_angle}


register(Experiment(
    name="fa-vs-bp", paper=papers.LILLICRAP,
    summary="MLP trained by backprop and by feedback alignment; accuracy and alignment angle",
    presets={
        "quick": FAvsBPConfig(),
        "full": FAvsBPConfig(dataset="fashion-mnist", model=replace(FAvsBPConfig().model, n_hidden=(500,)), epochs=5,
                             lr=0.3, angle_every=200),
        "smoke": FAvsBPConfig(epochs=6, n_train=300, n_test=100, angle_every=5),
        # the paper's MNIST network, 784-1000-10 (Fig. 2); its training length and rate are assumed: 20 epochs at
        # full's rate
        "paper": FAvsBPConfig(dataset="mnist", model=replace(FAvsBPConfig().model, n_hidden=(1000,)), epochs=20,
                              lr=0.3, angle_every=200),
    },
    run=run, claims=claims, plot=plot, gpu_speedup=3.0,
    # BP's and FA's updates, of batch x weights x 3 (forward and backward) each
    work=lambda c: steps_work(2 * c.train_size / c.batch_size * c.epochs,
                              3 * c.batch_size * dense_weights(PIXELS[c.dataset], *c.model.n_hidden, 10)),
    # the 64-100-10 network pays for vmap's per-call cost from about 8 members (benchmarks/ensemble.py: 1.4x at 8,
    # 0.2x alone); the Fashion-MNIST net is compute-bound at any N
    run_stacked=run_stacked, stack_fields=("lr", "model.init_gain", "model.feedback_std"), stack_from=8,
))
