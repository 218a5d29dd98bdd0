"""What the BurstCCN experiments share: the paper id, the base config, the per-method trainer and the
epoch learner the image experiments (burstccn, burstccn-alignment, burstccn-q) run on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn.analysis import angle
from brainlearn.data import ImageDataConfig
from brainlearn.models.burstccn import BurstCCN, burst_convnet, burst_mlp
from brainlearn.models.dendritic import LearningRates
from brainlearn.nn import one_hot_mse
from brainlearn.rules import use_rule
from brainlearn.runtime import param

GREEDY = "2206.11769"  # Greedy et al., "BurstCCN: bursting cortico-cortical networks", NeurIPS 2022
EDN_TARGETS = (0.1, 0.9)  # the EDN's output potentials are nudged to the logits of these rates
EDN_LOGITS = tuple(float(torch.logit(torch.tensor(p))) for p in EDN_TARGETS)


@dataclass(frozen=True)
class BurstConfig(ImageDataConfig):
    """Fields every BurstCCN image experiment shares (dataset fields come from ImageDataConfig)."""

    hidden: tuple[int, ...] = param((100,), ge=1, nonempty=True, help="hidden layer widths")
    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(0.5, gt=0)
    init_gain: float = param(3.6, gt=0, help="xavier-normal gain of the forward weights")
    feedback_std: float = param(0.5, gt=0, help="std of the random feedback weights Y")
    p_baseline: float = param(0.5, gt=0, le=0.5, help="baseline burst probability p_b")
    angle_every: int = param(50, ge=1, help="training steps between angle measurements")


def burst_net(config: BurstConfig, shape: tuple, n_classes: int, feedback: str, generator: torch.Generator,
              arch: str = "mlp", **kwargs) -> BurstCCN:
    """The BurstCCN of `config` for inputs of `shape`: dense (`arch="mlp"`) or the Payeur conv net."""
    common = dict(p_baseline=config.p_baseline, feedback=feedback, feedback_std=config.feedback_std,
                  init_gain=config.init_gain, generator=generator)
    common.update(kwargs)
    if arch == "conv":
        return burst_convnet(in_shape=shape, hidden=config.hidden, n_classes=n_classes, **common)
    return burst_mlp([int(np.prod(shape)), *config.hidden, n_classes], **common)


def weight_grads(net: torch.nn.Module) -> list[torch.Tensor]:
    """The ``.grad`` of each layer's weight (a BurstCCN or a brainlearn.nn.MLP), after an update."""
    return [layer.weight.grad for layer in net.layers]


class Method:
    """One network and its optimiser; `update(x, y)` does one training step with the method's rule.

    `kind`: "burst" (BurstCCN's local rule), "burst-bp" (a BurstCCN-shaped network trained by autograd,
    the conv baseline), "ann" (the MLP, by its rule: BP or FA) or "edn" (the dendritic-error network, which
    has no optimiser: its plasticity applies its own updates at `rates`).
    """

    def __init__(self, net: torch.nn.Module, opt: torch.optim.Optimizer | None, kind: str,
                 rates: LearningRates | None = None):
        self.net, self.opt, self.kind, self.rates = net, opt, kind, rates

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.kind == "edn":
            low, high = EDN_LOGITS
            target = torch.full((len(y), self.net.sizes[-1]), low, device=y.device).scatter_(1, y[:, None], high)
            self.net.train_step(x, target, self.rates)
            return
        self.opt.zero_grad(set_to_none=True)
        if self.kind == "burst":
            self.net.backward_local(x, y)
        elif self.kind == "burst-bp":
            for p, g in zip(self.net.forward_parameters(), self.net.backprop_grads(x, y)):
                p.grad = g
        else:
            one_hot_mse(self.net(x), y).backward()
        self.opt.step()

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
        return [angle(g, r) for g, r in zip(weight_grads(self.net), reference)]


class EpochLearner:
    """Networks trained side by side on the same shuffled minibatches, one epoch per round.

    Subclasses set `methods` (name -> Method), `shuffle` (the batch-order generator), `curves` and `steps`
    (training steps so far) and write `step(epoch)`; the state to resume exactly is defined here.
    """

    methods: dict[str, Method]
    shuffle: torch.Generator
    curves: dict
    steps: int

    def state_dict(self) -> dict:
        return {"nets": {k: m.net.state_dict() for k, m in self.methods.items()},
                "opts": {k: m.opt.state_dict() for k, m in self.methods.items() if m.opt is not None},
                "shuffle": self.shuffle.get_state(), "curves": self.curves, "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.methods.items():
            m.net.load_state_dict(state["nets"][k])
            if m.opt is not None:
                m.opt.load_state_dict(state["opts"][k])
        self.shuffle.set_state(state["shuffle"])
        self.curves, self.steps = state["curves"], state["steps"]
