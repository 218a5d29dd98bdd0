"""The experiment contract: a config, a pure run function, the claims it tests, and its figures."""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from brainlearn.errors import ConfigError

log = logging.getLogger("brainlearn")

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}
AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "median": lambda v: float(np.median(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
}


@dataclass(frozen=True)
class Claim:
    """A sentence from a paper turned into a check on one scalar metric of a run.

    Attributes:
        id: short identifier, unique within the experiment (e.g. "B3-tied").
        paper: arXiv id of the paper the claim comes from.
        statement: the sentence being tested, in words.
        metric: key of ``Result.metrics`` that measures it.
        comparator: one of >=, >, <=, <: the claim holds when ``measured <comparator> threshold``.
        threshold: calibrated once on this implementation, then kept (see `reason`).
        how: how the metric is measured.
        aggregate: how values over seeds combine: mean, median, min or max ("min" with ">=" means
            "on every seed").
        reason: why the threshold has its value.
        gated: a gated claim that fails makes `brainlearn verify` exit non-zero; an ungated one is
            reported only (documented as exploratory).
    """

    id: str
    paper: str
    statement: str
    metric: str
    comparator: str
    threshold: float
    how: str = ""
    aggregate: str = "mean"
    reason: str = ""
    gated: bool = True

    def __post_init__(self):
        if self.comparator not in COMPARATORS:
            raise ConfigError(f"claim {self.id}: comparator {self.comparator!r} not in {list(COMPARATORS)}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"claim {self.id}: aggregate {self.aggregate!r} not in {list(AGGREGATES)}")

    def evaluate(self, values: Sequence[float]) -> dict[str, Any]:
        """Judge the claim on one value per seed; a missing or NaN value fails."""
        values = [float(v) for v in values]
        if not values or any(math.isnan(v) for v in values):
            measured, passed = float("nan"), False
        else:
            measured = AGGREGATES[self.aggregate](values)
            passed = bool(COMPARATORS[self.comparator](measured, self.threshold))
        return {
            "id": self.id, "paper": self.paper, "statement": self.statement, "metric": self.metric,
            "how": self.how, "comparator": self.comparator, "threshold": self.threshold,
            "aggregate": self.aggregate, "reason": self.reason, "gated": self.gated,
            "measured": measured, "values": values, "seeds": len(values), "passed": passed,
        }


@dataclass
class Result:
    """What a run returns: scalar metrics (claims read these) and arrays (curves, matrices)."""

    metrics: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": {k: float(v) for k, v in self.metrics.items()},
                "arrays": {k: np.asarray(v).tolist() for k, v in self.arrays.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(metrics=dict(data.get("metrics", {})),
                   arrays={k: np.asarray(v) for k, v in data.get("arrays", {}).items()})


@dataclass(frozen=True)
class Experiment:
    """A registered paper experiment.

    Attributes:
        name: registry name used on the command line.
        paper: arXiv id.
        summary: one line on what it tests.
        presets: named configs; must include "quick" and "full" (more for ablations).
        run: ``run(config, seed, ctx) -> Result``, a pure function of (config, seed); ``ctx`` is a
            :class:`~brainlearn.runtime.RunContext` for device, logging, progress and checkpoints.
        claims: ``claims(config) -> list[Claim]``; thresholds may depend on the config (dataset).
        plot: optional ``plot(result, config) -> {name: matplotlib Figure}``.
        cpu_only: the run computes on the CPU whatever device is asked for (numpy code, or models too
            small to gain from a GPU); the run directory then records "cpu".
    """

    name: str
    paper: str
    summary: str
    presets: dict[str, Any]
    run: Callable[..., Result]
    claims: Callable[[Any], list[Claim]]
    plot: Callable[[Result, Any], dict[str, Any]] | None = None
    cpu_only: bool = False

    def __post_init__(self):
        missing = {"quick", "full"} - set(self.presets)
        if missing:
            raise ConfigError(f"experiment {self.name}: presets {sorted(missing)} are missing")

    def device_for(self, device: torch.device) -> torch.device:
        """The device a run asked to use `device` computes on (the CPU for a CPU-only experiment)."""
        if self.cpu_only and device.type != "cpu":
            log.warning("%s runs on the CPU only; ignoring device %s", self.name, device)
            return torch.device("cpu")
        return device

    @property
    def config_cls(self) -> type:
        return type(self.presets["quick"])

    def judge(self, config, metrics_per_seed: Sequence[dict[str, float]]) -> list[dict[str, Any]]:
        """Evaluate every claim of `config` on the metrics of one or more seeds (a missing metric fails)."""
        return [c.evaluate([m.get(c.metric, float("nan")) for m in metrics_per_seed]) for c in self.claims(config)]

    def preset(self, name: str):
        if name not in self.presets:
            raise ConfigError(f"experiment {self.name} has no preset {name!r}; "
                              f"expected one of {', '.join(self.presets)}")
        return self.presets[name]
