"""league-feedforward: every feedforward credit-assignment rule on one task, with one budget and one set of measures.

Each entry (a rule of :data:`~brainlearn.rules.FEEDFORWARD_RULES` swapped into the network by
:func:`~brainlearn.rules.convert`, predictive coding, or a paper model of
:data:`~brainlearn.experiments.league.entries.MODELS` with its own network, or backprop on that network,
``bp-sigmoid``) trains on the same data: at replicate r every layer-swap rule and predictive coding start from
the same weights (as do the BurstCCN entries and bp-sigmoid), and every entry sees the same batches. **Budget**:
every rule gets the same learning-rate grid; each grid point trains one network on the training split less a
validation split, and the best validation accuracy picks the rate; then `replicates` networks train at that rate
(same split) and are measured on the test set. The members of each phase (grid points, then replicates) train as
one stacked ensemble where the rule's layers vmap (BP, FA, uSF, frSF, Kolen-Pollack and the paper models on the
MLP; BP alone on LeNet), one by one where they do not (DFA's shared output error, brSF's per-step draws,
predictive coding, the swapped convolutions). SGD with momentum and weight decay, cross-entropy.

**Measures** per rule: test accuracy (mean over replicates, 95% interval); accuracy under an FGSM
perturbation of size `fgsm_eps` (pixels in [0, 1]; the attack uses the network's exact input gradient); the
angle between the rule's weight update and backprop's gradient of the same network on a probe batch, averaged
over the hidden layers (the output layer's update is exact under every rule), at the start, middle and end of
training; cost: time per training step and bytes of activations saved for the backward pass, each relative
to BP's on the same architecture, measured back to back in the same cell on one network alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import stats
from torch import nn

from brainlearn import papers, plotting
from brainlearn.analysis import angles
from brainlearn.data import ImageDataConfig, accuracy
from brainlearn.data.images import PIXELS
from brainlearn.ensemble import Ensemble, StackedSGD
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.experiments.league.entries import (
    DENSE_ONLY,
    ENTRIES,
    FLAT_INPUT,
    MODELS,
    STACKED_RULES,
    cost,
    exact_gradient,
    fgsm_accuracy,
    hidden_weights,
    kept_statistics,
    local_rule,
    loss,
    network,
    rule_grads,
)
from brainlearn.experiments.sweep_report import ci95
from brainlearn.rules import FEEDFORWARD_RULES, use_rule
from brainlearn.rules.predictive_coding import PredictiveCodingConfig
from brainlearn.runtime import RunContext, make_generator, param, replicate_seed, require, run_jobs


@dataclass(frozen=True)
class LeagueFeedforwardConfig(ImageDataConfig):
    """The rules, the network, the shared budget (grid, epochs, replicates) and the measures' settings."""

    rules: tuple[str, ...] = param(tuple(ENTRIES), nonempty=True, help="entries: the rules of FEEDFORWARD_RULES, "
                                                                         "pc, the paper models (MODELS), bp-sigmoid")
    pc: PredictiveCodingConfig = PredictiveCodingConfig()
    arch: Literal["mlp", "lenet", "resnet20"] = param("mlp", help="an MLP of `hidden` ReLU layers, LeNet-5, or "
                                                              "the CIFAR ResNet-20 (batch norm)")
    hidden: tuple[int, ...] = param((100, 100), nonempty=True, help="the MLP's hidden widths")
    lr_grid: tuple[float, ...] = param((0.01, 0.03, 0.1, 0.3), nonempty=True, help="learning rates tried")
    momentum: float = param(0.9, ge=0, lt=1)
    weight_decay: float = param(1e-4, ge=0)
    epochs: int = param(20, ge=1)
    batch_size: int = param(32, ge=1)
    val_fraction: float = param(0.2, gt=0, lt=1, help="share of the training split held out to choose the rate")
    replicates: int = param(5, ge=1, help="networks trained at the chosen rate (the interval's samples)")
    fgsm_eps: float = param(0.05, ge=0, help="FGSM perturbation size (pixels in [0, 1])")
    probe_size: int = param(256, ge=1, help="probe batch of the alignment angles")
    timing_steps: int = param(20, ge=1, help="training steps timed for the cost (one network alone)")
    timing: bool = param(True, help="measure the time per step (False: NaN, so that runs repeat to the bit)")

    def __post_init__(self):
        super().__post_init__()
        require(all(r in ENTRIES for r in self.rules), f"rules must be among {', '.join(ENTRIES)}, got {self.rules}")
        require(self.arch == "mlp" or not set(self.rules) & set(DENSE_ONLY),
                f"{', '.join(DENSE_ONLY)} need dense networks: arch={self.arch} cannot run them")
        require(len(set(self.rules)) == len(self.rules), "rules: each rule once")
        require(all(lr > 0 for lr in self.lr_grid), "lr_grid: learning rates must be > 0")
        require(all(h >= 1 for h in self.hidden), "hidden: widths must be >= 1")
        require(self.arch != "lenet" or self.dataset != "digits", "arch=lenet needs 28- or 32-pixel images "
                                                                  "(not the 8-pixel digits)")


# ---- training -----------------------------------------------------------------------------------------
def fit(config: LeagueFeedforwardConfig, rule: str, nets: list[nn.Module], lrs: list[float],
        batches: list[torch.Generator], x: torch.Tensor, y: torch.Tensor, probe: tuple) -> list[list[float]]:
    """Train member k (`nets[k]`, rate `lrs[k]`, batch order from `batches[k]`) on (x, y) for the epochs;
    returns each member's hidden-layer angle to backprop (degrees) at the start, middle and end."""
    steps = config.epochs * -(-len(x) // config.batch_size)
    marks, hidden = [0, steps // 2], hidden_weights(nets[0])  # start and middle (one step: the same); then the end
    # the swapped convolutions' backward does not vmap: LeNet stacks under backprop only; batch norm's running
    # statistics do not update inside vmap: ResNet-20 does not stack
    stacked = rule in STACKED_RULES and (config.arch == "mlp" or (config.arch == "lenet" and rule == "bp"))
    if stacked:
        ens = Ensemble(nets)
        opt = StackedSGD(ens.params, lr=lrs, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        opts = [torch.optim.SGD(n.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)
                for n, lr in zip(nets, lrs)]
    measured: list[list[float]] = [[] for _ in nets]

    def measure(times=1):
        px, py = probe
        if stacked and rule not in MODELS:
            px, py = px.expand(len(nets), *px.shape), py.expand(len(nets), *py.shape)
            got = ens.grad_and_value(loss, px, py)[0]
            with use_rule(ens.template, "bp"):
                exact = ens.grad_and_value(loss, px, py)[0]
            per_layer = [angles(got[n], exact[n]) for n in hidden]
        else:  # one member at a time (the paper models' rules write .grad outside autograd)
            per_layer = [[] for _ in hidden]
            for net in [ens.member(k) for k in range(len(nets))] if stacked else nets:
                params = dict(net.named_parameters())
                net.zero_grad(set_to_none=True)
                with kept_statistics(net):
                    rule_grads(config, rule, net, px, py, learn=False)
                    got = [params[n].grad.clone() for n in hidden]
                    net.zero_grad(set_to_none=True)
                    exact = exact_gradient(net, px, py)
                for i, (a, b) in enumerate(zip(got, exact)):
                    per_layer[i] += angles(a[None], b[None])
        for k in range(len(nets)):
            measured[k] += [float(np.mean([layer[k] for layer in per_layer]))] * times

    step = 0
    for _ in range(config.epochs):
        perms = torch.stack([torch.randperm(len(x), generator=g) for g in batches]).to(x.device)
        for idx in perms.split(config.batch_size, dim=1):
            if step in marks:
                measure(marks.count(step))
            if stacked and rule in MODELS:
                opt.step(ens.run_local(local_rule, x[idx], y[idx])[0])
            elif stacked:
                opt.step(ens.grad_and_value(loss, x[idx], y[idx])[0])
            else:
                for net, o, i in zip(nets, opts, idx):
                    o.zero_grad(set_to_none=True)
                    rule_grads(config, rule, net, x[i], y[i])
                    o.step()
            step += 1
    measure()
    if stacked:
        for k, net in enumerate(nets):
            net.load_state_dict(ens.member_state_dict(k))
    for net in nets:  # evaluated from here on (batch norm by its running statistics)
        net.eval()
    return measured


def learn(config: LeagueFeedforwardConfig, rule: str, seed: int, device: str) -> dict:
    """One rule's cell: the rate chosen on the validation split, then the replicates measured on the test set."""
    data = config.load(seed, device)
    split = torch.randperm(len(data.y_train), generator=make_generator(replicate_seed(seed, None, "eval")))
    n_val = max(1, round(config.val_fraction * len(split)))
    val, fit_idx = split[:n_val].to(device), split[n_val:].to(device)
    flat = (lambda t: t.flatten(1)) if rule in FLAT_INPUT else (lambda t: t)  # noqa: E731
    x, y = flat(data.x_train[fit_idx]), data.y_train[fit_idx]
    x_val, x_test = flat(data.x_train[val]), flat(data.x_test)
    probe = (x[:config.probe_size], y[:config.probe_size])
    build = lambda r: network(config, data.shape, data.n_classes, rule, seed, r, x[:2], device)  # noqa: E731
    order = lambda r: make_generator(replicate_seed(seed, r, "data"))  # noqa: E731
    grid = list(config.lr_grid)
    trials = [build(None) for _ in grid]  # every grid point from the same weights and batches
    fit(config, rule, trials, grid, [order(None) for _ in grid], x, y, probe)
    val_acc = [accuracy(n, x_val, data.y_train[val]) for n in trials]
    lr = grid[int(np.argmax(val_acc))]
    reps = range(config.replicates)
    nets = [build(r) for r in reps]
    angle = fit(config, rule, nets, [lr] * len(nets), [order(r) for r in reps], x, y, probe)
    # the cost against BP's on the same architecture, measured back to back in this cell
    reference = network(config, data.shape, data.n_classes, "bp", seed, 0, data.x_train[:2], device)
    bp = cost(config, "bp", reference, data.x_train[fit_idx], y)
    return {"lr": lr, "val_acc": val_acc, "angle": angle, **cost(config, rule, build(0), x, y),
            "bp_step_s": bp["step_s"], "bp_saved_bytes": bp["saved_bytes"],
            "test_acc": [accuracy(n, x_test, data.y_test) for n in nets],
            "fgsm_acc": [fgsm_accuracy(n, x_test, data.y_test, config.fgsm_eps) for n in nets]}


def run(config: LeagueFeedforwardConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {rule: (config, rule, seed, str(ctx.device)) for rule in config.rules}
    done = run_jobs(learn, jobs, ctx, desc="league-feedforward", on_result=lambda rule, out: {
        "rule": rule, "lr": out["lr"], "test_acc": float(np.mean(out["test_acc"]))})
    return _result(config, done)


def _result(config: LeagueFeedforwardConfig, done: dict) -> Result:
    m: dict[str, float] = {}
    for rule, out in done.items():
        acc = np.asarray(out["test_acc"])
        start, mid, end = np.mean(out["angle"], axis=0)
        m |= {f"{rule}_acc": float(acc.mean()), f"{rule}_acc_ci": float(ci95(acc)), f"{rule}_lr": out["lr"],
              f"{rule}_fgsm_acc": float(np.mean(out["fgsm_acc"])), f"{rule}_angle_start": float(start),
              f"{rule}_angle_mid": float(mid), f"{rule}_angle_end": float(end), f"{rule}_step_s": out["step_s"],
              f"{rule}_saved_bytes": out["saved_bytes"]}
        m[f"{rule}_time_vs_bp"] = out["step_s"] / out["bp_step_s"]
        m[f"{rule}_memory_vs_bp"] = out["saved_bytes"] / out["bp_saved_bytes"]
    rules = list(done)
    if "bp" in done:
        m["bp_margin"] = m["bp_acc"] - max((m[f"{r}_acc"] for r in rules if r != "bp"), default=m["bp_acc"])
    if {"fa", "dfa"} <= set(rules):
        m["fa_minus_dfa"] = m["fa_acc"] - m["dfa_acc"]
    if {"burstccn-tied", "bp-sigmoid"} <= set(rules):
        m["burstccn_tied_minus_bp_sigmoid"] = m["burstccn-tied_acc"] - m["bp-sigmoid_acc"]
    if "fa" in done:
        m["fa_alignment_drop"] = m["fa_angle_start"] - m["fa_angle_end"]
        if "usf" in done:
            m["usf_minus_fa_angle_start"] = m["usf_angle_start"] - m["fa_angle_start"]
    if len(rules) >= 3:
        m["alignment_accuracy_rho"] = float(stats.spearmanr([m[f"{r}_angle_end"] for r in rules],
                                                            [m[f"{r}_acc"] for r in rules]).statistic)
    table = np.array([[m[f"{r}_acc"], m[f"{r}_angle_end"], m.get(f"{r}_time_vs_bp", np.nan)] for r in rules])
    return Result(m, {"table": table})


def claims(config: LeagueFeedforwardConfig) -> list[Claim]:
    how = (f"{config.arch} on {config.dataset}, {config.epochs} epochs, SGD (momentum {config.momentum:g}, "
           f"weight decay {config.weight_decay:g}), rate chosen from {list(config.lr_grid)} on a "
           f"{config.val_fraction:g} validation split, {config.replicates} replicates")
    rules, out = set(config.rules), []
    if "fa" in rules:
        out.append(Claim("fa-aligns", papers.LILLICRAP, "Feedback alignment's hidden-layer updates come to align "
                         "with backprop's gradient during training.", "fa_alignment_drop", ">=", 5.0, how=how,
                         reason="the mechanism of feedback alignment: the forward weights learn to carry the "
                                "feedback's information, so the angle falls from near 90°; 5° is well above the "
                                "angle's noise on a 256-sample probe", kind="outcome"))
    if {"fa", "usf"} <= rules:
        out.append(Claim("sign-symmetry-starts-aligned", papers.LIAO, "Sign-concordant feedback sends errors "
                         "closer to backprop's than random feedback does.", "usf_minus_fa_angle_start", "<", 0.0,
                         how=how, reason="sign(W) is 30° from a uniform W, random B about 90°: the ordering at "
                                         "initialisation follows from the definitions", kind="outcome"))
    if "burstccn-tied" in rules:
        out.append(Claim("burstccn-tied-follows-bp", papers.GREEDY, "With tied feedback, BurstCCN's burst-dependent "
                         "updates follow backprop's gradient in every hidden layer.", "burstccn-tied_angle_start",
                         "<=", 2.0, how=how + "; its angle to backprop of its own squared error at initialisation",
                         reason="the tied limit of the burst rule is backprop of the same network; 2° is the bound "
                                "the model's own tests hold it to (the burst nonlinearity keeps it from equality)",
                         kind="limit"))
    if {"burstccn-tied", "bp-sigmoid"} <= rules:
        out.append(Claim("burstccn-tied-near-bp", papers.GREEDY, "With tied feedback, BurstCCN learns about as "
                         "well as backprop on the same network.", "burstccn_tied_minus_bp_sigmoid", ">=", -0.01,
                         how=how + "; test accuracy of tied BurstCCN minus backprop's (bp-sigmoid: the same sigmoid "
                         "network, initial weights, batches and squared error)",
                         reason="its updates stay within 2° of backprop's gradient, so with the same grid it should "
                                "lose no more than the replicates' spread: one point (set before the first run)",
                         kind="outcome"))
    if "bp" in rules and len(rules) > 1:
        out.append(Claim("bp-leads", papers.SANFIZ, "With the same budget, no approximation of the gradient "
                         "beats backprop by more than the seeds' spread.", "bp_margin", ">=", -0.01, how=how,
                         reason="BP follows the exact gradient and gets the same tuning; one point allows for the "
                                "replicates' spread on a small test set", kind="outcome", gated=False))
    if {"fa", "dfa"} <= rules:
        out.append(Claim("fa-ahead-of-dfa", papers.SANFIZ, "Feedback alignment is more accurate than direct "
                         "feedback alignment (biotorch's ordering).", "fa_minus_dfa", ">=", 0.0, how=how,
                         reason="biotorch's published LeNet and ResNet tables rank FA above DFA; report only "
                                "until the full preset is recorded", kind="outcome", gated=False))
    if len(rules) >= 3:
        out.append(Claim("alignment-predicts-accuracy", papers.HENHA_EYONO, "Rules whose updates align better "
                         "with the exact gradient reach higher accuracy.", "alignment_accuracy_rho", "<", 0.0,
                         how=how + "; Spearman ρ over rules of the end angle and the test accuracy",
                         reason="the perspective's open question, reported whichever sign it has", kind="outcome",
                         gated=False))
    return out


def plot(result: Result, config: LeagueFeedforwardConfig) -> dict:
    m, rules = result.metrics, list(config.rules)
    fig, axes = plotting.figure(2, title=f"{config.arch} on {config.dataset}")
    acc = [m[f"{r}_acc"] for r in rules]
    err = [m[f"{r}_acc_ci"] for r in rules]
    for ax, key, label in ((axes[0], "time_vs_bp", "time per step ÷ BP's"), (axes[1], "angle_end",
                                                                              "angle to BP at the end (°)")):
        xs = [m.get(f"{r}_{key}", np.nan) for r in rules]
        ax.errorbar(xs, acc, yerr=err, fmt="o")
        for r, a, b in zip(rules, xs, acc):
            ax.annotate(r, (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy")
    axes[1].set_title(f"Spearman ρ = {m.get('alignment_accuracy_rho', float('nan')):.2f}", fontsize=9)
    return {"accuracy_cost_alignment": fig}


QUICK = LeagueFeedforwardConfig(epochs=10, replicates=3)
LENET_MACS = 420_000  # LeNet-5's multiply-adds per 28 x 28 image: 118k + 240k in its convolutions, 59k dense
RESNET20_MACS = 41_000_000  # ResNet-20's per 32 x 32 image (He et al. 2016: 0.27 M weights)

register(Experiment(
    name="league-feedforward", paper=papers.SANFIZ,
    summary="every feedforward credit-assignment rule (BP, FA, DFA, sign symmetry, Kolen-Pollack) on one task, "
            "budget and set of measures",
    presets={"smoke": LeagueFeedforwardConfig(rules=("bp", "fa", "dfa"), hidden=(16,), lr_grid=(0.1,), epochs=1,
                                              replicates=2, n_train=200, n_test=100, timing=False),
             "quick": QUICK,
             # LeNet-5: the layer-swap rules (the paper models are dense networks)
             "full": LeagueFeedforwardConfig(dataset="fashion-mnist", arch="lenet", epochs=10,
                                             rules=tuple(FEEDFORWARD_RULES)),
             # LeNet-5 on CIFAR-10 from the user's files (data_root; nothing is downloaded): full's budget
             "cifar10": LeagueFeedforwardConfig(dataset="cifar10", arch="lenet", epochs=10,
                                                rules=tuple(FEEDFORWARD_RULES)),
             # the paper's (biotorch's) LeNet-5 benchmark on Fashion-MNIST, 100 epochs of SGD: momentum 0.9, weight
             # decay 1e-4, batch 128, lr 1e-3 as its CIFAR-10 LeNet configs set them (its Fashion-MNIST ones assumed
             # alike). Not fields here: its rate steps (x0.1 at set epochs) and Xavier init (constant rate, torch's)
             "paper": LeagueFeedforwardConfig(dataset="fashion-mnist", arch="lenet", rules=tuple(FEEDFORWARD_RULES),
                                              lr_grid=(1e-3,), epochs=100, batch_size=128, replicates=5)},
    run=run, claims=claims, plot=plot, gpu_speedup=5.0,
    # the updates of every network trained (the grid's, then the replicates'; predictive coding's count once per
    # inference step), of batch x 3 x multiply-adds per image
    work=lambda c: steps_work(c.train_size / c.batch_size * c.epochs * (len(c.lr_grid) + c.replicates)
                              * sum(c.pc.inference_steps if r == "pc" else 1 for r in c.rules),
                              3 * c.batch_size * {"lenet": LENET_MACS, "resnet20": RESNET20_MACS}.get(
                                  c.arch, dense_weights(PIXELS[c.dataset], *c.hidden, 10))),
    # untimed; one replicate; ties; the paper models' memory is not counted through autograd
    nan_metrics=("*_step_s", "*_time_vs_bp", "*_acc_ci", "alignment_accuracy_rho", "*_saved_bytes", "*_memory_vs_bp"),
))
