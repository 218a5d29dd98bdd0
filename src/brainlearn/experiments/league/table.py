"""The league's table: both league experiments run (or resumed) in fixed directories, their rows written as
Markdown, Parquet (or CSV without pyarrow) and a sortable HTML page (``brainlearn league``).

Each league experiment is one run of its preset at seed 0, with the chosen rules and tasks as overrides, in
``OUT/league/<preset>-<hash of the options>/<experiment>``: rerunning the same command resumes an interrupted
run from its last finished cell (each (task, rule) cell is checkpointed as it finishes) and skips a finished
one.
"""

from __future__ import annotations

import dataclasses
import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from brainlearn.errors import ConfigError
from brainlearn.experiments import get
from brainlearn.experiments.html_report import SCRIPT, STYLE
from brainlearn.experiments.league.entries import ENTRIES
from brainlearn.experiments.rnnrules.common import VARIANTS, rule_of
from brainlearn.experiments.sweep import Point, execute_point
from brainlearn.rules.recurrent import plausibility
from brainlearn.runtime import resolve_device
from brainlearn.runtime.rundir import atomic_write_bytes, short_hash

EXPERIMENTS = ("league-feedforward", "league-recurrent")
FIGURE_ALT = "accuracy against cost, alignment against accuracy"
#: The columns of a row, in order: what it is, its measures, and the rule's plausibility attributes.
COLUMNS = ("kind", "task", "rule", "measure", "value", "ci95", "lr", "align_start", "align_mid", "align_end",
           "alignment", "time_vs_exact", "memory_vs_exact", "fgsm_acc", "weight_transport", "backward_sweep",
           "phases", "local_update", "error_channel")


def plan(preset: str, rules: list[str] | None, tasks: list[str] | None) -> list[Point]:
    """The league runs for these options: one Point per experiment with rules (and, when `tasks` are given,
    tasks) to run. `tasks` name a dataset for the feedforward league and sequence tasks for the recurrent one.
    Validated (names, preset) before anything runs."""
    from brainlearn.data.images import DATASETS
    from brainlearn.data.rnn_tasks import TASKS

    known = {"league-feedforward": (set(ENTRIES), set(DATASETS)),
             "league-recurrent": (set(VARIANTS), set(TASKS))}
    unknown = [r for r in rules or [] if not any(r in k for k, _ in known.values())]
    if unknown:
        raise ConfigError(f"unknown rule(s) {', '.join(unknown)}; feedforward: {', '.join(ENTRIES)}; "
                          f"recurrent: {', '.join(sorted(VARIANTS))}")
    unknown = [t for t in tasks or [] if not any(t in k for _, k in known.values())]
    if unknown:
        raise ConfigError(f"unknown task(s) {', '.join(unknown)}; datasets (feedforward): {', '.join(DATASETS)}; "
                          f"sequence tasks (recurrent): {', '.join(TASKS)}")
    points = []
    for name, (rule_names, task_names) in known.items():
        get(name).preset(preset)  # an unknown preset fails here
        chosen_rules = [r for r in rules if r in rule_names] if rules else None
        chosen_tasks = [t for t in tasks if t in task_names] if tasks else None
        if chosen_rules == [] or chosen_tasks == []:
            continue
        overrides = [f"rules={','.join(chosen_rules)}"] if chosen_rules else []
        if chosen_tasks and name == "league-feedforward":
            if len(chosen_tasks) > 1:
                raise ConfigError(f"the feedforward league takes one dataset, got {', '.join(chosen_tasks)}")
            overrides.append(f"dataset={chosen_tasks[0]}")
        elif chosen_tasks:
            overrides.append(f"tasks={','.join(chosen_tasks)}")
        points.append(Point(name, preset, tuple(overrides), 0))
    return points


def run(preset: str = "quick", rules: list[str] | None = None, tasks: list[str] | None = None, *,
        out: str | Path = "runs", device: str = "cpu") -> tuple[Path, list[dict[str, Any]]]:
    """Run (or resume, or skip when finished) the league runs and write the table; returns the folder and rows."""
    points = plan(preset, rules, tasks)
    configs = [_config(point) for point in points]  # every config and the device valid before anything runs
    resolve_device(device)
    if not points:
        raise ConfigError("league: no rule to run")
    root = Path(out) / "league" / f"{preset}-{short_hash([rules, tasks, device])}"
    root.mkdir(parents=True, exist_ok=True)
    all_rows = []
    for point, config in zip(points, configs):
        record = execute_point(point, str(root / point.experiment), device=device)
        if record["state"] != "finished":
            raise ConfigError(f"league: {point.experiment} ended {record['state']}: {record.get('error', '')}")
        all_rows += rows(point.experiment, config, record["metrics"])
    write(root, all_rows)
    return root, all_rows


def _config(point: Point):
    from brainlearn.experiments.runner import make_config

    return make_config(get(point.experiment), point.preset, point.overrides)


def rows(name: str, config, metrics: dict[str, float]) -> list[dict[str, Any]]:
    """One row per (task, rule) of a league run's metrics."""
    out = []
    if name == "league-feedforward":
        for r in config.rules:
            attrs = ENTRIES[r]
            out.append({"kind": "feedforward", "task": f"{config.dataset} ({config.arch})", "rule": r,
                        "measure": "test accuracy", "value": metrics[f"{r}_acc"], "ci95": metrics[f"{r}_acc_ci"],
                        "lr": metrics[f"{r}_lr"], "align_start": metrics[f"{r}_angle_start"],
                        "align_mid": metrics[f"{r}_angle_mid"], "align_end": metrics[f"{r}_angle_end"],
                        "alignment": "angle to BP (°)", "time_vs_exact": metrics.get(f"{r}_time_vs_bp"),
                        "memory_vs_exact": metrics.get(f"{r}_memory_vs_bp"), "fgsm_acc": metrics[f"{r}_fgsm_acc"],
                        **dataclasses.asdict(attrs)})
        return out
    for t in config.tasks:
        for r in config.rules:
            k, attrs = f"{t}_{r}", plausibility(rule_of(r, config.variants), getattr(config.variants, r))
            out.append({"kind": "recurrent", "task": t, "rule": r, "measure": "test loss after ÷ before",
                        "value": metrics[f"{k}_loss"], "ci95": metrics[f"{k}_loss_ci"], "lr": metrics[f"{k}_lr"],
                        "align_start": metrics[f"{k}_cos_start"], "align_mid": metrics[f"{k}_cos_mid"],
                        "align_end": metrics[f"{k}_cos_end"], "alignment": "cosine to BPTT",
                        "time_vs_exact": metrics.get(f"{k}_time_vs_bptt"), "memory_vs_exact": None,
                        "fgsm_acc": None, **dataclasses.asdict(attrs)})
    return out


def _write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def cell_text(x: Any) -> str:
    """A table cell: numbers to 3 significant digits, nothing for a missing value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"
    return str(x)


def write(root: Path, table: list[dict[str, Any]]) -> list[Path]:
    """league.md, league.parquet (league.csv without pyarrow; neither without pandas), league.png (the figure,
    shown on both pages) and league.html in `root`."""
    figure = _figure(root / "league.png", table)
    header = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    body = "".join("| " + " | ".join(cell_text(r[c]) for c in COLUMNS) + " |\n" for r in table)
    shown = f"\n![{FIGURE_ALT}](league.png)\n" if figure is not None else ""
    paths = [root / "league.md"]
    _write(paths[0], "# The credit-assignment league\n\n" + header + body + shown)
    try:
        import pandas as pd
    except ImportError:  # the tables extra is not installed: Markdown and HTML only
        pd = None
    if pd is not None:
        frame = pd.DataFrame(table, columns=list(COLUMNS))
        try:
            atomic_write_bytes(root / "league.parquet", frame.to_parquet(index=False))
            paths.append(root / "league.parquet")
        except ImportError:  # no pyarrow: a CSV instead
            _write(root / "league.csv", frame.to_csv(index=False))
            paths.append(root / "league.csv")
    if figure is not None:
        paths.append(figure)
    cells = "\n".join("<tr>" + "".join(_cell(r[c]) for c in COLUMNS) + "</tr>" for r in table)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>The credit-assignment league</title>"
            f"<style>{STYLE}</style></head><body><h1>The credit-assignment league</h1>"
            '<input class="filter" type="search" data-table="league" placeholder="filter: words that each row '
            'must contain" aria-label="filter the league">'
            '<div class="wide"><table class="sortable" id="league"><thead><tr>'
            + "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
            + f"</tr></thead><tbody>\n{cells}\n</tbody></table></div>"
            + (f'<p><img src="league.png" alt="{FIGURE_ALT}"></p>' if figure is not None else "")
            + f"<script>{SCRIPT}</script></body></html>\n")
    _write(root / "league.html", page)
    paths.append(root / "league.html")
    return paths


def _figure(path: Path, table: list[dict[str, Any]]) -> Path | None:
    """Per kind of league, its measure against the cost (time per step relative to the exact rule) and the
    alignment at the end of training against the measure, with their Spearman rank correlation: whether
    alignment with the exact gradient predicts performance. None for an empty table."""
    from scipy import stats

    from brainlearn import plotting
    from brainlearn.experiments.figures import png_bytes

    kinds = [k for k in ("feedforward", "recurrent") if any(r["kind"] == k for r in table)]
    if not kinds:
        return None
    fig, axes = plotting.figure(2, len(kinds), panel=(3.6, 2.8))
    for row_axes, kind in zip(np.asarray(axes).reshape(len(kinds), 2), kinds):
        rows = [r for r in table if r["kind"] == kind]
        measure, alignment = rows[0]["measure"], rows[0]["alignment"]
        for task in dict.fromkeys(r["task"] for r in rows):
            mine = [r for r in rows if r["task"] == task]
            row_axes[0].scatter([_number(r["time_vs_exact"]) for r in mine], [r["value"] for r in mine], s=14,
                                label=task)
            row_axes[1].scatter([_number(r["align_end"]) for r in mine], [r["value"] for r in mine], s=14)
            for r in mine:
                row_axes[0].annotate(r["rule"], (_number(r["time_vs_exact"]), r["value"]), fontsize=6)
                row_axes[1].annotate(r["rule"], (_number(r["align_end"]), r["value"]), fontsize=6)
        pairs = [(_number(r["align_end"]), r["value"]) for r in rows]
        pairs = [(a, v) for a, v in pairs if math.isfinite(a) and math.isfinite(v)]
        rho = stats.spearmanr(*zip(*pairs)).statistic if len(pairs) >= 3 else math.nan
        row_axes[0].set(xlabel="time per step ÷ the exact rule's", ylabel=measure, title=f"{kind}: against cost")
        row_axes[0].legend(fontsize=6)
        row_axes[1].set(xlabel=f"{alignment}, end of training", ylabel=measure,
                        title=f"{kind}: alignment (Spearman ρ {rho:.2f})")
    atomic_write_bytes(path, png_bytes(fig))
    return path


def _number(x: Any) -> float:
    return math.nan if x is None else float(x)


def _cell(x: Any) -> str:
    number = f' class="num" data-sort="{float(x)!r}"' if isinstance(x, int | float) and not isinstance(x, bool) \
        and math.isfinite(x) else ""
    return f"<td{number}>{html.escape(cell_text(x))}</td>"
