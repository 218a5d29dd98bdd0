"""`brainlearn report RUNS_DIR`: a static HTML site that compares the claims, curves, figures and runs under a
folder.

It reads what `brainlearn verify`, `run` and `sweep` wrote (see :mod:`brainlearn.experiments.verify`,
:mod:`~brainlearn.experiments.runner` and :mod:`~brainlearn.experiments.sweep`) and never writes there:

- a verify directory's ``claims.json`` (a list of sections: experiment, paper, preset, claims, figures, runs)
  is one judged set of claims over its seeds;
- separate runs (a run directory's ``claims.json`` next to ``config.json``) of one experiment, preset and
  config are grouped, one run per seed (the newest), and their claims judged over the seeds as `verify`
  judges them (:func:`brainlearn.experiments.base.judge_values`);
- a sweep (``sweep.json``) is one table, a row per grid point and a column per grid field, with the sweep's
  own figures (:func:`brainlearn.experiments.sweep_report.aggregate` reads it).

A run whose config differs from its named preset (``--set``) shows its overrides, and its claims are not
judged: their thresholds were calibrated for the preset. Ungated (reported-only) claims are never counted as
failures. Learning curves (``metrics.jsonl``) are drawn as the mean and 95% interval over seeds in inline SVG.
The site is one ``index.html`` with the figures copied beside it under ``figures/`` and one small inline
script that sorts and filters its tables: every link is relative, every text is escaped and nothing is
fetched from elsewhere, so it opens offline and can be moved with the runs. A folder that cannot be read is
listed under "skipped", not fatal.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from brainlearn.errors import BrainlearnError, ConfigError, DataError, quoted
from brainlearn.experiments.base import AGGREGATES, COMPARATORS, judge_values
from brainlearn.results import flat_config
from brainlearn.runtime.report import fmt, verdict
from brainlearn.runtime.rundir import RunDir, atomic_write_bytes, read_json, short_hash

log = logging.getLogger("brainlearn")
GENERATOR = "brainlearn report"
VERDICTS = ("PASS", "FAIL", "XFAIL", "XPASS")
NOT_GATED, NOT_JUDGED = "not gated", "not judged"
MAX_CURVES = 16  # learning-curve panels per judged set; the rest are named
CURVE_POINTS = 400  # points per drawn curve at most (evenly spaced steps)


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
    (dotted names for nested fields); None when this installation does not know the experiment or preset."""
    from brainlearn import experiments
    from brainlearn.runtime.config import config_to_dict

    try:
        base = flat_config(config_to_dict(experiments.get(experiment).preset(preset)))
    except BrainlearnError:
        return None
    mine = flat_config(config) if isinstance(config, dict) else {}
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
            counts[NOT_JUDGED if not e.judged else _word(r) if r.get("gated", True) else NOT_GATED] += 1
    return counts


# -- learning curves -----------------------------------------------------------------------------------

def seed_curves(runs: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each metric logged in the runs' metrics.jsonl as (steps, values: seeds x steps), over the steps every
    run that logged the metric has."""
    logged: list[dict[str, dict[int, float]]] = []
    for run in runs:
        curves: dict[str, dict[int, float]] = {}
        for record in RunDir(run).metrics() if run.is_dir() else []:
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                continue
            for k, v in record.items():
                if k != "step" and isinstance(v, int | float) and not isinstance(v, bool):
                    curves.setdefault(k, {})[record["step"]] = float(v)
        logged.append(curves)
    out = {}
    for metric in dict.fromkeys(m for curves in logged for m in curves):
        have = [curves[metric] for curves in logged if metric in curves]
        steps = sorted(set.intersection(*(set(c) for c in have)))
        if steps:
            out[metric] = (np.array(steps), np.array([[c[s] for s in steps] for c in have]))
    return out


def _polyline(xs: np.ndarray, ys: np.ndarray) -> str:
    """SVG path data through the finite points, broken where a value is not finite."""
    parts, pen = [], "M"
    for x, y in zip(xs, ys):
        if math.isfinite(y):
            parts.append(f"{pen}{x:.1f},{y:.1f}")
            pen = "L"
        else:
            pen = "M"
    return " ".join(parts)


def curve_svg(metric: str, steps: np.ndarray, values: np.ndarray) -> str:
    """One panel: the mean over seeds (a line) and, with two or more seeds, its 95% interval (a band)."""
    from brainlearn.experiments.sweep_report import ci95

    if len(steps) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(steps) - 1, CURVE_POINTS).round().astype(int))
        steps, values = steps[keep], values[:, keep]
    with np.errstate(invalid="ignore"):
        mean = values.mean(axis=0)
        half = ci95(values, axis=0)
    lo, hi = mean - half, mean + half
    finite = np.concatenate([v[np.isfinite(v)] for v in (mean, lo, hi)])
    width, height, left, right, top, bottom = 300, 170, 52, 10, 22, 30
    y0, y1 = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    y0, y1 = (y0 - 0.5, y1 + 0.5) if y1 == y0 else (y0, y1)
    x0, x1 = float(steps[0]), float(steps[-1]) if steps[-1] != steps[0] else float(steps[0]) + 1
    sx = left + (steps - x0) / (x1 - x0) * (width - left - right)
    sy = lambda v: top + (y1 - v) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    band = ""
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ring = np.concatenate([np.stack([sx[ok], sy(hi[ok])], 1), np.stack([sx[ok], sy(lo[ok])], 1)[::-1]])
        band = f'<polygon class="band" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in ring)}"/>'
    n = len(values)
    title = f"{metric} (mean{' ± 95% CI' if n > 1 else ''}, {n} seed{'s' * (n != 1)})"
    return (f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{_e(title)}"><title>{_e(title)}</title>'
            f'<text x="{left}" y="14" class="t">{_e(title)}</text>'
            f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
            'class="frame"/>'
            f'{band}<path class="mean" d="{_polyline(sx, sy(mean))}"/>'
            f'<text x="{left - 4}" y="{top + 8}" class="y">{_e(fmt(y1))}</text>'
            f'<text x="{left - 4}" y="{height - bottom}" class="y">{_e(fmt(y0))}</text>'
            f'<text x="{left}" y="{height - bottom + 14}" class="x0">{_e(fmt(int(steps[0])))}</text>'
            f'<text x="{width - right}" y="{height - bottom + 14}" class="x1">{_e(fmt(int(steps[-1])))}</text>'
            f'<text x="{(left + width - right) / 2}" y="{height - 4}" class="xl">step</text></svg>')


def _curves(e: Entry) -> str:
    curves = seed_curves(e.runs)
    if not curves:
        return ""
    names = list(curves)
    panels = "".join(curve_svg(m, *curves[m]) for m in names[:MAX_CURVES])
    more = (f"<p>Not drawn ({len(names) - MAX_CURVES} more): {_e(', '.join(names[MAX_CURVES:]))}.</p>"
            if len(names) > MAX_CURVES else "")
    return (f"<h4>Learning curves</h4><p>From each run's metrics.jsonl: the mean over seeds and, with two or more "
            f"seeds, its 95% confidence interval (Student t), over the steps every seed logged.</p>"
            f'<div class="curves">{panels}</div>{more}')


# -- HTML ----------------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.wide { overflow-x: auto; }
td.num { font-family: ui-monospace, monospace; white-space: nowrap; }
td.id { white-space: nowrap; }
.v { font-weight: bold; white-space: nowrap; padding: 1px 5px; border-radius: 3px; }
.PASS { background: #d7f0d7; color: #145214; } .FAIL { background: #f7d4d4; color: #8a1010; }
.XFAIL { background: #f6ead0; color: #6b4d00; } .XPASS { background: #e6dcf5; color: #4b2a80; }
.ungated { opacity: 0.65; font-style: italic; } .unjudged { background: #e4e4e4; color: #444; }
.overrides { background: #fff6d6; padding: 4px 8px; border-left: 4px solid #d9a400; }
input.filter { margin: 0.3em 0; padding: 3px 6px; width: 24em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 640px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
svg.curve { margin: 0 0.8em 0.8em 0; font: 10px system-ui, sans-serif; }
svg .frame { fill: none; stroke: #bbb; } svg .mean { fill: none; stroke: #1f5fa8; stroke-width: 1.5; }
svg .band { fill: #1f5fa8; opacity: 0.2; } svg .t { font-size: 11px; }
svg .y { text-anchor: end; } svg .x1 { text-anchor: end; } svg .xl { text-anchor: middle; fill: #666; }
.problems li { color: #8a1010; }
"""

# Sorting (click a header; again to reverse) and filtering (rows holding every word typed) of the tables
# marked "sortable"; a cell's data-sort, where present, is the number it sorts by.
SCRIPT = """
"use strict";
function sortTable(table, column) {
  const header = table.tHead.rows[0].cells[column];
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  for (const cell of table.tHead.rows[0].cells) cell.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const key = row => {
    const cell = row.cells[column];
    const number = cell && cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : NaN;
    return Number.isNaN(number) ? (cell ? cell.textContent.trim() : "") : number;
  };
  const order = (a, b) => typeof a === "number" && typeof b === "number" ? a - b
    : typeof a === "number" ? -1 : typeof b === "number" ? 1 : a.localeCompare(b, undefined, {numeric: true});
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).sort((a, b) => (ascending ? 1 : -1) * order(key(a), key(b)));
  body.append(...rows);
}
for (const table of document.querySelectorAll("table.sortable")) {
  Array.from(table.tHead.rows[0].cells).forEach((cell, column) => {
    cell.tabIndex = 0;
    cell.addEventListener("click", () => sortTable(table, column));
    cell.addEventListener("keydown", event => { if (event.key === "Enter") sortTable(table, column); });
  });
}
for (const input of document.querySelectorAll("input.filter")) {
  const table = document.getElementById(input.dataset.table);
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    for (const row of table.tBodies[0].rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every(word => text.includes(word));
    }
  });
}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _href(target: Path, base: Path) -> str:
    """A relative, percent-encoded link from the folder `base` to `target`."""
    return quote(Path(os.path.relpath(target.resolve(), base.resolve())).as_posix())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _word(row: dict[str, Any]) -> str:
    word = str(row.get("verdict") or ("PASS" if row.get("passed") else "FAIL"))
    return word if word in VERDICTS else "FAIL"


def _verdict_cell(row: dict[str, Any], judged: bool) -> str:
    if not judged:
        return '<span class="v unjudged">not judged: overrides change the preset</span>'
    gated = row.get("gated", True)
    return f'<span class="v {_word(row)}{"" if gated else " ungated"}">{_e(verdict(row))}</span>'


def _measured(row: dict[str, Any]) -> str:
    interval = row.get("interval")
    ci = f" [{fmt(interval[0])}, {fmt(interval[1])}]" if interval else ""
    return f"{fmt(row.get('measured', float('nan')))}{ci}"


def _number(x: Any) -> str:
    """A data-sort attribute for a finite number; none otherwise (the cell then sorts by its text)."""
    return f' data-sort="{float(x)!r}"' if isinstance(x, int | float) and math.isfinite(x) else ""


def _table(table_id: str, head: list[str], rows: list[list[tuple[str, str]]], label: str) -> str:
    """A sortable, filterable table; each cell is (attributes, escaped HTML)."""
    body = "\n".join("<tr>" + "".join(f"<td{attrs}>{cell}</td>" for attrs, cell in row) + "</tr>" for row in rows)
    return (f'<input class="filter" type="search" data-table="{table_id}" placeholder="filter {_e(label)}: words '
            f'that each row must contain" aria-label="filter {_e(label)}">'
            f'<div class="wide"><table class="sortable" id="{table_id}"><thead><tr>'
            + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr></thead><tbody>\n{body}\n</tbody></table></div>")


def _preset_text(e: Entry) -> str:
    if not e.overrides:
        return e.preset
    return f"{e.preset} with overrides: " + ", ".join(f"{k}={fmt(v)}" for k, (v, _) in e.overrides.items())


CLAIM_HEAD = ["experiment", "preset", "source", "seeds", "claim", "statement", "criterion", "per seed",
              "measured [95% CI]", "verdict"]


def _claims_table(table_id: str, entries: list[tuple[int, Entry]]) -> str:
    rows = []
    for i, e in entries:
        for r in e.claims:
            criterion = f"{r.get('aggregate', '?')} {r.get('comparator', '?')} {fmt(r.get('threshold', '?'))}"
            values = r.get("values", [])
            rows.append([("", f'<a href="#e{i}">{_e(e.experiment)}</a>'), ("", _e(_preset_text(e))),
                         ("", _e(e.kind)), (" class=num" + _number(len(values)), _e(len(values))),
                         (" class=id", _e(r["id"])), ("", _e(r.get("statement", ""))),
                         (" class=num" + _number(r.get("threshold")), _e(criterion)),
                         (" class=num", _e(", ".join(fmt(v) for v in values))),
                         (" class=num" + _number(r.get("measured")), _e(_measured(r))),
                         (" class=id", _verdict_cell(r, e.judged))])
    return _table(table_id, CLAIM_HEAD, rows, "claims")


def _details(r: dict[str, Any]) -> str:
    parts = [f"<b>{_e(r['id'])}</b>: {_e(r.get('statement', ''))}"]
    if r.get("how"):
        parts.append(f"<i>Measured</i>: {_e(r['how'])} (<code>{_e(r.get('metric', '?'))}</code>).")
    if r.get("reason"):
        parts.append(f"<i>Threshold</i>: {_e(r['reason'])}")
    if r.get("expected") == "fail":
        parts.append(f"<i>Known non-reproduction</i>: see {_e(r.get('note', '?'))}.")
    for h in r.get("history", []):
        parts.append(f"<i>Revised {_e(h.get('date', '?'))}</i> from {_e(h.get('comparator', '?'))} "
                     f"{_e(fmt(h.get('threshold', '?')))} ({_e(h.get('aggregate', '?'))}"
                     + (f"; measured {_e(h['measured'])}" if h.get("measured") else "")
                     + f"): {_e(h.get('reason', ''))}")
    return "<li>" + " ".join(parts) + "</li>"


def _overrides_note(e: Entry) -> str:
    if e.overrides is None:
        return (f"<p>Config not compared with the {_e(e.preset)} preset: this installation does not know the "
                f"experiment or preset; the claims are shown as they were judged.</p>")
    if not e.overrides:
        return ""
    changed = ", ".join(f"<code>{_e(k)}={_e(fmt(v))}</code> (preset: {_e(fmt(p))})"
                        for k, (v, p) in e.overrides.items())
    return (f'<p class="overrides">Overrides of the {_e(e.preset)} preset: {changed}. The claims\' thresholds '
            f"belong to the preset, so these claims are not judged and not counted.</p>")


def _figures_html(figures: list[Path], site: Path) -> str:
    return "".join(f'<figure><img src="{quote(f.relative_to(site).as_posix())}" alt="{_e(f.stem)}" loading="lazy">'
                   f"<figcaption>{_e(f.name)}</figcaption></figure>" for f in figures)


def _run_link(r: Path, site: Path) -> str:
    return f'<a href="{_href(r, site)}/">{_e(r.name)}</a>' if r.is_dir() else f"{_e(r)} (missing)"


def _section(i: int, e: Entry, site: Path) -> str:
    own = _copy_figures(site / "figures" / f"{i:03d}-{_slug(e.experiment)}", e.figures, [e.path, *e.runs])
    out = [f'<section id="e{i}"><h3>{_e(e.experiment)} <small>(arXiv:{_e(e.paper)})</small>: {_e(e.label)}</h3>',
           _overrides_note(e), f'<p>From <a href="{_href(e.path, site)}/">{_e(e.path)}</a></p>',
           _claims_table(f"claims-{i}", [(i, e)]), "<ul>" + "".join(_details(r) for r in e.claims) + "</ul>",
           _curves(e), _figures_html(own, site)]
    if len(e.runs) > 1:  # the other seeds' own figures, folded: the ones above are the first seed's
        per_seed = []
        for k, run in enumerate(e.runs[1:], 1):
            copied = _copy_figures(site / "figures" / f"{i:03d}-{_slug(e.experiment)}" / f"run{k}",
                                   sorted((run / "figures").glob("*.png")), [run])
            if copied:
                per_seed.append(f"<h4>{_e(run.name)}</h4>" + _figures_html(copied, site))
        if per_seed:
            out.append(f"<details><summary>Figures of the other {len(e.runs) - 1} seeds' runs</summary>"
                       + "".join(per_seed) + "</details>")
    if e.runs:
        out.append("<p>Run directories: " + ", ".join(_run_link(r, site) for r in e.runs) + "</p>")
    if e.repeats:
        out.append("<p>Older runs of a seed already counted (not aggregated: the newest run of each seed is): "
                   + ", ".join(_run_link(r, site) for r in e.repeats) + "</p>")
    return "\n".join(out) + "</section>"


def _cell(stat: dict[str, float]) -> str:
    half = stat.get("ci95", math.nan)
    return fmt(stat["mean"]) + (f" ± {fmt(half)}" if isinstance(half, float) and math.isfinite(half) else "")


def _sweep_section(i: int, s: Sweep, site: Path) -> str:
    metrics = sorted({k for r in s.rows for k, v in r.items() if isinstance(v, dict)})
    claims = sorted({k for r in s.rows for k in r if k.startswith("claim:")})
    rows = [[*((" class=num" + _number(_float(r[a])), _e(r[a])) for a in s.axes),
             (" class=num" + _number(r["n"]), _e(r["n"])),
             *((" class=num" + _number(r[m]["mean"]), _e(_cell(r[m]))) if m in r else ("", "") for m in metrics),
             *((" class=num" + _number(r[c]), _e(f"{r[c]:.0%}")) if c in r else ("", "") for c in claims)]
            for r in s.rows]
    finished = sum(r["n"] for r in s.rows)
    copied = _copy_figures(site / "figures" / f"sweep{i:03d}-{_slug(s.experiment)}", s.figures, [s.path])
    summary = [f'<a href="{_href(s.path / name, site)}">{name}</a>' for name in ("summary.md", "summary.csv")
               if (s.path / name).is_file()]
    return "\n".join([
        f'<section id="s{i}"><h3>{_e(s.experiment)}: sweep {_e(s.path.name)}</h3>',
        f"<p>{_e(s.preset)} preset"
        + (f" with overrides {_e(' '.join(s.fixed))}" if s.fixed else "")
        + f"; grid over {_e(', '.join(s.axes) or '(no field)')}; {len(s.rows)} grid points × {s.seeds} seed(s), "
        f"{finished} finished. From <a href=\"{_href(s.path, site)}/\">{_e(s.path)}</a>"
        + (f"; its summary: {', '.join(summary)}" if summary else "; no summary yet (`brainlearn sweep-report`)")
        + ".</p>",
        "<p>Per grid point: each metric's mean ± 95% CI half-width over the finished seeds (n); claims: the "
        "fraction of seeds meeting the preset's threshold. The grid changes the preset, so these are not "
        "verdicts and are not counted above.</p>",
        _table(f"sweep-{i}", [*s.axes, "n", *metrics, *claims], rows, "grid points"),
        _figures_html(copied, site), "</section>"])


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _copy_figures(dest: Path, figures: list[Path], inside: list[Path]) -> list[Path]:
    copied = []
    allowed = [p.resolve() for p in inside]
    for f in figures:
        # a site is made to be published: only regular files that live inside the run directories go into it
        if f.is_symlink() or not f.is_file() or not any(f.resolve().is_relative_to(a) for a in allowed):
            log.warning("report: skipping %s (not a regular file inside %s)", quoted(f), quoted(inside[0]))
            continue
        target = dest / _slug(f.name)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        copied.append(target)
    return copied


def _prepare(site: Path) -> None:
    """Make `site` ready to (re)write: new or empty, or a site this function wrote before (its old figures go)."""
    if site.exists() and not site.is_dir():
        raise ConfigError(f"--out must be a folder for the site, got {quoted(site)}: a file")
    index = site / "index.html"
    ours = index.is_file() and f'content="{GENERATOR}"' in index.read_text(errors="replace")
    if site.is_dir() and any(site.iterdir()) and not ours:
        raise ConfigError(f"--out {quoted(site)} is a folder with other files; give a new or empty folder "
                          "(or one a previous `brainlearn report` wrote)")
    shutil.rmtree(site / "figures", ignore_errors=True)
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the site folder {quoted(site)}: {e.strerror or e}") from None


def _counts_text(counts: dict[str, int]) -> str:
    gated = ", ".join(f'<span class="v {v}">{v}</span> {counts[v]}' for v in VERDICTS)
    return (f"gated claims: {gated}; {counts[NOT_GATED]} reported only (not gated, never a failure); "
            f"{counts[NOT_JUDGED]} not judged (runs whose overrides change the preset)")


def write_site(runs_dir: str | Path, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Write the site for `runs_dir` into `out` (default ``RUNS_DIR/report``); returns the path of its
    index.html and the count of claims per verdict (:func:`tally`)."""
    runs_dir = Path(runs_dir)
    site = Path(out) if out is not None else runs_dir / "report"
    if runs_dir.resolve().is_relative_to(site.resolve()):
        raise ConfigError(f"--out {quoted(site)} holds the runs folder {quoted(runs_dir)}; give a folder of its own "
                          "for the site (default RUNS_DIR/report)")
    found = collect(runs_dir, skip=site)
    entries = found.entries
    if not entries and not found.sweeps and not found.unfinished and not found.problems:
        raise ConfigError(f"found no run, sweep or verify directory under {quoted(runs_dir)} "
                          "(expected claims.json files written by `brainlearn run` or `brainlearn verify`)")
    _prepare(site)
    counts = tally(entries)
    numbered = list(enumerate(entries))
    names = sorted({e.experiment for e in entries} | {s.experiment for s in found.sweeps})
    body = [f"<h1>brainlearn: claims under {_e(runs_dir)}</h1>",
            f"<p>{len(entries)} judged set{'s' * (len(entries) != 1)} of claims and {len(found.sweeps)} "
            f"sweep{'s' * (len(found.sweeps) != 1)} from {len(names)} experiment(s); {_counts_text(counts)}.</p>",
            "<p>Experiments: " + ", ".join(
                f'<a href="#x-{_e(_slug(n))}">{_e(n)}</a> ('
                + ", ".join(f"{k} {v}" for v, k in tally([e for e in entries if e.experiment == n]).items() if k)
                + ")" for n in names) + ".</p>",
            "<p>Runs of one experiment, preset and config are one set, judged over their seeds as "
            "<code>brainlearn verify</code> judges them; click a column's header to sort, type in a box to filter.</p>"]
    if found.problems:
        body.append('<h2>Skipped</h2><ul class="problems">' + "".join(f"<li>{_e(p)}</li>" for p in found.problems)
                    + "</ul>")
    body += ["<h2>Reproduction table</h2>", _claims_table("claims", numbered), "<h2>Experiments</h2>"]
    for experiment in names:
        body.append(f"<h2 id=\"x-{_e(_slug(experiment))}\">{_e(experiment)}</h2>")
        body += [_section(i, e, site) for i, e in numbered if e.experiment == experiment]
        body += [_sweep_section(i, s, site) for i, s in enumerate(found.sweeps) if s.experiment == experiment]
    if found.unfinished:
        body.append("<h2>Runs without claims (unfinished)</h2><ul>" + "".join(
            f'<li><a href="{_href(p, site)}/">{_e(p)}</a></li>' for p in found.unfinished) + "</ul>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="{GENERATOR}"><title>brainlearn report: {_e(runs_dir.name)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    atomic_write_bytes(site / "index.html", page.encode())
    return site / "index.html", counts
