"""The contracts every experiment keeps, checked on one small config of it.

`check_contracts(name, tmp_path)` asserts, for experiment `name` at its ``smoke`` preset (a few seconds, several
checkpoints; `overrides` vary it):

1. **resumable**: a run interrupted (Ctrl-C) right after its `interrupt_after`-th checkpoint and resumed
   with ``brainlearn run --resume`` ends with the metrics, arrays and metrics.jsonl of an uninterrupted run;
2. **no global RNG**: a run leaves Python's, NumPy's and torch's global RNG states as it found them, and
   gives the same numbers whatever the global RNGs were seeded with;
3. **device contract**: every model the run builds goes through ``runtime.place`` (``ctx.place``), unless
   the experiment is declared ``cpu_only``; the run directory records the device used.

Each experiment's test module calls it.
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from brainlearn import experiments
from brainlearn.experiments import Result
from brainlearn.experiments.runner import make_config, resume_experiment, run_experiment
from brainlearn.runtime import RunContext
from brainlearn.runtime.device import placement_observers


@contextmanager
def interrupted_at_checkpoint(n: int, monkeypatch: pytest.MonkeyPatch | None = None):
    """Inside the block, ``RunContext.checkpoint`` raises KeyboardInterrupt (a Ctrl-C) right after its n-th save,
    and the block must end by that interrupt; yields the count of saves. The patch (through `monkeypatch`, if
    given) is undone when the block ends."""
    mp = monkeypatch or pytest.MonkeyPatch()
    original, calls = RunContext.checkpoint, {"n": 0}

    def checkpoint_then_interrupt(self, step, state):
        original(self, step, state)
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt

    mp.setattr(RunContext, "checkpoint", checkpoint_then_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield calls
    finally:
        mp.setattr(RunContext, "checkpoint", original)


def _global_states():
    return random.getstate(), np.random.get_state()[1].tobytes(), torch.random.get_rng_state()


class _ModuleRecorder:
    """Records every nn.Module built, and every module passed to runtime.place, while active."""

    def __init__(self):
        self.built, self.placed = [], []

    def __enter__(self):
        self._init = torch.nn.Module.__init__
        recorder = self

        def init(module, *args, **kwargs):
            recorder._init(module, *args, **kwargs)
            recorder.built.append(module)

        torch.nn.Module.__init__ = init
        placement_observers.append(self._observe)
        return self

    def _observe(self, module, device):
        self.placed.append(module)

    def __exit__(self, *exc):
        torch.nn.Module.__init__ = self._init
        placement_observers.remove(self._observe)

    def unplaced_models(self) -> list[str]:
        """Modules built with parameters that no placed module holds (an ensemble's template and its wrappers
        live on the meta device: they hold no data to place)."""
        covered = {id(q) for p in self.placed for q in p.parameters()}
        return sorted({type(m).__name__ for m in self.built
                       if any(id(q) not in covered and not q.is_meta for q in m.parameters())})


def _records(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def _assert_same(a, b, message):
    """Equal to the bit, NaN equal to NaN."""
    np.testing.assert_equal(a, b, err_msg=message)


def check_contracts(name: str, tmp_path, overrides: list[str] | tuple = (), seed: int = 1, interrupt_after: int = 1,
                    monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    exp = experiments.get(name)
    config = make_config(exp, "smoke", overrides)

    # an uninterrupted reference run, under another global seed: same numbers, global RNG untouched
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    before = _global_states()
    with _ModuleRecorder() as recorder:
        reference = run_experiment(exp, config, seed, out=tmp_path / "reference", figures=False)
    after = _global_states()
    assert before[0] == after[0] and before[1] == after[1] and torch.equal(before[2], after[2]), \
        f"{name} changed the global RNG state"
    if not exp.cpu_only:
        assert not recorder.unplaced_models(), f"{name} built models it never placed: {recorder.unplaced_models()}"
    assert json.loads((reference.run_dir.path / "config.json").read_text())["device"] == "cpu"
    torch.manual_seed(7)
    again = run_experiment(exp, config, seed, out=None, figures=False)
    _assert_same(again.result.metrics, reference.result.metrics, f"{name} depends on the global RNG")

    # interrupted after the interrupt_after-th checkpoint, then resumed
    with interrupted_at_checkpoint(interrupt_after, monkeypatch) as calls:
        run_experiment(exp, config, seed, out=tmp_path / "interrupted", figures=False)
    assert calls["n"] == interrupt_after, f"{name} finished before its checkpoint {interrupt_after}"
    (path,) = (tmp_path / "interrupted" / name).iterdir()
    resumed = resume_experiment(path)
    _assert_same(resumed.result.metrics, reference.result.metrics, f"{name}: metrics differ after resuming")
    _assert_same(Result.load(resumed.run_dir).arrays, Result.load(reference.run_dir).arrays,
                 f"{name}: arrays differ after resuming")
    assert _records(path) == _records(reference.run_dir.path), f"{name}: metrics.jsonl differs after resuming"


def gated_claims(name: str, preset: str = "quick") -> list[str]:
    """The ids of `name`'s gated claims at `preset` (the quick claims its test module checks)."""
    exp = experiments.get(name)
    return [c.id for c in exp.claims(exp.preset(preset)) if c.gated]


def quick_claims(name: str, seed: int = 0) -> dict[str, dict]:
    """`name`'s claims judged on one in-memory run of its quick preset, by id."""
    return {c["id"]: c for c in run_experiment(name, seed=seed, out=None, figures=False).claims}


def check_stacked_contracts(name: str, tmp_path, stack_overrides: tuple[tuple[str, ...], ...], rtol: float = 1e-5,
                            monkeypatch: pytest.MonkeyPatch | None = None, overrides: tuple[str, ...] = ()) -> None:
    """For an experiment that declares stacked runs, at its smoke preset with `overrides`, members (seed k,
    overrides `stack_overrides[k]`):

    1. **each member is its run alone**: metrics and arrays equal the alone runs' (to `rtol`: the stacked
       kernels sum in another order);
    2. **resumable mid-ensemble**: interrupted between two members' checkpoints of one round (so they stand a
       round apart) and rerun, the ensemble ends with exactly the numbers and metrics.jsonl of an
       uninterrupted one;
    3. **a member's checkpoint is its run's**: an interrupted member resumes alone (``brainlearn run
       --resume``) to its stacked numbers.
    """
    from brainlearn.experiments.runner import run_stacked

    exp = experiments.get(name)
    base = make_config(exp, "smoke", overrides)
    configs = [make_config(exp, "smoke", [*overrides, *o]) for o in stack_overrides]
    seeds = list(range(len(configs)))
    assert len({exp.stack_key(c) for c in [base, *configs]}) == 1, "the overrides must be stack fields"

    def paths(tag):
        return [tmp_path / tag / f"member{k}" for k in seeds]

    stacked = run_stacked(exp, configs, seeds, paths("stacked"), preset="smoke", figures=False)
    for k, outcome in enumerate(stacked):
        alone = run_experiment(exp, configs[k], seeds[k], out=None, figures=False)
        for key, value in alone.result.metrics.items():
            np.testing.assert_allclose(outcome.result.metrics[key], value, rtol=rtol, atol=rtol,
                                       err_msg=f"{name} member {k}: {key} differs from its run alone")
        for key, value in alone.result.arrays.items():
            np.testing.assert_allclose(outcome.result.arrays[key], value, rtol=rtol, atol=rtol,
                                       err_msg=f"{name} member {k}: array {key} differs from its run alone")
        assert json.loads((outcome.run_dir.path / "config.json").read_text())["seed"] == seeds[k]

    interrupt_at = len(seeds) + 1  # round 2, after its first member's checkpoint
    for tag in ("interrupted", "alone"):
        with interrupted_at_checkpoint(interrupt_at, monkeypatch) as calls:
            run_stacked(exp, configs, seeds, paths(tag), preset="smoke", figures=False)
        assert calls["n"] == interrupt_at, f"{name} finished before round 2"
    for k, outcome in enumerate(run_stacked(exp, configs, seeds, paths("interrupted"), preset="smoke",
                                            figures=False)):
        _assert_same(outcome.result.metrics, stacked[k].result.metrics, f"{name}: member {k} differs after resuming")
        _assert_same(outcome.result.arrays, stacked[k].result.arrays, f"{name}: member {k} arrays differ")
        assert _records(outcome.run_dir.path) == _records(stacked[k].run_dir.path), \
            f"{name}: member {k}'s metrics.jsonl differs after resuming"
    resumed = resume_experiment(paths("alone")[1])
    for key, value in stacked[1].result.metrics.items():
        np.testing.assert_allclose(resumed.result.metrics[key], value, rtol=rtol, atol=rtol,
                                   err_msg=f"{name}: member 1 resumed alone differs in {key}")
