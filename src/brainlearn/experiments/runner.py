"""Running experiments: one (config, seed) point into a run directory, or in memory."""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import brainlearn
from brainlearn import experiments
from brainlearn.ensemble.stack import check_chunk
from brainlearn.errors import BrainlearnError, ConfigError, Interrupted, quoted
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
from brainlearn.runtime.rundir import atomic_write_bytes, short_hash
from brainlearn.runtime.seeding import SCHEME, seed_scheme

log = logging.getLogger("brainlearn")


@dataclass
class RunOutcome:
    experiment: Experiment
    config: Any
    seed: int
    result: Result
    claims: list[dict[str, Any]]
    run_dir: RunDir | None
    diverged: dict[str, Any] | None = None  # the first non-finite metric, if any: {"metric", "value", "step"}


def divergence(exp: Experiment, metrics: dict[str, float], history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first of a run's final `metrics` that is NaN or infinite although the experiment does not declare it
    may be (``Experiment.nan_metrics``), with the first logged step at which a metric went non-finite (None
    if no logged record shows it); None when every final metric is finite."""
    bad = [k for k, v in metrics.items() if not math.isfinite(float(v)) and not exp.may_be_nan(k)]
    if not bad:
        return None
    step = next((r.get("step") for r in history
                 if any(isinstance(v, float) and not math.isfinite(v) for k, v in r.items() if k != "step")), None)
    return {"metric": bad[0], "value": str(float(metrics[bad[0]])), "step": step}


def make_config(experiment: Experiment, preset: str = "quick", overrides: list[str] | tuple = ()):
    """The named preset with ``key=value`` overrides applied and validated."""
    return apply_overrides(experiment.preset(preset), overrides)


MAX_SEED = 2**31 - 1
#: States of a run that has ended with a result: nothing left to resume.
ENDED = ("finished", "diverged")


def check_seed(seed) -> int:
    """A run seed: an integer in [0, 2**31 - 1] (replicate and stream seeds derive from it)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return seed


def check_threads(threads) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    return workers


def run_experiment(experiment: Experiment | str, config=None, seed: int = 0, *, preset: str = "quick",
                   device: str = "cpu", out: str | Path | None = "runs", quiet: bool = True,
                   figures: bool = True, path: str | Path | None = None, workers: int = 1,
                   threads: int = 1) -> RunOutcome:
    """Run one experiment at one seed; with `out`, into a new run directory under it (or exactly at
    `path`, which must not exist yet).

    The config defaults to `preset`. Same config, seed, device and `threads` (torch threads, recorded in
    config.json: float reductions depend on it) give the same numbers; `workers` processes train the run's
    independent jobs (replicates), with the same numbers as one.
    """
    exp = experiments.get(experiment) if isinstance(experiment, str) else experiment
    config = exp.preset(preset) if config is None else config
    check_seed(seed)
    check_threads(threads)
    check_workers(workers)
    dev = exp.device_for(resolve_device(device))
    header = _header(exp, config, seed, preset, dev, threads)
    run_dir = RunDir.create(out, exp.name, header, path) if out is not None or path is not None else None
    return _execute(exp, config, seed, dev, run_dir, quiet, figures, resume=False, workers=workers,
                    threads=threads, scheme=SCHEME)


def _header(exp: Experiment, config, seed: int, preset: str, device: torch.device, threads: int) -> dict[str, Any]:
    """A run's config.json: what ran, with what, where, and the versions."""
    config_dict = config_to_dict(config)
    return {"experiment": exp.name, "paper": exp.paper, "preset": preset, "seed": int(seed), "seed_scheme": SCHEME,
            "device": str(device), "threads": threads, "config": config_dict, "config_hash": short_hash(config_dict),
            "versions": {"brainlearn": brainlearn.__version__, "torch": torch.__version__, "numpy": np.__version__}}


#: What an interrupted run must share with a new one to be resumed in its place (not the versions).
SAME_RUN = ("experiment", "preset", "seed", "seed_scheme", "device", "threads", "config_hash")


def interrupted_run(out: str | Path, exp: Experiment, config, seed: int, preset: str, device: str,
                    threads: int = 1) -> Path | None:
    """The newest run under ``out/<experiment>/`` that was interrupted (not ended, with a checkpoint, no process
    using it) and started exactly this run (experiment, preset, seed, seed scheme, device, threads and config):
    a rerun of ``brainlearn verify`` resumes it rather than starting over. None if there is none."""
    wanted = _header(exp, config, seed, preset, exp.device_for(resolve_device(device)), threads)
    folder = Path(out) / exp.name
    for path in sorted(folder.glob(f"*-seed{seed}"), reverse=True) if folder.is_dir() else []:
        try:
            run = RunDir.open(path)
            header = run.header
        except (BrainlearnError, OSError, ValueError):   # not a run directory, or a corrupt one: not ours
            continue
        if (run.status.get("state") not in ENDED and run.checkpoint_path.is_file() and not run.in_use()
                and all(header.get(k) == wanted[k] for k in SAME_RUN)):
            return path
    return None


def resume_experiment(path: str | Path, *, device: str | None = None, quiet: bool = True,
                      workers: int = 1, experiment: str | None = None) -> RunOutcome:
    """Continue an interrupted run from its last checkpoint, in the same directory, with the torch thread
    count it started with. `experiment`, if given, must be the run's experiment."""
    check_workers(workers)
    run_dir = RunDir.open(path)
    header = run_dir.header
    if experiment is not None and experiment != header["experiment"]:
        raise ConfigError(f"{quoted(run_dir.path)} is a run of {header['experiment']}, not {experiment}")
    if run_dir.status.get("state") in ENDED:
        raise ConfigError(f"{quoted(run_dir.path)} has already {run_dir.status['state']}; nothing to resume")
    exp = experiments.get(header["experiment"])
    if "config_hash" in header and short_hash(header["config"]) != header["config_hash"]:
        raise ConfigError(f"{quoted(run_dir.path / 'config.json')} was edited after the run started; its "
                          "checkpoint belongs to the original config (start a new run to change it)")
    config = config_from_dict(exp.config_cls, header["config"])
    seed = check_seed(header["seed"])
    threads = check_threads(header.get("threads", 1))
    dev = exp.device_for(resolve_device(device or header.get("device", "cpu")))
    # a run made before seed scheme 2 records none: it resumes under scheme 1, drawing what it started with
    scheme = header.get("seed_scheme", 1)
    if scheme not in exp.seed_schemes:
        raise ConfigError(f"{quoted(run_dir.path)} was made under seed scheme {scheme}, whose draws {exp.name} no "
                          f"longer reproduces (it drew its data from its weights' seed); start a new run")
    return _execute(exp, config, seed, dev, run_dir, quiet, True, resume=True, workers=workers, threads=threads,
                    scheme=scheme)


def _out_of_memory(e: BaseException) -> bool:
    return isinstance(e, MemoryError | torch.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "not enough memory" in str(e)))


def _execute(exp, config, seed, device, run_dir, quiet, figures, resume, workers, threads, scheme) -> RunOutcome:
    with (run_dir.lock() if run_dir is not None else contextlib.nullcontext(), _torch_threads(threads),
          seed_scheme(scheme)):
        if run_dir is not None and resume:
            run_dir.set_status("running", resumed=True)
        return _run_and_record(exp, config, seed, device, run_dir, quiet, figures, resume, workers)


def _run_and_record(exp, config, seed, device, run_dir, quiet, figures, resume, workers) -> RunOutcome:
    ctx = RunContext(device, run_dir, quiet=quiet, resume=resume, workers=workers)
    t0 = time.perf_counter()
    try:
        with isolated_rng(seed):
            result = exp.run(config, seed, ctx)
        return _record(exp, config, seed, result, ctx, figures, time.perf_counter() - t0)
    except BaseException as e:
        _fail(exp, run_dir, resume, e)
        raise  # _fail raises what the user should see; this is never reached


def _record(exp, config, seed, result, ctx, figures, seconds) -> RunOutcome:
    """Judge a finished run's claims and write its figures, report, claims, result and status."""
    claims = exp.judge(config, [result.metrics])
    diverged = divergence(exp, result.metrics, ctx.history)
    run_dir = ctx.run_dir
    if run_dir is not None:
        paths = save_figures(exp, result, config, run_dir) if figures else []
        report = markdown_report(f"{exp.name}, seed {seed}",
                                 [{"experiment": exp.name, "paper": exp.paper, "claims": claims,
                                   "figures": paths}], run_dir.path)
        atomic_write_bytes(run_dir.path / "report.md", report.encode())
        run_dir.write_json("claims.json", claims)
        result.save(run_dir)  # a function of (config, seed) alone: no timing; result.json written last
        if diverged:
            run_dir.set_status("diverged", seconds=round(seconds, 3), **diverged)
        else:
            run_dir.set_status("finished", seconds=round(seconds, 3))
    return RunOutcome(exp, config, seed, result, claims, run_dir, diverged)


def _fail(exp, run_dir, resume, e: BaseException):
    """Mark a run that stopped early (interrupted or failed) and raise what the user should see."""
    if isinstance(e, KeyboardInterrupt):
        if run_dir is None:
            raise e
        command = f"brainlearn run {exp.name} --resume {quoted(run_dir.path)}"
        saved = run_dir.checkpoint_path.is_file()
        run_dir.set_status("interrupted", resume=command, checkpoint=saved)
        raise Interrupted(command, saved) from None
    error = e
    if _out_of_memory(e):
        error = ConfigError(f"{exp.name} ran out of memory ({type(e).__name__}); a size in its config is "
                            "too large for this machine: reduce it with --set")
    if isinstance(error, BrainlearnError) and run_dir is not None and not resume and not run_dir.metrics():
        # a user error before anything was recorded (missing data, bad shapes) leaves no directory behind
        shutil.rmtree(run_dir.path, ignore_errors=True)
    elif run_dir is not None:
        run_dir.set_status("failed", error=f"{type(error).__name__}: {error}")
    if error is not e:
        raise error from None
    raise e


def run_stacked(exp: Experiment, configs: list, seeds: list[int], paths: list[Path], *, preset: str = "quick",
                device: str = "cpu", threads: int = 1, quiet: bool = True, figures: bool = True,
                chunk: int | None = None) -> list[RunOutcome]:
    """Run or resume several (config, seed) runs of `exp` as one stacked ensemble, each into its own run
    directory at `paths` (new, or interrupted ones to resume), exactly as it would be written alone.

    The configs must share ``exp.stack_key``. New runs stack together, and so do resumed ones, from their
    common round. `chunk` runs at most that many members per vmapped call (peak memory; the same numbers).
    """
    if exp.run_stacked is None:
        raise ConfigError(f"{exp.name} does not declare stacked runs")
    if not len(configs) == len(seeds) == len(paths) or not configs:
        raise ConfigError(f"run_stacked: expected as many configs, seeds and paths (at least one), got "
                          f"{len(configs)}, {len(seeds)}, {len(paths)}")
    if len({exp.stack_key(c) for c in configs}) > 1:
        raise ConfigError(f"{exp.name}: stacked runs may differ only in {', '.join(exp.stack_fields) or 'seed'}")
    for seed in seeds:
        check_seed(seed)
    check_threads(threads)
    check_chunk(chunk)
    dev = exp.device_for(resolve_device(device))
    paths = [Path(p) for p in paths]
    resumed = {k: RunDir.open(p) for k, p in enumerate(paths) if (p / "config.json").is_file()}
    for k, run_dir in resumed.items():  # every check before any directory is made
        if run_dir.status.get("state") in ENDED:
            raise ConfigError(f"{quoted(paths[k])} has already {run_dir.status['state']}; nothing to resume")
        if run_dir.header.get("seed_scheme", 1) != SCHEME or run_dir.header.get("threads", 1) != threads:
            raise ConfigError(f"{quoted(paths[k])} was started with another seed scheme or thread count; resume it "
                              "alone (brainlearn run --resume)")
        if run_dir.header.get("config") != config_to_dict(configs[k]) or run_dir.header.get("seed") != seeds[k]:
            raise ConfigError(f"{quoted(paths[k])} holds a run of another config or seed than the one given for it")
    run_dirs: list[RunDir] = []
    new, last_steps = [], {}
    for k, (config, seed, path) in enumerate(zip(configs, seeds, paths)):
        if k in resumed:
            run_dir = resumed[k]
            last_steps[k] = run_dir.checkpoint_steps()
        else:
            header = {**_header(exp, config, seed, preset, dev, threads), "stacked": True}
            run_dir = RunDir.create(None, exp.name, header, path)
            new.append(k)
        run_dirs.append(run_dir)
    # Resumed members continue together from their common round: each keeps its previous checkpoint, so a
    # kill between two members' checkpoints (one round apart) rolls the ones ahead back by a round.
    groups: dict[int | None, list[int]] = {None: new} if new else {}
    if last_steps:
        common = min((steps[0] if steps else 0) for steps in last_steps.values())
        if all(common == 0 or common in steps for steps in last_steps.values()):
            groups[common] = list(last_steps)
        else:  # a checkpoint lost by hand: resume by round (the same numbers up to float rounding)
            for k, steps in last_steps.items():
                groups.setdefault(steps[0] if steps else 0, []).append(k)
    outcomes: dict[int, RunOutcome] = {}
    for step, members in groups.items():
        resume = step is not None
        with contextlib.ExitStack() as stack:
            for k in members:
                stack.enter_context(run_dirs[k].lock())
            stack.enter_context(_torch_threads(threads))
            stack.enter_context(seed_scheme(SCHEME))
            ctxs = [RunContext(dev, run_dirs[k], quiet=quiet or j > 0, resume=resume, resume_step=step,
                               keep_previous=True, chunk=chunk) for j, k in enumerate(members)]
            if resume:
                for k in members:
                    run_dirs[k].set_status("running", resumed=True)
            t0 = time.perf_counter()
            try:
                with isolated_rng(seeds[members[0]]):
                    results = exp.run_stacked([configs[k] for k in members], [seeds[k] for k in members], ctxs)
                seconds = time.perf_counter() - t0
                for k, ctx, result in zip(members, ctxs, results):
                    outcomes[k] = _record(exp, configs[k], seeds[k], result, ctx, figures, seconds)
            except BaseException as e:
                for k in members[1:]:
                    with contextlib.suppress(BaseException):
                        _fail(exp, run_dirs[k], resume, e)
                _fail(exp, run_dirs[members[0]], resume, e)
    return [outcomes[k] for k in range(len(configs))]


@contextlib.contextmanager
def _torch_threads(threads: int):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_figures(exp: Experiment, result: Result, config, run_dir: RunDir) -> list[Path]:
    if exp.plot is None:
        return []
    return [run_dir.save_figure(name, fig) for name, fig in exp.plot(result, config).items()]
