"""Stacked optimisers: torch's SGD and Adam applied to every member at once, each member with its own
hyperparameters (a float for all, or one value per member).

The update equations are torch's (``torch.optim.SGD`` and ``torch.optim.Adam``, defaults as there), written
over the member axis, and a member's state converts to and from the ``state_dict()`` of the torch
optimiser that member would have used alone, so a stacked run's checkpoints are those of the runs alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from brainlearn.errors import ConfigError, ShapeError

Tensors = dict[str, torch.Tensor]
PerMember = float | Sequence[float] | torch.Tensor


class _Stacked:
    """What both optimisers share: per-member hyperparameters, a state per parameter, member conversion."""

    torch_class: type[torch.optim.Optimizer]
    hyper: tuple[str, ...]          # the hyperparameters that may differ per member
    slots: tuple[str, ...]          # the state tensors kept per parameter

    def __init__(self, params: Tensors, **hyper: PerMember):
        if not params:
            raise ConfigError(f"{type(self).__name__}: expected at least one parameter")
        self.params = params
        first = next(iter(params.values()))
        self.n, self.device = first.shape[0], first.device
        for name, t in params.items():
            if t.shape[:1] != (self.n,):
                raise ShapeError(f"{type(self).__name__}: parameter {name!r} has shape {tuple(t.shape)}, expected "
                                 f"{self.n} members on axis 0")
        self.hyper_values = {k: self._per_member(k, v) for k, v in hyper.items()}
        self.state: dict[str, Tensors] = {name: {} for name in params}
        self.steps = 0

    def _per_member(self, name: str, value: PerMember) -> torch.Tensor:
        """(N,) float64 values of a hyperparameter; each must be finite and >= 0."""
        t = torch.as_tensor(value, dtype=torch.float64).flatten()
        if t.numel() == 1:
            t = t.expand(self.n)
        if t.numel() != self.n:
            raise ConfigError(f"{type(self).__name__}: {name} needs one value or one per member ({self.n}), "
                              f"got {t.numel()}")
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise ConfigError(f"{type(self).__name__}: {name} must be finite and >= 0, got {t.tolist()}")
        return t.clone()

    def _h(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """A hyperparameter shaped to broadcast over a parameter (N, 1, ..., 1), in its dtype and device."""
        return self.hyper_values[name].to(like.device, like.dtype).view(-1, *([1] * (like.ndim - 1)))

    def step(self, grads: Tensors) -> None:
        """One update of every member from its gradients ``{name: (N, *shape)}`` (in place)."""
        if set(grads) != set(self.params):
            raise ConfigError(f"{type(self).__name__}.step: expected gradients of {sorted(self.params)}, "
                              f"got {sorted(grads)}")
        self.steps += 1
        on = {h: bool((v != 0).any()) for h, v in self.hyper_values.items()}  # once a step, not once a parameter
        with torch.no_grad():
            for name, p in self.params.items():
                self._update(name, p, grads[name], on)

    def _update(self, name: str, p: torch.Tensor, g: torch.Tensor, on: dict[str, bool]) -> None:
        """One parameter's update; `on`: which hyperparameters are non-zero for some member."""
        raise NotImplementedError

    # ---- checkpoints ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"steps": self.steps, "hyper": dict(self.hyper_values), "state": self.state}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
        self.hyper_values = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in state["hyper"].items()}
        self.state = {name: {k: v.to(self.device) for k, v in slots.items()} for name, slots in state["state"].items()}

    def member_state_dict(self, k: int, names: Sequence[str]) -> dict:
        """Member `k`'s state as ``torch_class([...]).state_dict()`` over its parameters in the order `names`
        (the order of ``module.parameters()``)."""
        probe = self.torch_class([torch.zeros(1)], **{h: float(v[k]) for h, v in self.hyper_values.items()})
        group = {**probe.state_dict()["param_groups"][0], "params": list(range(len(names)))}
        return {"state": {i: self._member_slots(k, name) for i, name in enumerate(names) if self.state[name]},
                "param_groups": [group]}

    def load_member_state_dict(self, k: int, state: dict, names: Sequence[str]) -> None:
        """Set member `k` from a torch optimiser's ``state_dict()`` (parameters in the order `names`); its
        hyperparameters are taken from the state's group."""
        group = state["param_groups"][0]
        for h in self.hyper_values:
            self.hyper_values[h][k] = float(group[h])
        for i, name in enumerate(names):
            slots = state["state"].get(i, state["state"].get(str(i)))
            if slots is not None:
                self._load_member_slots(k, name, slots)

    def _member_slots(self, k: int, name: str) -> dict:
        return {s: self.state[name][s][k].clone() for s in self.slots if s in self.state[name]}

    def _load_member_slots(self, k: int, name: str, slots: dict) -> None:
        p = self.params[name]
        for s in self.slots:
            if slots.get(s) is None:
                continue
            if s not in self.state[name]:
                self.state[name][s] = torch.zeros_like(p)
            self.state[name][s][k].copy_(slots[s])


class StackedSGD(_Stacked):
    """``torch.optim.SGD`` over the member axis: with weight decay λ, momentum μ and dampening τ,

        g ← g + λ p;   b ← g (first step), b ← μ b + (1 - τ) g;   g ← g + μ b (nesterov) or b;   p ← p - η g.

    Args:
        params: the ensemble's ``{name: (N, *shape)}`` tensors (updated in place).
        lr, momentum, weight_decay, dampening: one value, or one per member.
        nesterov: for every member.
    """

    torch_class = torch.optim.SGD
    hyper = ("lr", "momentum", "weight_decay", "dampening")
    slots = ("momentum_buffer",)

    def __init__(self, params: Tensors, lr: PerMember = 1e-3, momentum: PerMember = 0.0,
                 weight_decay: PerMember = 0.0, dampening: PerMember = 0.0, nesterov: bool = False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, dampening=dampening)
        if nesterov and bool(((self.hyper_values["momentum"] <= 0) | (self.hyper_values["dampening"] != 0)).any()):
            raise ConfigError("StackedSGD: nesterov needs momentum > 0 and dampening 0 for every member")
        self.nesterov = bool(nesterov)

    def _update(self, name, p, g, on):
        # fused in-place forms (addcmul_: one pass, no (N, ...) temporary), the same values as torch's SGD
        if on["weight_decay"]:
            g = torch.addcmul(g, self._h("weight_decay", p), p)
        if on["momentum"]:
            mu = self._h("momentum", p)
            buf = self.state[name].get("momentum_buffer")
            if buf is None:
                buf = self.state[name]["momentum_buffer"] = g.clone()
            else:
                buf.mul_(mu).addcmul_(1 - self._h("dampening", p), g)
            g = torch.addcmul(g, mu, buf) if self.nesterov else buf
        p.addcmul_(self._h("lr", p), g, value=-1.0)

    def member_state_dict(self, k, names):
        state = super().member_state_dict(k, names)
        state["param_groups"][0]["nesterov"] = self.nesterov
        return state


class StackedAdam(_Stacked):
    """``torch.optim.Adam`` over the member axis (β, ε for all members; lr and weight decay per member):

        g ← g + λ p;   m ← β₁ m + (1 - β₁) g;   v ← β₂ v + (1 - β₂) g²;
        p ← p - η / (1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε).
    """

    torch_class = torch.optim.Adam
    hyper = ("lr", "weight_decay")
    slots = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Tensors, lr: PerMember = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: PerMember = 0.0):
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or not eps >= 0:
            raise ConfigError(f"StackedAdam: betas must lie in [0, 1) and eps >= 0, got {betas}, {eps}")
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)

    def _update(self, name, p, g, on):
        b1, b2 = self.betas
        if on["weight_decay"]:
            g = torch.addcmul(g, self._h("weight_decay", p), p)
        slots = self.state[name]
        if not slots:
            slots["exp_avg"], slots["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        slots["exp_avg"].lerp_(g, 1 - b1)
        slots["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
        step_size = self._h("lr", p) / (1 - b1 ** self.steps)
        denom = (slots["exp_avg_sq"].sqrt() / math.sqrt(1 - b2 ** self.steps)).add_(self.eps)
        p.addcmul_(step_size, slots["exp_avg"] / denom, value=-1.0)

    def state_dict(self):
        return {**super().state_dict(), "betas": self.betas, "eps": self.eps}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.betas, self.eps = tuple(state["betas"]), float(state["eps"])

    def member_state_dict(self, k, names):
        state = super().member_state_dict(k, names)
        state["param_groups"][0].update(betas=self.betas, eps=self.eps)
        for i in state["state"]:
            state["state"][i]["step"] = torch.tensor(float(self.steps))
        return state

    def load_member_state_dict(self, k, state, names):
        super().load_member_state_dict(k, state, names)
        steps = {int(s["step"]) for s in state["state"].values() if "step" in s}
        if len(steps) > 1 or (steps and self.steps and steps != {self.steps}):
            raise ConfigError(f"StackedAdam: member {k} was saved at step {steps}, the ensemble is at {self.steps}; "
                              "members of one stacked Adam advance together")
        if steps:
            self.steps = steps.pop()
