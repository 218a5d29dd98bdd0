"""What the rnnrules experiments share: the rules as the experiments name them, the network and the
online training loop on a task stream.

Rule names (``SPECS``): ``readout`` (readout only), ``bptt`` (full BPTT over a sequence), ``bptt10`` and
``bptt3`` (truncated BPTT over windows of 10 / 3 steps), ``rtrl``, ``eprop`` (symmetric feedback W_oᵀ),
``eprop_random`` (fixed random feedback B), ``rflo`` (random feedback), ``uoro``, ``kernl``, ``dni3``
(truncated BPTT over 3 steps plus a learned synthetic gradient) and ``bplambda``.
"""

from __future__ import annotations

import torch

from brainlearn.data.rnn_tasks import TASKS, add_task
from brainlearn.rules.recurrent import LeakyRNN, LearningRule, make_rule, soft_cross_entropy
from brainlearn.runtime import make_generator, place, replicate_seed

HENHA_EYONO = "2105.05382"  # Henha Eyono et al., "Current state and future directions for learning in biological RNNs"

SPECS: dict[str, tuple[str, dict]] = {
    "readout": ("readout", {}),
    "bptt": ("bptt", {}),
    "bptt10": ("bptt", {"window": 10}),
    "bptt3": ("bptt", {"window": 3}),
    "rtrl": ("rtrl", {}),
    "eprop": ("eprop", {"feedback": "symmetric"}),
    "eprop_random": ("eprop", {"feedback": "random"}),
    "rflo": ("rflo", {"feedback": "random"}),
    "uoro": ("uoro", {}),
    "kernl": ("kernl", {}),
    "dni3": ("dni", {"window": 3, "sg_scale": 1.0}),
    "bplambda": ("bplambda", {"beta": 1.0, "gamma": 1.0, "lam": 1.0}),
}
RANDOM = {"eprop", "rflo", "uoro", "kernl"}  # rules that draw from a generator


def build(spec: str, model: LeakyRNN, loss: str, seed: int) -> LearningRule:
    """The rule `spec` (a key of :data:`SPECS`) on `model`, its random draws from stream "noise" of `seed`."""
    name, kwargs = SPECS[spec]
    if name in RANDOM:
        kwargs = {**kwargs, "generator": make_generator(replicate_seed(seed, None, "noise"))}
    return make_rule(name, model, loss_fn=loss, **kwargs)


def network(n_in: int, n_hidden: int, n_out: int, alpha: float, gain: float, seed: int, device: str) -> LeakyRNN:
    model = LeakyRNN(n_in, n_hidden, n_out, alpha=alpha, gain=gain, generator=make_generator(replicate_seed(seed)))
    return place(model, device)


def add_stream(steps: int, seed: int, stream: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One Add-task stream (batch 1) of `steps` steps: x (1, steps, 1), y (1, steps, 2)."""
    x, y, _ = add_task(1, steps, generator=make_generator(replicate_seed(seed, None, stream)))
    return x.to(device), y.to(device)


def train_online(rule: LearningRule, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                 bin_size: int) -> list[float]:
    """Online learning on one stream x (1, T, m): the optimiser steps every ``rule.update_interval``
    steps. Returns the mean training loss per bin of `bin_size` steps."""
    rule.reset(x.shape[0])
    losses = []
    for t in range(x.shape[1]):
        losses.append(rule.step(x[:, t], y[:, t]))
        if (t + 1) % rule.update_interval == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
    rule.finish()
    curve = torch.stack(losses).flatten()
    n = len(curve) // bin_size
    return curve[:n * bin_size].view(n, bin_size).mean(1).tolist()


@torch.no_grad()
def add_test_ce(model: LeakyRNN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy of the frozen network over a test stream (from rest)."""
    out, _ = model(x)
    return float(soft_cross_entropy(out, y).mean())


def task_loss(model: LeakyRNN, task: str, batch: int, T: int, generator) -> float:
    """Mean weighted test loss per target step of `model` on fresh sequences of `task`."""
    spec = TASKS[task]
    x, y, w = spec.sample(batch, T, generator)
    device = model.cell.weight.device
    x, y, w = x.to(device), y.to(device), w.to(device)
    with torch.no_grad():
        out, _ = model(x)
        loss = soft_cross_entropy(out, y) if spec.loss == "cross_entropy" else 0.5 * (out - y).pow(2).sum(-1)
    return float((loss * w).sum() / w.sum())
