"""The registry of paper experiments.

Every module in this package other than ``base`` and ``runner`` defines one or more experiments
and registers them with :func:`register` at import time; :func:`get` and :func:`names` import them
on first use.
"""

from __future__ import annotations

import importlib
import pkgutil

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import Claim, Experiment, Result

__all__ = ["Claim", "Experiment", "Result", "get", "names", "register"]

_REGISTRY: dict[str, Experiment] = {}
_FRAMEWORK = {"base", "runner"}
_loaded = False


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry (names must be unique)."""
    if experiment.name in _REGISTRY and _REGISTRY[experiment.name] is not experiment:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    _REGISTRY[experiment.name] = experiment
    return experiment


def _load_all() -> None:
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if module.name not in _FRAMEWORK and not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True


def names() -> list[str]:
    """Names of all registered experiments, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> Experiment:
    """The experiment called `name`; an unknown name raises ConfigError listing the valid ones."""
    _load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
