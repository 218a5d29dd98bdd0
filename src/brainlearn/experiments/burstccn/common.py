"""What the BurstCCN experiments share: the base config, the per-method trainer and the epoch learner the
image experiments (burstccn-classification, burstccn-alignment, burstccn-q) run on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from brainlearn.analysis import angle
from brainlearn.data import ImageDataConfig
from brainlearn.data.images import PIXELS
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig
from brainlearn.models.dendritic import LearningRates
from brainlearn.nn import one_hot_mse
from brainlearn.rules import use_rule
from brainlearn.runtime import param, require

EDN_TARGETS = (0.1, 0.9)  # the EDN's output potentials are nudged to the logits of these rates
EDN_LOGITS = tuple(float(torch.logit(torch.tensor(p))) for p in EDN_TARGETS)


@dataclass(frozen=True)
class BurstConfig(ImageDataConfig):
    """Fields every BurstCCN image experiment shares (dataset fields come from ImageDataConfig). `model` is
    the network; its `in_shape` and `n_out` follow the dataset and each method sets its `feedback`."""

    renamed = {"hidden": "model.n_hidden", "init_gain": "model.init_gain", "feedback_std": "model.feedback_std",
               "p_baseline": "model.p_baseline"}

    model: BurstCCNConfig = BurstCCNConfig(n_hidden=(100,))
    epochs: int = param(30, ge=1)
    batch_size: int = param(32, ge=1)
    lr: float = param(0.5, gt=0)
    angle_every: int = param(50, ge=1, help="training steps between angle measurements")

    def __post_init__(self):
        super().__post_init__()
        require(len(self.model.n_hidden) >= 1, "model.n_hidden: the experiments need a hidden layer")


def mlp_work(config: BurstConfig) -> float:
    """The ``Experiment.work`` of a dense network trained on images: its updates, of batch x weights x 3 (forward
    and backward) each."""
    weights = dense_weights(PIXELS[config.dataset], *config.model.n_hidden, 10)
    return steps_work(config.train_size / config.batch_size * config.epochs, config.batch_size * weights * 3)


def burst_net(config: BurstConfig, shape: tuple, n_classes: int, feedback: str, generator: torch.Generator,
              network: type[BurstCCN] = BurstCCN, **fields) -> BurstCCN:
    """The BurstCCN (or `network`) of `config.model` for inputs of `shape` ((n,) dense, (C, H, W) the conv
    stack), with `feedback` and any other config `fields` replaced."""
    model = config.model if network is BurstCCN else network.config_class(**vars(config.model))
    return network(replace(model, in_shape=tuple(shape), n_out=n_classes, feedback=feedback, **fields),
                   generator=generator)


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
