"""Gradient alignment: the angle between a learning rule's update and the backprop gradient."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from brainlearn.errors import ShapeError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def angle(a: torch.Tensor, b: torch.Tensor) -> float:
    """Angle in degrees between two tensors of equal shape, flattened, computed in float64.

    Returns nan if either is all zeros (no direction).
    """
    if a.shape != b.shape:
        raise ShapeError(f"angle: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    a64, b64 = a.detach().double().flatten(), b.detach().double().flatten()
    na, nb = a64.norm(), b64.norm()
    if na == 0 or nb == 0:
        return float("nan")
    cos = (a64 @ b64 / (na * nb)).clamp(-1.0, 1.0)
    return math.degrees(math.acos(float(cos)))


def angles(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """The :func:`angle` of each member's pair: a, b (N, ...) -> N angles in degrees."""
    a64, b64 = a.detach().double().flatten(1), b.detach().double().flatten(1)
    na, nb = a64.norm(dim=1), b64.norm(dim=1)
    cos = ((a64 * b64).sum(1) / (na * nb)).clamp(-1.0, 1.0)
    return [math.degrees(math.acos(c)) if x > 0 and y > 0 else float("nan")
            for c, x, y in zip(cos.tolist(), na.tolist(), nb.tolist())]


def layer_angles(updates: Sequence[torch.Tensor], references: Sequence[torch.Tensor]) -> list[float]:
    """Per-layer angles (degrees) between matching update and reference tensors."""
    if len(updates) != len(references):
        raise ShapeError(f"layer_angles: {len(updates)} updates vs {len(references)} references")
    return [angle(u, r) for u, r in zip(updates, references)]


def gradients(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of ``loss_fn()`` with respect to `params`, without touching ``.grad``."""
    return list(torch.autograd.grad(loss_fn(), list(params)))


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between matching rows of `a` and `b`, shapes (..., n) -> (...), computed in float64.

    A row of zeros has cosine 0 with anything.
    """
    if a.shape != b.shape:
        raise ShapeError(f"cosine: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1, eps=1e-30)


def tail_mean(values: ArrayLike, fraction: float = 0.1, *, skip_nan: bool = False) -> float:
    """Mean over the last `fraction` of the rows of `values` (at least one row), all columns together: the
    end-of-training value of a noisy curve, e.g. an angle measured every few steps (rows: measurements;
    columns, if any: layers). `skip_nan` ignores undefined entries (a zero update has no direction)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not 0 < fraction <= 1:
        raise ShapeError(f"tail_mean: need a non-empty curve and 0 < fraction <= 1, got {values.shape}, {fraction}")
    tail = values[-max(1, int(len(values) * fraction + 1e-9)):]
    return float(np.nanmean(tail) if skip_nan else tail.mean())
