"""What the rnnrules experiments share: the rule variants as the experiments name them (each with its
config), the network and the online training loop on a task stream.

Variants (:class:`RuleVariants`): ``readout`` (readout only), ``bptt`` (full BPTT over a sequence),
``bptt10`` and ``bptt3`` (truncated BPTT over windows of 10 / 3 steps), ``rtrl``, ``eprop`` (symmetric
feedback W_oᵀ), ``eprop_random`` (fixed random feedback B), ``rflo`` (random feedback), ``uoro``,
``kernl``, ``dni3`` (truncated BPTT over 3 steps plus a learned synthetic gradient) and ``bplambda``.
An experiment's config nests them (``variants``), so ``--set variants.kernl.sigma=0.02`` reaches a rule's
hyperparameter, and its ``rules`` field picks the variants it runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from brainlearn.data.rnn_tasks import TASKS, add_task
from brainlearn.experiments.estimate import steps_work
from brainlearn.rules.recurrent import (
    RECURRENT_RULES,
    BPLambdaRuleConfig,
    BPTTConfig,
    DNIConfig,
    EPropConfig,
    KeRNLConfig,
    LeakyRNN,
    LeakyRNNConfig,
    LearningRule,
    ReadoutOnlyConfig,
    RFLOConfig,
    RTRLConfig,
    RuleConfig,
    UOROConfig,
    make_rule,
    soft_cross_entropy,
)
from brainlearn.runtime import Config, make_generator, place, replicate_seed


def rule_work(rules, n: int, batch: int = 1) -> float:
    """The work of one time step of each of `rules` on `n` units, summed (the factor of their
    ``Experiment.work``): RTRL carries its n x n² influence matrix forward (n⁴ per sequence), every other rule
    about a weight matrix (n²)."""
    return sum(steps_work(1, batch * (n ** 4 if r == "rtrl" else n ** 2)) for r in rules)


@dataclass(frozen=True)
class RuleVariants(Config):
    """Every rule variant the experiments compare, by name, with its config."""

    readout: ReadoutOnlyConfig = ReadoutOnlyConfig()
    bptt: BPTTConfig = BPTTConfig()
    bptt10: BPTTConfig = BPTTConfig(window=10)
    bptt3: BPTTConfig = BPTTConfig(window=3)
    rtrl: RTRLConfig = RTRLConfig()
    eprop: EPropConfig = EPropConfig(feedback="symmetric")
    eprop_random: EPropConfig = EPropConfig(feedback="random")
    rflo: RFLOConfig = RFLOConfig(feedback="random")
    uoro: UOROConfig = UOROConfig()
    kernl: KeRNLConfig = KeRNLConfig()
    dni3: DNIConfig = DNIConfig(window=3, sg_scale=1.0)
    ccrnn3: DNIConfig = DNIConfig(window=3, sg_scale=1.0, cerebellum=(400, 400))  # the ccRNN's cerebellar widths
    bplambda: BPLambdaRuleConfig = BPLambdaRuleConfig(beta=1.0, gamma=1.0, lam=1.0)


VARIANTS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RuleVariants))
"""The names of the variants (the fields of :class:`RuleVariants`)."""

_RULE_OF = {cls.config_class: name for name, cls in RECURRENT_RULES.items()}


def rule_of(variant: str, variants: RuleVariants) -> str:
    """The name of the rule a variant runs (``eprop_random`` runs ``eprop``)."""
    return _RULE_OF[type(getattr(variants, variant))]


def build(variant: str, model: LeakyRNN, loss: str, variants: RuleVariants, seed: int, replicate: int | None = None,
          index: int | None = None) -> LearningRule:
    """The rule `variant` (a field of `variants`) on `model`; its random draws (feedback B, probes,
    perturbations) come from stream "noise" of (`seed`, `replicate`, `index`)."""
    config: RuleConfig = getattr(variants, variant)
    generator = make_generator(replicate_seed(seed, replicate, "noise", index=index))
    rule = make_rule(rule_of(variant, variants), model, config, loss_fn=loss, generator=generator)
    synthesiser = getattr(rule, "synthesiser", None)  # DNI's and BP(λ)'s own module, on the network's device
    if synthesiser is not None:
        place(synthesiser, model.cell.weight.device)
    return rule


def network(config: LeakyRNNConfig, seed: int, device: str, replicate: int | None = None,
            index: int | None = None) -> LeakyRNN:
    """A LeakyRNN from stream "init" of (`seed`, `replicate`, `index`), placed on `device`."""
    model = LeakyRNN(config, generator=make_generator(replicate_seed(seed, replicate, "init", index=index)))
    return place(model, device)


def add_stream(steps: int, seed: int, replicate: int | None, stream: str, device, lags: tuple[int, ...] = (5, 9),
               coefs: tuple[float, ...] = (0.5, -0.25)) -> tuple[torch.Tensor, torch.Tensor]:
    """One Add-task stream (batch 1) of `steps` steps with dependencies `lags` of weights `coefs`, from `stream`
    of (`seed`, `replicate`): x (1, steps, 1), y (1, steps, 2)."""
    x, y, _ = add_task(1, steps, lags, coefs, generator=make_generator(replicate_seed(seed, replicate, stream)))
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


def best_readout_ce(model: LeakyRNN, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor,
                    iterations: int = 500) -> float:
    """The floor a readout of `model`'s fixed network can reach: mean test cross-entropy on (`xt`, `yt`) of the
    readout (W_o, b_o) that minimises the mean cross-entropy over the network's states on (`x`, `y`).

    The states do not depend on the readout, so this is a convex problem (softmax regression on soft targets),
    solved by L-BFGS in float64 from W_o = 0. A readout-only learner trained on (`x`, `y`) cannot do better on
    the test stream, up to the fitting noise of its n_out (n + 1) parameters.
    """
    with torch.no_grad():
        states = [torch.cat([a, torch.ones_like(a[..., :1])], -1).reshape(-1, a.shape[-1] + 1).double()
                  for a in (model(x)[1], model(xt)[1])]
    targets = [t.reshape(-1, t.shape[-1]).double() for t in (y, yt)]
    w = torch.zeros(states[0].shape[1], targets[0].shape[1], dtype=torch.float64, device=states[0].device,
                    requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=iterations, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        value = soft_cross_entropy(states[0] @ w, targets[0]).mean()
        value.backward()
        return value

    with torch.enable_grad():
        opt.step(loss)
    with torch.no_grad():
        return float(soft_cross_entropy(states[1] @ w, targets[1]).mean())


def task_loss(model: LeakyRNN, task: str, batch_size: int, T: int, generator) -> float:
    """Mean weighted test loss per target step of `model` on fresh sequences of `task`."""
    spec = TASKS[task]
    x, y, w = spec.sample(batch_size, T, generator)
    device = model.cell.weight.device
    x, y, w = x.to(device), y.to(device), w.to(device)
    with torch.no_grad():
        out, _ = model(x)
        loss = soft_cross_entropy(out, y) if spec.loss == "cross_entropy" else 0.5 * (out - y).pow(2).sum(-1)
    return float((loss * w).sum() / w.sum())
