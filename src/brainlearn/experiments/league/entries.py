"""The feedforward league's entries: the networks, how each entry learns, and the measures of one network.

The entries are the layer-swap rules of :data:`~brainlearn.rules.FEEDFORWARD_RULES`, predictive coding
(inference learning on the same MLP), the paper models (their own dense networks and local rules) and backprop
on the paper models' network. Every function takes the league's config
(:class:`~brainlearn.experiments.league.feedforward.LeagueFeedforwardConfig`).
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.experiments.dendritic.common import ClassificationConfig, class_targets
from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig
from brainlearn.models.burstprop import Burstprop, BurstpropConfig
from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig, LearningRates, as_mlp
from brainlearn.nn import one_hot
from brainlearn.rules import FEEDFORWARD_RULES, convert, use_rule
from brainlearn.rules.feedforward import Plausibility
from brainlearn.rules.predictive_coding import PC_PLAUSIBILITY, pc_grads
from brainlearn.runtime import isolated_rng, make_generator, place, replicate_seed

#: The paper models as league entries: dense networks of sigmoid units whose own burst-dependent rules write
#: ``.grad`` for the squared error of their rates against one-hot targets (their papers' loss). Their
#: networks have their own initialisation; BurstCCN is single-phase, Burstprop two-phase, and both multiplex
#: the error into bursts of the same neurons (no separate error channel).
MODELS: dict[str, Plausibility] = {
    "burstccn-tied": Plausibility("exact", True, 1, True, False),
    "burstccn-random": Plausibility("none", True, 1, True, False),
    "burstprop": Plausibility("exact", True, 2, True, False),
}
#: Backprop on the paper models' own network (BurstCCN's sigmoid layers, initialisation and squared error, the
#: same starting weights as the BurstCCN entries): the gradient their rules approximate, so that the table
#: separates what the rules lose from what their network and loss cost against the league's ReLU MLP.
REFERENCE: dict[str, Plausibility] = {"bp-sigmoid": FEEDFORWARD_RULES["bp"]}
#: The entries that train the paper models' network (on flattened inputs).
PAPER_NETWORK = (*MODELS, *REFERENCE)
#: The dendritic microcircuit (Sacramento et al. 2018) at its classification settings: one hidden layer (the
#: first of `hidden`; with two hidden layers of 100 it did not learn digits in 5 epochs at gains 1, 2 or 3.6),
#: sigmoid pyramidal cells, fixed random top-down weights B and lateral weights that start in the
#: self-predicting state and stay plastic, its steady state settled per batch. Its forward (basal) updates go
#: through the league's optimiser and grid; its lateral pathways learn at their own rate. Errors are apical
#: potentials of the same pyramidal cells (no separate error population), carried down through B as it settles.
MICROCIRCUIT: dict[str, Plausibility] = {"dendritic": Plausibility("none", True, 1, True, False)}
CIRCUIT = ClassificationConfig()  # the dendritic experiment's classification settings (gain, rates, targets)
#: Every entry on flattened inputs (dense networks of their own).
FLAT_INPUT = (*PAPER_NETWORK, *MICROCIRCUIT)
#: Every league entry and its plausibility attributes: the layer swaps, predictive coding (inference learning
#: on the same MLP, :mod:`brainlearn.rules.predictive_coding`), the paper models (BurstCCN, Burstprop, the
#: dendritic microcircuit) and backprop on BurstCCN's network.
ENTRIES: dict[str, Plausibility] = {**FEEDFORWARD_RULES, "pc": PC_PLAUSIBILITY, **MODELS, **REFERENCE,
                                    **MICROCIRCUIT}
#: Entries that need the MLP (dense layers only).
DENSE_ONLY = ("pc", *FLAT_INPUT)
#: Entries that run inside an ensemble's vmap (DFA shares the output error between layers through a Python
#: object; brSF draws from a generator at every step).
STACKED_RULES = ("bp", "fa", "usf", "frsf", "kp", *PAPER_NETWORK)


def network(config, shape: tuple[int, int, int], n_classes: int, rule: str, seed: int,
            replicate: int | None, example: torch.Tensor, device) -> nn.Module:
    """The network of (`seed`, `replicate`): weights from stream "init" (the same for every rule), then its
    layers swapped to `rule` with feedback from stream "init", index 1 (independent of the weights)."""
    c, h, _ = shape
    if rule in MICROCIRCUIT:
        generator = make_generator(replicate_seed(seed, replicate, "init"))
        circuit = DendriticNetworkConfig(sizes=(c * h * h, config.hidden[0], n_classes),
                                         activation=CIRCUIT.activation, feedback="random",
                                         init_gain=CIRCUIT.init_gain)
        return place(DendriticNetwork(circuit, generator=generator), device)
    if rule in PAPER_NETWORK:  # dense, on flattened inputs; weights from their own initialisation and generator
        generator = make_generator(replicate_seed(seed, replicate, "init"))
        if rule == "burstprop":
            model: BurstCCN = Burstprop(BurstpropConfig(in_shape=(c * h * h,), n_hidden=config.hidden,
                                                        n_out=n_classes), generator=generator)
        else:
            model = BurstCCN(BurstCCNConfig(in_shape=(c * h * h,), n_hidden=config.hidden, n_out=n_classes,
                                            feedback="random" if rule == "burstccn-random" else "tied"),
                             generator=generator)
        return place(model, device)
    with isolated_rng(replicate_seed(seed, replicate, "init")):  # torch.nn's initialisers
        if config.arch == "mlp":
            widths = (c * h * h, *config.hidden)
            layers: list[nn.Module] = [nn.Flatten()]
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            net = nn.Sequential(*layers, nn.Linear(widths[-1], n_classes))
        elif config.arch == "lenet":  # LeNet-5 (max pooling, ReLU)
            side = ((h // 2) - 4) // 2
            net = nn.Sequential(nn.Conv2d(c, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                                nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * side * side, 120),
                                nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, n_classes))
        else:
            net = resnet20(c, n_classes)
    feedback = make_generator(replicate_seed(seed, replicate, "init", index=1))
    rule = "bp" if rule == "pc" else rule  # predictive coding trains the plain network
    return place(convert(net, rule, generator=feedback, example=example.cpu(), inplace=True), device)


class ResidualBlock(nn.Module):
    """Two 3 x 3 convolutions with batch norm and ReLU, added to the input (through a strided 1 x 1 convolution
    with batch norm where the shape changes: He et al.'s shortcut B)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Sequential() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def resnet20(channels: int, n_classes: int) -> nn.Sequential:
    """He et al.'s (2016) CIFAR ResNet-20: a 16-channel 3 x 3 convolution, three stages of three residual blocks
    (16, 32 and 64 channels, the last two starting with stride 2), global average pooling, a dense layer."""
    layers: list[nn.Module] = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for c_out, stride in ((16, 1), (32, 2), (64, 2)):
        for block in range(3):
            layers.append(ResidualBlock(c_in, c_out, stride if block == 0 else 1))
            c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_classes))


@contextmanager
def kept_statistics(net: nn.Module):
    """Batch norm leaves its running statistics as they are while the body runs (momentum 0: a probe batch is
    not training data); it still normalises by the batch's own statistics."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum


def loss(net, x, y):
    """The loss the entry learns: cross-entropy, or for the paper models' network the squared error of its rates
    (also inside an ensemble, whose members are its template with their own tensors: ``net.module``)."""
    if isinstance(getattr(net, "module", net), BurstCCN):
        out = net(x)
        return 0.5 * (out - one_hot(y, out.shape[1], out.dtype)).pow(2).sum(1).mean()
    return F.cross_entropy(net(x), y)


def targets(net: DendriticNetwork, y: torch.Tensor) -> torch.Tensor:
    """The microcircuit's output target potentials, as its experiment sets them."""
    return class_targets(y, net.sizes[-1], CIRCUIT.target_low, CIRCUIT.target_high)


def rule_grads(config, rule: str, net, x, y, *, learn: bool = True) -> None:
    """The entry's update into ``.grad``: backprop through the swapped layers (or the paper models' network),
    predictive coding's inference learning, or the paper model's local rule. The microcircuit's forward
    updates go to ``.grad`` and (with `learn`; not when a probe measures it) its lateral ones are applied."""
    if rule == "pc":
        pc_grads(net, x, y, config.pc)
    elif rule in MICROCIRCUIT:
        updates = net.local_updates(net.settle(x, targets(net, y)))
        for k in range(net.n_layers):  # the descent direction, as .grad: minus the change the rule makes
            net.W[k].grad, net.b[k].grad = -updates.W[k], -updates.b[k]
        if learn:
            rate = CIRCUIT.lateral_lr
            net.apply_updates(updates, LearningRates(forward=0.0, ip=rate, pi=rate))
    elif rule in MODELS:
        net.backward_local(x, y)
    else:
        loss(net, x, y).backward()


def hidden_weights(net: nn.Module) -> list[str]:
    """The weights of every layer but the output layer (whose update is exact under every rule)."""
    names = [n for n, p in net.named_parameters() if (n.endswith("weight") or n.startswith("W.")) and p.ndim > 1]
    return names[:-1]


def exact_gradient(net: nn.Module, x, y) -> list[torch.Tensor]:
    """Backprop's gradient of the same network's loss for the hidden weights (the microcircuit's: of the
    squared error its output nudging delivers, through its free network)."""
    if isinstance(net, DendriticNetwork):
        return [-d for d in net.reference_gradients(x, targets(net, y)).W[:-1]]
    params = dict(net.named_parameters())
    with use_rule(net, "bp"):
        return list(torch.autograd.grad(loss(net, x, y), [params[n] for n in hidden_weights(net)]))


def local_rule(net, x, y) -> None:  # for Ensemble.run_local: the update lands in .grad, nothing is returned
    net.backward_local(x, y)


def fgsm_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch: int = 1024) -> float:
    """Accuracy on x + eps sign(∂ℓ/∂x), clipped to [0, 1], with the network's exact input gradient (the
    microcircuit's through its free network, its output potentials as logits)."""
    net = as_mlp(net) if isinstance(net, DendriticNetwork) else net
    correct = 0
    with use_rule(net, "bp"):
        for xb, yb in zip(x.split(batch), y.split(batch)):
            xb = xb.clone().requires_grad_()
            (g,) = torch.autograd.grad(loss(net, xb, yb), xb)
            with torch.no_grad():
                correct += int((net((xb + eps * g.sign()).clamp(0, 1)).argmax(1) == yb).sum())
    return correct / len(y)


def cost(config, rule: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor
         ) -> dict[str, float]:
    """Median seconds per SGD step (after warm-up steps) and the bytes of activations saved for the backward
    pass (tensors saved that are not the network's own parameters or buffers), one network alone."""
    opt = torch.optim.SGD(net.parameters(), lr=0.0, momentum=config.momentum)  # lr 0: the net stays as it is
    own = {t.untyped_storage().data_ptr() for t in [*net.parameters(), *net.buffers()]}
    saved = 0.0

    def pack(t):
        nonlocal saved
        if t.untyped_storage().data_ptr() not in own:
            saved += t.numel() * t.element_size()
        return t

    xb, yb = x[:config.batch_size], y[:config.batch_size]

    def step():
        opt.zero_grad(set_to_none=True)
        rule_grads(config, rule, net, xb, yb)
        opt.step()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    if rule in DENSE_ONLY:  # their rules keep their state outside autograd: not counted this way
        saved = float("nan")
    if not config.timing:
        return {"step_s": float("nan"), "saved_bytes": float(saved)}
    times = []
    for _ in range(config.timing_steps + 3):  # three warm-up steps
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"step_s": float(np.median(times[3:])), "saved_bytes": float(saved)}
