"""runtime.loop: the shared training loop and resumable jobs; seed streams; the process pool."""

import operator

import pytest

from brainlearn.runtime import RunContext, RunDir, run_jobs, train
from brainlearn.runtime.parallel import available_workers, map_jobs, process_pool


class Counter:
    def __init__(self):
        self.total, self.evaluated = 0, []

    def step(self, i):
        self.total += i
        return [{"step": 10 * i, "total": self.total}, {"i": i}]

    def evaluate(self, i):
        self.evaluated.append(i)
        return {"evaluated": i}

    def state_dict(self):
        return {"total": self.total, "evaluated": self.evaluated}

    def load_state_dict(self, state):
        self.total, self.evaluated = state["total"], list(state["evaluated"])


def _ctx(tmp_path, resume=False):
    path = tmp_path / "run"
    run = RunDir.open(path) if resume else RunDir.create(tmp_path, "x", {"experiment": "x"}, path=path)
    return RunContext("cpu", run, resume=resume), run


def test_train_logs_evaluates_and_resumes_to_the_same_records(tmp_path):
    reference = RunContext("cpu")
    done = train(Counter(), 5, reference, desc="t", evaluate_every=2)
    assert done.total == 10 and done.evaluated == [1, 3, 4]
    assert reference.history[:3] == [{"step": 0, "total": 0}, {"step": 1, "i": 0}, {"step": 10, "total": 1}]

    ctx, run = _ctx(tmp_path)
    original = RunContext.checkpoint

    def stop_after_two(self, step, state):
        original(self, step, state)
        if step == 2:
            raise KeyboardInterrupt

    RunContext.checkpoint = stop_after_two
    try:
        with pytest.raises(KeyboardInterrupt):
            train(Counter(), 5, ctx, desc="t", evaluate_every=2)
    finally:
        RunContext.checkpoint = original
    run.append_metrics({"step": 99, "torn": True})  # logged after the checkpoint: must go
    ctx, run = _ctx(tmp_path, resume=True)
    resumed = train(Counter(), 5, ctx, desc="t", evaluate_every=2)
    assert resumed.total == 10 and resumed.evaluated == [1, 3, 4]
    assert run.metrics() == reference.history


def test_run_jobs_skips_finished_jobs_on_resume(tmp_path):
    jobs = {f"j{k}": (k, 3) for k in range(4)}
    assert run_jobs(operator.mul, jobs, RunContext("cpu"), desc="j") == {"j0": 0, "j1": 3, "j2": 6, "j3": 9}
    ctx, run = _ctx(tmp_path)
    ctx.checkpoint(2, {"done": {"j0": 0, "j1": -1}})  # j1's saved result is kept, not recomputed
    ctx, _ = _ctx(tmp_path, resume=True)
    assert run_jobs(operator.mul, jobs, ctx, desc="j") == {"j0": 0, "j1": -1, "j2": 6, "j3": 9}


def test_nested_pools_do_not_oversubscribe():
    assert available_workers(4) == 4
    pool = process_pool(2)
    try:
        assert list(pool.map(available_workers, [4, 4])) == [1, 1]  # a pool worker runs its jobs serially
    finally:
        pool.shutdown()
    assert list(map_jobs(operator.mul, [(1, 2), (3, 4)], workers=2)) == [2, 12]


def test_a_batch_log_gets_progress_lines_with_an_eta(monkeypatch, caplog):
    import logging
    import time

    from brainlearn.runtime import context

    monkeypatch.setattr(context, "PROGRESS_INTERVAL", 0.05)
    ctx = RunContext("cpu", quiet=False)
    ctx.interactive = False  # as in a batch job, whose stderr is a file

    def slow():
        for i in range(4):
            time.sleep(0.06)
            yield i

    with caplog.at_level(logging.INFO, logger="brainlearn"):
        assert list(ctx.progress(slow(), total=4, desc="job")) == [0, 1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 3 and lines[-1].startswith("job: 4/4 (100%)"), lines
    assert any("ETA" in line for line in lines), lines
    assert list(RunContext("cpu", quiet=True).progress(range(3))) == [0, 1, 2]  # quiet: nothing at all
