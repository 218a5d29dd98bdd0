"""What the dendritic experiments share: the four parts of dendritic-microcircuit (S1-S4) and their
configs; each part is a function of (config, seed, device).

Each part draws its own generators from (seed, part) and returns ``(metrics, arrays, records)``: its
metrics, its curves, and the records to log to metrics.jsonl. They run as independent jobs, so they
take a device name rather than the run context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from brainlearn.data import ImageDataConfig, accuracy, minibatches
from brainlearn.models.dendritic import (
    Conductances,
    DendriticNetwork,
    DendriticNetworkConfig,
    LearningRates,
    angles_to_backprop,
    as_mlp,
    mean_apical,
)
from brainlearn.runtime import Config, make_generator, param, place, replicate_seed, require

Activation = Literal["softplus", "sigmoid"]


def _require_layers(sizes: tuple[int, ...], name: str) -> None:
    require(len(sizes) >= 3, f"{name} must list input, at least one hidden and an output width, got {sizes}")


@dataclass(frozen=True)
class SelfPredictionConfig(Config):
    """S1: learning the self-predicting state."""

    renamed = {"batch": "batch_size"}

    steps: int = param(3000, ge=1, help="lateral-learning steps")
    batch_size: int = param(16, ge=1)
    lr: float = param(0.1, gt=0, help="pyr->int and int->pyr learning rate")


@dataclass(frozen=True)
class AlignmentConfig(Config):
    """S2: alignment with backprop."""

    renamed = {"batch": "batch_size"}

    sizes: tuple[int, ...] = param((30, 50, 20, 10), ge=1, help="network widths, input to output")
    batches: int = param(20, ge=1, help="batches the angles are averaged over")
    batch_size: int = param(16, ge=1)
    g_som: float = param(0.1, gt=0, help="nudging conductance of the gated angle (weak nudging)")
    g_soms: tuple[float, ...] = param((0.02, 0.1, 0.3, 0.8), gt=0, help="nudging conductances reported")

    def __post_init__(self):
        super().__post_init__()
        _require_layers(self.sizes, "alignment.sizes")


@dataclass(frozen=True)
class TeacherStudentConfig(Config):
    """S3: teacher-student regression."""

    renamed = {"batch": "batch_size"}

    steps: int = param(2500, ge=1)
    batch_size: int = param(16, ge=1)
    lr: float = param(0.1, gt=0, help="forward learning rate (output layer only in the shallow run)")
    lateral_lr: float = param(0.05, ge=0)
    test: int = param(512, ge=1, help="test inputs")
    eval_every: int = param(100, ge=1, help="steps between test evaluations")


@dataclass(frozen=True)
class ClassificationConfig(Config):
    """S4: classification (the dataset fields are the experiment's own; the network is the experiment's
    `network` with these widths, activation, gain and biases on)."""

    renamed = {"batch": "batch_size", "hidden": "n_hidden"}

    skip: bool = param(False, help="leave S4 out")
    n_hidden: tuple[int, ...] = param((100,), ge=1, nonempty=True, help="hidden layer widths")
    activation: Activation = "sigmoid"
    lr: float = param(1.0, gt=0, help="microcircuit forward learning rate")
    bp_lr: float = param(0.1, gt=0, help="backprop learning rate")
    lateral_lr: float = param(0.1, ge=0)
    batch_size: int = param(32, ge=1)
    epochs_tied: int = param(20, ge=1)
    epochs_random: int = param(60, ge=1)
    init_gain: float = param(3.6, gt=0, help="xavier-normal gain of the forward weights")
    target_low: float = param(0.1, gt=0, lt=1, help="target rate of the wrong classes")
    target_high: float = param(0.9, gt=0, lt=1, help="target rate of the true class")

    def __post_init__(self):
        super().__post_init__()
        require(self.target_low < self.target_high,
                f"need target_low < target_high, got {self.target_low}, {self.target_high}")


@dataclass(frozen=True)
class DendriticConfig(ImageDataConfig):
    """`network` is the paper's 30-20-10 softplus network of S1 and S3 (its conductances, sweeps, biases and
    feedback gain are every part's; each part sets its own feedback, initial state, learning rates (so
    `network.rates` is unused here) and, in S2 and S4, widths)."""

    renamed = {"sizes": "network.sizes", "activation": "network.activation", "g_som": "network.conductances.g_som",
               "sweeps": "network.sweeps", "bias": "network.bias", "feedback_gain": "network.feedback_gain"}

    network: DendriticNetworkConfig = DendriticNetworkConfig(sizes=(30, 20, 10), activation="softplus",
                                                             conductances=Conductances(g_som=0.8), bias=False)
    teacher_gain: float = param(2.0, gt=0, help="xavier-normal gain of the S2 and S3 teachers")
    self_prediction: SelfPredictionConfig = SelfPredictionConfig()
    alignment: AlignmentConfig = AlignmentConfig()
    teacher_student: TeacherStudentConfig = TeacherStudentConfig()
    classification: ClassificationConfig = ClassificationConfig()

    def __post_init__(self):
        super().__post_init__()
        _require_layers(self.network.sizes, "network.sizes")


def build(config: DendriticNetworkConfig, generator: torch.Generator | None, **fields) -> DendriticNetwork:
    """The network of `config` with `fields` replaced (`conductances` may be a dict of its fields)."""
    if isinstance(fields.get("conductances"), dict):
        fields["conductances"] = replace(config.conductances, **fields["conductances"])
    return DendriticNetwork(replace(config, **fields), generator=generator)


# ---------------------------------------------------------------- S1
def learn_self_prediction(config: DendriticConfig, seed: int, device: str):
    """Random lateral weights and fixed random top-down weights; random inputs, no target.
    Only the lateral (pyr->int, int->pyr) weights learn; the forward weights stay fixed."""
    c = config.self_prediction
    gen = make_generator(replicate_seed(seed, 1))
    sizes = config.network.sizes
    net = place(build(config.network, gen, feedback="random", self_predicting=False), device)
    probe = torch.rand(256, sizes[0], generator=gen).to(device)
    rates = LearningRates(forward=0.0, ip=c.lr, pi=c.lr)
    every = max(1, c.steps // 50)
    curve_step, curve, records = [0], [mean_apical(net, probe)], []
    for step in range(1, c.steps + 1):
        net.train_step(torch.rand(c.batch_size, sizes[0], generator=gen).to(device), None, rates)
        if step % every == 0 or step == c.steps:
            curve_step.append(step)
            curve.append(mean_apical(net, probe))
            records.append({"step": step, "sps_apical": curve[-1]})
    metrics = {"sps_apical_start": curve[0], "sps_apical_end": curve[-1],
               "sps_apical_drop": 1.0 - curve[-1] / curve[0]}
    return metrics, {"sps_step": np.asarray(curve_step), "sps_apical": np.asarray(curve)}, records


# ---------------------------------------------------------------- S2
def backprop_alignment(config: DendriticConfig, seed: int, device: str):
    """SPS with B = W^T, untrained network; targets from a random teacher of the same shape. The
    angles are measured for each nudging conductance in `alignment.g_soms` on the same batches; the
    gated metric is at `alignment.g_som` (weak nudging), the others are reported."""
    c = config.alignment
    gen = make_generator(replicate_seed(seed, 2))
    paper_g_som = config.network.conductances.g_som
    soms = sorted({*c.g_soms, c.g_som, paper_g_som})
    student = place(build(config.network, gen, sizes=c.sizes), device)
    teacher = place(build(config.network, gen, sizes=c.sizes, init_gain=config.teacher_gain), device)
    nets = {}
    for g_som in soms:  # the student's weights with each nudging conductance (initial draws overwritten)
        nets[g_som] = place(build(config.network, None, sizes=c.sizes, conductances={"g_som": g_som}), device)
        nets[g_som].load_state_dict(student.state_dict())
    nudge = {g: [] for g in soms}
    potential = []
    for _ in range(c.batches):
        x = torch.rand(c.batch_size, c.sizes[0], generator=gen).to(device)
        target = teacher(x)
        for g_som, net in nets.items():
            nudge[g_som].append(angles_to_backprop(net, x, target, "nudge"))
        potential.append(angles_to_backprop(nets[c.g_som], x, target, "potential"))
    nudge = {g: np.asarray(a).mean(0) for g, a in nudge.items()}
    potential = np.asarray(potential).mean(0)
    weak, paper = nudge[c.g_som], nudge[paper_g_som]
    metrics = {"align_hidden_max": float(weak[:-1].max()), "align_output": float(weak[-1]),
               "align_hidden_max_potential_mse": float(potential[:-1].max()),
               "align_hidden_max_paper_g_som": float(paper[:-1].max())}
    return metrics, {"align_g_som": np.asarray(soms), "align_nudge": np.stack([nudge[g] for g in soms]),
                     "align_potential": potential}, []


# ---------------------------------------------------------------- S3
def teacher_student(config: DendriticConfig, seed: int, device: str):
    """30-20-10 student learns a random teacher's output potentials: deep (tied and random feedback)
    against shallow (output layer only), from identical initial forward weights."""
    c = config.teacher_student
    gen = make_generator(replicate_seed(seed, 3))
    sizes = config.network.sizes
    teacher = place(build(config.network, gen, init_gain=config.teacher_gain), device)
    x_test = torch.rand(c.test, sizes[0], generator=gen).to(device)
    y_test = teacher(x_test)
    init_state = gen.get_state()
    L = len(sizes) - 1
    runs = {"tied": ("tied", c.lr), "random": ("random", c.lr), "shallow": ("tied", 0.0)}
    arrays, metrics, records = {}, {}, []
    for name, (feedback, hidden_lr) in runs.items():
        gen.set_state(init_state)  # same student weights and the same input stream for every run
        net = place(build(config.network, gen, feedback=feedback), device)
        rates = LearningRates(forward=(hidden_lr,) * (L - 1) + (c.lr,), ip=c.lateral_lr, pi=c.lateral_lr)
        steps, mse, angle_rate, angle_pot = [], [], [], []
        for step in range(c.steps + 1):
            if step % c.eval_every == 0 or step == c.steps:
                steps.append(step)
                mse.append(float((net(x_test) - y_test).pow(2).mean()))
                batch = x_test[:64]
                angle_rate.append(angles_to_backprop(net, batch, teacher(batch), "nudge")[0])
                angle_pot.append(angles_to_backprop(net, batch, teacher(batch), "potential")[0])
                records.append({"step": step, f"ts_{name}_mse": mse[-1], f"ts_{name}_angle": angle_rate[-1]})
            if step == c.steps:
                break
            x = torch.rand(c.batch_size, sizes[0], generator=gen).to(device)
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
    return metrics, arrays, records


# ---------------------------------------------------------------- S4
def class_targets(y: torch.Tensor, n_classes: int, low: float, high: float) -> torch.Tensor:
    """Output target potentials for labels `y`: those whose sigmoid is the rate `high` for the true class and
    `low` for the others, (len(y), n_classes)."""
    low, high = (float(torch.logit(torch.tensor(p))) for p in (low, high))
    return torch.full((len(y), n_classes), low, device=y.device).scatter_(1, y[:, None], high)


def classification(config: DendriticConfig, seed: int, device: str):
    """Targets are the output potentials whose sigmoid is target_high (true class) or target_low.
    Backprop trains brainlearn.nn.MLP on the same network function (weights c_k W_k), same init,
    same loss on the output potentials, and per-layer learning rates that make its steps in W equal
    to SGD with `classification.bp_lr` on W."""
    c = config.classification
    data = config.load(seed, device)
    x_train, x_test = data.flat()
    sizes = (data.n_features, *c.n_hidden, data.n_classes)

    def targets(y):
        return class_targets(y, data.n_classes, c.target_low, c.target_high)

    arrays, metrics, records = {}, {}, []
    runs = {"tied": c.epochs_tied, "random": c.epochs_random, "bp": max(c.epochs_tied, c.epochs_random)}
    for name, epochs in runs.items():
        # same init and batch order for every run
        init, shuffle = (make_generator(replicate_seed(seed, 4, stream)) for stream in ("init", "data"))
        net = place(build(config.network, init, sizes=sizes, feedback="random" if name == "random" else "tied",
                          activation=c.activation, init_gain=c.init_gain, bias=True), device)
        rates = LearningRates(forward=c.lr, ip=c.lateral_lr, pi=c.lateral_lr)
        if name == "bp":
            mlp = place(as_mlp(net), device)
            opt = torch.optim.SGD([{"params": layer.parameters(), "lr": c.bp_lr * a ** 2}
                                   for layer, a in zip(mlp.layers, net.attenuation)])
            predict = mlp
        else:
            predict = net
        acc = []
        for epoch in range(epochs):
            for idx in minibatches(len(x_train), c.batch_size, shuffle):
                xb, tb = x_train[idx], targets(data.y_train[idx])
                if name == "bp":
                    opt.zero_grad(set_to_none=True)
                    (0.5 * (mlp(xb) - tb).pow(2).sum(1).mean()).backward()
                    opt.step()
                else:
                    net.train_step(xb, tb, rates)
            acc.append(accuracy(predict, x_test, data.y_test))
            records.append({"step": epoch + 1, f"clf_{name}_acc": acc[-1]})
        arrays[f"clf_{name}_acc"] = np.asarray(acc)
        metrics[f"clf_{name}_acc"] = acc[-1]
    metrics["clf_bp_at_tied_epochs"] = float(arrays["clf_bp_acc"][c.epochs_tied - 1])
    metrics["clf_bp_minus_tied"] = metrics["clf_bp_at_tied_epochs"] - metrics["clf_tied_acc"]
    return metrics, arrays, records
