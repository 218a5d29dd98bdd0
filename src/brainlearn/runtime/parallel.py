"""Independent jobs of one run (the replicates of an experiment point) in parallel processes.

Small recurrent models gain nothing from more torch threads (per-step overhead dominates), so the way to
use several cores is one model per process, one thread each.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch


def map_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int = 1) -> Iterator[Any]:
    """Yield ``fn(*job)`` for every job, in job order.

    With ``workers > 1`` the jobs run `workers` at a time in spawned processes (spawn, not fork: forking
    after torch has started its threads can deadlock) with one torch thread each; `fn` and the jobs must
    pickle. Closing the iterator early cancels the jobs not yet started.
    """
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fn(*job)
        return
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=torch.set_num_threads, initargs=(1,))
    try:
        yield from pool.map(fn, *zip(*jobs))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
