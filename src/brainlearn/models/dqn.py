"""DQN (Mnih et al. 2015) with uniform or prioritised experience replay (Schaul et al. 2016) on a small
procedural gridworld with the gymnasium API.

:class:`ProceduralGrid`: an n x n grid whose walls are drawn from the layout seed (each cell a wall with
probability ``wall_p``, redrawn until the goal is reachable); the agent starts in the top-left corner, the goal
is the bottom-right; observations are one-hot positions (float32, n * n); four actions; reward 1 at the goal
(termination) and ``-step_cost`` per move; truncation after ``max_steps``. It passes gymnasium's env checker
(gymnasium is the optional extra ``brainlearn[gym]``). Its settings are a :class:`ProceduralGridConfig`; the
layout seed is an argument; :meth:`ProceduralGrid.copy` gives an independent copy (same layout and state).

:class:`DQNAgent` (settings: :class:`DQNAgentConfig`): an MLP Q-network (:func:`q_network`) with a target
network (hard update every ``target_every`` updates), epsilon-greedy exploration annealed linearly over
``eps_fraction`` of ``steps``, Huber loss on the TD error; with ``prioritized`` the loss of each sampled
transition is weighted by its importance weight (beta annealed from ``beta0`` to 1) and its priority set to
|TD error|.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError
from brainlearn.replay import PrioritizedReplayBuffer, RingBuffer, linear_beta
from brainlearn.runtime.config import Config, param

try:                                  # optional (pip install 'brainlearn[gym]'); the agent works without it
    import gymnasium as gym
    _Env = gym.Env
except ImportError:  # pragma: no cover - depends on the environment
    gym, _Env = None, object

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))


def _layout(size: int, wall_p: float, rng: np.random.Generator) -> np.ndarray:
    for _ in range(1000):
        walls = rng.random((size, size)) < wall_p
        walls[0, 0] = walls[-1, -1] = False
        if _distance(walls) is not None:
            return walls
    raise ConfigError(f"no reachable layout found for size {size}, wall_p {wall_p}")


def _distance(walls: np.ndarray) -> int | None:
    size = walls.shape[0]
    dist = {(0, 0): 0}
    queue = deque([(0, 0)])
    while queue:
        r, c = queue.popleft()
        if (r, c) == (size - 1, size - 1):
            return dist[(r, c)]
        for dr, dc in MOVES:
            q = (r + dr, c + dc)
            if 0 <= q[0] < size and 0 <= q[1] < size and not walls[q] and q not in dist:
                dist[q] = dist[(r, c)] + 1
                queue.append(q)
    return None


@dataclass(frozen=True)
class ProceduralGridConfig(Config):
    """The gridworld's settings (the layout seed is an argument of :class:`ProceduralGrid`)."""

    size: int = param(5, ge=2, help="grid side")
    wall_p: float = param(0.2, ge=0, lt=1, help="probability that a cell is a wall")
    max_steps: int = param(50, ge=1, help="episode length limit")
    step_cost: float = param(0.01, ge=0, help="reward subtracted per move")


class ProceduralGrid(_Env):
    """A procedural gridworld (see the module docstring); ``layout_seed`` fixes the walls."""

    metadata = {"render_modes": []}

    def __init__(self, config: ProceduralGridConfig = ProceduralGridConfig(), *, layout_seed: int = 0):
        if gym is None:
            raise ImportError("ProceduralGrid needs gymnasium >= 1.0: pip install 'brainlearn[gym]'")
        self.config, self.layout_seed = config, int(layout_seed)
        size = config.size
        self.size, self.max_steps, self.step_cost = size, config.max_steps, config.step_cost
        self.walls = _layout(size, config.wall_p, np.random.default_rng(self.layout_seed))
        self.shortest = _distance(self.walls)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (size * size,), np.float32)
        self.action_space = gym.spaces.Discrete(4)
        self.pos, self.t = (0, 0), 0

    def copy(self) -> ProceduralGrid:
        """An independent environment with this one's config, layout and current position and time."""
        other = ProceduralGrid(self.config, layout_seed=self.layout_seed)
        other.pos, other.t = self.pos, self.t
        return other

    @property
    def optimal_return(self) -> float:
        return 1.0 - self.step_cost * (self.shortest - 1)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.size * self.size, dtype=np.float32)
        obs[self.pos[0] * self.size + self.pos[1]] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = (0, 0), 0
        return self._obs(), {}

    def step(self, action):
        dr, dc = MOVES[int(action)]
        q = (self.pos[0] + dr, self.pos[1] + dc)
        if 0 <= q[0] < self.size and 0 <= q[1] < self.size and not self.walls[q]:
            self.pos = q
        self.t += 1
        terminated = self.pos == (self.size - 1, self.size - 1)
        reward = 1.0 if terminated else -self.step_cost
        return self._obs(), float(reward), terminated, self.t >= self.max_steps and not terminated, {}


@dataclass(frozen=True)
class DQNAgentConfig(Config):
    """The agent's settings: replay, optimisation, exploration and its Q-network's width."""

    prioritized: bool = param(False, help="prioritised (True) or uniform (False) experience replay")
    steps: int = param(4000, ge=1, help="environment steps of training (exploration and beta anneal over them)")
    warmup: int = param(200, ge=0, help="steps before the first update")
    capacity: int = param(10_000, ge=1, help="replay capacity")
    batch_size: int = param(32, ge=1, help="transitions per update")
    n_hidden: int = param(64, ge=1, help="Q-network hidden units (two layers)")
    lr: float = param(1e-3, gt=0, help="Adam learning rate")
    gamma: float = param(0.95, ge=0, lt=1, help="discount")
    target_every: int = param(100, ge=1, help="updates between target-network copies")
    eps_end: float = param(0.05, ge=0, le=1, help="final exploration rate")
    eps_fraction: float = param(0.5, gt=0, le=1, help="fraction of the steps over which epsilon anneals")
    alpha: float = param(0.6, ge=0, le=1, help="PER priority exponent")
    beta0: float = param(0.4, ge=0, le=1, help="PER initial importance exponent (annealed to 1)")


def q_network(config: DQNAgentConfig, n_obs: int, n_actions: int) -> nn.Module:
    """The Q-network: ``n_obs -> n_hidden -> n_hidden -> n_actions`` with ReLUs."""
    h = config.n_hidden
    return nn.Sequential(nn.Linear(n_obs, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n_actions))


class DQNAgent:
    """DQN on one environment; :meth:`train_steps` runs environment steps with learning, :meth:`evaluate`
    greedy episodes. ``net`` and ``target`` (:func:`q_network`) must already be on ``device``; every draw
    (exploration and replay) comes from ``generator``."""

    def __init__(self, config: DQNAgentConfig, env: ProceduralGrid, net: nn.Module, target: nn.Module, *,
                 device="cpu", generator: torch.Generator | None = None):
        self.config, self.env, self.net, self.target, self.device = config, env, net, target, torch.device(device)
        self.target.load_state_dict(self.net.state_dict())
        self.prioritized = config.prioritized
        self.buffer = (PrioritizedReplayBuffer(config.capacity, alpha=config.alpha, device=device)
                       if config.prioritized else RingBuffer(config.capacity, device))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.batch_size, self.gamma, self.total_steps, self.warmup = (config.batch_size, config.gamma, config.steps,
                                                                      config.warmup)
        self.target_every, self.eps_end = config.target_every, config.eps_end
        self.eps_fraction, self.beta0 = config.eps_fraction, config.beta0
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.steps, self.updates, self.episode_return = 0, 0, 0.0
        self.obs, _ = env.reset()
        self.returns: list[float] = []                     # training-episode returns

    def epsilon(self) -> float:
        frac = min(self.steps / max(1, self.eps_fraction * self.total_steps), 1.0)
        return 1.0 + frac * (self.eps_end - 1.0)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> int:
        return int(self.net(torch.as_tensor(obs, device=self.device)[None]).argmax(1))

    def train_steps(self, n: int) -> None:
        for _ in range(n):
            u = torch.rand((), generator=self.generator)
            if float(u) < self.epsilon():
                action = int(torch.randint(0, 4, (), generator=self.generator))
            else:
                action = self.greedy(self.obs)
            obs2, r, term, trunc, _ = self.env.step(action)
            self.buffer.add({"obs": torch.as_tensor(self.obs), "action": torch.tensor(action),
                             "reward": torch.tensor(r, dtype=torch.float32), "next_obs": torch.as_tensor(obs2),
                             "done": torch.tensor(float(term))})
            self.episode_return += r
            self.obs = obs2
            if term or trunc:
                self.returns.append(self.episode_return)
                self.episode_return = 0.0
                self.obs, _ = self.env.reset()
            self.steps += 1
            if self.steps >= self.warmup and len(self.buffer) >= self.batch_size:
                self.update()

    def update(self) -> float:
        kw = {"beta": linear_beta(self.steps, self.total_steps, start=self.beta0)} if self.prioritized else {}
        batch, info = self.buffer.sample(self.batch_size, self.generator, **kw)
        idx = info["index"]
        weights = info.get("weight", torch.ones(self.batch_size, device=self.device))
        q = self.net(batch["obs"]).gather(1, batch["action"].long()[:, None]).squeeze(1)
        with torch.no_grad():
            nxt = self.target(batch["next_obs"]).max(1).values
            target = batch["reward"] + self.gamma * (1 - batch["done"]) * nxt
        td = q - target
        loss = (weights * F.smooth_l1_loss(q, target, reduction="none")).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.prioritized:
            self.buffer.update_priorities(idx, td.detach().abs())
        self.updates += 1
        if self.updates % self.target_every == 0:
            self.target.load_state_dict(self.net.state_dict())
        return float(loss.detach())

    def evaluate(self, episodes: int = 1) -> tuple[float, float]:
        """Greedy return and success rate over ``episodes`` episodes of a separate copy of the environment."""
        env = self.env.copy()
        total, wins = 0.0, 0
        for _ in range(episodes):
            obs, _ = env.reset()
            done = False
            while not done:
                obs, r, term, trunc, _ = env.step(self.greedy(obs))
                total += r
                done = term or trunc
            wins += int(term)
        return total / episodes, wins / episodes

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "target": self.target.state_dict(), "opt": self.opt.state_dict(),
                "buffer": self.buffer.state_dict(), "generator": self.generator.get_state(), "steps": self.steps,
                "updates": self.updates, "episode_return": self.episode_return, "obs": self.obs.tolist(),
                "pos": list(self.env.pos), "t": self.env.t, "returns": list(self.returns)}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.target.load_state_dict(state["target"])
        self.opt.load_state_dict(state["opt"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.steps, self.updates, self.episode_return = state["steps"], state["updates"], state["episode_return"]
        self.obs = np.asarray(state["obs"], dtype=np.float32)
        self.env.pos, self.env.t = tuple(state["pos"]), state["t"]
        self.returns = list(state["returns"])
