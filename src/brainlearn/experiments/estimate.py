"""`brainlearn verify --estimate`: the expected CPU and GPU hours of a preset, before anything runs.

The CPU hours scale a measured run: the quick preset's wall time as ``verify --record`` stored it (seeds one after
another, one worker), per seed, times ``work(preset) / work(quick)`` (``Experiment.work``), times the seeds asked
for. Nothing on a GPU is measured: the GPU hours divide the CPU hours by the experiment's ``gpu_speedup``, an
assumption stated as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brainlearn.errors import ConfigError
from brainlearn.experiments.base import Experiment
from brainlearn.experiments.runner import make_config

#: A step's fixed cost (Python, dispatch, small kernels) in multiply-adds, an assumption of about 0.1-0.2 ms of one
#: core. It dominates the small quick runs: without it a work measure would scale their time as if it were all
#: arithmetic, and overestimate large presets many times over.
STEP_COST = 1e6


def steps_work(steps: float, macs: float) -> float:
    """The work of `steps` sequential steps (updates, or time steps of a recurrent network) of `macs`
    multiply-adds each: the usual form of an ``Experiment.work`` measure."""
    return steps * (STEP_COST + macs)


def dense_weights(*sizes: int) -> int:
    """Weights of a dense network of layer `sizes` (the usual factor of an ``Experiment.work`` measure)."""
    return sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))


@dataclass(frozen=True)
class Estimate:
    """The estimate of one experiment's run, or why there is none (`reason`, with the hours None)."""

    experiment: str
    preset: str
    seeds: int
    cpu_hours: float | None = None
    gpu_hours: float | None = None
    basis: str = ""
    reason: str = ""

    def line(self) -> str:
        head = f"{self.experiment:28s} {self.preset}, {self.seeds} seed{'s' * (self.seeds > 1)}: "
        if self.cpu_hours is None:
            return head + f"no estimate: {self.reason}"
        return head + (f"CPU {self.cpu_hours:.3g} h, GPU {self.gpu_hours:.3g} h (assumed, not measured); "
                       f"basis: {self.basis}")


def quick_record(entries: dict[str, Any]) -> dict[str, Any] | None:
    """The newest of a quick preset's recorded claim entries that has the run's wall time (all its claims
    come from one run, so any such entry will do)."""
    timed = [e for e in entries.values() if e.get("wall_s") is not None]
    return max(timed, key=lambda e: e["date"]) if timed else None


def estimate(exp: Experiment, preset: str, seeds: int, records: dict[str, Any],
             overrides: list[str] | tuple = ()) -> Estimate:
    """The estimate for `seeds` seeds of `preset` (with `overrides`), from `records` (the shape of
    :func:`~brainlearn.experiments.claims_table.recorded`)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    config = make_config(exp, preset, overrides)  # validates the preset and overrides before anything else
    if exp.work is None:
        return Estimate(exp.name, preset, seeds, reason="the experiment declares no work measure")
    rec = quick_record(records.get(exp.name, {}).get("quick", {}))
    if rec is None:
        return Estimate(exp.name, preset, seeds, reason="no recorded quick run with its wall time to scale from "
                        "(record one with `brainlearn verify NAME --quick --record`)")
    if rec.get("device", "cpu") != "cpu" or rec.get("workers", 1) != 1:
        return Estimate(exp.name, preset, seeds, reason=f"the recorded quick run ran on {rec.get('device')} with "
                        f"{rec.get('workers')} workers, not on one CPU worker")
    ratio = exp.work(config) / exp.work(exp.presets["quick"])
    cpu = rec["wall_s"] / rec["seeds"] * ratio * seeds / 3600
    speedup = 1.0 if exp.cpu_only else exp.gpu_speedup  # a CPU-only experiment computes on the CPU anyway
    basis = (f"quick record of {rec['date']} ({rec['wall_s']:.0f} s, {rec['seeds']} seed{'s' * (rec['seeds'] > 1)}, "
             f"cpu) x work ratio {ratio:.3g}; GPU: " + ("runs on the CPU only" if exp.cpu_only
                                                           else f"CPU / {speedup:g}, an assumed speed-up"))
    return Estimate(exp.name, preset, seeds, cpu, cpu / speedup, basis)
