"""Where a sweep's points run: local processes, Ray tasks, or Slurm jobs through submitit.

Each pool runs a point function (``sweep.execute_point``) with the same protocol: ``submit(*args)`` returns a
handle, ``wait(handles)`` returns those done, ``result(handle)`` their record (or raises), ``restart()`` after a
worker died, ``interrupt()`` on Ctrl-C, ``close()``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

from brainlearn.errors import ConfigError
from brainlearn.runtime.parallel import process_pool


class LocalPool:
    """Points in spawned local processes (see runtime.parallel.process_pool)."""

    def __init__(self, fn, workers: int, threads: int):
        self.fn, self.workers, self.threads = fn, workers, threads
        self.pool = process_pool(workers, threads)

    def submit(self, *args):
        return self.pool.submit(self.fn, *args)

    def wait(self, futures):
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done

    @staticmethod
    def result(future):
        return future.result()

    def restart(self):
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = process_pool(self.workers, self.threads)

    def interrupt(self):
        """Ctrl-C: pass SIGINT on to the workers (a terminal sends it to them too; `kill -INT` does not)."""
        for process in list(getattr(self.pool, "_processes", {}).values()):  # the executor keeps no public list
            with contextlib.suppress(ProcessLookupError, OSError):
                os.kill(process.pid, signal.SIGINT)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayPool:
    """Points as Ray tasks, on a local instance or the cluster at `address`."""

    def __init__(self, fn, workers: int, address: str | None, threads: int, gpus: float):
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'brainlearn[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            # no address: always a fresh local instance ("local"), never a cluster another process started here
            kwargs = {"address": address} if address else {"address": "local", "num_cpus": workers * threads}
            ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True, **kwargs)
        self.task = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(fn)

    def submit(self, *args):
        return self.task.remote(*args)

    def wait(self, futures):
        done, _ = self.ray.wait(list(futures), num_returns=1)
        return done

    def result(self, ref):
        return self.ray.get(ref)

    def restart(self):
        pass

    def interrupt(self):
        pass  # Ray cancels a driver's running tasks with KeyboardInterrupt itself

    def close(self):
        pass


class SubmititPool:
    """Points as Slurm jobs through submitit (``--backend slurm``). `parameters` go to
    ``executor.update_parameters`` (e.g. ``slurm_partition``, ``timeout_min``, ``gpus_per_node``); each job
    gets `threads` CPUs. Where no Slurm is found the sweep is refused, unless the user asks for submitit's
    local processes with ``cluster=local`` (``--slurm cluster=local``, which is how the tests run it)."""

    def __init__(self, fn, workers: int, threads: int, folder: Path, parameters: dict[str, Any]):
        try:
            import submitit
        except ImportError:
            raise ConfigError("--backend slurm needs submitit: pip install 'brainlearn[slurm]'") from None
        parameters = dict(parameters)
        cluster = parameters.pop("cluster", None)
        if cluster not in (None, "slurm", "local"):
            raise ConfigError(f"--slurm cluster={cluster!r}; expected slurm or local")
        self.executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        if self.executor.cluster != "slurm" and cluster != "local":
            raise ConfigError("--backend slurm: no Slurm found on this machine (sbatch is not on the PATH); "
                              "add --slurm cluster=local to run the jobs as local processes instead")
        try:
            self.executor.update_parameters(cpus_per_task=threads, **parameters)
        except (NameError, TypeError, ValueError) as e:  # submitit names the unknown or badly typed parameter
            raise ConfigError(f"--slurm: {str(e).splitlines()[0]}") from None
        self.fn = fn
        self.jobs: list[Any] = []

    @classmethod
    def check(cls, threads: int, parameters: dict[str, Any]) -> None:
        """Validate the parameters before anything is written (the executor is made in a throwaway folder)."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            cls(None, 1, threads, Path(folder), parameters)

    def submit(self, *args):
        job = self.executor.submit(self.fn, *args)
        self.jobs.append(job)
        return job

    def wait(self, futures):
        while True:
            done = [job for job in futures if job.done()]
            if done:
                return done
            time.sleep(0.2)

    @staticmethod
    def result(job):
        return job.result()

    def restart(self):
        pass

    def interrupt(self):
        for job in self.jobs:
            if not job.done():
                job.cancel(check=False)

    def close(self):
        pass
