"""The Mod-Cog tasks as registered gymnasium environments (gymnasium is optional: ``pip install brainlearn[gym]``).

Importing this module registers one environment per task, ``brainlearn/<task>-v0`` (82 ids, e.g.
``brainlearn/dlygointr-v0``), plus ``brainlearn/ModCog-v0``, a mix of any suite (default ``modcog/all``)::

    import gymnasium as gym
    import brainlearn.data.cognitive.env  # noqa: F401  (registers the ids)
    env = gym.make("brainlearn/go-v0")
    # or, without the import: gym.make("brainlearn.data.cognitive.env:brainlearn/go-v0")

Registration happens on import only: gymnasium >= 1.0 no longer reads the "gymnasium.envs" entry-point group.

Semantics follow neurogym's ``TrialEnv``. An episode is an endless stream of back-to-back trials (tasks drawn
uniformly from the env's tasks); ``truncated`` is always False and ``terminated`` too unless
``trials_per_episode`` is set, so wrap in ``gymnasium.wrappers.TimeLimit`` (``gym.make(..., max_episode_steps=N)``)
for RL libraries.
``reset`` starts a fresh trial. Each step's observation is the current timestep's input (float32, 33 + K:
fixation, two 16-unit rings, task one-hot if ``task_input``); actions are the 17 classes (0 fixate, 1 + k toward
ring direction k). Reward: +1 for a correct non-fixate action in the decision period, -0.1 for a non-fixate
action before it, 0 otherwise; a non-fixate action in the decision period ends the trial (the next step starts
the next trial), as does the trial's last step. ``info``: ``gt`` (the target of the step acted on),
``new_trial``, ``task`` and ``period`` (of the step acted on; 0..4, see ``PERIODS``).
"""

from __future__ import annotations

import os

import numpy as np
import torch

try:
    import gymnasium as gym
    from gymnasium.envs.registration import register, registry
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("brainlearn.data.cognitive.env needs gymnasium >= 1.0: pip install 'brainlearn[gym]'") from e

from brainlearn.data.cognitive.core import DECISION, N_CLASSES, N_SENSORY, NOISE_SD, TaskSuite
from brainlearn.data.cognitive.tasks import task_names
from brainlearn.errors import ConfigError
from brainlearn.runtime import make_generator

REWARDS = {"abort": -0.1, "correct": 1.0, "fail": 0.0}
NAMESPACE = "brainlearn"
VERSION = 0
MIX_ID = f"{NAMESPACE}/ModCog-v{VERSION}"
ENTRY_POINT = f"{__name__}:CognitiveEnv"
_PID = os.getpid()


def _single_thread_if_forked() -> None:
    """In a process forked after this module was imported, use one torch thread.

    torch's OpenMP thread pool does not survive fork: a forked child (gymnasium's AsyncVectorEnv workers use
    fork on Linux) hangs at its first multi-threaded op once the parent has run one. torch's DataLoader
    workers take the same one-thread measure. Processes that import this module themselves are untouched.
    """
    global _PID
    if os.getpid() != _PID:
        torch.set_num_threads(1)
        _PID = os.getpid()


def env_id(task: str) -> str:
    """The gymnasium id of one task's environment, e.g. ``brainlearn/go-v0``."""
    return f"{NAMESPACE}/{task}-v{VERSION}"


class CognitiveEnv(gym.Env):
    """A stream of Mod-Cog trials served one 100 ms step at a time (see the module docstring for the rules).

    tasks: a suite name, task name or list of names (as :class:`TaskSuite`); ``task_input``, ``noise`` and
    ``fixed_match_delay`` go to the suite. Trials are generated ``chunk`` at a time by the vectorised generator
    (``suite.trials(chunk, make_generator(seed))``), so a seed's trial sequence depends on ``chunk`` too.
    ``seed``: used by the first ``reset()`` that is given none (None: gymnasium's entropy-seeded default).
    ``trials_per_episode``: None (default) for the endless stream; k to terminate after k trials, the
    terminal observation being the first step of the next trial (which ``reset`` discards).

    Spaces: observation ``Box((33 + K,), float32)``, fixation and task one-hot in [0, 1], the two rings
    unbounded (the dm and match tasks add Gaussian input noise); action ``Discrete(17)``.
    Picklable and deep-copyable: the copy continues the same trial stream.
    """

    metadata = {"render_modes": []}

    def __init__(self, tasks="modcog/all", *, task_input: bool = True, noise: float = NOISE_SD,
                 fixed_match_delay: int | None = None, chunk: int = 64, seed: int | None = None,
                 trials_per_episode: int | None = None, render_mode: str | None = None):
        if render_mode is not None:
            raise ConfigError(f"render_mode: these environments do not render; expected None, got {render_mode!r}")
        if not _is_int(chunk, 1):
            raise ConfigError(f"chunk must be an int >= 1, got {chunk!r}")
        for name, value, low in (("trials_per_episode", trials_per_episode, 1), ("seed", seed, 0)):
            if value is not None and not _is_int(value, low):
                raise ConfigError(f"{name} must be None or an int >= {low}, got {value!r}")
        self.suite = TaskSuite(tasks, noise=noise, task_input=task_input, fixed_match_delay=fixed_match_delay)
        self.chunk, self.trials_per_episode, self.render_mode = chunk, trials_per_episode, None
        n = self.suite.n_inputs
        low, high = np.zeros(n, np.float32), np.ones(n, np.float32)
        low[1:N_SENSORY], high[1:N_SENSORY] = -np.inf, np.inf
        self.observation_space = gym.spaces.Box(low, high, (n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(N_CLASSES)
        self._default_seed = seed
        self._gen = None  # torch.Generator, made at the first reset
        self._inputs = None  # (chunk, T_max, 33 + K) float32 numpy, the current chunk of trials

    # ------------------------------------------------------------ trial bookkeeping
    def _new_chunk(self) -> None:
        _single_thread_if_forked()
        batch = self.suite.trials(self.chunk, self._gen)
        self._inputs = batch.inputs.numpy()
        self._targets = batch.targets.numpy()
        self._period = batch.period.numpy()
        self._lengths = batch.valid.sum(1).numpy()
        self._tasks = batch.task[:, 0].numpy()
        self._row = -1

    def _next_trial(self) -> None:
        if self._inputs is None or self._row + 1 >= self.chunk:
            self._new_chunk()
        self._row += 1
        self._t = 0

    def _now(self):
        """(observation copy, target, period) of the current step."""
        i, t = self._row, self._t
        return self._inputs[i, t].copy(), int(self._targets[i, t]), int(self._period[i, t])

    @property
    def gt_now(self) -> int:
        """The target class (0..16) of the current observation: what an oracle policy would do now."""
        if self._inputs is None:
            raise ConfigError("call reset() before reading gt_now")
        return int(self._targets[self._row, self._t])

    @property
    def task_now(self) -> str:
        """The name of the current trial's task."""
        if self._inputs is None:
            raise ConfigError("call reset() before reading task_now")
        return self.suite.names[int(self._tasks[self._row])]

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a fresh trial; ``seed`` restarts the trial stream from ``make_generator(seed)``."""
        if seed is None and self._gen is None:
            seed = self._default_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64):
            raise ConfigError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        super().reset(seed=seed)
        if seed is not None or self._gen is None:
            self._gen = make_generator(seed if seed is not None else int(self.np_random.integers(2**62)))
            self._inputs = None
        self._next_trial()
        self._trials_done = 0
        ob, gt, period = self._now()
        return ob, {"gt": gt, "new_trial": True, "task": self.task_now, "period": period}

    def step(self, action):
        if self._inputs is None:
            raise ConfigError("call reset() before step()")
        if not _is_int(action, 0) or int(action) >= N_CLASSES:
            raise ConfigError(f"action must be an int in 0..{N_CLASSES - 1}, got {action!r}")
        action = int(action)
        _, gt, period = self._now()
        task, reward, new_trial = self.task_now, 0.0, False
        if period < DECISION and action != 0:
            reward = REWARDS["abort"]
        elif period == DECISION and action != 0:
            reward, new_trial = (REWARDS["correct"] if action == gt else REWARDS["fail"]), True
        self._t += 1
        if new_trial or self._t >= self._lengths[self._row]:
            new_trial = True
            self._trials_done += 1
            self._next_trial()
        terminated = self.trials_per_episode is not None and new_trial and self._trials_done >= self.trials_per_episode
        ob = self._now()[0]
        return ob, reward, terminated, False, {"gt": gt, "new_trial": new_trial, "task": task, "period": period}


def _is_int(value, low: int) -> bool:
    """An int (Python or NumPy, not bool) >= low."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= low


def make_env(tasks="modcog/all", seed: int = 0, chunk: int = 64, **kwargs) -> CognitiveEnv:
    """A :class:`CognitiveEnv` over `tasks` whose first unseeded ``reset()`` uses `seed` (no registry needed)."""
    return CognitiveEnv(tasks, seed=seed, chunk=chunk, **kwargs)


def register_envs() -> tuple[str, ...]:
    """Register ``brainlearn/<task>-v0`` for the 82 tasks and ``brainlearn/ModCog-v0``; idempotent.

    Per-task envs have no task one-hot (33 inputs, as neurogym's single-task envs); ModCog-v0 mixes the tasks
    of its ``tasks`` argument (default ``modcog/all``, 115 inputs). Returns the ids.
    """
    ids = []
    for task in task_names():
        ids.append(env_id(task))
        if ids[-1] not in registry:
            register(ids[-1], entry_point=ENTRY_POINT, kwargs={"tasks": task, "task_input": False})
    ids.append(MIX_ID)
    if MIX_ID not in registry:
        register(MIX_ID, entry_point=ENTRY_POINT, kwargs={"tasks": "modcog/all", "task_input": True})
    return tuple(ids)


ENV_IDS = register_envs()
