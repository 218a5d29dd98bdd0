"""burstccn: exactness probes at initialisation (B1, B2) and image classification (B3).

BurstCCN with tied and with random feedback is trained against the backprop and FA sigmoid/MSE ANNs and
two-phase Burstprop, all from the same weights (the FA ANN also shares BurstCCN's random Y as its
feedback), on the same minibatches. The steady-state dendritic-error network (EDN, Sacramento et al.
2018; brainlearn.models.dendritic) is a further baseline (method ``edn``): tied feedback, self-predicting
lateral weights, trained on the logits of 0.1 / 0.9 rate targets as in the dendritic experiment, with the
same lr on its forward weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.analysis import angle, tail_mean
from brainlearn.data import accuracy, minibatches
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import predates_aggregate_rule, revise
from brainlearn.experiments.burstccn.common import BurstConfig, EpochLearner, Method, burst_net, mlp_work
from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig, matching_mlp
from brainlearn.models.burstprop import Burstprop
from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig, LearningRates
from brainlearn.nn import one_hot_mse
from brainlearn.runtime import RunContext, make_generator, param, place, replicate_seed, require, train

BURSTPROP_P_BASELINE = 0.2  # Payeur et al.'s output baseline burst probability
METHODS = ("bp", "fa", "tied", "random", "burstprop", "edn")
MethodName = Literal["bp", "fa", "tied", "random", "burstprop", "edn"]
ANGLE_METHODS = ("tied", "random", "fa", "burstprop")  # the methods whose update angles to BP are measured
EDN_LATERAL_LR = 0.1  # the EDN's lateral (interneuron) rates, relative to lr (the dendritic experiment's ratio)


@dataclass(frozen=True)
class ClassificationConfig(BurstConfig):
    """arch "mlp" (methods bp, fa, tied, random, burstprop, edn) or "conv" (the conv stack of `model`, by
    default the Payeur CIFAR net; no fa or edn; the bp conv baseline is the same network trained by autograd).
    Burstprop uses tied Y. `probe_depth` hidden layers of width model.n_hidden[0] form the net of the
    exactness probes (B1, B2)."""

    arch: Literal["mlp", "conv"] = "mlp"
    methods: tuple[MethodName, ...] = param(METHODS, nonempty=True, help="methods trained side by side")
    probe_depth: int = param(3, ge=1, help="hidden layers of the exactness-probe net")

    def __post_init__(self):
        super().__post_init__()
        require(self.arch == "mlp" or not {"fa", "edn"} & set(self.methods),
                "methods 'fa' and 'edn' need arch='mlp' (they are provided for dense layers only)")


def exactness_probe(config: ClassificationConfig, n_in: int, n_classes: int, x: torch.Tensor, y: torch.Tensor,
                    seed: int) -> dict[str, float]:
    """B1/B2 on an untrained net with `probe_depth` hidden layers: angles of BurstCCN's update to BP
    (tied Y) and to FA (random Y), and the largest update without a target."""
    probe = replace(config.model, in_shape=(n_in,), n_hidden=(config.model.n_hidden[0],) * config.probe_depth,
                    n_out=n_classes)
    out = {}
    for feedback in ("tied", "random"):
        net = place(BurstCCN(replace(probe, feedback=feedback), generator=make_generator(replicate_seed(seed))),
                    x.device)
        net.backward_local(x, y)
        bp = net.backprop_grads(x, y)[0::2]
        to_bp = [angle(layer.weight.grad, g) for layer, g in zip(net.layers, bp)]
        if feedback == "tied":
            out["probe_tied_max_angle"] = max(to_bp)
            out["probe_output_angle"] = to_bp[-1]
        else:
            out["probe_random_fa_max_angle"] = _max_angle_to_fa(net, x, y)
            out["probe_random_bp_min_angle"] = min(to_bp[:-1])
        net.zero_grad(set_to_none=True)
        net.backward_local(x, None)
        out[f"probe_{feedback}_no_target_max_update"] = max(float(p.grad.abs().max())
                                                            for p in net.forward_parameters())
    out["probe_no_target_max_update"] = max(out.pop("probe_tied_no_target_max_update"),
                                            out.pop("probe_random_no_target_max_update"))
    out |= fa_limit(probe, x, y, seed)
    return out


def _max_angle_to_fa(net: BurstCCN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest per-layer angle (deg) between BurstCCN's local update (already in ``.grad``) and the FA ANN's
    gradient with B = Y on the same weights and batch."""
    fa = place(matching_mlp(net, "fa"), x.device).to(x.dtype)
    fa_grads = torch.autograd.grad(one_hot_mse(fa(x), y), [m.weight for m in fa.layers])
    return max(angle(layer.weight.grad, g) for layer, g in zip(net.layers, fa_grads))


LIMIT_SCALES = (1.0, 0.5, 0.25)  # output error scales s of the small-apical-drive limit (B2)


def fa_limit(probe: BurstCCNConfig, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, float]:
    """B2 as the limit it is: with random Y, BurstCCN's normalised update differs from FA's by the sigmoid's
    O(u^3) term in the apical drive u, which scales with the output error gain s, so the largest per-layer
    angle to FA should fall like s^2 as s -> 0. Measured at each s in :data:`LIMIT_SCALES` on the untrained
    probe net in float64 (so that float32 rounding sets no floor under the trend); the rate is the smallest
    log2 ratio of the angles at consecutive scales (2 for an s^2 law)."""
    angles = []
    for s in LIMIT_SCALES:
        net = place(BurstCCN(replace(probe, feedback="random", error_scale=s),
                             generator=make_generator(replicate_seed(seed))), x.device).double()
        net.backward_local(x.double(), y)
        angles.append(_max_angle_to_fa(net, x.double(), y))
    rates = [np.log2(a / b) for a, b in zip(angles, angles[1:])]
    return {**{f"probe_fa_angle_s{s:g}": a for s, a in zip(LIMIT_SCALES, angles)},
            "probe_fa_limit_rate": float(min(rates)), "probe_fa_angle_smallest_scale": angles[-1]}


def _method(config: ClassificationConfig, method: str, shape: tuple, n_classes: int, seed: int,
            ctx: RunContext) -> Method:
    init = make_generator(replicate_seed(seed))  # every method starts from the same W (the FA ANN from the same Y)
    if method == "edn":
        edn_config = DendriticNetworkConfig(sizes=(int(np.prod(shape)), *config.model.n_hidden, n_classes),
                                            activation="sigmoid", init_gain=config.model.init_gain)
        edn = ctx.place(DendriticNetwork(edn_config, generator=init))
        rates = LearningRates(forward=config.lr, ip=EDN_LATERAL_LR * config.lr, pi=EDN_LATERAL_LR * config.lr)
        return Method(edn, None, "edn", rates)
    feedback = "random" if method in ("fa", "random") else "tied"
    extra = {"network": Burstprop, "p_baseline": BURSTPROP_P_BASELINE} if method == "burstprop" else {}
    net = ctx.place(burst_net(config, shape, n_classes, feedback, init, **extra))
    kind = "burst"
    if method in ("bp", "fa"):
        if config.arch == "mlp":
            net, kind = ctx.place(matching_mlp(net, method)), "ann"
        else:
            kind = "burst-bp"
    return Method(net, torch.optim.SGD(net.parameters(), lr=config.lr), kind)


class Learner(EpochLearner):
    """Every method of `config.methods` on the same batches; the exactness probe is taken at construction."""

    def __init__(self, config: ClassificationConfig, seed: int, ctx: RunContext):
        self.config = config
        data = self.data = config.load(seed, ctx.device)
        self.x_train, self.x_test = data.flat() if config.arch == "mlp" else (data.x_train, data.x_test)
        shape = tuple(self.x_train.shape[1:])
        self.methods = {m: _method(config, m, shape, data.n_classes, seed, ctx) for m in config.methods}
        self.probe = {}
        if config.arch == "mlp":
            idx = torch.arange(min(config.batch_size, len(self.x_train)), device=ctx.device)
            self.probe = exactness_probe(config, self.x_train.shape[1], data.n_classes, self.x_train[idx],
                                         data.y_train[idx], seed)
        self.angle_methods = [m for m in config.methods if m in ANGLE_METHODS]
        self.curves = {"epoch": [], **{f"{m}_acc": [] for m in config.methods}, "angle_step": [],
                       **{f"angle_{m}": [] for m in self.angle_methods}}
        self.shuffle = make_generator(replicate_seed(seed, stream="data"))
        self.steps = 0

    def step(self, epoch: int) -> dict:
        config, curves = self.config, self.curves
        for idx in minibatches(len(self.x_train), config.batch_size, self.shuffle):
            xb, yb = self.x_train[idx], self.data.y_train[idx]
            measure = self.steps % config.angle_every == 0
            if measure:
                curves["angle_step"].append(self.steps)
            for name, method in self.methods.items():
                if measure and name in self.angle_methods:
                    curves[f"angle_{name}"].append(method.update_with_angles(xb, yb))
                else:
                    method.update(xb, yb)
            self.steps += 1
        curves["epoch"].append(epoch + 1)
        for name, method in self.methods.items():
            curves[f"{name}_acc"].append(accuracy(method.net, self.x_test, self.data.y_test))
        return {"step": self.steps, "epoch": epoch + 1,
                **{f"{m}_acc": curves[f"{m}_acc"][-1] for m in config.methods}}


def run(config: ClassificationConfig, seed: int, ctx: RunContext) -> Result:
    learner = train(Learner(config, seed, ctx), config.epochs, ctx, desc="burstccn")
    curves = learner.curves
    metrics = dict(learner.probe)
    acc = {m: curves[f"{m}_acc"][-1] for m in config.methods}
    metrics.update({f"{m}_test_acc": a for m, a in acc.items()})
    if "bp" in acc and "tied" in acc:
        metrics["tied_gap_to_bp"] = abs(acc["bp"] - acc["tied"])
    if "fa" in acc and "random" in acc:
        metrics["random_gap_to_fa"] = abs(acc["fa"] - acc["random"])
    for m in learner.angle_methods:
        metrics[f"{m}_hidden_angle_end"] = tail_mean(np.asarray(curves[f"angle_{m}"])[:, :-1])
    return Result(metrics, {k: np.asarray(v) for k, v in curves.items()})


# Accuracy floors, calibrated once on this implementation a little below what BurstCCN reaches: digits
# from seed 0 (tied 0.956, random 0.908); Fashion-MNIST from the two-epoch full preset (tied 83.5% / 83.6%
# at seeds 0 / 1, random 83.2% at seed 1; seed 0's draw of Y reaches 74.7%, see docs/experiments/burstccn.md).
TIED_FLOOR = {"digits": 0.94, "fashion-mnist": 0.82, "mnist": 0.95, "cifar10": 0.35}
RANDOM_FLOOR = {"digits": 0.88, "fashion-mnist": 0.80, "mnist": 0.93, "cifar10": 0.30}


def claims(config: ClassificationConfig) -> list[Claim]:
    out = []
    if config.arch == "mlp":
        out += [
            Claim("B1-tied-bp", papers.GREEDY, "With feedback tied to the forward weights and Q = p_b Y, every layer's "
                  "burst-dependent update follows the backprop gradient.", "probe_tied_max_angle", "<", 2.0,
                  how=f"max over layers of the angle (deg) to the BP gradient, untrained net with "
                  f"{config.probe_depth} hidden layers, one batch",
                  reason="the hidden layers differ from BP only by the O(u^3) sigmoid term (measured <= 0.3 deg)",
                  kind="limit"),
            Claim("B1-output-exact", papers.GREEDY, "The output layer's update is the backprop gradient of the MSE.",
                  "probe_output_angle", "<", 1e-3, how="angle (deg) of the output update to BP",
                  reason="identical up to float32 rounding", kind="limit"),
            Claim("B1-single-phase", papers.GREEDY, "Without a teacher no weight changes: no separate phase is needed.",
                  "probe_no_target_max_update", "<", 1e-7, how="max |ΔW| over layers, tied and random Y, "
                  "no target", reason="exactly zero in theory; 1e-7 allows float32 rounding", kind="limit"),
            Claim("B2-fa", papers.GREEDY, "With fixed random feedback BurstCCN's update is feedback alignment's.",
                  "probe_random_fa_max_angle", "<", 2.0, how="max over layers of the angle (deg) to the FA ANN "
                  "update with B = Y, same weights and batch",
                  reason="same O(u^3) term as B1", kind="limit"),
            Claim("B2-fa-limit-rate", papers.GREEDY, "With fixed random feedback BurstCCN's update approaches feedback "
                  "alignment's as the apical drive becomes small.", "probe_fa_limit_rate", ">=", 1.5,
                  how=f"smallest log2 ratio of the largest per-layer angle to FA at consecutive output error scales "
                  f"s = {', '.join(f'{s:g}' for s in LIMIT_SCALES)} (float64, untrained net with "
                  f"{config.probe_depth} hidden layers, one batch)",
                  reason="theory gives an s^2 law (rate 2); 1.5 asks the angle to fall at least as fast as s^1.5 "
                         "at every halving of s, on every seed (set by the project owner before it was measured)",
                         kind="limit"),
            Claim("B2-fa-limit", papers.GREEDY, "In that limit the update is feedback alignment's.",
                  "probe_fa_angle_smallest_scale", "<", 0.5,
                  how=f"largest per-layer angle (deg) to FA at s = {LIMIT_SCALES[-1]:g} (float64)",
                  reason="the O(u^3) term is small there: below half a degree on every seed (set by the project "
                         "owner before it was measured)", kind="limit"),
            Claim("B2-orthogonal", papers.GREEDY, "At initialisation random-feedback updates are far from backprop.",
                  "probe_random_bp_min_angle", ">", 60.0, how="min over hidden layers of the angle (deg) to BP",
                  reason="random Y in high dimension gives ~90 deg (measured 80.7 deg on digits, "
                  "seed 0; 85.0 / 87.5 deg on Fashion-MNIST, seeds 0 / 1); 60 deg leaves a wide margin", kind="limit"),
        ]
    if "tied" in config.methods:
        out.append(Claim("B3-tied-accuracy", papers.GREEDY, f"BurstCCN with tied feedback learns {config.dataset}.",
                         "tied_test_acc", ">=", TIED_FLOOR[config.dataset], how="test accuracy after the last epoch",
                         reason="calibrated a little below the measured accuracy",
                         kind="outcome"))
    if "tied" in config.methods and "bp" in config.methods:
        out.append(Claim("B3-tied-matches-bp", papers.GREEDY, "With tied feedback BurstCCN matches the backprop ANN.",
                         "tied_gap_to_bp", "<=", 0.005, how="|BP - BurstCCN tied| test accuracy, same init",
                         reason="the updates agree up to the O(u^3) term: within 0.5 points (measured 0.00 points "
                                "on digits, seed 0; 0.01 points on Fashion-MNIST, seeds 0 and 1)", kind="outcome"))
    if "random" in config.methods:
        out.append(Claim("B3-random-accuracy", papers.GREEDY, f"BurstCCN with random feedback learns {config.dataset}.",
                         "random_test_acc", ">=", RANDOM_FLOOR[config.dataset],
                         how="test accuracy after the last epoch; judged on the median of seeds 0-4 (verify --seeds 5)",
                         reason="calibrated a little below the measured accuracy", kind="outcome"))
    if "random" in config.methods and "fa" in config.methods:
        out.append(Claim("B3-random-matches-fa", papers.GREEDY, "With random feedback BurstCCN matches the FA ANN.",
                         "random_gap_to_fa", "<=", 0.015, how="|FA - BurstCCN random| test accuracy, same W and Y",
                         reason="the same update as FA up to the O(u^3) term: within 1.5 points (measured 0.00 "
                                "points on digits, seed 0; 0.02 / 0.03 points on Fashion-MNIST, seeds 0 / 1)",
                                kind="outcome"))
    if config.arch == "mlp":
        out = revise(out, {"B2-fa": {"gated": False}}, date="2026-12-01", measured={
            "B2-fa": "Fashion-MNIST, full preset: 1.67, 2.87, 3.11, 2.22, 1.74 deg on seeds 0-4 (max 3.11: FAIL)"},
            reason="the statement is an analytic limit (small apical drive); one arbitrary error scale does not test "
                   "it, so the limit is gated (B2-fa-limit-rate, B2-fa-limit) and the fixed-scale angle is "
                   "reported")
    return predates_aggregate_rule(out, was={"B3-tied-accuracy": "min", "B3-tied-matches-bp": "mean",
                                             "B3-random-accuracy": "min", "B3-random-matches-fa": "mean"}, measured={
        "B3-random-accuracy": "Fashion-MNIST, full preset: 74.7, 83.2, 82.9, 83.1, 82.5% on seeds 0-4 (min 74.7%: "
                              "FAIL; seed 0's draw of Y is slow for FA itself, see docs/experiments/burstccn.md)"})


LABELS = {"bp": "backprop ANN", "fa": "FA ANN", "tied": "BurstCCN, tied Y", "random": "BurstCCN, random Y",
          "burstprop": "Burstprop (two-phase), tied Y", "edn": "dendritic-error network (EDN)"}


def plot(result: Result, config: ClassificationConfig) -> dict:
    a = result.arrays
    methods = [m for m in METHODS if f"{m}_acc" in a]
    fig_acc, (ax,) = plotting.figure()
    plotting.curves(ax, a["epoch"], {LABELS[m]: a[f"{m}_acc"] for m in methods},
                    dashed=[LABELS[m] for m in ("bp", "fa", "edn")], xlabel="epoch", ylabel="test accuracy",
                    title=f"{config.dataset}: learning curves")
    figs = {"learning_curves": fig_acc}
    angle_methods = [m for m in ANGLE_METHODS if f"angle_{m}" in a]
    if angle_methods:
        fig_angle, axes = plotting.figure(len(angle_methods))
        for ax, m in zip(axes, angle_methods):
            angles = np.asarray(a[f"angle_{m}"])
            n = angles.shape[1]
            plotting.curves(ax, a["angle_step"], {("output" if i == n - 1 else f"layer {i + 1}"): angles[:, i]
                                                  for i in range(n)},
                            xlabel="training step", ylabel="angle to BP gradient (deg)", title=LABELS[m],
                            ylim=(0, 100))
        figs["angle_to_bp"] = fig_angle
    return figs


register(Experiment(
    name="burstccn-classification", aliases=("burstccn",), paper=papers.GREEDY,
    summary="BurstCCN (tied / random feedback) vs backprop and FA ANNs: exactness probes and accuracy",
    presets={
        "quick": ClassificationConfig(angle_every=100),
        "full": ClassificationConfig(dataset="fashion-mnist", model=BurstCCNConfig(n_hidden=(500,)), epochs=2, lr=0.3,
                                     angle_every=200),
        "cifar10": ClassificationConfig(dataset="cifar10", arch="conv", model=BurstCCNConfig(n_hidden=(1480,),
                                        init_gain=1.0), methods=("bp", "tied", "random"), epochs=2, lr=0.05,
                                        angle_every=200),
        "smoke": ClassificationConfig(epochs=4, n_train=300, n_test=100, model=BurstCCNConfig(n_hidden=(16,)),
                                      angle_every=3),
        # the paper's MNIST network (its authors' NeurIPS code): 784-500-500-500-10 sigmoid units, SGD lr 0.3,
        # batch 32, 50 epochs as their MNIST notebook runs it (the code allows up to 250)
        "paper": ClassificationConfig(dataset="mnist", model=BurstCCNConfig(n_hidden=(500,) * 3), lr=0.3, epochs=50),
    },
    run=run, claims=claims, plot=plot,
    work=lambda c: mlp_work(c) * len(c.methods), gpu_speedup=2.0,
))
