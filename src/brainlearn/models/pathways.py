"""Mixture-of-Pathways (Cook, Akarca, Costa, Achterberg 2025, arXiv:2506.02813).

A stack of heterogeneous mixture-of-experts blocks. Each block holds a *skip* expert (size 0, E(h) = h,
free) and GRU experts of different sizes; a GRU router reads the block input and mixes the experts with
dense softmax weights w_{t,j}:

    h <- LayerNorm(h + sum_j g_{t,j} E_j(h)_t),     g = w (or w renormalised after expert dropout).

Three inductive biases make *pathways* form (each switchable; the baseline has none):

1. routing cost, the learned pathway complexity of a token, ``c_t = sum_layers sum_j w_{t,j} s_j^k``
   (skip costs 0), averaged per task: ``LPC_i = mean_{t: task_t = i} c_t``;
2. performance scaling: the cost of task i is ``alpha LPC_i / (L_resp,i + eps)``, weak while the task is
   unsolved and strong once it is solved (the denominator is not detached by default, as the reference);
3. randomised expert dropout in training: expert j is dropped with ``p_j = beta (1 - w_j / gamma)`` when
   ``w_j < gamma`` (else 0), independently per (sample, step, expert); the gates of the kept experts are
   renormalised; the cost uses the pre-dropout weights.

Loss (paper Eq. 2): ``L = L_fix + sum_{i in batch} [L_resp,i + alpha LPC_i / (L_resp,i + eps)]`` with
L_fix the MSE between the 17 logits and e_0 on fixation steps and L_resp,i the cross-entropy on task i's
decision steps. All GRUs are batch-first and recur over time within each sequence; ``layout="reference"``
computes the same model the way the reference code does (router recurring over the batch axis, experts over
one flattened B*T stream), for the benchmark only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.data.cognitive import N_CLASSES, N_SENSORY  # 33 sensory inputs (the task one-hot follows), 17 classes
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.runtime.config import Config, param


def parse_experts(spec) -> tuple[tuple[int, ...], ...]:
    """Expert sizes per block from "0,16,32;0,16,32" / ["0,16,32", ...] / ((0, 16, 32), ...)."""
    if isinstance(spec, str):
        spec = [s for s in spec.replace(" ", "").split(";") if s]
    layers = []
    for layer in spec:
        try:
            sizes = tuple(int(s) for s in (layer.split(",") if isinstance(layer, str) else layer) if s != "")
        except (TypeError, ValueError):
            raise ConfigError(f"experts: expected comma-separated integer sizes per block, blocks separated by "
                              f"';' (e.g. 0,16,32;0,16,32), got {layer!r}") from None
        if len(sizes) < 1 or min(sizes) < 0:
            raise ConfigError(f"each block needs at least one expert size >= 0 (0 = skip), got {layer!r}")
        layers.append(sizes)
    if not layers:
        raise ConfigError(f"experts: expected at least one block, got {spec!r}")
    return tuple(layers)


# ----------------------------------------------------------------------------- the three biases, as functions
def dropout_probability(weights: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """Paper Eq. 3: ``p = beta (1 - w / gamma)`` for ``w < gamma``, else 0 (same shape as `weights`)."""
    return torch.where(weights < gamma, beta * (1 - weights / gamma), torch.zeros_like(weights))


def drop_experts(weights: torch.Tensor, beta: float, gamma: float,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Randomised expert dropout: (gates, keep) for router weights (..., E).

    Each expert is kept with probability ``1 - p_j``; the gates are the weights of the kept experts
    renormalised to sum to 1 (a softmax over the surviving logits). If every expert of a token is dropped
    (possible only when gamma * E > 1) the token keeps its undropped weights.
    """
    u = torch.rand(weights.shape, generator=generator, device=weights.device, dtype=weights.dtype)
    keep = u >= dropout_probability(weights, beta, gamma)
    kept = weights * keep
    total = kept.sum(-1, keepdim=True)
    none_left = total <= 0
    gates = torch.where(none_left, weights, kept / total.clamp_min(torch.finfo(weights.dtype).tiny))
    return gates, keep | none_left


def expert_costs(sizes, exponent: float = 2.0) -> torch.Tensor:
    """(E,) cost of each expert, ``s^k``; the skip expert (s = 0) costs 0."""
    return torch.tensor([float(s) ** exponent if s > 0 else 0.0 for s in sizes])


def per_task_mean(values: torch.Tensor, task: torch.Tensor, mask: torch.Tensor, n_tasks: int) -> torch.Tensor:
    """(K,) mean of `values` (B, T) over the steps where `mask` holds, per task id; NaN for absent tasks."""
    if values.shape != task.shape or mask.shape != task.shape:
        raise ShapeError(f"values, task and mask must share a (B, T) shape, got {tuple(values.shape)}, "
                         f"{tuple(task.shape)}, {tuple(mask.shape)}")
    m = mask.to(values.dtype).flatten()
    idx = task.flatten()
    total = torch.zeros(n_tasks, dtype=values.dtype, device=values.device).index_add(0, idx, values.flatten() * m)
    count = torch.zeros(n_tasks, dtype=values.dtype, device=values.device).index_add(0, idx, m)
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


def pathway_loss(logits: torch.Tensor, targets: torch.Tensor, task: torch.Tensor, fixation: torch.Tensor,
                 response: torch.Tensor, cost: torch.Tensor, n_tasks: int, alpha: float = 1e-5,
                 eps: float = 1e-2, scaling: bool = True, detach_denominator: bool = False,
                 fixation_loss: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Paper Eq. 2 on a (B, T) window.

    logits (B, T, 17); targets, task (B, T) int; fixation, response (B, T) bool masks; cost (B, T)
    per-step routing cost (summed over layers). Returns the total loss and its parts: ``fixation``
    (scalar), ``response`` (K,) per-task CE, ``lpc`` (K,) per-task cost, ``cost`` (K,) the cost terms
    (NaN for tasks absent from the window).
    """
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    resp = per_task_mean(ce, task, response, n_tasks)
    lpc = per_task_mean(cost, task, torch.ones_like(response), n_tasks)
    present = ~torch.isnan(resp) & ~torch.isnan(lpc)
    r, c = resp[present], lpc[present]  # select first: a NaN denominator would poison the gradient
    if scaling:
        c_term = alpha * c / ((r.detach() if detach_denominator else r) + eps)
    else:
        c_term = alpha * c
    total = (r + c_term).sum()
    terms = torch.full_like(resp, float("nan")).masked_scatter(present, c_term)
    fix = logits.new_zeros(())
    if fixation_loss and bool(fixation.any()):
        fix = (logits[fixation] - F.one_hot(torch.zeros_like(targets[fixation]), logits.shape[-1])).pow(2).mean()
        total = total + fix
    return total, {"fixation": fix, "response": resp, "lpc": lpc, "cost": terms}


# ----------------------------------------------------------------------------- optimiser
def make_adamw(params, lr: float, schedule_free: bool = True) -> torch.optim.Optimizer:
    """Schedule-free AdamW (the reference's optimiser, package ``schedulefree``), or torch's AdamW with
    ``schedule_free=False``."""
    if not schedule_free:
        return torch.optim.AdamW(params, lr=lr)
    try:
        import schedulefree
    except ImportError as e:
        raise ConfigError("the pathways experiment trains with schedule-free AdamW: pip install "
                          "'brainlearn[pathways]' (or set optimizer=adamw)") from e
    return schedulefree.AdamWScheduleFree(params, lr=lr)


def set_optimizer_mode(optimizer: torch.optim.Optimizer, train: bool) -> None:
    """Schedule-free optimisers hold two parameter sequences; switch to the one for training or evaluation
    (a no-op for other optimisers)."""
    if hasattr(optimizer, "train"):
        optimizer.train() if train else optimizer.eval()


# ----------------------------------------------------------------------------- modules
class GRUExpert(nn.Module):
    """GRU(d -> s), BatchNorm over the s features, ReLU, Linear(s -> d)."""

    def __init__(self, d: int, size: int):
        super().__init__()
        self.gru = nn.GRU(d, size, batch_first=True)
        self.norm = nn.BatchNorm1d(size)
        self.out = nn.Linear(size, d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.gru(h)[0]
        z = self.norm(z.flatten(0, -2)).view_as(z)
        return self.out(torch.relu(z))


class Block(nn.Module):
    """One heterogeneous MoE layer: GRU router (dense softmax) over skip + GRU experts, residual, LayerNorm."""

    def __init__(self, d: int, sizes: tuple[int, ...], router_dim: int):
        super().__init__()
        self.sizes = tuple(sizes)
        self.experts = nn.ModuleList([nn.Identity() if s == 0 else GRUExpert(d, s) for s in sizes])
        self.router = nn.GRU(d, router_dim, batch_first=True)
        self.router_out = nn.Linear(router_dim, len(sizes))
        self.norm = nn.LayerNorm(d)

    def route(self, h: torch.Tensor, layout: str = "batch_first") -> torch.Tensor:
        """(B, T, E) softmax router weights."""
        if layout == "reference":  # the reference's GRU is not batch-first: it recurs over the batch axis
            z = self.router(h.transpose(0, 1))[0].transpose(0, 1)
        else:
            z = self.router(h)[0]
        return torch.softmax(self.router_out(torch.relu(z)), -1)

    def forward(self, h: torch.Tensor, gates: torch.Tensor, layout: str = "batch_first") -> torch.Tensor:
        b, t, d = h.shape
        mixed = torch.zeros_like(h)
        for j, expert in enumerate(self.experts):
            if layout == "reference" and self.sizes[j] > 0:  # one unbatched stream of B*T steps
                out = expert(h.reshape(1, b * t, d)).view(b, t, d)
            else:
                out = expert(h)
            mixed = mixed + gates[..., j : j + 1] * out
        return self.norm(h + mixed)


@dataclass
class PathwayOutput:
    """logits (B, T, 17); weights: per block the (B, T, E) router weights before dropout; gates: the
    weights actually used; cost (B, T): routing cost per step summed over blocks (from the pre-dropout weights)."""

    logits: torch.Tensor
    weights: list[torch.Tensor]
    gates: list[torch.Tensor]
    cost: torch.Tensor


@dataclass(frozen=True)
class MixtureOfPathwaysConfig(Config):
    """The MoP model's settings (the baseline is the same model with ``expert_dropout=False``, trained without
    the routing cost)."""

    n_tasks: int = param(8, ge=1, help="K, the length of the task one-hot after the 33 sensory inputs")
    experts: str = param("0,16,32;0,16,32;0,16,32", help="expert sizes per block, blocks separated by ';' "
                                                         "(0 = the skip expert)")
    n_hidden: int = param(64, ge=1, help="d, the width of the stream between blocks")
    n_out: int = param(N_CLASSES, ge=1, help="output classes (17 for Mod-Cog)")
    router_dim: int = param(64, ge=1, help="router GRU width")
    task_dim: int = param(16, ge=1, help="task embedding width")
    task_embedding: bool = param(True, help="embed the task id; false feeds the raw 33 + K inputs")
    cost_exponent: float = param(2.0, help="k in the expert cost s^k")
    expert_dropout: bool = param(True, help="randomised expert dropout in training mode")
    dropout_max_prob: float = param(0.8, ge=0, le=1, help="beta, the largest dropout probability")
    dropout_threshold: float = param(0.1, gt=0, le=1, help="gamma: experts with weight below it may be dropped")

    def __post_init__(self):
        super().__post_init__()
        parse_experts(self.experts)


class MixtureOfPathways(nn.Module):
    """The MoP model: task embedding -> Linear(33 + task_dim -> d) -> L heterogeneous MoE blocks -> Linear(d -> 17),
    d = ``config.n_hidden``; the settings are those of :class:`MixtureOfPathwaysConfig`.

    ``forward(inputs (B, T, 33 + K), task=None)`` -> :class:`PathwayOutput`; the task ids (B, T) default to
    the argmax of the one-hot. In eval mode, ``prune_below`` removes experts whose weight is below it
    (and renormalises) and ``lesion_largest`` removes each block's largest expert: the analyses' tests.
    Its weights come from torch.nn's initialisers (the global RNG: build it inside ``runtime.isolated_rng``).
    """

    def __init__(self, config: MixtureOfPathwaysConfig = MixtureOfPathwaysConfig()):
        super().__init__()
        self.config = config
        n_tasks, d, task_dim = config.n_tasks, config.n_hidden, config.task_dim
        self.experts = parse_experts(config.experts)
        self.n_tasks, self.n_inputs = n_tasks, N_SENSORY + n_tasks
        self.expert_dropout, self.beta = config.expert_dropout, config.dropout_max_prob
        self.gamma = config.dropout_threshold
        self.task_embedding = nn.Embedding(n_tasks, task_dim) if config.task_embedding else None
        self.inp = nn.Linear(N_SENSORY + (task_dim if config.task_embedding else n_tasks), d)
        self.blocks = nn.ModuleList([Block(d, sizes, config.router_dim) for sizes in self.experts])
        self.readout = nn.Linear(d, config.n_out)
        for i, sizes in enumerate(self.experts):
            self.register_buffer(f"cost_{i}", expert_costs(sizes, config.cost_exponent))
        self.layout = "batch_first"

    def costs(self, i: int) -> torch.Tensor:
        return getattr(self, f"cost_{i}")

    def forward(self, inputs: torch.Tensor, task: torch.Tensor | None = None, generator: torch.Generator | None = None,
                prune_below: float | None = None, lesion_largest: bool = False) -> PathwayOutput:
        if inputs.ndim != 3 or inputs.shape[-1] != self.n_inputs:
            raise ShapeError(f"inputs: expected (B, T, {self.n_inputs}), got {tuple(inputs.shape)}")
        if task is None:
            task = inputs[..., N_SENSORY:].argmax(-1)
        if self.task_embedding is not None:
            x = torch.cat([inputs[..., :N_SENSORY], self.task_embedding(task)], -1)
        else:
            x = inputs
        h = self.inp(x)
        weights, gates, cost = [], [], h.new_zeros(h.shape[:2])
        for i, block in enumerate(self.blocks):
            w = block.route(h, self.layout)
            g = w
            if self.training and self.expert_dropout:
                g = drop_experts(w, self.beta, self.gamma, generator)[0]
            elif prune_below is not None or lesion_largest:
                keep = torch.ones_like(w, dtype=torch.bool)
                if prune_below is not None:
                    keep &= w >= prune_below
                if lesion_largest:
                    keep[..., max(range(len(block.sizes)), key=block.sizes.__getitem__)] = False
                kept = w * keep
                total = kept.sum(-1, keepdim=True)
                g = torch.where(total > 0, kept / total.clamp_min(1e-30), torch.zeros_like(w))
            h = block(h, g, self.layout)
            cost = cost + (w * self.costs(i)).sum(-1)
            weights.append(w)
            gates.append(g)
        return PathwayOutput(self.readout(h), weights, gates, cost)
