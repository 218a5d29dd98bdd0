"""The registry of paper experiments.

Each paper has a package here (``experiments/<paper>/``) with one module per experiment, which registers
it with :func:`register` at import time; :func:`get` and :func:`names` import them on first use. The
machinery beside them (``base``, ``claims_table``, ``figures``, ``html_report``, ``runner``, ``sweep``,
``sweep_report``, ``verify``) defines no experiment.

Experiments outside brainlearn: a package can declare modules in the ``brainlearn.experiments`` entry-point
group, or a user can name modules in ``$BRAINLEARN_PLUGINS`` (comma-separated); they are imported with the
built-in ones (also in sweep worker processes, which inherit the environment) and call :func:`register`.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from importlib.metadata import entry_points

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import Claim, Experiment, Result

__all__ = ["Claim", "Experiment", "Result", "get", "names", "register"]

log = logging.getLogger("brainlearn")

_REGISTRY: dict[str, Experiment] = {}
_ALIASES: dict[str, str] = {}
_warned: set[str] = set()
_FRAMEWORK = {"base", "claims_table", "figures", "html_report", "report_curves", "report_data", "runner", "sweep",
              "sweep_pools", "sweep_report", "verify"}
_loaded = False


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry (names and aliases must be unique)."""
    for name in (experiment.name, *experiment.aliases):
        known = _REGISTRY.get(_ALIASES.get(name, name))
        if known is not None and known is not experiment:
            raise ValueError(f"experiment {name!r} is registered twice")
    _REGISTRY[experiment.name] = experiment
    _ALIASES.update(dict.fromkeys(experiment.aliases, experiment.name))
    return experiment


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
            leaf = module.name.rsplit(".", 1)[-1]
            if module.name.count(".") == 2 and leaf in _FRAMEWORK or leaf.startswith("_"):
                continue
            importlib.import_module(module.name)
        plugins = [ep.value for ep in entry_points(group="brainlearn.experiments")]
        plugins += [m.strip() for m in os.environ.get("BRAINLEARN_PLUGINS", "").split(",") if m.strip()]
        for name in plugins:
            try:
                importlib.import_module(name)
            except ImportError as e:
                raise ConfigError(f"cannot import experiment plugin {name!r}: {e}") from None


def names() -> list[str]:
    """Names of all registered experiments, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> Experiment:
    """The experiment called `name` (or an earlier name of it, which says once that it was renamed); an
    unknown name raises ConfigError listing the valid ones."""
    _load_all()
    if name in _ALIASES:
        if name not in _warned:
            _warned.add(name)
            log.warning("experiment %r was renamed %r; the old name still works", name, _ALIASES[name])
        name = _ALIASES[name]
    if name not in _REGISTRY:
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
