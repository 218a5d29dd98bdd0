"""The context an experiment's run function receives: device, logging, progress, checkpoints."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import torch
from tqdm.auto import tqdm

from brainlearn.runtime.device import M, place
from brainlearn.runtime.parallel import available_workers
from brainlearn.runtime.rundir import RunDir

log = logging.getLogger("brainlearn")


class RunContext:
    """What a run function may touch besides its config and seed.

    A run function stays a pure function of (config, seed): the context only records what happens
    (metrics, checkpoints) and hands back the last checkpoint when a run is resumed.

    Args:
        device: where tensors live.
        run_dir: the run directory, or None for an in-memory run (tests, library use).
        quiet: no progress bars and no progress lines.
        resume: whether :meth:`restore` should return the last checkpoint.
        workers: processes the run may use for independent jobs (see :func:`runtime.loop.run_jobs`).
        resume_step: resume from the checkpoint of this step (the last or the previous one) instead of the
            last; a stacked run's members resume from their common round.
        keep_previous: keep the previous checkpoint beside the last (stacked runs).
        chunk: a stacked run's members per vmapped call at most (None: all at once): bounds peak memory, the
            same numbers.
    """

    def __init__(self, device: torch.device | str = "cpu", run_dir: RunDir | None = None,
                 quiet: bool = True, resume: bool = False, workers: int = 1, resume_step: int | None = None,
                 keep_previous: bool = False, chunk: int | None = None):
        self.device = torch.device(device)
        self.run_dir = run_dir
        self.quiet = quiet
        self.interactive = sys.stderr.isatty()
        self.resume = resume
        self.workers = available_workers(workers)
        self.history: list[dict[str, Any]] = []
        self.resume_step, self.keep_previous, self.chunk = resume_step, keep_previous, chunk

    def place(self, module: M) -> M:
        """Move a model the run builds to the run's device (every model goes through here)."""
        return place(module, self.device)

    def log(self, step: int, **metrics: Any) -> None:
        """Record metrics at `step` (streamed to metrics.jsonl when there is a run directory)."""
        record = {"step": int(step), **{k: _scalar(v) for k, v in metrics.items()}}
        self.history.append(record)
        if self.run_dir is not None:
            self.run_dir.append_metrics(record)

    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str | None = None,
                 **kwargs):
        """A tqdm progress bar on a terminal; elsewhere (a batch log) a progress line with the elapsed time
        and an ETA every :data:`PROGRESS_INTERVAL` seconds, also while one step takes long; nothing when
        quiet."""
        if self.quiet or self.interactive:
            return tqdm(iterable, total=total, desc=desc, disable=self.quiet, leave=False, dynamic_ncols=True,
                        **kwargs)
        return ProgressLines(iterable, total=total, desc=desc, initial=kwargs.get("initial", 0))

    def checkpoint(self, step: int, state: dict[str, Any]) -> None:
        """Save `state` (tensors, numbers, strings, lists, dicts) as the run's resumable checkpoint.

        `state` must hold everything the run needs to continue exactly: model and optimiser state
        dicts, generator states, partial curves. The metric history logged so far is added, so that a
        resumed run keeps exactly the records logged before the checkpoint and no others.
        """
        if self.run_dir is None:
            return
        self.run_dir.save_checkpoint({"step": int(step), "state": state, "history": self.history},
                                     keep_previous=self.keep_previous)

    def restore(self) -> dict[str, Any] | None:
        """The state passed to the last :meth:`checkpoint`, when resuming; otherwise None."""
        if not self.resume or self.run_dir is None:
            return None
        ckpt = None if self.resume_step == 0 else self.run_dir.load_checkpoint(self.resume_step)
        if ckpt is None:
            log.warning("no checkpoint in %s; starting from the beginning", self.run_dir.path)
            self.run_dir.keep_metrics(0)
            return None
        self.history = list(ckpt["history"])
        self.run_dir.keep_metrics(len(self.history))
        log.info("resuming %s from step %d", self.run_dir.path, ckpt["step"])
        return ckpt["state"]


#: Seconds between two progress lines of a run whose stderr is not a terminal.
PROGRESS_INTERVAL = 30.0


class ProgressLines:
    """Iterate `iterable`, logging ``desc: done/total (pct), elapsed, ETA`` every :data:`PROGRESS_INTERVAL`
    seconds from a background thread, so a batch log shows life even while one step takes minutes."""

    def __init__(self, iterable: Iterable, total: int | None = None, desc: str | None = None, initial: int = 0):
        self.iterable, self.desc, self.initial = iterable, desc or "progress", initial
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.done = initial

    def line(self, elapsed: float) -> str:
        counted = self.done - self.initial
        if self.total is None:
            return f"{self.desc}: {self.done} done, {elapsed:.0f} s elapsed"
        eta = f", ETA {elapsed / counted * (self.total - self.done):.0f} s" if counted > 0 else ""
        return f"{self.desc}: {self.done}/{self.total} ({100 * self.done / max(self.total, 1):.0f}%), " \
               f"{elapsed:.0f} s elapsed{eta}"

    def __iter__(self):
        start, stop = time.monotonic(), threading.Event()

        def tick():
            while not stop.wait(PROGRESS_INTERVAL):
                log.info("%s", self.line(time.monotonic() - start))

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            for item in self.iterable:
                yield item
                self.done += 1
        finally:
            stop.set()
        log.info("%s", self.line(time.monotonic() - start))


def _scalar(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if hasattr(v, "item") and getattr(v, "size", 2) == 1:
        return v.item()
    return v
