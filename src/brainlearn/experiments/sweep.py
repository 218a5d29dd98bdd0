"""Sweeps: the cartesian product of a parameter grid times seeds, each point a normal run directory.

Points run in a local process pool (one torch thread per worker by default: small models run faster
that way), as Ray tasks on a local instance or an existing cluster, or stacked: the points of an experiment
that declares stacked runs, differing only in seed and its `stack_fields`, train as one ensemble in this
process (see docs/ensembles.md), each still into its own run directory. Rerunning the same sweep command
skips finished points, resumes interrupted ones from their checkpoints and retries failed ones.

Layout::

    <out>/<experiment>/sweep-<hash>/
        sweep.json          the spec: experiment, preset, grid, seeds, overrides, and every point
        points/<key>/       one run directory per (grid point, seed)
        summary.csv, summary.md, figures/   written by `brainlearn sweep-report` (see sweep_report.py)
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from brainlearn import experiments
from brainlearn.ensemble.stack import check_chunk
from brainlearn.errors import BrainlearnError, ConfigError, quoted
from brainlearn.experiments.runner import ENDED, make_config, resume_experiment, run_experiment, run_stacked
from brainlearn.experiments.sweep_pools import LocalPool, RayPool, SubmititPool
from brainlearn.runtime import RunDir, apply_overrides, resolve_device
from brainlearn.runtime.config import field_type
from brainlearn.runtime.rundir import atomic_write_json, short_hash

log = logging.getLogger("brainlearn")
BACKENDS = ("local", "stacked", "ray", "slurm")


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the grid coordinates as ``key=value`` overrides, and a seed."""

    experiment: str
    preset: str
    overrides: tuple[str, ...]
    seed: int

    @property
    def key(self) -> str:
        return f"{short_hash([self.experiment, self.preset, list(self.overrides)])}-seed{self.seed}"

    @property
    def label(self) -> str:
        return f"{' '.join(self.overrides) or '(base)'} seed={self.seed}"


def parse_grid(experiment: str, preset: str, grid: Sequence[str], overrides: Sequence[str] = ()
               ) -> dict[str, list[str]]:
    """Parse ``key=v1,v2,...`` items and check every value against the config, before anything runs.

    For tuple-valued fields (e.g. ``hidden``) values are separated by ``;`` since commas sit inside a
    value: ``hidden=100;200,100``.
    """
    exp = experiments.get(experiment)
    base = apply_overrides(exp.preset(preset), overrides)
    axes: dict[str, list[str]] = {}
    for item in grid:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r}: expected key=v1,v2,...")
        key, text = (s.strip() for s in item.split("=", 1))
        try:
            tp = field_type(type(base), key)  # dotted keys reach nested configs: model.n_hidden
        except ConfigError as e:
            raise ConfigError(f"--grid: {e}") from None
        if key in axes:
            raise ConfigError(f"--grid: key {key!r} given twice")
        is_tuple = getattr(tp, "__origin__", None) is tuple
        values = [v.strip() for v in text.split(";" if is_tuple else ",")]
        if not all(values):
            raise ConfigError(f"--grid {item!r}: empty value")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {item!r}: a value is given twice (each point would run twice)")
        for v in values:
            apply_overrides(base, [f"{key}={v}"])  # raises ConfigError naming the bad value
        axes[key] = values
    return axes


def expand(experiment: str, preset: str, axes: dict[str, list[str]], seeds: int,
           overrides: Sequence[str] = ()) -> list[Point]:
    """Every (grid point, seed) pair; fixed `overrides` come first in each point's override list."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    combos = itertools.product(*[[f"{k}={v}" for v in vs] for k, vs in axes.items()])
    return [Point(experiment, preset, (*overrides, *combo), s) for combo in combos for s in range(seeds)]


def finished_record(point: Point, path: str | Path) -> dict[str, Any] | None:
    """The record of a point whose directory holds a finished run; None if it has not finished."""
    run = RunDir(path)
    state = run.status.get("state")
    if state not in ENDED or not (run.path / "result.json").is_file():
        return None
    return {"key": point.key, "state": state, "metrics": run.result()["metrics"], "claims": run.claims(),
            **({"error": _diverged(run.status)} if state == "diverged" else {})}


def _diverged(status: dict[str, Any]) -> str:
    where = f" (first non-finite at step {status['step']})" if status.get("step") is not None else ""
    return f"diverged: {status.get('metric')} = {status.get('value')}{where}"


def execute_point(point: Point, path: str, device: str = "cpu", threads: int = 1, workers: int = 1
                  ) -> dict[str, Any]:
    """Run, resume or skip one point in its directory; return its status, metrics and claims.

    Runs in a worker process (or a Ray task). The run uses `threads` torch threads (a resumed one the
    count it started with); `workers` processes may train the point's replicates (in a pool worker they
    run one after another: see runtime.parallel).
    """
    record = finished_record(point, path)
    if record is not None:
        return record
    run_path = Path(path)
    if run_path.is_dir() and RunDir(run_path).in_use():
        raise ConfigError(f"{quoted(run_path)} is in use by another brainlearn process (the same sweep started "
                          "twice?); rerun this sweep once the other has finished")
    if (run_path / "config.json").is_file() and RunDir(run_path).checkpoint_path.is_file():
        resume_experiment(run_path, device=device, workers=workers)
    else:
        shutil.rmtree(run_path, ignore_errors=True)  # never started properly: start clean
        exp = experiments.get(point.experiment)
        config = make_config(exp, point.preset, point.overrides)
        run_experiment(exp, config, point.seed, preset=point.preset, device=device, path=run_path, workers=workers,
                       threads=threads)
    return finished_record(point, path)


def check_options(backend: str, workers: int, threads: int, retries: int, device: str,
                  slurm: dict[str, Any] | None = None) -> None:
    """Validate how points are to run, before anything is written."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if workers < 1 or threads < 1 or retries < 0:
        raise ConfigError(f"need workers >= 1, threads >= 1, retries >= 0; got {workers}, {threads}, {retries}")
    resolve_device(device)
    if backend == "slurm":
        SubmititPool.check(threads, slurm or {})
    elif slurm:
        raise ConfigError("--slurm parameters need --backend slurm")


def run_points(points: Sequence[Point], paths: Sequence[Path], *, workers: int = 1, threads: int = 1,
               backend: str = "local", address: str | None = None, device: str = "cpu", retries: int = 1,
               gpus_per_point: float = 0.0, quiet: bool = True, on_result=None,
               slurm: dict[str, Any] | None = None, chunk: int | None = None) -> list[dict[str, Any]]:
    """Run every point into its path; finished points are skipped, interrupted ones resumed.

    A point that raises is retried up to `retries` times; a crashed worker process is replaced.
    With the local backend and one worker (or one point to run), points run in this process, and a
    point's replicates may use the `workers` processes instead. Returns one
    record per point, in order: {"key", "state": finished|failed, "metrics", "claims", "error"}.
    """
    check_options(backend, workers, threads, retries, device, slurm)
    from tqdm.auto import tqdm

    records: dict[int, dict[str, Any]] = {}
    attempts = dict.fromkeys(range(len(points)), 0)
    bar = tqdm(total=len(points), desc="sweep", disable=quiet, dynamic_ncols=True, unit="point")

    def finish(i: int, record: dict[str, Any]) -> None:
        records[i] = record
        bar.update(1)
        if not record.get("user_error"):  # a user error is reported once, by the caller, not once per point
            log.info("%s %s: %s", "done" if record["state"] == "finished" else "FAILED", points[i].label,
                     record.get("error", ""))
        if on_result:
            on_result(points[i], record)

    def failed(i: int, error: BaseException) -> bool:
        """Record an attempt; True if the point should be tried again."""
        attempts[i] += 1
        user_error = isinstance(error, BrainlearnError)
        if user_error or attempts[i] > retries:
            finish(i, {"key": points[i].key, "state": "failed", "user_error": user_error,
                       "error": f"{type(error).__name__}: {error}" if not user_error else str(error)})
            return False
        log.warning("%s failed (%s); retrying", points[i].label, error)
        return True

    todo = []
    for i, path in enumerate(paths):  # finished points are read here, without starting a worker
        record = finished_record(points[i], path)
        if record is not None:
            finish(i, record)
        else:
            todo.append(i)

    if backend == "stacked":
        todo = _run_stacked_groups(points, paths, todo, device, threads, quiet, finish, failed, chunk)
        backend, workers = "local", 1  # what does not stack runs point by point
    try:
        if not todo:
            pass
        elif backend == "local" and (workers == 1 or len(todo) == 1):
            for i in todo:
                while True:
                    try:
                        finish(i, execute_point(points[i], str(paths[i]), device, threads, workers))
                        break
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as e:  # noqa: BLE001 - recorded and retried
                        if not failed(i, e):
                            break
        else:
            if backend == "local":
                pool = LocalPool(execute_point, workers, threads)
            elif backend == "ray":
                pool = RayPool(execute_point, workers, address, threads, gpus_per_point)
            else:  # job logs beside the points' folder
                pool = SubmititPool(execute_point, workers, threads, Path(paths[0]).parent.parent / "submitit",
                                    slurm or {})
            waiting = deque(todo)  # at most `workers` points are submitted: none sits queued in a worker
            pending: dict[Any, int] = {}

            def fill():
                while waiting and len(pending) < workers:
                    i = waiting.popleft()
                    pending[pool.submit(points[i], str(paths[i]), device, threads)] = i

            try:
                fill()
                while pending:
                    for future in pool.wait(pending):
                        i = pending.pop(future)
                        try:
                            finish(i, pool.result(future))
                        except BrokenProcessPool as e:
                            # A worker died: every in-flight point counts an attempt, the pool restarts.
                            lost = [i] + list(pending.values())
                            pending.clear()
                            pool.restart()
                            waiting.extendleft(reversed([j for j in lost if failed(j, e)]))
                            break
                        except Exception as e:  # noqa: BLE001 - recorded and retried
                            if failed(i, e):
                                waiting.appendleft(i)
                    fill()
            except KeyboardInterrupt:
                pool.interrupt()  # running points checkpoint and mark themselves interrupted; none starts
                raise
            finally:
                pool.close()
    finally:
        bar.close()
    return [records[i] for i in range(len(points))]


def _run_stacked_groups(points, paths, todo, device, threads, quiet, finish, failed, chunk) -> list[int]:
    """Run the points of `todo` that stack, group by group (same experiment, preset and stack key); return
    the rest. A group that fails is retried as a group while its points have attempts left."""
    groups: dict[tuple, list[int]] = {}
    rest = []
    for i in todo:
        exp = experiments.get(points[i].experiment)
        if exp.run_stacked is None:
            rest.append(i)
            continue
        config = make_config(exp, points[i].preset, points[i].overrides)
        groups.setdefault((exp.name, points[i].preset, exp.stack_key(config)), []).append(i)
    for (name, preset, _), members in groups.items():
        exp = experiments.get(name)
        while members:
            for i in members:  # a directory without a checkpoint never started properly: start clean
                path = Path(paths[i])
                if path.is_dir() and RunDir(path).in_use():
                    raise ConfigError(f"{quoted(path)} is in use by another brainlearn process (the same sweep "
                                      "started twice?); rerun this sweep once the other has finished")
                if not (path / "config.json").is_file() or not RunDir(path).checkpoint_path.is_file():
                    shutil.rmtree(path, ignore_errors=True)
            try:
                run_stacked(exp, [make_config(exp, preset, points[i].overrides) for i in members],
                            [points[i].seed for i in members], [Path(paths[i]) for i in members], preset=preset,
                            device=device, threads=threads, quiet=quiet, chunk=chunk)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # noqa: BLE001 - recorded and retried
                members = [i for i in members if failed(i, e)]
                continue
            for i in members:
                finish(i, finished_record(points[i], paths[i]))
            members = []
    return rest


def sweep(experiment: str, *, preset: str = "quick", grid: Sequence[str] = (), seeds: int = 1,
          overrides: Sequence[str] = (), workers: int = 1, threads: int = 1, backend: str = "local",
          address: str | None = None, device: str = "cpu", retries: int = 1, out: str | Path = "runs",
          quiet: bool = True, slurm: dict[str, Any] | None = None,
          chunk: int | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Run a sweep (see module docstring); returns the sweep directory and one record per point.

    The directory is named by a hash of the spec, so the same command finds its earlier points.
    """
    check_options(backend, workers, threads, retries, device, slurm)
    check_chunk(chunk)
    axes = parse_grid(experiment, preset, grid, overrides)
    points = expand(experiment, preset, axes, seeds, overrides)
    spec = {"experiment": experiment, "preset": preset, "grid": axes, "seeds": seeds,
            "overrides": list(overrides)}
    sweep_dir = Path(out) / experiment / f"sweep-{short_hash(spec)}"
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(sweep_dir / "sweep.json", {**spec, "points": [
            {**asdict(p), "overrides": list(p.overrides), "key": p.key} for p in points]})
    except OSError as e:
        raise ConfigError(f"cannot create the sweep directory {quoted(sweep_dir)}: {e.strerror or e}") from None
    paths = [sweep_dir / "points" / p.key for p in points]
    t0 = time.perf_counter()
    records = run_points(points, paths, workers=workers, threads=threads, backend=backend, address=address,
                         device=device, retries=retries, gpus_per_point=1.0 if device.startswith("cuda") else 0.0,
                         quiet=quiet, slurm=slurm, chunk=chunk)
    log.info("sweep finished in %.1f s: %s", time.perf_counter() - t0, sweep_dir)
    return sweep_dir, records
