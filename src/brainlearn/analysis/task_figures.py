"""Figures of example cognitive-task trials: inputs (fixation, two rings) and targets over time, one column
per trial (``brainlearn tasks show``)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from brainlearn import plotting
from brainlearn.data.cognitive.core import N_CLASSES, N_RING, PERIODS, TaskSuite
from brainlearn.data.cognitive.tasks import get_task, resolve_tasks
from brainlearn.errors import ConfigError, quoted
from brainlearn.runtime import atomic_write_bytes, make_generator


def plot_trials(name: str, n: int = 3, seed: int = 0, noise: float | None = None):
    """A matplotlib Figure of `n` example trials of task `name`: inputs (top) and target classes (bottom).

    Inputs: fixation, modality-1 ring, modality-2 ring stacked as 33 rows (time on x). Targets: the 17-class
    target as a one-hot image (class 0 = fixate at the bottom). Dashed lines mark the period boundaries.
    """
    task = get_task(name)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 12:
        raise ConfigError(f"n must be an int in 1..12, got {n!r}")
    suite = TaskSuite([task.name], task_input=False, **({} if noise is None else {"noise": noise}))
    batch = suite.trials(n, make_generator(seed))
    title = f"{task.name}: periods {' / '.join(PERIODS)} (zero-length ones skipped)"
    fig, flat = plotting.figure(n, 2, panel=(3.2, 2.3), title=title)
    flat[0].get_subplotspec().get_gridspec().set_height_ratios((33, 17))
    for i in range(n):
        steps = int(batch.valid[i].sum())
        x, y = batch.inputs[i, :steps].T.numpy(), batch.targets[i, :steps]
        onehot = torch.nn.functional.one_hot(y, N_CLASSES).T.float().numpy()
        tr = batch.trials[i]
        top, bottom = flat[i], flat[n + i]
        plotting.matrix(top, x, aspect="auto", interpolation="nearest", vmin=-0.2, vmax=1.0)
        top.axhline(0.5, color="w", lw=0.6)
        top.axhline(0.5 + N_RING, color="w", lw=0.6)
        plotting.matrix(bottom, onehot, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest")
        for b in tr.bounds[:-1].tolist():
            if 0 < b < steps:
                for ax in (top, bottom):
                    ax.axvline(b - 0.5, color="r", lw=0.6, ls="--")
        info = f"dir {int(tr.direction)}" + ("" if bool(tr.respond) else " (no-go)")
        if int(tr.match) >= 0:
            info += ", match" if int(tr.match) else ", non-match"
        top.set_title(f"{task.name} #{i}: {info}", fontsize=8)
        top.set_yticks([0, 1 + N_RING // 2, 1 + N_RING + N_RING // 2], ["fix", "ring 1", "ring 2"], fontsize=7)
        bottom.set_yticks([0, 8, 16], ["0", "8", "16"], fontsize=7)
        bottom.set_xlabel("step (100 ms)", fontsize=7)
        if i == 0:
            bottom.set_ylabel("target class", fontsize=7)
    return fig


def write_task_figures(names, out_dir, n: int = 3, seed: int = 0) -> list[Path]:
    """Write ``<out_dir>/<task>.png`` for each task in `names` (a suite name, a task name or a list)."""
    tasks = resolve_tasks(names)  # an unknown name fails here, before anything is written
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the figure folder {quoted(out)}: {e.strerror or e}") from None
    paths = []
    for task in tasks:
        fig = plot_trials(task.name, n=n, seed=seed)
        path = out / f"{task.name}.png"
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
