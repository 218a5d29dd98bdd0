"""The plausibility attributes every credit-assignment rule declares, feedforward and recurrent alike (the
credit-assignment league's table shows them beside each rule's measures)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plausibility:
    """What a rule asks of a brain, for the credit-assignment league's table.

    ``weight_transport``: what the feedback knows of the forward weights: "exact" (Wᵀ), "sign" (sign(W)),
    "learned" (B learns toward W by a local rule) or "none". ``backward_sweep``: errors travel layer by layer
    down the network (False: broadcast from the output); for a recurrent rule, back through time over the
    stored states of past steps (False: the rule is causal, online). ``phases``: the distinct phases per example
    (inference, then error propagation; a recurrent rule that sweeps back runs the sequence, then the sweep).
    ``local_update``: each weight's change depends only on its two ends' signals (a presynaptic term, or a
    synapse's own eligibility trace, times the postsynaptic unit's error). ``error_channel``: errors travel in
    a pathway of their own, apart from the forward activity.
    """

    weight_transport: str
    backward_sweep: bool
    phases: int
    local_update: bool
    error_channel: bool
