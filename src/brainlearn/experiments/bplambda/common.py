"""What the BP(λ) task experiments share: the four learning methods on one LSTM, their settings, the losses.

The methods (``METHODS``), all from the same initial weights of an LSTM :class:`OnlineRNN`:

- ``bptt``: full backpropagation through time (the upper bound);
- ``dni``: n-step DNI, truncated BPTT over windows of K steps with a synthesiser's gradient injected at
  each window's end (:func:`brainlearn.models.online_rnn.dni_network`);
- ``bplambda``: fully online learning with the synthetic gradient of a synthesiser trained by accumulate
  BP(λ) (:class:`brainlearn.rules.bplambda.BPLambda`);
- ``online``: fully online learning without a synthetic gradient (the baseline).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn import plotting
from brainlearn.experiments import Result
from brainlearn.models.online_rnn import OnlineRNN, OnlineRNNConfig, bptt_gradients, dni_network, online_gradients
from brainlearn.nn import Synthesiser, SynthesiserConfig, SyntheticGradientRNNConfig
from brainlearn.rules.bplambda import BPLambda, BPLambdaConfig
from brainlearn.runtime import Config, param, place, require

METHODS = ("bptt", "dni", "bplambda", "online")
Method = Literal["bptt", "dni", "bplambda", "online"]


def mse_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sequence squared error ½‖y - y*‖², (B,)."""
    return 0.5 * (out - target).pow(2).sum(1)


def cross_entropy(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sequence cross-entropy, (B,)."""
    return F.cross_entropy(out, target, reduction="none")


@dataclass(frozen=True)
class LearningConfig(Config):
    """What the task experiments share: the network (`model`, an LSTM whose n_in and n_out are set by the
    task), the methods and their settings."""

    renamed = {"n_hidden": "model.n_hidden"}

    methods: tuple[Method, ...] = param(METHODS, nonempty=True, help="learning methods compared")
    model: OnlineRNNConfig = OnlineRNNConfig(n_hidden=16, cell="lstm")
    batch_size: int = param(50, ge=1)
    lr: float = param(3e-3, gt=0, help="Adam learning rate of the RNN and readout")
    synth_lr: float = param(3e-4, gt=0, help="Adam learning rate of the synthesiser")
    grad_clip: float = param(1.0, gt=0, help="global norm of the RNN + readout update")
    lam: float = param(1.0, ge=0, le=1, help="BP(λ)'s trace decay λ")
    gamma: float = param(0.9, ge=0, le=1, help="discount γ of the synthetic-gradient targets")
    beta: float = param(0.1, ge=0, help="scale of the synthetic gradient in the learning signal")
    dni_window: int = param(3, ge=1, help="K of n-step DNI (truncated BPTT window)")
    synth_hidden: tuple[int, ...] = param((), ge=1, help="hidden widths of the synthesiser (empty: linear)")

    def __post_init__(self):
        super().__post_init__()
        require(self.model.cell == "lstm" or "dni" not in self.methods,
                "n-step DNI (method dni) runs on an LSTM: model.cell must be lstm")

    def network(self, n_in: int, n_out: int) -> OnlineRNNConfig:
        """`model` with the task's input and output widths."""
        return dataclasses.replace(self.model, n_in=n_in, n_out=n_out)


class MethodTrainer:
    """One method training one LSTM :class:`OnlineRNN`; ``train_batch`` returns the batch's mean sequence loss.

    The synthesiser (``bplambda``) and the DNI network (``dni``) are built here and placed on the
    model's device.
    """

    def __init__(self, method: str, model: OnlineRNN, config: LearningConfig, loss_fn):
        self.method, self.model, self.config, self.loss_fn = method, model, config, loss_fn
        self.learner = self.dni = None
        device = next(model.parameters()).device
        params = list(model.parameters())
        groups = []
        if method == "bplambda":
            synth = place(Synthesiser(SynthesiserConfig(model.state_dim, config.synth_hidden)), device)
            self.learner = BPLambda(synth, BPLambdaConfig(gamma=config.gamma, lam=config.lam))
            groups.append({"params": self.learner.parameters, "lr": config.synth_lr})
        elif method == "dni":
            dni = SyntheticGradientRNNConfig(window=config.dni_window, sg_scale=config.beta,
                                             bootstrap_discount=config.gamma)
            self.dni = place(dni_network(model, dni, config.synth_hidden), device)
            params = self.dni.cortex_parameters()
            groups.append({"params": list(self.dni.synthesiser.parameters()), "lr": config.synth_lr})
        self.params = params
        self.opt = torch.optim.Adam([{"params": params, "lr": config.lr}, *groups])

    def train_batch(self, x, targets, mask) -> float:
        self.opt.zero_grad(set_to_none=True)
        c = self.config
        if self.method == "bptt":
            loss = bptt_gradients(self.model, x, targets, mask, self.loss_fn)
        elif self.method == "online":
            loss = online_gradients(self.model, x, targets, mask, self.loss_fn, beta=0.0)["loss"]
        elif self.method == "bplambda":
            loss = online_gradients(self.model, x, targets, mask, self.loss_fn, learner=self.learner,
                                    beta=c.beta)["loss"]
            self.learner.accumulate_grad()
        else:
            steps = set(mask.nonzero().flatten().tolist())

            def window_loss(y, t0):
                inside = [t for t in range(t0, t0 + y.shape[1]) if t in steps]
                if not inside:
                    return None
                return sum(self.loss_fn(y[:, t - t0], targets[:, t]) for t in inside).mean()

            loss = self.dni.accumulate_gradients(x, window_loss).loss
        nn.utils.clip_grad_norm_(self.params, c.grad_clip)
        self.opt.step()
        return float(loss)

    @torch.no_grad()
    def predict(self, x) -> torch.Tensor:
        """Readouts (B, T, n_out)."""
        return self.dni(x) if self.dni is not None else self.model(x)[0]

    def state_dict(self) -> dict:
        net = self.dni if self.dni is not None else self.model
        state = {"net": net.state_dict(), "opt": self.opt.state_dict()}
        if self.learner is not None:
            state["synth"] = self.learner.synthesiser.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        (self.dni if self.dni is not None else self.model).load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        if self.learner is not None:
            self.learner.synthesiser.load_state_dict(state["synth"])


def plot_learning_curves(result: Result, key: str, ylabel: str) -> dict:
    """One line per method of ``<method>_<key>`` against the result's "epoch" (or "update") array."""
    a = result.arrays
    xname = "epoch" if "epoch" in a else "update"
    suffix = f"_{key}"
    ys = {name.removesuffix(suffix): a[name] for name in a if name.endswith(suffix)}
    fig, (ax,) = plotting.figure()
    plotting.curves(ax, a[xname], ys, xlabel=xname, ylabel=ylabel)
    return {"learning_curves": fig}
