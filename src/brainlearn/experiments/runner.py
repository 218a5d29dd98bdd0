"""Running experiments: one (config, seed) point into a run directory, or in memory."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import brainlearn
from brainlearn import experiments
from brainlearn.errors import BrainlearnError, ConfigError, Interrupted
from brainlearn.experiments.base import Experiment, Result
from brainlearn.runtime import (
    RunContext,
    RunDir,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    isolated_rng,
    resolve_device,
)
from brainlearn.runtime.report import markdown_report
from brainlearn.runtime.rundir import atomic_write_bytes

log = logging.getLogger("brainlearn")


@dataclass
class RunOutcome:
    experiment: Experiment
    config: Any
    seed: int
    result: Result
    claims: list[dict[str, Any]]
    run_dir: RunDir | None


def make_config(experiment: Experiment, preset: str = "quick", overrides: list[str] | tuple = ()):
    """The named preset with ``key=value`` overrides applied and validated."""
    return apply_overrides(experiment.preset(preset), overrides)


def run_experiment(experiment: Experiment | str, config=None, seed: int = 0, *, preset: str = "quick",
                   device: str = "cpu", out: str | Path | None = "runs", quiet: bool = True,
                   figures: bool = True, path: str | Path | None = None, workers: int = 1) -> RunOutcome:
    """Run one experiment at one seed; with `out`, into a new run directory under it (or exactly at
    `path`, which must not exist yet).

    The config defaults to `preset`. Same config, seed and device give the same numbers; `workers`
    processes train the run's independent jobs (replicates), with the same numbers as one.
    """
    exp = experiments.get(experiment) if isinstance(experiment, str) else experiment
    config = exp.preset(preset) if config is None else config
    dev = exp.device_for(resolve_device(device))
    header = {"experiment": exp.name, "paper": exp.paper, "preset": preset, "seed": int(seed),
              "device": str(dev), "config": config_to_dict(config),
              "versions": {"brainlearn": brainlearn.__version__, "torch": torch.__version__}}
    run_dir = RunDir.create(out, exp.name, header, path) if out is not None or path is not None else None
    return _execute(exp, config, seed, dev, run_dir, quiet, figures, resume=False, workers=workers)


def resume_experiment(path: str | Path, *, device: str | None = None, quiet: bool = True,
                      workers: int = 1) -> RunOutcome:
    """Continue an interrupted run from its last checkpoint, in the same directory."""
    run_dir = RunDir.open(path)
    header = run_dir.header
    if run_dir.status.get("state") == "finished":
        raise ConfigError(f"{run_dir.path} has already finished; nothing to resume")
    exp = experiments.get(header["experiment"])
    config = config_from_dict(exp.config_cls, header["config"])
    dev = exp.device_for(resolve_device(device or header.get("device", "cpu")))
    run_dir.set_status("running", resumed=True)
    return _execute(exp, config, header["seed"], dev, run_dir, quiet, True, resume=True, workers=workers)


def _execute(exp, config, seed, device, run_dir, quiet, figures, resume, workers) -> RunOutcome:
    ctx = RunContext(device, run_dir, quiet=quiet, resume=resume, workers=workers)
    t0 = time.perf_counter()
    try:
        with isolated_rng(seed):
            result = exp.run(config, seed, ctx)
    except KeyboardInterrupt:
        if run_dir is None:
            raise
        resume = f"brainlearn run {exp.name} --resume {run_dir.path}"
        run_dir.set_status("interrupted", resume=resume)
        raise Interrupted(resume) from None
    except BrainlearnError as e:
        # A user error (missing data, bad shapes) before anything was recorded leaves no directory behind.
        if run_dir is not None and not resume and not run_dir.metrics():
            shutil.rmtree(run_dir.path, ignore_errors=True)
        elif run_dir is not None:
            run_dir.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    except BaseException as e:
        if run_dir is not None:
            run_dir.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    seconds = time.perf_counter() - t0
    claims = exp.judge(config, [result.metrics])
    if run_dir is not None:
        run_dir.write_json("result.json", {**result.to_dict(), "seconds": seconds})
        run_dir.write_json("claims.json", claims)
        paths = save_figures(exp, result, config, run_dir) if figures else []
        report = markdown_report(f"{exp.name}, seed {seed}",
                                 [{"experiment": exp.name, "paper": exp.paper, "claims": claims,
                                   "figures": paths}], run_dir.path)
        atomic_write_bytes(run_dir.path / "report.md", report.encode())
        run_dir.set_status("finished", seconds=round(seconds, 3))
    return RunOutcome(exp, config, seed, result, claims, run_dir)


def save_figures(exp: Experiment, result: Result, config, run_dir: RunDir) -> list[Path]:
    if exp.plot is None:
        return []
    return [run_dir.save_figure(name, fig) for name, fig in exp.plot(result, config).items()]
