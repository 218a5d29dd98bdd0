"""The Mod-Cog tasks as registered gymnasium environments (gymnasium is optional: ``pip install brainlearn[gym]``).

The environments are registered as ``brainlearn/<task>-v0`` (82 ids, e.g. ``brainlearn/dlygointr-v0``), plus
``brainlearn/ModCog-v0``, a mix of any suite (default ``modcog/all``). Importing this module registers them, and
``import brainlearn`` arranges that import for you once gymnasium is imported too (in either order)::

    import gymnasium as gym
    import brainlearn
    env = gym.make("brainlearn/go-v0")

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

from brainlearn.data.cognitive.core import DECISION, DT_MS, N_CLASSES, N_RING, N_SENSORY, NOISE_SD, PERIODS, TaskSuite
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
    #: neurogym's attributes: ms per step, and which actions mean what
    dt = DT_MS
    act_dict = {"fixation": [0], "choice": list(range(1, 1 + N_RING))}

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
    def ob_dict(self) -> dict[str, list[int]]:
        """neurogym's ``ob_dict``: which observation units mean what (fixation, the two rings, the task one-hot)."""
        out = {"fixation": [0], "stimulus_mod1": list(range(1, 1 + N_RING)),
               "stimulus_mod2": list(range(1 + N_RING, N_SENSORY))}
        if self.suite.n_inputs > N_SENSORY:
            out["task"] = list(range(N_SENSORY, self.suite.n_inputs))
        return out

    @property
    def timing(self) -> dict[str, int]:
        """The current trial's period durations in ms (neurogym's ``timing`` holds each period's duration
        specification; a Mod-Cog task draws some durations per trial, so these are the ones drawn)."""
        if self._inputs is None:
            raise ConfigError("call reset() before reading timing")
        period = self._period[self._row, :self._lengths[self._row]]
        return {name: int((period == p).sum()) * DT_MS for p, name in enumerate(PERIODS)}

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


class CognitiveVectorEnv(gym.vector.VectorEnv):
    """`num_envs` trial streams advanced together: one ``step`` is a handful of tensor operations on all of them.

    Each sub-environment follows :class:`CognitiveEnv`'s rules (observation, 17 actions, rewards, a non-fixate
    action in the decision period ends the trial, the trial's last step ends it too, the next trial starts on
    the following step). The trials come from pools of ``pool`` trials generated by one vectorised call
    (``suite.trials(pool, generator)``), handed out to the sub-environments in order as their trials end; a
    sub-environment's trial sequence therefore depends on `num_envs` and `pool`, and the whole is a function of
    the seed. The streams are endless: ``terminated`` and ``truncated`` are always False (wrap in a time limit
    for episodic RL). ``info`` holds, per sub-environment, ``gt`` (the target of the step acted on),
    ``new_trial``, ``task`` (index into ``suite.names``) and ``period``.

    >>> env = CognitiveVectorEnv("modcog/all", num_envs=256, seed=0)
    >>> obs, info = env.reset()                     # (256, 115) float32
    >>> obs, reward, terminated, truncated, info = env.step(env.gt_now)   # the oracle policy
    """

    metadata = {"render_modes": [], "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, tasks="modcog/all", num_envs: int = 16, *, task_input: bool = True, noise: float = NOISE_SD,
                 fixed_match_delay: int | None = None, pool: int | None = None, seed: int | None = None):
        for name, value, low in (("num_envs", num_envs, 1), ("pool", pool, 1), ("seed", seed, 0)):
            if value is not None and not _is_int(value, low):
                raise ConfigError(f"{name} must be {'None or ' if name != 'num_envs' else ''}an int >= {low}, "
                                  f"got {value!r}")
        self.single_env = CognitiveEnv(tasks, task_input=task_input, noise=noise, fixed_match_delay=fixed_match_delay)
        self.suite, self.num_envs = self.single_env.suite, num_envs
        self.pool = pool if pool is not None else max(64, 4 * num_envs)
        self.single_observation_space = self.single_env.observation_space
        self.single_action_space = self.single_env.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._default_seed, self._gen = seed, None

    _FIELDS = ("inputs", "targets", "period")

    def _refill(self) -> None:
        """A fresh pool of trials (numpy, trial-major, zero-padded to its longest trial)."""
        _single_thread_if_forked()
        batch = self.suite.trials(self.pool, self._gen)
        self._pool = {"inputs": batch.inputs.numpy(), "targets": batch.targets.numpy(),
                      "period": batch.period.numpy(), "length": batch.valid.sum(1).numpy(),
                      "task": batch.task[:, 0].numpy()}
        self._next = 0

    def _draw(self, n: int) -> dict[str, np.ndarray]:
        """The next `n` trials of the stream (from this pool and, where it runs out, the next ones)."""
        parts = []
        while n:
            if self._next == self.pool:
                self._refill()
            k = min(n, self.pool - self._next)
            parts.append({f: v[self._next:self._next + k] for f, v in self._pool.items()})
            self._next, n = self._next + k, n - k
        width = max(p["inputs"].shape[1] for p in parts)
        pad = lambda v: np.pad(v, [(0, 0), (0, width - v.shape[1])] + [(0, 0)] * (v.ndim - 2))  # noqa: E731
        return {f: np.concatenate([pad(p[f]) if f in self._FIELDS else p[f] for p in parts]) for f in parts[0]}

    def _start(self, envs: np.ndarray) -> None:
        """Give each sub-environment in `envs` its next trial (copied in: the pool can be replaced at will)."""
        trials = self._draw(len(envs))
        width = trials["inputs"].shape[1]
        if width > self._cur["inputs"].shape[1]:
            grow = width - self._cur["inputs"].shape[1]
            for f in self._FIELDS:
                v = self._cur[f]
                self._cur[f] = np.pad(v, [(0, 0), (0, grow)] + [(0, 0)] * (v.ndim - 2))
        for f, v in trials.items():
            if f in self._FIELDS:
                self._cur[f][envs] = 0
                self._cur[f][envs, :width] = v
            else:
                self._cur[f][envs] = v
        self._t[envs] = 0

    @property
    def gt_now(self) -> np.ndarray:
        """(num_envs,) the target class of each sub-environment's current observation (the oracle's action)."""
        if self._gen is None:
            raise ConfigError("call reset() before reading gt_now")
        return self._cur["targets"][self._envs, self._t]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a fresh trial in every sub-environment; ``seed`` restarts the trial stream."""
        if seed is None and self._gen is None:
            seed = self._default_seed
        if seed is not None and (not _is_int(seed, 0) or seed >= 2**64):
            raise ConfigError(f"seed: expected an int in [0, 2**64), got {seed!r}")
        if seed is not None or self._gen is None:
            self._gen = make_generator(seed if seed is not None else int(np.random.SeedSequence().entropy % 2**62))
            self._refill()
        B, n = self.num_envs, self.suite.n_inputs
        self._envs, self._t = np.arange(B), np.zeros(B, dtype=np.int64)
        self._cur = {"inputs": np.zeros((B, 1, n), np.float32), "targets": np.zeros((B, 1), np.int64),
                     "period": np.zeros((B, 1), np.int64), "length": np.zeros(B, np.int64),
                     "task": np.zeros(B, np.int64)}
        self._start(self._envs)
        return self._cur["inputs"][self._envs, self._t], {"task": self._cur["task"].copy()}

    def step(self, actions):
        if self._gen is None:
            raise ConfigError("call reset() before step()")
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu" or (a.min() < 0 or a.max() >= N_CLASSES):
            raise ConfigError(f"actions must be {self.num_envs} ints in 0..{N_CLASSES - 1}, got {actions!r}")
        envs, t = self._envs, self._t
        gt, period, task = self._cur["targets"][envs, t], self._cur["period"][envs, t], self._cur["task"].copy()
        acted, decision = a != 0, period == DECISION
        reward = np.where(acted & ~decision, REWARDS["abort"],
                          np.where(acted & decision, np.where(a == gt, REWARDS["correct"], REWARDS["fail"]), 0.0))
        self._t = t + 1
        new_trial = (acted & decision) | (self._t >= self._cur["length"])
        if new_trial.any():
            self._start(np.flatnonzero(new_trial))
        never = np.zeros(self.num_envs, dtype=bool)
        info = {"gt": gt, "new_trial": new_trial, "task": task, "period": period}
        return self._cur["inputs"][envs, self._t], reward, never, never.copy(), info


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
