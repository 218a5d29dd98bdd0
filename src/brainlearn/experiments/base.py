"""The experiment contract: a config, a pure run function, the claims it tests, and its figures."""

from __future__ import annotations

import dataclasses
import fnmatch
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


VERDICTS = ("PASS", "FAIL", "XFAIL", "XPASS")
KINDS = ("outcome", "limit")
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Revision:
    """An earlier form of a claim's criterion, kept when the project owner revises it.

    Attributes:
        date: when the revision was made (YYYY-MM-DD).
        comparator, threshold, aggregate: the criterion before the revision.
        measured: what that criterion measured (values, seeds), in words.
        reason: why it was revised.
    """

    date: str
    comparator: str
    threshold: float
    aggregate: str
    measured: str
    reason: str


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
        kind: "outcome" (a learning outcome: accuracies, losses, MSEs, fractions of replicates, learned
            alignments) or "limit" (an exactness or limit statement that must hold on every seed). It
            fixes how values over seeds combine (the owner's :data:`AGGREGATE_RULE`).
        aggregate: derived from `kind`: "median" for an outcome; for a limit "min" with >= and >, "max"
            with <= and <.
        reason: why the threshold has its value.
        gated: a gated claim that fails makes `brainlearn verify` exit non-zero; an ungated one is
            reported only (documented as exploratory).
        expected: "pass", or "fail" for a known non-reproduction: the paper's sentence does not hold at
            this scale with a faithful implementation, and `note` names the docs section with the analysis.
            Its verdict is XFAIL when it fails and XPASS (the docs are stale) when it passes.
        note: where the analysis of an expected failure is (a docs page and section).
        history: earlier criteria of this claim, oldest first (see :class:`Revision`).
    """

    id: str
    paper: str
    statement: str
    metric: str
    comparator: str
    threshold: float
    how: str = ""
    reason: str = ""
    gated: bool = True
    expected: str = "pass"
    note: str = ""
    history: tuple[Revision, ...] = ()
    kind: str = field(kw_only=True)
    aggregate: str = field(init=False)

    def __post_init__(self):
        if self.comparator not in COMPARATORS:
            raise ConfigError(f"claim {self.id}: comparator {self.comparator!r} not in {list(COMPARATORS)}")
        if self.kind not in KINDS:
            raise ConfigError(f"claim {self.id}: kind {self.kind!r} not in {list(KINDS)}")
        object.__setattr__(self, "aggregate", rule_aggregate(self.kind, self.comparator))
        if self.expected not in ("pass", "fail"):
            raise ConfigError(f"claim {self.id}: expected must be 'pass' or 'fail', got {self.expected!r}")
        if self.expected == "fail" and not self.note:
            raise ConfigError(f"claim {self.id}: an expected failure needs a note naming its analysis")

    def evaluate(self, values: Sequence[float]) -> dict[str, Any]:
        """Judge the claim on one value per seed; a missing or NaN value fails.

        Returns the claim's fields with the per-seed `values`, the aggregate `measured`, with three or
        more seeds a 95% bootstrap `interval` of the aggregate, `passed` (the comparison holds) and the
        `verdict`: PASS, FAIL, XFAIL (expected to fail and failed) or XPASS (expected to fail, passed).
        """
        return {
            "id": self.id, "paper": self.paper, "statement": self.statement, "metric": self.metric,
            "how": self.how, "comparator": self.comparator, "threshold": self.threshold,
            "aggregate": self.aggregate, "reason": self.reason, "gated": self.gated,
            "expected": self.expected, "note": self.note,
            "history": [dataclasses.asdict(r) for r in self.history],
            **judge_values(values, self.aggregate, self.comparator, self.threshold, self.expected),
        }


def judge_values(values: Sequence[float], aggregate: str, comparator: str, threshold: float,
                 expected: str = "pass") -> dict[str, Any]:
    """A criterion applied to one value per seed (a missing or NaN value fails): the per-seed `values`, their
    `aggregate` as `measured`, with three or more seeds its 95% bootstrap `interval`, `passed` and the
    `verdict`. :meth:`Claim.evaluate` and the report's aggregation of separate runs share it."""
    values = [float(v) for v in values]
    interval = None
    if not values or any(math.isnan(v) for v in values):
        measured, passed = float("nan"), False
    else:
        measured = AGGREGATES[aggregate](values)
        passed = bool(COMPARATORS[comparator](measured, threshold))
        if len(values) >= 3:
            interval = bootstrap_interval(values, aggregate)
    if expected == "fail":
        verdict = "XPASS" if passed else "XFAIL"
    else:
        verdict = "PASS" if passed else "FAIL"
    return {"measured": measured, "values": values, "seeds": len(values), "interval": interval, "passed": passed,
            "verdict": verdict}


#: The owner's rule for aggregating over seeds, applied to every experiment on 2026-12-01.
AGGREGATE_RULE = ("learning outcomes (accuracies, losses, MSEs, fractions of replicates, learned alignments) "
                  "aggregate by the median over seeds; exactness and limit claims hold on every seed (min/max)")


def rule_aggregate(kind: str, comparator: str) -> str:
    """The aggregate the owner's :data:`AGGREGATE_RULE` gives a claim of `kind` with `comparator`."""
    if kind == "outcome":
        return "median"
    return "min" if comparator in (">=", ">") else "max"


def revise(claims: Sequence[Claim], changes: dict[str, dict[str, Any]], *, date: str, reason: str,
           measured: dict[str, str] | None = None, was: dict[str, str] | None = None) -> list[Claim]:
    """Apply the owner's revisions to `claims`: for each ``id -> {field: new value}`` in `changes`, the claim
    gets the new fields and keeps its old criterion in `history` (with what it `measured`, if given). A claim
    whose aggregate then was not the one its kind gives today names it in `was`. Ids absent from `claims` are
    skipped: which claims an experiment makes can depend on its config."""
    out = []
    for c in claims:
        if c.id in changes:
            old = Revision(date, c.comparator, c.threshold, (was or {}).get(c.id, c.aggregate),
                           (measured or {}).get(c.id, ""), reason)
            c = dataclasses.replace(c, **changes[c.id], history=(*c.history, old))
        out.append(c)
    return out


def predates_aggregate_rule(claims: Sequence[Claim], was: dict[str, str],
                            measured: dict[str, str] | None = None) -> list[Claim]:
    """Claims written before the owner's :data:`AGGREGATE_RULE` (2026-12-01): each claim named in `was`
    aggregated its seeds by ``was[id]`` until then, and its `history` keeps that criterion (with what it
    `measured`, if given). Ids absent from `claims` are skipped."""
    return revise(claims, dict.fromkeys(was, {}), date="2026-12-01", reason=AGGREGATE_RULE, measured=measured,
                  was=was)


def bootstrap_interval(values: Sequence[float], aggregate: str, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of `aggregate` over `values` (deterministic: a fixed generator)."""
    v = np.asarray(values, dtype=float)
    draws = np.random.default_rng(0).integers(0, len(v), size=(BOOTSTRAP_RESAMPLES, len(v)))
    stats = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[aggregate](v[draws], axis=1)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def claim_ok(row: dict[str, Any], strict: bool = False) -> bool:
    """Whether an evaluated claim lets `verify` succeed: ungated claims always do; a gated one unless it is
    FAIL (or, with `strict`, XPASS)."""
    return not row["gated"] or row["verdict"] == "PASS" or row["verdict"] == "XFAIL" or (
        row["verdict"] == "XPASS" and not strict)


@dataclass
class Result:
    """What a run returns: scalar metrics (claims read these) and arrays (curves, matrices)."""

    metrics: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)

    def save(self, run_dir) -> None:
        """Write arrays.npz (the arrays, with their names, shapes and dtypes) and then result.json (the metrics
        and each array's shape and dtype); result.json, written last, marks the result complete."""
        specs = run_dir.save_arrays(self.arrays)
        run_dir.write_json("result.json", {"metrics": {k: float(v) for k, v in self.metrics.items()},
                                           "arrays": specs})

    @classmethod
    def load(cls, run_dir) -> Result:
        """The result of a finished run directory, arrays included (also from directories written before
        arrays moved to arrays.npz, whose result.json holds them as nested lists)."""
        data = run_dir.result()
        if data is None:
            raise ConfigError(f"{run_dir.path} has no result yet (state: {run_dir.status.get('state')})")
        return cls(metrics=dict(data["metrics"]), arrays=run_dir.load_arrays(data.get("arrays", {})))


@dataclass(frozen=True)
class Experiment:
    """A registered paper experiment.

    Attributes:
        name: registry name used on the command line.
        paper: arXiv id.
        summary: one line on what it tests.
        presets: named configs; must include "smoke" (a few seconds: the contract, resume and fault-injection
            tests run it), "quick", "full" and "paper" (the paper's own settings as far as the config expresses
            them; docs/paper-presets.md), and more for ablations.
        run: ``run(config, seed, ctx) -> Result``, a pure function of (config, seed); ``ctx`` is a
            :class:`~brainlearn.runtime.RunContext` for device, logging, progress and checkpoints.
        claims: ``claims(config) -> list[Claim]``; thresholds may depend on the config (dataset).
        plot: optional ``plot(result, config) -> {name: matplotlib Figure}``.
        cpu_only: the run computes on the CPU whatever device is asked for (numpy code, or models too
            small to gain from a GPU); the run directory then records "cpu".
        aliases: earlier names of the experiment; they keep working and say once that it was renamed.
        nan_metrics: metrics that are NaN by design when undefined (a threshold never reached), as names or
            fnmatch patterns. Any other final metric that is NaN or infinite ends the run as "diverged".
        seed_schemes: the seed schemes whose runs this experiment resumes exactly; an experiment whose draws
            changed with scheme 2 beyond the scheme itself (a stream that shared the weights' seed) lists
            only 2, and an old run of it is refused on resume rather than continued with other numbers.
        run_stacked: optional ``run_stacked(configs, seeds, ctxs) -> [Result]``: the runs of several
            (config, seed) pairs trained as one stacked ensemble (:mod:`brainlearn.ensemble`), one context
            and one result per member, each as ``run`` would give it alone (see docs/ensembles.md).
        stack_fields: the config fields (dotted keys) in which the members of one stacked run may differ;
            runs that differ in any other field are stacked separately.
        stack_from: the number of members from which a stacked run is faster than the runs one by one on a CPU
            core (measured); ``verify --seeds N`` stacks by default from there.
        work: optional ``work(config) -> float``, a quantity proportional to one run's compute (e.g. samples x
            parameters); ``verify --estimate`` scales the quick preset's recorded wall time by its ratio.
        gpu_speedup: how many times faster a GPU is assumed to run it than one CPU core: a guess from its batch
            and width, not measured (1 for sequential or small-batch work); ``verify --estimate`` prints it
            as assumed.
    """

    name: str
    paper: str
    summary: str
    presets: dict[str, Any]
    run: Callable[..., Result]
    claims: Callable[[Any], list[Claim]]
    plot: Callable[[Result, Any], dict[str, Any]] | None = None
    cpu_only: bool = False
    aliases: tuple[str, ...] = ()
    nan_metrics: tuple[str, ...] = ()
    seed_schemes: tuple[int, ...] = (1, 2)
    run_stacked: Callable[..., list[Result]] | None = None
    stack_fields: tuple[str, ...] = ()
    stack_from: int = 2
    work: Callable[[Any], float] | None = None
    gpu_speedup: float = 1.0

    def __post_init__(self):
        missing = {"smoke", "quick", "full", "paper"} - set(self.presets)
        if missing:
            raise ConfigError(f"experiment {self.name}: presets {sorted(missing)} are missing")

    def stack_key(self, config) -> str:
        """Configs with the same key may train in one stacked run: the config without its `stack_fields`."""
        data = dataclasses.asdict(config)
        for key in self.stack_fields:
            *path, last = key.split(".")
            node = data
            for part in path:
                node = node[part]
            node.pop(last)
        return repr(data)

    def device_for(self, device: torch.device) -> torch.device:
        """The device a run asked to use `device` computes on (the CPU for a CPU-only experiment)."""
        if self.cpu_only and device.type != "cpu":
            log.warning("%s runs on the CPU only; ignoring device %s", self.name, device)
            return torch.device("cpu")
        return device

    def may_be_nan(self, metric: str) -> bool:
        """Whether `metric` is declared to be NaN by design when undefined (see `nan_metrics`)."""
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.nan_metrics)

    @property
    def source(self) -> str:
        """The file that defines the experiment (its run function's module)."""
        import inspect

        return inspect.getfile(self.run)

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
