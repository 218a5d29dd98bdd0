"""Learning curves for `brainlearn report`: each metric of the runs' metrics.jsonl as the mean over seeds
and its 95% confidence interval, drawn as inline SVG (no figure files, nothing fetched)."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

import numpy as np

from brainlearn.runtime.report import fmt
from brainlearn.runtime.rundir import RunDir

MAX_CURVES = 16  # panels per judged set; the rest are named
CURVE_POINTS = 400  # points per drawn curve at most (evenly spaced steps)


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
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
            f'<text x="{left}" y="14" class="t">{escape(title)}</text>'
            f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
            'class="frame"/>'
            f'{band}<path class="mean" d="{_polyline(sx, sy(mean))}"/>'
            f'<text x="{left - 4}" y="{top + 8}" class="y">{escape(fmt(y1))}</text>'
            f'<text x="{left - 4}" y="{height - bottom}" class="y">{escape(fmt(y0))}</text>'
            f'<text x="{left}" y="{height - bottom + 14}" class="x0">{escape(fmt(int(steps[0])))}</text>'
            f'<text x="{width - right}" y="{height - bottom + 14}" class="x1">{escape(fmt(int(steps[-1])))}</text>'
            f'<text x="{(left + width - right) / 2}" y="{height - 4}" class="xl">step</text></svg>')


def curves_html(runs: list[Path]) -> str:
    """The panels of every metric the runs logged (a heading and a note on what is drawn); empty without any."""
    curves = seed_curves(runs)
    if not curves:
        return ""
    names = list(curves)
    panels = "".join(curve_svg(m, *curves[m]) for m in names[:MAX_CURVES])
    more = (f"<p>Not drawn ({len(names) - MAX_CURVES} more): {escape(', '.join(names[MAX_CURVES:]))}.</p>"
            if len(names) > MAX_CURVES else "")
    return (f"<h4>Learning curves</h4><p>From each run's metrics.jsonl: the mean over seeds and, with two or more "
            f"seeds, its 95% confidence interval (Student t), over the steps every seed logged.</p>"
            f'<div class="curves">{panels}</div>{more}')
