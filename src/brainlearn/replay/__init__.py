"""Replay memories: FIFO ring and reservoir buffers of tensor dicts, and prioritised experience replay.

    >>> from brainlearn.replay import PrioritizedReplayBuffer, ReservoirBuffer, RingBuffer, linear_beta

Every buffer stores dicts of tensors on the device given at construction, samples only from an explicit
``torch.Generator``, and round-trips through ``state_dict`` / ``load_state_dict`` (readable with
``torch.load(..., weights_only=True)``).
"""

from brainlearn.replay.buffers import ReservoirBuffer, RingBuffer
from brainlearn.replay.prioritized import PrioritizedReplayBuffer, SumMinTree, linear_beta

__all__ = ["PrioritizedReplayBuffer", "ReservoirBuffer", "RingBuffer", "SumMinTree", "linear_beta"]
