"""Analyses of Mixture-of-Pathways models (arXiv:2506.02813): difficulty, complexity, pathway criteria.

- :func:`task_difficulty`: the paper's measure, log of the median number of steps a single-task GRU needs
  to bring its response loss below 0.25 (several seeds); :data:`DIFFICULTY` stores the values for the CPU
  task set (``python -m brainlearn.models.pathways_analysis`` recomputes them); :func:`difficulties` gives
  them for any task list, measuring the tasks without a stored value.
- :func:`evaluate`: per-task response accuracy, response-period learned pathway complexity (LPC) and
  routing weights in inference mode, optionally with low-weight experts removed (self-sufficiency) or the
  largest expert of every block lesioned; :func:`measure` takes all three.
- :func:`consistency`: mean pairwise Pearson correlation of per-task vectors across independently trained
  models; :func:`distinctness`: how different the tasks' routing patterns are; :func:`spearman`.
"""

from __future__ import annotations

import itertools
import logging
import math
import statistics

import numpy as np
import torch

from brainlearn.analysis.solvability import fit_gru
from brainlearn.errors import ShapeError
from brainlearn.models.pathways import MixtureOfPathways, per_task_mean

log = logging.getLogger(__name__)

# log(median steps to response CE < 0.25) of a GRU-64 trained alone on each task (Adam lr 1e-2, B 32, T 100,
# cap 500 steps, seeds 0-2), from `python -m brainlearn.models.pathways_analysis` on this implementation.
DIFFICULTY_STEPS: dict[str, tuple[int, ...]] = {
    "rtgo": (32, 33, 31), "rtanti": (33, 31, 30), "go": (60, 55, 53), "anti": (64, 53, 57),
    "dms": (116, 105, 97), "dlygointr": (183, 218, 187), "dlydm1": (231, 208, 225), "dm1": (281, 305, 244),
}
DIFFICULTY: dict[str, float] = {k: math.log(statistics.median(v)) for k, v in DIFFICULTY_STEPS.items()}


def task_difficulty(tasks, seeds: int = 3, max_steps: int = 500, threshold: float = 0.25, **fit_kwargs) -> dict:
    """{task: {"steps": [...], "difficulty": log(median steps)}}: the paper's difficulty, a run that never
    reaches `threshold` counts as `max_steps` (the reference caps at 10,000)."""
    out = {}
    for task in tasks:
        steps = [fit_gru(task, steps=max_steps, threshold=threshold, seed=s, **fit_kwargs)["steps_to_threshold"]
                 or max_steps for s in range(seeds)]
        out[task] = {"steps": steps, "difficulty": math.log(statistics.median(steps))}
    return out


def difficulties(tasks) -> np.ndarray:
    """The difficulty of each of `tasks` (K,): the stored value where :data:`DIFFICULTY` has one, else measured
    by :func:`task_difficulty` with the stored values' protocol (seeds 0-2, cap 500 steps), so that every task
    of any subset is on one scale."""
    missing = [t for t in tasks if t not in DIFFICULTY]
    if missing:
        log.info("measuring the difficulty of %d task(s) without a stored value: %s", len(missing), ", ".join(missing))
    measured = task_difficulty(missing, seeds=3, max_steps=500)
    return np.array([DIFFICULTY[t] if t in DIFFICULTY else measured[t]["difficulty"] for t in tasks])


@torch.no_grad()
def evaluate(model: MixtureOfPathways, windows, prune_below: float | None = None,
             lesion_largest: bool = False) -> dict[str, np.ndarray]:
    """Per-task metrics on response-period steps of `windows` (a list of Batch), model in eval mode.

    Returns ``accuracy`` (K,), ``lpc`` (K,) (cost of the pre-pruning weights, summed over blocks) and
    ``routing`` (K, L, E) mean router weights; NaN for tasks absent from the windows.
    """
    was_training = model.training
    model.eval()
    k = model.n_tasks
    correct, lpc, count = torch.zeros(k), torch.zeros(k), torch.zeros(k)
    routing = None
    for w in windows:
        out = model(w.inputs, w.task, prune_below=prune_below, lesion_largest=lesion_largest)
        mask = w.response_mask
        n = torch.zeros(k).index_add(0, w.task[mask], torch.ones(int(mask.sum())))
        hit = (out.logits.argmax(-1) == w.targets).float()
        correct += torch.nan_to_num(per_task_mean(hit, w.task, mask, k)) * n
        lpc += torch.nan_to_num(per_task_mean(out.cost, w.task, mask, k)) * n
        r = torch.stack([torch.stack([torch.nan_to_num(per_task_mean(wl[..., j], w.task, mask, k))
                                      for j in range(wl.shape[-1])], -1) for wl in out.weights], 1)  # (K, L, E)
        routing = r * n[:, None, None] if routing is None else routing + r * n[:, None, None]
        count += n
    model.train(was_training)
    c = torch.where(count > 0, count, torch.full_like(count, float("nan")))
    return {"accuracy": (correct / c).numpy(), "lpc": (lpc / c).numpy(),
            "routing": (routing / c[:, None, None]).numpy()}


def measure(model: MixtureOfPathways, windows, prune_threshold: float) -> dict[str, np.ndarray]:
    """Per-task accuracy, LPC and routing of the intact model, then its accuracy with experts of weight below
    `prune_threshold` removed (self-sufficiency) and with the largest expert of every block lesioned."""
    full = evaluate(model, windows)
    pruned = evaluate(model, windows, prune_below=prune_threshold)
    lesion = evaluate(model, windows, lesion_largest=True)
    return {"accuracy": full["accuracy"], "lpc": full["lpc"], "routing": full["routing"],
            "pruned_accuracy": pruned["accuracy"], "lesion_accuracy": lesion["accuracy"]}


def spearman(x, y) -> float:
    """Spearman rank correlation over the pairs where both are finite (NaN with fewer than 3 pairs)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def consistency(vectors) -> float:
    """Mean pairwise Pearson correlation of per-model vectors (M, ...) flattened; NaN with M < 2.

    With per-task LPC vectors this is the pathways experiment's claim A4; with (K, L, E) routing patterns it
    is the paper's consistency criterion. A constant vector (no variation to correlate) contributes 0.
    """
    v = np.asarray(vectors, float)
    if v.ndim < 2:
        raise ShapeError(f"consistency: expected (models, ...) vectors, got shape {v.shape}")
    v = v.reshape(len(v), -1)
    if len(v) < 2:
        return float("nan")
    ok = np.isfinite(v).all(0)
    rs = []
    for a, b in itertools.combinations(v[:, ok], 2):
        rs.append(0.0 if a.std() == 0 or b.std() == 0 else float(np.corrcoef(a, b)[0, 1]))
    return float(np.mean(rs))


def distinctness(routing) -> float:
    """Mean over task pairs of the total-variation distance between their routing distributions, averaged
    over blocks: 0 when every task uses the same experts, 1 when tasks use disjoint experts. routing (K, L, E)."""
    r = np.asarray(routing, float)
    if r.ndim != 3:
        raise ShapeError(f"distinctness: expected routing (tasks, blocks, experts), got shape {r.shape}")
    r = r[np.isfinite(r).all((1, 2))]
    if len(r) < 2:
        return float("nan")
    d = [0.5 * np.abs(a - b).sum(-1).mean() for a, b in itertools.combinations(r, 2)]
    return float(np.mean(d))


def lpc_rise(curve) -> np.ndarray:
    """(K,) early rise of each task's LPC over training: max over checkpoints minus the first value.

    curve (C, K): response-period LPC per checkpoint (the paper's Fig. 6: hard tasks first recruit complex
    experts, then hand off to cheaper pathways)."""
    c = np.asarray(curve, float)
    if c.ndim != 2 or len(c) < 2:
        raise ShapeError(f"lpc_rise: expected (checkpoints >= 2, tasks), got shape {c.shape}")
    seen = np.isfinite(c).any(0)
    peak = np.full(c.shape[1], np.nan)
    peak[seen] = np.nanmax(c[:, seen], 0)
    return peak - c[0]


if __name__ == "__main__":  # recompute DIFFICULTY_STEPS
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Task difficulty the MoP way (log median steps to CE < 0.25)")
    parser.add_argument("--tasks", default="rtgo,rtanti,go,anti,dm1,dlydm1,dms,dlygointr")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(task_difficulty(args.tasks.split(","), args.seeds, args.max_steps), indent=1))
