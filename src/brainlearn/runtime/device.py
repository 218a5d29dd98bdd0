"""Device selection with clear errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from brainlearn.errors import ConfigError

M = TypeVar("M", bound=torch.nn.Module)

#: Called with every module :func:`place` moves (tests use this to check the device contract).
placement_observers: list[Callable[[torch.nn.Module, torch.device], None]] = []


def place(module: M, device: torch.device | str) -> M:
    """Move `module` to `device`; every model an experiment builds goes through here."""
    device = torch.device(device)
    for observe in placement_observers:
        observe(module, device)
    return module.to(device)


def resolve_device(name: str | torch.device | None = "cpu") -> torch.device:
    """Turn 'cpu', 'cuda', 'cuda:1', 'mps' or 'auto' into a torch.device that exists on this machine."""
    if isinstance(name, torch.device):
        return name
    name = (name or "cpu").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or name.endswith(":"):
        raise ConfigError(f"device {name!r} is not valid; expected cpu, cuda, cuda:N, mps or auto")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but torch reports no CUDA GPU "
                          f"(torch {torch.__version__}; see README for the CUDA install)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' requested but it is not available on this machine")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)
