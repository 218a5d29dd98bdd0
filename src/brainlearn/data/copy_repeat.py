"""Copy-repeat (Graves et al. 2014, NTM; used by Jaderberg et al. 2017 and BP(λ)): procedural, with a curriculum.

A sequence shows a random binary pattern of N steps (`bits` bits each) and a repeat count R; the network
must then write the pattern out R times and raise an end flag. Layout, length L = (R + 1) N + 3:

    t = 0               input start flag (channel `bits`)
    t = 1 .. N          input the pattern
    t = N + 1           input R / 10 on the repeat channel (`bits` + 1)
    t = N + 2 .. L - 2  target: the pattern, repeated R times (inputs are zero)
    t = L - 1           target: the end flag (output channel `bits`)

Inputs have `bits` + 2 channels, targets `bits` + 1; the loss is read where ``mask`` is True (the R N + 1
output steps). Curriculum: start at N = R = 1; when the batch's loss falls below
`threshold` bits per sequence, R grows until R = N, then N grows (R kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from brainlearn.errors import ConfigError


def copy_repeat_batch(n: int, r: int, batch: int, generator: torch.Generator,
                      bits: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch at level (N = n, R = r).

    Returns:
        x (batch, L, bits + 2), targets (batch, L, bits + 1) in {0, 1}, mask (L,) bool.
    """
    if n < 1 or r < 1 or batch < 1 or bits < 1:
        raise ConfigError(f"copy_repeat_batch: need n, r, batch, bits >= 1, got {n}, {r}, {batch}, {bits}")
    length = (r + 1) * n + 3
    pattern = (torch.rand(batch, n, bits, generator=generator) < 0.5).float()
    x = torch.zeros(batch, length, bits + 2)
    x[:, 0, bits] = 1.0
    x[:, 1:n + 1, :bits] = pattern
    x[:, n + 1, bits + 1] = r / 10
    targets = torch.zeros(batch, length, bits + 1)
    targets[:, n + 2:length - 1, :bits] = pattern.repeat(1, r, 1)
    targets[:, length - 1, bits] = 1.0
    mask = torch.zeros(length, dtype=torch.bool)
    mask[n + 2:] = True
    return x, targets, mask


@dataclass
class CopyRepeatCurriculum:
    """The level (N, R) and its stepping rule; `level` counts the steps taken."""

    n: int = 1
    r: int = 1
    level: int = 0
    threshold: float = 0.15  # bits per sequence

    def update(self, loss_bits: float) -> bool:
        """Step up when `loss_bits` (mean loss per sequence, in bits) < threshold. Returns whether it did."""
        if not loss_bits < self.threshold:
            return False
        if self.r < self.n:
            self.r += 1
        else:
            self.n += 1
        self.level += 1
        return True

    @property
    def length(self) -> int:
        """Sequence length at the current level."""
        return (self.r + 1) * self.n + 3

    def state_dict(self) -> dict:
        return {"n": self.n, "r": self.r, "level": self.level, "threshold": self.threshold}
