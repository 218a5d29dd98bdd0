"""Aggregating a sweep: per grid point, mean, std and 95% CI of each metric over seeds, claim pass rates;
written as summary.csv, summary.md and metric-vs-axis figures (`brainlearn sweep-report`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainlearn import plotting
from brainlearn.errors import ConfigError, quoted
from brainlearn.runtime import RunDir
from brainlearn.runtime.rundir import atomic_write_bytes, read_json


def ci95(values: Sequence[float] | np.ndarray, axis: int | None = None) -> Any:
    """Half-width of the 95% confidence interval of the mean (Student t); nan for fewer than 2 values.

    With `axis`, of an array's means along that axis (e.g. seeds x steps, ``axis=0``: one per step)."""
    v = np.asarray(values, dtype=float)
    n = v.size if axis is None else v.shape[axis]
    if n < 2:
        return float("nan") if axis is None else np.full(np.delete(v.shape, axis), np.nan)
    from scipy import stats

    half = stats.t.ppf(0.975, n - 1) * np.std(v, axis=axis, ddof=1) / math.sqrt(n)
    return float(half) if axis is None else half


def aggregate(sweep_dir: str | Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Group a sweep's finished points by grid point; per metric mean, std, 95% CI; per claim pass rate.

    Returns the grid axes and one row per grid point: {axis: value, ..., "n": seeds finished,
    "<metric>": {"mean", "std", "ci95"}, "claim:<id>": pass rate}. A metric named like a grid field (or "n")
    is listed as "<metric> (metric)", so that it never overwrites the point's coordinate.
    """
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "sweep.json").is_file():
        raise ConfigError(f"{quoted(sweep_dir)} is not a sweep directory (no sweep.json)")
    spec = read_json(sweep_dir / "sweep.json")
    if not isinstance(spec, dict) or not isinstance(spec.get("grid"), dict) or not isinstance(
            spec.get("overrides"), list) or not all(isinstance(p, dict) and {"key", "overrides"} <= set(p)
                                                   for p in spec.get("points", [None])):
        raise ConfigError(f"{quoted(sweep_dir / 'sweep.json')} is not a brainlearn sweep spec")
    axes = list(spec["grid"])
    n_fixed = len(spec["overrides"])
    groups: dict[tuple[str, ...], list[tuple[dict, list]]] = {}
    for p in spec["points"]:
        run = RunDir(sweep_dir / "points" / p["key"])
        result, claims = run.result(), run.claims()
        coords = tuple(p["overrides"][n_fixed:])
        groups.setdefault(coords, [])
        if result is not None and run.status.get("state") == "finished":
            groups[coords].append((result["metrics"], claims or []))
    rows = []
    for coords, runs in groups.items():
        row: dict[str, Any] = {kv.split("=", 1)[0]: kv.split("=", 1)[1] for kv in coords}
        row["n"] = len(runs)
        for metric in sorted({m for metrics, _ in runs for m in metrics}):
            values = [metrics[metric] for metrics, _ in runs if metric in metrics]
            key = f"{metric} (metric)" if metric in row else metric
            row[key] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1
                        else 0.0, "ci95": ci95(values)}
        for claim_id in sorted({c["id"] for _, claims in runs for c in claims}):
            verdicts = [c["passed"] for _, claims in runs for c in claims if c["id"] == claim_id]
            row[f"claim:{claim_id}"] = sum(verdicts) / len(verdicts)
        rows.append(row)
    return axes, rows


def write_report(sweep_dir: str | Path) -> list[Path]:
    """Write summary.csv, summary.md and figures/<metric>-vs-<axis>.png; return the written paths."""
    import csv
    import io

    from brainlearn.runtime.report import fmt, markdown_table

    sweep_dir = Path(sweep_dir)
    axes, rows = aggregate(sweep_dir)
    metrics = sorted({k for r in rows for k, v in r.items() if isinstance(v, dict)})
    claims = sorted({k for r in rows for k in r if k.startswith("claim:")})
    header = [*axes, "n", *[f"{m}_{s}" for m in metrics for s in ("mean", "std", "ci95")], *claims]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for r in rows:
        writer.writerow([*(r[a] for a in axes), r["n"],
                         *(r[m][s] if m in r else "" for m in metrics for s in ("mean", "std", "ci95")),
                         *(r.get(c, "") for c in claims)])
    atomic_write_bytes(sweep_dir / "summary.csv", buf.getvalue().encode())
    md_rows = [[*(r[a] for a in axes), str(r["n"]),
                *(f"{fmt(r[m]['mean'])} ± {fmt(r[m]['ci95'])}" if m in r else "" for m in metrics),
                *(f"{r[c]:.0%}" if c in r else "" for c in claims)] for r in rows]
    md = (f"# Sweep {sweep_dir.name}\n\nMean ± 95% CI half-width over seeds; claims: pass rate over seeds.\n\n"
          + markdown_table(md_rows, [*axes, "n", *metrics, *claims]) + "\n")
    atomic_write_bytes(sweep_dir / "summary.md", md.encode())
    return [sweep_dir / "summary.csv", sweep_dir / "summary.md", *_plot(sweep_dir, axes, rows, metrics)]


def _plot(sweep_dir: Path, axes: list[str], rows: list[dict[str, Any]], metrics: list[str]) -> list[Path]:
    run = RunDir(sweep_dir)
    paths = []
    for axis in axes:
        others = [a for a in axes if a != axis]
        xs = list(dict.fromkeys(r[axis] for r in rows))
        numeric = all(_is_number(x) for x in xs)
        for metric in metrics:
            fig, (ax,) = plotting.figure()
            for group in dict.fromkeys(tuple(r[o] for o in others) for r in rows):
                sel = [r for r in rows if tuple(r[o] for o in others) == group and metric in r]
                sel.sort(key=lambda r: xs.index(r[axis]))
                x = [float(r[axis]) if numeric else xs.index(r[axis]) for r in sel]
                ax.errorbar(x, [r[metric]["mean"] for r in sel], yerr=[np.nan_to_num(r[metric]["ci95"]) for r in sel],
                            marker="o", capsize=3, label=", ".join(f"{o}={g}" for o, g in zip(others, group)) or None)
            if not numeric:
                ax.set_xticks(range(len(xs)), xs)
            ax.set(xlabel=axis, ylabel=metric, title=f"{metric} vs {axis} (mean ± 95% CI)")
            if others:
                ax.legend()
            paths.append(run.save_figure(f"{metric}-vs-{axis}", fig))
    return paths


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
