"""Replay memories: FIFO ring and reservoir buffers of tensor dicts, and prioritised experience replay.

    >>> from brainlearn.replay import PrioritizedReplayBuffer, ReservoirBuffer, RingBuffer, linear_beta

Every buffer stores dicts of tensors on the device given at construction and keeps one sample contract,
``sample(batch_size, generator=None) -> (batch, info)`` with ``info["index"]`` (and ``info["weight"]`` for the
prioritised buffer); each draws from its own ``torch.Generator`` seeded at construction (``seed=``) unless a
``generator`` is passed, never from the global RNG, and round-trips through ``state_dict`` /
``load_state_dict`` (readable with ``torch.load(..., weights_only=True)``).
"""

from brainlearn.replay.buffers import ReservoirBuffer, RingBuffer, Transitions
from brainlearn.replay.prioritized import PrioritizedReplayBuffer, SumMinTree, linear_beta

__all__ = ["PrioritizedReplayBuffer", "ReservoirBuffer", "RingBuffer", "SumMinTree", "Transitions", "linear_beta"]
