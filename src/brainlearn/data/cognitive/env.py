"""A gymnasium environment over a task suite, for users of the neurogym ecosystem (gymnasium is optional).

Semantics follow neurogym's ``TrialEnv``: an endless run of trials; each step returns the current
observation (33 + K); reward +1 for a correct non-fixate action in the decision period, -0.1 for breaking
fixation before it, 0 otherwise; a non-fixate action in the decision period ends the trial. ``info`` holds
``gt`` (the target class now), ``new_trial``, ``task`` (name) and ``period``. Episodes never terminate.
"""

from __future__ import annotations

from brainlearn.data.cognitive.core import DECISION, N_CLASSES, TaskSuite
from brainlearn.runtime import make_generator

REWARDS = {"abort": -0.1, "correct": 1.0, "fail": 0.0}


def make_env(tasks="modcog/all", seed: int = 0, chunk: int = 64, **suite_kwargs):
    """A ``gymnasium.Env`` drawing trials of `tasks` (uniformly) from a seeded generator.

    Trials are generated `chunk` at a time by the vectorised generator and served one step at a time.
    """
    try:
        import gymnasium as gym
        import numpy as np
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("make_env needs gymnasium: pip install gymnasium") from e

    suite = TaskSuite(tasks, **suite_kwargs)

    class CognitiveEnv(gym.Env):
        metadata = {"render_modes": []}

        def __init__(self):
            self.suite = suite
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (suite.n_inputs,), dtype=np.float32)
            self.action_space = gym.spaces.Discrete(N_CLASSES)
            self._seed(seed)

        def _seed(self, value):
            self._gen = make_generator(value)
            self._batch, self._row, self._t = None, chunk, 0

        def _next_trial(self):
            self._row += 1
            if self._row >= chunk:
                self._batch, self._row = suite.trials(chunk, self._gen), 0
            self._t = 0
            self._len = int(self._batch.valid[self._row].sum())

        def _now(self):
            b, i, t = self._batch, self._row, self._t
            return b.inputs[i, t].numpy(), int(b.targets[i, t]), int(b.period[i, t])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            if seed is not None:
                self._seed(seed)
            self._next_trial()
            ob, gt, period = self._now()
            return ob, {"gt": gt, "period": period, "task": self._task()}

        def _task(self):
            return suite.names[int(self._batch.task[self._row, 0])]

        def step(self, action):
            _, gt, period = self._now()
            task, reward, new_trial = self._task(), 0.0, False
            if period < DECISION and action != 0:
                reward = REWARDS["abort"]
            elif period == DECISION and action != 0:
                reward, new_trial = (REWARDS["correct"] if action == gt else REWARDS["fail"]), True
            self._t += 1
            if new_trial or self._t >= self._len:
                new_trial = True
                self._next_trial()
            ob, _, period = self._now()
            info = {"gt": gt, "new_trial": new_trial, "task": task, "period": period}
            return ob, reward, False, False, info

    return CognitiveEnv()
