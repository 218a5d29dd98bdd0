"""What `brainlearn report` reads under a runs folder, and how it groups it.

- a verify directory's ``claims.json`` (a list of sections: experiment, paper, preset, claims, figures, runs)
  is one judged set of claims over its seeds;
- separate runs (a run directory's ``claims.json`` next to ``config.json``) of one experiment, preset,
  config and claims criteria are one set, one run per seed (the newest), judged over the seeds as `verify`
  judges them (:func:`brainlearn.experiments.base.judge_values`);
- a sweep (``sweep.json``) is read by :func:`brainlearn.experiments.sweep_report.aggregate`: a row per grid
  point.

A config that differs from its named preset (``--set``) is found by comparing it with the preset
(:func:`preset_changes`): such a set is not judged, its thresholds were calibrated for the preset. Nothing
here writes; what cannot be read is returned as a problem (one line), not raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainlearn.errors import BrainlearnError, ConfigError, DataError, quoted
from brainlearn.experiments.base import AGGREGATES, COMPARATORS, judge_values
from brainlearn.results import flat_config
from brainlearn.runtime.rundir import read_json, short_hash

VERDICTS = ("PASS", "FAIL", "XFAIL", "XPASS")
NOT_GATED, NOT_JUDGED = "not gated", "not judged"


@dataclass
class Entry:
    """One judged set of claims: a verify directory's section for one experiment, or the runs of one
    experiment, preset and config, one per seed."""

    experiment: str
    paper: str
    preset: str
    kind: str  # "verify" or "runs"
    path: Path  # the verify directory, or the newest run directory
    label: str
    claims: list[dict[str, Any]]
    figures: list[Path] = field(default_factory=list)  # PNGs to copy into the site
    runs: list[Path] = field(default_factory=list)  # run directories behind the claims, one per seed
    # config fields that differ from the preset: {field: (this config's value, the preset's)}; None when the
    # preset is unknown here (an experiment this installation lacks)
    overrides: dict[str, tuple[Any, Any]] | None = field(default_factory=dict)
    repeats: list[Path] = field(default_factory=list)  # older runs of a seed already counted

    @property
    def judged(self) -> bool:
        return not self.overrides


@dataclass
class Sweep:
    """A sweep directory: its spec and :func:`~brainlearn.experiments.sweep_report.aggregate`'s rows."""

    experiment: str
    preset: str
    path: Path
    fixed: list[str]  # overrides every point shares
    seeds: int
    axes: list[str]
    rows: list[dict[str, Any]]
    figures: list[Path]


@dataclass
class Found:
    """What :func:`collect` finds under a runs folder."""

    entries: list[Entry]
    sweeps: list[Sweep]
    unfinished: list[Path]  # run directories without claims, outside sweeps
    problems: list[str]  # one line each: what was skipped and why


def _claims(rows: Any, where: Path) -> list[dict[str, Any]]:
    """Evaluated claims, checked enough to render: a list of dicts with an id and numbers where numbers go."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
        raise DataError(f"{quoted(where)}: expected a list of claims (objects with an 'id'), got {type(rows).__name__}")
    for r in rows:
        number = (int, float)
        values, interval = r.get("values", []), r.get("interval")
        if not isinstance(r.get("measured", 0.0), number) or not isinstance(values, list) \
                or not all(isinstance(v, number) for v in values) \
                or interval is not None and not (isinstance(interval, list) and len(interval) == 2
                                                 and all(isinstance(v, number) for v in interval)) \
                or not isinstance(r.get("history", []), list) \
                or not all(isinstance(h, dict) for h in r.get("history", [])):
            raise DataError(f"{quoted(where)}: claim {r['id']!r} has a malformed measured value, values, "
                            "interval or history")
    return rows


def preset_changes(experiment: str, preset: str, config: Any) -> dict[str, tuple[Any, Any]] | None:
    """The fields of a run's `config` that differ from `preset`'s, as {field: (run's value, preset's value)}
    (dotted names for nested fields); None when they cannot be compared: no config recorded, or an experiment
    or preset this installation does not know."""
    from brainlearn import experiments
    from brainlearn.runtime.config import config_to_dict

    if not isinstance(config, dict):
        return None
    try:
        base = flat_config(config_to_dict(experiments.get(experiment).preset(preset)))
    except BrainlearnError:
        return None
    mine = flat_config(config)
    return {k: (mine.get(k), base.get(k)) for k in sorted(mine.keys() | base.keys()) if mine.get(k) != base.get(k)}


def _seed_run(verify_dir: Path, recorded: str) -> Path:
    """A run directory a verify section names: as recorded (absolute, or relative to where verify ran), else
    where verify puts it relative to its own folder (``<out>/verify/<stamp>`` next to ``<out>/<exp>/<run>``)."""
    path = Path(recorded)
    if path.is_dir():
        return path
    return verify_dir.parent.parent / Path(*path.parts[-2:]) if len(path.parts) >= 2 else path


def _header(run: Path) -> dict[str, Any] | None:
    """A run's config.json, or None where it cannot be read (the run is then shown without it)."""
    try:
        header = read_json(run / "config.json")
    except ConfigError:
        return None
    return header if isinstance(header, dict) else None


def _seeds_label(seeds: list[Any]) -> str:
    return f"{len(seeds)} seed{'s' * (len(seeds) != 1)}" + (f" ({', '.join(map(str, seeds))})" if seeds else "")


def _verify_entries(path: Path, sections: Any) -> list[Entry]:
    if not isinstance(sections, list) or not all(isinstance(s, dict) and isinstance(s.get("experiment"), str)
                                                 for s in sections):
        raise DataError(f"{quoted(path / 'claims.json')}: expected a list of experiment sections")
    out = []
    for s in sections:
        claims = _claims(s.get("claims"), path / "claims.json")
        figures = [path / "figures" / Path(str(f)).name for f in s.get("figures", []) if isinstance(f, str)]
        runs = [_seed_run(path, r) for r in s.get("runs", []) if isinstance(r, str)]
        headers = [h for r in runs if (h := _header(r)) is not None]
        seeds = [h.get("seed", "?") for h in headers] or list(range(max((len(c.get("values", [])) for c in claims),
                                                                       default=0)))
        preset = str(s.get("preset", "?"))
        overrides = preset_changes(s["experiment"], preset, headers[0].get("config")) if headers else None
        out.append(Entry(s["experiment"], str(s.get("paper", "?")), preset, "verify", path,
                         f"verify {path.name}: {preset} preset, {_seeds_label(seeds)}",
                         claims, [f for f in figures if f.is_file()], runs, overrides))
    return out


@dataclass
class _Run:
    path: Path
    header: dict[str, Any]
    claims: list[dict[str, Any]]
    state: str


def _read_run(path: Path, claims: Any) -> _Run:
    header = read_json(path / "config.json")
    if not isinstance(header, dict) or not isinstance(header.get("experiment"), str):
        raise DataError(f"{quoted(path / 'config.json')}: expected a run header with an 'experiment'")
    status = read_json(path / "status.json") if (path / "status.json").is_file() else {}
    state = status.get("state", "unknown") if isinstance(status, dict) else "unknown"
    return _Run(path, header, _claims(claims, path / "claims.json"), str(state))


def _criteria(claims: list[dict[str, Any]]) -> list[Any]:
    return [[c["id"], c.get("comparator"), c.get("threshold"), c.get("aggregate"), c.get("gated", True),
             c.get("expected", "pass")] for c in claims]


def aggregate_claims(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The claims of separate runs (one list per seed, the same criteria) judged over the seeds together, as
    `verify` judges its seeds: the recorded criterion applied to every seed's value."""
    if len(per_seed) == 1:
        return per_seed[0]
    out = []
    for i, first in enumerate(per_seed[0]):
        aggregate, comparator, threshold = first.get("aggregate"), first.get("comparator"), first.get("threshold")
        if aggregate not in AGGREGATES or comparator not in COMPARATORS or not isinstance(threshold, int | float):
            raise DataError(f"claim {first['id']!r}: no usable criterion ({aggregate} {comparator} {threshold}) "
                            "to judge its seeds together")
        values = [v for claims in per_seed for v in claims[i].get("values", [claims[i].get("measured", math.nan)])]
        out.append({**first, **judge_values(values, aggregate, comparator, threshold, first.get("expected", "pass"))})
    return out


def _judged_at(run: _Run) -> tuple[int, str]:
    """When a run's claims were written (a directory's name has the second it started only)."""
    return (run.path / "claims.json").stat().st_mtime_ns, str(run.path)


def _run_entries(runs: list[_Run], problems: list[str]) -> list[Entry]:
    """Runs of one experiment, preset, config and claims criteria as one entry each, one run per seed (the
    newest: a seed run twice gives the same numbers, counting it twice would narrow the interval)."""
    groups: dict[tuple, list[_Run]] = {}
    for r in sorted(runs, key=_judged_at):
        h = r.header
        key = (h["experiment"], str(h.get("preset", "?")), short_hash([h.get("config"), _criteria(r.claims)]))
        groups.setdefault(key, []).append(r)
    out = []
    for (experiment, preset, _), members in groups.items():
        newest = {r.header.get("seed"): r for r in members}  # members are oldest first
        chosen = sorted(newest.values(), key=lambda r: (not isinstance(r.header.get("seed"), int),
                                                        str(r.header.get("seed")).zfill(12)))
        repeats = [r.path for r in members if all(r is not c for c in chosen)]
        try:
            claims = aggregate_claims([r.claims for r in chosen])
        except DataError as e:
            problems.append(f"{', '.join(quoted(r.path) for r in chosen)}: {e}")
            continue
        seeds = [r.header.get("seed", "?") for r in chosen]
        newest_run = max(chosen, key=_judged_at)
        states = sorted({r.state for r in chosen})
        out.append(Entry(experiment, str(newest_run.header.get("paper", "?")), preset, "runs", newest_run.path,
                         f"runs: {preset} preset, {_seeds_label(seeds)} ({', '.join(states)})", claims,
                         sorted((chosen[0].path / "figures").glob("*.png")), [r.path for r in chosen],
                         preset_changes(experiment, preset, newest_run.header.get("config")), repeats))
    return out


def _read_sweep(path: Path) -> Sweep:
    from brainlearn.experiments import sweep_report

    axes, rows = sweep_report.aggregate(path)  # checks the spec, reads the points
    spec = read_json(path / "sweep.json")
    return Sweep(str(spec.get("experiment", "?")), str(spec.get("preset", "?")), path, list(spec["overrides"]),
                 int(spec.get("seeds", 0)) if isinstance(spec.get("seeds"), int) else 0, axes, rows,
                 sorted((path / "figures").glob("*.png")))


def collect(runs_dir: str | Path, skip: Path | None = None) -> Found:
    """Every judged entry under `runs_dir` (verify sections first, newest first, then groups of runs no verify
    or sweep covers), the sweeps, the run directories without claims (unfinished), and the problems met."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise ConfigError(f"expected a folder of runs (e.g. ./runs), got {quoted(root)}: not a directory")
    skip = skip.resolve() if skip is not None else None

    def found(name: str) -> list[Path]:
        return [p for p in sorted(root.rglob(name)) if skip is None or not p.resolve().is_relative_to(skip)]

    sweeps, verifies, runs, problems = [], [], [], []
    for p in found("sweep.json"):
        try:
            sweeps.append(_read_sweep(p.parent))
        except (ConfigError, DataError) as e:
            problems.append(str(e))
    in_sweeps = [s.path.resolve() for s in sweeps]
    for p in found("claims.json"):
        if any(p.resolve().is_relative_to(s) for s in in_sweeps):
            continue  # a sweep's points: its table shows them
        try:
            data = read_json(p)
            if (p.parent / "config.json").is_file():
                runs.append(_read_run(p.parent, data))
            else:
                verifies.extend(_verify_entries(p.parent, data))
        except (ConfigError, DataError) as e:
            problems.append(str(e))
    verifies.sort(key=lambda e: e.path.name, reverse=True)
    covered = {r.resolve() for e in verifies for r in e.runs}
    entries = verifies + _run_entries([r for r in runs if r.path.resolve() not in covered], problems)
    judged = {r.resolve() for e in entries for r in (*e.runs, *e.repeats)} | covered
    unfinished = [p.parent for p in found("config.json") if not (p.parent / "claims.json").exists()
                  and p.parent.resolve() not in judged and not any(p.resolve().is_relative_to(s) for s in in_sweeps)]
    return Found(entries, sweeps, unfinished, problems)


def tally(entries: list[Entry]) -> dict[str, int]:
    """Claims per verdict, counting only gated claims of judged entries; the others as "not gated" (reported
    only, never a failure) and "not judged" (a config that differs from its preset)."""
    counts = dict.fromkeys([*VERDICTS, NOT_GATED, NOT_JUDGED], 0)
    for e in entries:
        for r in e.claims:
            counts[NOT_JUDGED if not e.judged else word(r) if r.get("gated", True) else NOT_GATED] += 1
    return counts


def word(row: dict[str, Any]) -> str:
    """A claim's verdict, one of :data:`VERDICTS` (a claims.json from before verdicts: from `passed`)."""
    verdict = str(row.get("verdict") or ("PASS" if row.get("passed") else "FAIL"))
    return verdict if verdict in VERDICTS else "FAIL"
