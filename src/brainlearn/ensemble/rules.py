"""The explicit recurrent learning rules (:mod:`brainlearn.rules`) run for every member of an ensemble at once.

A rule is built alone for each member (on that member's network, drawing its random feedback from that
member's generator), then :class:`StackedRule` stacks the tensors each rule holds (feedback matrices, KeRNL's
learned sensitivity and timescales) and vmaps the rule's own update code over the member axis: the same
equations, each member's traces and updates on its own slice. The network's parameters are swapped in through
:func:`torch.func.functional_call`, so the updates the rule adds into ``.grad`` come out per member. Rules that
draw random numbers at every step (UORO's probes, KeRNL's perturbations) get them drawn beforehand, member by
member from each member's own generator in the order its rule alone would draw them.

BPTT (whole sequences or truncated windows) stacks by replaying each window under :func:`torch.func.grad`.
Rules that train modules of their own (DNI, BP(λ)) are not stacked: their synthesisers' updates would need the
same functional replay.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from brainlearn.ensemble.stack import Ensemble
from brainlearn.errors import ConfigError
from brainlearn.rules.rnn_base import LearningRule

Tensors = dict[str, torch.Tensor]

#: Rules whose update code runs under vmap as it is.
STACKABLE_RULES = ("readout", "bptt", "rtrl", "eprop", "rflo", "uoro", "kernl", "eprop_spiking")


class StackedRule:
    """N copies of one recurrent learning rule, one per member of `ensemble`.

    Args:
        ensemble: the members' networks (e.g. :class:`~brainlearn.rules.LeakyRNN`), stacked.
        rules: member k's rule, built alone on member k's network (``make_rule(name, net_k, generator=g_k)``).

    :meth:`accumulate` runs one batch of sequences per member and returns each member's update (what its
    rule alone would add into ``.grad``) and per-sample losses; a stacked optimiser applies the update.
    """

    def __init__(self, ensemble: Ensemble, rules: Sequence[LearningRule]):
        rules = list(rules)
        if len(rules) != len(ensemble):
            raise ConfigError(f"StackedRule: expected one rule per member ({len(ensemble)}), got {len(rules)}")
        kinds = {type(r) for r in rules}
        if len(kinds) != 1:
            raise ConfigError(f"StackedRule: the members' rules differ in kind: {sorted(k.__name__ for k in kinds)}")
        if rules[0].name not in STACKABLE_RULES:
            raise ConfigError(f"StackedRule: rule {rules[0].name!r} does not stack (it trains modules of its own or "
                              f"steps its optimiser within a sequence); stackable: {', '.join(STACKABLE_RULES)}")
        if len({r.config for r in rules}) != 1:
            raise ConfigError("StackedRule: the members' rules must share one config")
        self.ensemble = ensemble
        # the template rule works on the ensemble's template network, onto which the members' tensors go
        memo = {id(m): t for m, t in zip(rules[0].model.modules(), ensemble.template.modules())}
        self.rule = copy.deepcopy(rules[0], memo)
        self.members = rules  # their generators draw each member's random numbers
        self.names = [n for n, v in vars(rules[0]).items() if isinstance(v, torch.Tensor)]
        self.tensors: Tensors = {n: torch.stack([vars(r)[n] for r in rules]) for n in self.names}

    def accumulate(self, x: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None, *,
                   chunk: int | None = None) -> tuple[Tensors, torch.Tensor]:
        """Run each member's rule over its batch: x (N, B, T, m), targets (N, B, T, ...), weights
        (N, B, T) or None. Returns ``({name: (N, *shape)} updates, (N, B) losses Σ_t w_t ℓ_t)``."""
        rule, names = self.rule, self.names
        drawn = self._predraw(x.shape[1], x.shape[2])

        def run(module, rule_tensors, drawn, *batch):
            for name, t in rule_tensors.items():
                setattr(rule, name, t)
            rule.predrawn = drawn
            losses = rule.accumulate(*batch)
            rule.predrawn = None
            return losses, {n: getattr(rule, n) for n in names}  # what the rule learned of its own (KeRNL)

        batch = (x, targets) if weights is None else (x, targets, weights)
        updates, (losses, self.tensors) = self.ensemble.run_local(run, self.tensors, drawn, *batch,
                                                                  in_dims=(0, None if drawn is None else 0,
                                                                           *(0,) * len(batch)), chunk=chunk)
        return updates, losses

    def _predraw(self, batch: int, steps: int) -> torch.Tensor | None:
        """Every member's random numbers for `steps` steps, drawn from its own generator in the order its rule
        alone draws them (one call per member and step: N generators cannot draw in one call)."""
        if type(self.members[0]).draw is LearningRule.draw:  # a rule that draws nothing
            return None
        return torch.stack([torch.stack([r.draw(batch) for _ in range(steps)]) for r in self.members]).to(
            self.ensemble.device)
