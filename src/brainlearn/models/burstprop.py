"""Burstprop: the two-phase burst-dependent rule of Payeur, Guerguiev, Zenke, Richards & Naud (2021),
"Burst-dependent synaptic plasticity can coordinate learning in hierarchical circuits", Nat. Neurosci.
2021, as the rate-model baseline of the BurstCCN paper.

The same ensembles as :mod:`brainlearn.models.burstccn` (events e, bursts b = p e, feedforward W,
burst feedback Y) but without the event-carrying cancellation Q. The apical input is the raw burst
feedback, so the burst probability is not at baseline without a teacher:

    p_l = σ(β u_l ⊙ (1 − e_l)),    u_l = Y_lᵀ b_{l+1},           (hidden)
    p_L = p_b [1 + s (t − e_L) ⊙ (1 − e_L)]  or p_b without t.    (output, p_b = 0.2)

Learning therefore needs two passes over the same input: a *free* pass (no teacher) gives p̄, a
*teaching* pass gives p, and

    ΔW_l = η/(p_b s) ⟨(p_l − p̄_l) ⊙ e_l  e_{l−1}ᵀ⟩.

Payeur's original subtracts a moving average p̄ of past burst probabilities; the BurstCCN authors'
baseline (and this one) uses the free pass on the same input instead. Linearising,
(p − p̄) e ≈ β σ'(z̄) e(1 − e) ⊙ Yᵀ (b_{l+1} − b̄_{l+1}) with z̄ = β ū (1 − e): a backprop-like recursion
whose per-unit gain β σ'(z̄) equals 1 only where the free apical drive z̄ is zero (β = 4), hence an
approximation of the gradient even with tied Y, unlike BurstCCN in its cancelling state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig, BurstState
from brainlearn.runtime.config import param, require


@dataclass
class TwoPhaseState(BurstState):
    """A teaching-pass state plus the free pass's burst probabilities `p_free` (same layout as `p`)."""

    p_free: list[torch.Tensor] | None = None


@dataclass(frozen=True)
class BurstpropConfig(BurstCCNConfig):
    """BurstCCN's layers and feedback with Payeur et al.'s apical gain β and output baseline p_b = 0.2.
    Burstprop has no Q pathway: `q_mode` must stay "tied" (its `q_*` fields are unused)."""

    p_baseline: float = param(0.2, gt=0, le=0.5, help="output baseline burst probability p_b (Payeur et al.)")
    beta: float = param(4.0, gt=0, help="apical gain β (4 gives slope 1 at zero apical drive)")

    def __post_init__(self):
        super().__post_init__()
        require(self.q_mode == "tied", "Burstprop has no Q pathway; q_mode must be 'tied' (unused)")


class Burstprop(BurstCCN):
    """Two-phase Burstprop on BurstCCN's layers: ``Burstprop(BurstpropConfig(...))`` or
    ``burst_mlp(sizes, network=Burstprop, ...)``."""

    config_class: ClassVar[type[BurstpropConfig]] = BurstpropConfig

    def __init__(self, config: BurstpropConfig, *, generator: torch.Generator | None = None):
        super().__init__(config, generator=generator)
        self.beta = float(config.beta)

    def hidden_burst_probability(self, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """p_l = σ(β u_l (1 − e_l))."""
        return torch.sigmoid(self.beta * u * (1 - e))

    def apical_potential(self, i: int, p_above: torch.Tensor, e_above: torch.Tensor,
                         shape: torch.Size) -> torch.Tensor:
        """u_i = Y_iᵀ b_{i+1}: burst feedback only, nothing cancels it."""
        return self.layers[i + 1].adjoint(p_above * e_above, self.feedback_weights()[i], shape)

    @torch.no_grad()
    def burst_pass(self, x: torch.Tensor, target: torch.Tensor | None = None) -> TwoPhaseState:
        """Free pass (no teacher), then teaching pass, on the same input."""
        free = super().burst_pass(x, None)
        teach = super().burst_pass(x, target) if target is not None else free
        return TwoPhaseState(teach.e, teach.p, teach.u, p_free=free.p)

    def burst_deviation(self, state: TwoPhaseState) -> list[torch.Tensor]:
        """(p_l − p̄_l) e_l: teaching minus free burst rate."""
        return [(p - pf) * e for p, pf, e in zip(state.p, state.p_free, state.e[1:])]

    def settle(self, *args, **kwargs):
        raise NotImplementedError("Burstprop is provided in its discrete two-pass form only")
