"""Parallel work: one process pool for a run's independent jobs and for a sweep's points.

A job (a replicate of a run, or a sweep point) runs in a spawned process with `threads` torch threads
(spawn, not fork: forking after torch has started its threads can deadlock). Small models gain nothing
from more threads (per-step overhead dominates), so the way to use several cores is one job per process.

Nesting never oversubscribes the cores: inside a pool worker :func:`available_workers` is 1, so the
replicates of a sweep point running in a pool run one after another in that worker.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

from brainlearn.runtime.seeding import current_scheme, set_scheme

_IN_POOL = "BRAINLEARN_POOL_WORKER"


def _init_worker(threads: int, scheme: int) -> None:
    os.environ[_IN_POOL] = "1"
    torch.set_num_threads(threads)
    set_scheme(scheme)


def process_pool(workers: int, threads: int = 1) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes, each with `threads` torch threads and the caller's seed scheme,
    marked as pool workers."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, current_scheme()))


def available_workers(requested: int) -> int:
    """How many processes a run may use for its jobs: `requested`, or 1 inside a pool worker."""
    return 1 if os.environ.get(_IN_POOL) else max(1, int(requested))


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1) -> Iterator[Any]:
    """Yield ``fn(*job)`` for every job, in job order.

    With more than one available worker the jobs run that many at a time in a :func:`process_pool` with
    one torch thread each; `fn` and the jobs must pickle. Closing the iterator early cancels the jobs
    not yet started.
    """
    workers = available_workers(workers)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    pool = process_pool(min(workers, len(jobs)))
    try:
        yield from pool.map(fn, *zip(*jobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
