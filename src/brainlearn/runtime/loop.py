"""The training loop every experiment uses: resume, checkpoint cadence, progress, logging, evaluation.

A learner is anything with three methods::

    step(i) -> records          one round of training: an epoch, a chunk of steps, one phase
    state_dict() -> dict        everything needed to continue exactly (weights, optimisers, generators,
                                curves), as tensors, numbers, strings, lists and dicts
    load_state_dict(state)

and optionally ``evaluate(i) -> records``, called after rounds ``evaluate_every, 2 * evaluate_every, ...``
and after the last. `records` is None, one dict of metrics or a list of them; each is logged to the run's
metrics.jsonl at its ``"step"`` key (default: the round number ``i + 1``).

:func:`train` runs rounds ``0 .. rounds - 1`` and checkpoints the learner every `checkpoint_every`
rounds; on ``brainlearn run --resume`` it loads the last checkpoint and continues with the next round,
so an interrupted run ends with exactly the numbers of an uninterrupted one.

:func:`train_stacked` is the same loop for a stacked learner (:mod:`brainlearn.ensemble`): N members in one
pass, each logged and checkpointed into its own run, in the format its run alone would write.

:func:`run_jobs` is the same contract for independent jobs (the replicates of a run): each finished
job's result is checkpointed, a resumed run skips them, and the jobs may run in worker processes;
:func:`run_jobs_stacked` runs the same jobs for N members (runs) at once, each member's results
checkpointed into its own run as :func:`run_jobs` would.

Example::

    class Learner:
        def __init__(self, net, opt, data, shuffle): ...
        def step(self, epoch):
            for idx in minibatches(len(self.data), 32, self.shuffle):
                ...
            return {"epoch": epoch + 1, "loss": loss}
        def state_dict(self):
            return {"net": self.net.state_dict(), "opt": self.opt.state_dict(),
                    "shuffle": self.shuffle.get_state()}
        def load_state_dict(self, state): ...

    train(Learner(...), config.epochs, ctx, desc="my-exp")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from brainlearn.runtime.context import RunContext
from brainlearn.runtime.parallel import map_jobs

Records = Mapping[str, Any] | list[Mapping[str, Any]] | None


class Learner(Protocol):
    def step(self, i: int) -> Records: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _log(ctx: RunContext, records: Records, default_step: int) -> None:
    if records is None:
        return
    for record in [records] if isinstance(records, Mapping) else records:
        record = dict(record)
        ctx.log(record.pop("step", default_step), **record)


def train(learner: Learner, rounds: int, ctx: RunContext, *, desc: str, checkpoint_every: int = 1,
          evaluate_every: int = 1) -> Learner:
    """Run ``learner.step(i)`` for rounds ``i = 0 .. rounds - 1`` (from the last checkpoint when resuming).

    Checkpoints after every `checkpoint_every` rounds and after the last; calls ``learner.evaluate(i)``
    (if it has one) after every `evaluate_every` rounds and after the last. Returns the learner.
    """
    start = 0
    state = ctx.restore()
    if state is not None:
        learner.load_state_dict(state["learner"])
        start = int(state["round"])
    evaluate = getattr(learner, "evaluate", None)
    for i in ctx.progress(range(start, rounds), total=rounds, initial=start, desc=desc):
        _log(ctx, learner.step(i), i + 1)
        last = i + 1 == rounds
        if evaluate is not None and ((i + 1) % evaluate_every == 0 or last):
            _log(ctx, evaluate(i), i + 1)
        if (i + 1) % checkpoint_every == 0 or last:
            ctx.checkpoint(i + 1, {"round": i + 1, "learner": learner.state_dict()})
    return learner


class StackedLearner(Protocol):
    def step(self, i: int) -> list[Records]: ...                        # one record set per member

    def member_state_dict(self, k: int) -> dict[str, Any]: ...          # member k's Learner.state_dict()

    def load_member_state_dict(self, k: int, state: dict[str, Any]) -> None: ...


def train_stacked(learner: StackedLearner, rounds: int, ctxs: Sequence[RunContext], *, desc: str,
                  checkpoint_every: int = 1, evaluate_every: int = 1) -> StackedLearner:
    """:func:`train` for N members at once: ``learner.step(i)`` returns each member's records, logged into
    ``ctxs[k]``; member k's checkpoint is its :meth:`member_state_dict`, the state its run alone saves, so
    a member's run resumes stacked or alone. Resumed members must all be at the same round."""
    states = [ctx.restore() for ctx in ctxs]
    starts = {int(s["round"]) if s is not None else 0 for s in states}
    if len(starts) > 1:
        raise ValueError(f"stacked members resume from different rounds {sorted(starts)}; the runner groups "
                         "them by round")
    start = starts.pop()
    for k, state in enumerate(states):
        if state is not None:
            learner.load_member_state_dict(k, state["learner"])
    evaluate = getattr(learner, "evaluate", None)
    for i in ctxs[0].progress(range(start, rounds), total=rounds, initial=start, desc=desc):
        for ctx, records in zip(ctxs, learner.step(i)):
            _log(ctx, records, i + 1)
        last = i + 1 == rounds
        if evaluate is not None and ((i + 1) % evaluate_every == 0 or last):
            for ctx, records in zip(ctxs, evaluate(i)):
                _log(ctx, records, i + 1)
        if (i + 1) % checkpoint_every == 0 or last:
            for k, ctx in enumerate(ctxs):
                ctx.checkpoint(i + 1, {"round": i + 1, "learner": learner.member_state_dict(k)})
    return learner


def run_jobs(fn: Callable[..., Any], jobs: Mapping[str, tuple], ctx: RunContext, *, desc: str,
             on_result: Callable[[str, Any], Records] | None = None) -> dict[str, Any]:
    """Run ``fn(*args)`` for every ``name -> args`` in `jobs`; return ``{name: result}`` in job order.

    Each result is checkpointed as soon as it is in (results must be checkpointable: tensors, numbers,
    strings, lists, dicts), and a resumed run skips the jobs already done. With ``ctx.workers > 1`` the
    jobs run in worker processes (`fn` at module level, arguments picklable); the numbers are the same.
    ``on_result(name, result)`` may return records to log as each job finishes.
    """
    state = ctx.restore()
    done: dict[str, Any] = dict(state["done"]) if state is not None else {}
    todo = [name for name in jobs if name not in done]
    results = map_jobs(fn, [jobs[name] for name in todo], ctx.workers)
    for name, result in zip(todo, ctx.progress(results, total=len(jobs), initial=len(jobs) - len(todo),
                                               desc=desc)):
        done[name] = result
        if on_result is not None:
            _log(ctx, on_result(name, result), len(done))
        ctx.checkpoint(len(done), {"done": done})
    return {name: done[name] for name in jobs}


def run_jobs_stacked(fn: Callable[[str, list[int]], list[Any]], names: Sequence[str], ctxs: Sequence[RunContext], *,
                     desc: str, on_result: Callable[[str, Any], Records] | None = None) -> list[dict[str, Any]]:
    """:func:`run_jobs` for N members (runs) at once: ``fn(name, members)`` returns job `name`'s result for each
    member index in `members` (stacked or one by one: the job's choice). Member k's results are logged and
    checkpointed into ``ctxs[k]`` in :func:`run_jobs`' format, so its run resumes stacked or alone; a job is
    run for the members that have not finished it. Returns ``[{name: result}]`` per member, in job order."""
    done = [dict(s["done"]) if (s := ctx.restore()) is not None else {} for ctx in ctxs]
    for name in ctxs[0].progress(names, total=len(names), desc=desc):
        members = [k for k, d in enumerate(done) if name not in d]
        if not members:
            continue
        for k, result in zip(members, fn(name, members), strict=True):
            done[k][name] = result
            if on_result is not None:
                _log(ctxs[k], on_result(name, result), len(done[k]))
            ctxs[k].checkpoint(len(done[k]), {"done": done[k]})
    return [{name: d[name] for name in names} for d in done]
