"""Seeded minibatching and evaluation helpers shared by the image experiments."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of a fresh random permutation of range(n), `batch_size` at a time (last may be short)."""
    perm = torch.randperm(n, generator=generator)
    yield from perm.split(batch_size)


@torch.no_grad()
def accuracy(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 2048) -> float:
    """Fraction of rows of `x` whose argmax prediction equals `y`, evaluated in chunks."""
    correct = sum(int((predict(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(batch_size),
                                                                             y.split(batch_size)))
    return correct / len(y)
