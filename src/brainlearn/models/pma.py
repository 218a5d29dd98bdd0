"""Prioritised memory access (Mattar & Daw 2018, "Prioritized memory access explains planning and hippocampal
replay", Nat. Neurosci. 21:1609): a tabular Dyna agent that, at rest, replays the experience whose backup has
the largest expected value, EVB = Gain x Need.

- **Gain** of backing up Q(s, a) towards a target G (Q_new = Q + alpha (G - Q), alpha = 1):
  ``Gain = sum_b Q_new(s, b) [pi_new(b|s) - pi_old(b|s)]``, with pi = softmax(beta Q(s, .)). It is zero when
  the backup leaves the policy unchanged.
- **Need** of state s_k from the agent's state s_now: the successor representation
  ``[(I - gamma T)^-1]_{s_now, s_k}`` of the learned state-to-state transition matrix T (online), or the
  stationary distribution of T (offline, "sleep").
- **Sequences**: besides every one-step backup of the experience model, a candidate may extend the last
  executed backup forwards (the greedy step from its end) or backwards (an experience leading into its first
  state); an n-step candidate backs up each of its state-actions with the n-step return from there on, and its
  EVB is the sum of their gains times the need of the state it adds (as in the reference MATLAB code).

Environments are grid mazes given as text (``#`` wall, ``.`` open, ``S`` start, ``G`` goal) with four actions
(up, down, left, right; a move into a wall or off the grid stays put); entering the goal ends the episode with
a reward and the agent starts again at S. Everything is numpy on the CPU, vectorised over the candidate
backups; every draw comes from the agent's own ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from brainlearn.errors import ConfigError
from brainlearn.runtime.config import Config, param

ACTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))      # up, down, left, right
MODES = ("prioritized", "random", "none")
NEEDS = ("sr", "stationary")
EXTENDS = ("forward", "both", "none")

#: The open maze of Mattar & Daw (6 x 9, 47 open states; start row 3 column 1, goal row 1 column 9).
OPEN_MAZE = """\
.......#G
..#....#.
S.#....#.
..#......
.....#...
.........
"""
#: A linear track of ten states, start at the left end and reward at the right end.
LINEAR_TRACK = "S........G\n"


class GridMaze:
    """A maze parsed from text; states are the open cells, numbered row by row.

    Attributes: ``shape`` (rows, cols), ``cells`` (S, 2) row/col of each state, ``next_state`` (S, 4) the state
    each action leads to, ``start`` and ``goal`` (state indices), ``n_states``, ``n_actions``.
    """

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise ConfigError(f"maze: expected text, got {type(text).__name__}")
        rows = [line.rstrip("\r") for line in text.strip("\n").splitlines()]
        if not rows or not rows[0]:
            raise ConfigError("maze: the text is empty; expected rows of '#', '.', 'S', 'G'")
        if len({len(r) for r in rows}) != 1:
            raise ConfigError(f"maze: every row needs the same length, got lengths {[len(r) for r in rows]}")
        bad = sorted(set("".join(rows)) - set("#.SG"))
        if bad:
            raise ConfigError(f"maze: unexpected characters {bad}; expected only '#', '.', 'S', 'G'")
        grid = np.array([list(r) for r in rows])
        for mark, what in (("S", "start"), ("G", "goal")):
            n = int((grid == mark).sum())
            if n != 1:
                raise ConfigError(f"maze: expected exactly one {mark!r} ({what}), found {n}")
        self.text = "\n".join(rows) + "\n"
        self.shape = grid.shape
        self.cells = np.argwhere(grid != "#")
        index = -np.ones(grid.shape, dtype=np.int64)
        index[tuple(self.cells.T)] = np.arange(len(self.cells))
        self.index = index
        self.start = int(index[tuple(np.argwhere(grid == "S")[0])])
        self.goal = int(index[tuple(np.argwhere(grid == "G")[0])])
        self.n_states, self.n_actions = len(self.cells), len(ACTIONS)
        moved = self.cells[:, None, :] + np.array(ACTIONS)[None]                        # (S, A, 2)
        inside = ((moved >= 0) & (moved < np.array(grid.shape))).all(-1)
        clipped = np.clip(moved, 0, np.array(grid.shape) - 1)
        target = index[clipped[..., 0], clipped[..., 1]]
        self.next_state = np.where(inside & (target >= 0), target, np.arange(self.n_states)[:, None])
        if self.shortest_path() is None:
            raise ConfigError("maze: the goal cannot be reached from the start")

    def shortest_path(self) -> int | None:
        """Fewest moves from start to goal (breadth-first search), None if unreachable."""
        dist = {self.start: 0}
        queue = deque([self.start])
        while queue:
            s = queue.popleft()
            if s == self.goal:
                return dist[s]
            for t in self.next_state[s]:
                if int(t) not in dist:
                    dist[int(t)] = dist[s] + 1
                    queue.append(int(t))
        return None


def softmax(q: np.ndarray, beta: float) -> np.ndarray:
    """Softmax policy over the last axis."""
    z = beta * (q - q.max(-1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def gain(q_rows: np.ndarray, actions: np.ndarray, targets: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Gain of backing up Q(s, a) towards ``targets``, for K candidates at once.

    ``q_rows`` (K, A) are the current Q(s, .), ``actions`` (K,) and ``targets`` (K,). Returns (K,):
    sum_b Q_new(s, b) (pi_new(b) - pi_old(b)).
    """
    k = np.arange(len(actions))
    new = q_rows.copy()
    new[k, actions] += alpha * (targets - q_rows[k, actions])
    return (new * (softmax(new, beta) - softmax(q_rows, beta))).sum(-1)


def successor_need(T: np.ndarray, state: int, gamma: float) -> np.ndarray:
    """Row ``state`` of the successor representation (I - gamma T)^-1, by one linear solve."""
    n = T.shape[0]
    e = np.zeros(n)
    e[state] = 1.0
    return np.linalg.solve((np.eye(n) - gamma * T).T, e)


def stationary_need(T: np.ndarray) -> np.ndarray:
    """Stationary distribution of the row-stochastic T (left eigenvector of eigenvalue 1, summing to 1)."""
    vals, vecs = np.linalg.eig(T.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    return np.abs(v) / np.abs(v).sum()


@dataclass(frozen=True)
class PMAgentConfig(Config):
    """The agent's settings (defaults: Mattar & Daw's ``setParams.m``)."""

    gamma: float = param(0.9, ge=0, lt=1, help="discount")
    alpha: float = param(1.0, gt=0, le=1, help="learning rate of Q, for real and replayed backups")
    beta: float = param(5.0, ge=0, help="softmax inverse temperature")
    t_lr: float = param(0.9, gt=0, le=1, help="learning rate of the transition matrix T")
    n_plan: int = param(20, ge=0, help="backups per planning bout")
    evb_threshold: float = param(0.0, help="stop a bout when no candidate's EVB exceeds this")
    baseline_gain: float = param(1e-10, ge=0, help="floor of a candidate's gain in its EVB")
    mode: Literal["prioritized", "random", "none"] = param(
        "prioritized", help="replay: prioritized (gain x need), random (uniform one-step backups) or none")
    need: Literal["sr", "stationary"] = param("sr", help="need: sr (online) or stationary (offline)")
    extend: Literal["forward", "both", "none"] = param(
        "forward", help="n-step extensions of the last backup considered")
    reward: float = param(1.0, help="mean reward at the goal")
    reward_sd: float = param(0.1, ge=0, help="standard deviation of the goal reward")
    max_steps: int = param(10_000, ge=1, help="cap on the moves of one episode")


class PMAgent:
    """Tabular Dyna-Q agent with prioritised (gain x need), random or no replay at the start and the goal.

    >>> agent = PMAgent(PMAgentConfig(), GridMaze(OPEN_MAZE), seed=0)
    >>> steps = [agent.episode() for _ in range(5)]         # moves per episode
    >>> agent.events[0]                                      # the replay event log: one dict per backup

    Every draw (actions, reward noise, ties, random replay) comes from the agent's own
    ``numpy.random.Generator`` seeded with `seed`; its state is part of ``state_dict``.
    """

    def __init__(self, config: PMAgentConfig, maze: GridMaze, *, seed: int = 0):
        self.config = config
        self.maze, self.p = maze, config
        self.rng = np.random.default_rng(seed)
        S, A = maze.n_states, maze.n_actions
        self.Q = np.zeros((S, A))
        # experience model: the last outcome of every state-action (pre-exploration fills it, without reward)
        self.model_next = maze.next_state.copy()
        self.model_done = self.model_next == maze.goal
        self.model_r = np.zeros((S, A))
        # candidate backups: every state-action except those at the (terminal) goal and those that bump into
        # a wall (they lead back to the same state), as in the reference code
        self.seen = self.model_next != np.arange(S)[:, None]
        self.seen[maze.goal] = False
        T = np.zeros((S, S))
        np.add.at(T, (np.repeat(np.arange(S), A), maze.next_state.ravel()), 1.0 / A)
        T[maze.goal] = 0.0
        T[maze.goal, maze.start] = 1.0                      # the goal leads back to the start
        self.T = T
        self.reward_scale = 1.0
        self.rewarded = False                                # planning starts once a reward has been found
        self.episodes = 0
        self.bouts = 0
        self.time = 0                                        # real moves so far
        self.events: list[dict] = []                         # one record per executed backup

    # --- acting --------------------------------------------------------------------------------------
    def act(self, s: int) -> int:
        pi = softmax(self.Q[s], self.p.beta)
        return int(min(np.searchsorted(np.cumsum(pi), self.rng.random() * pi.sum()), len(pi) - 1))

    def step(self, s: int) -> tuple[int, bool]:
        """One real move from ``s``: act, learn T, the model and Q. Returns (next state, reached goal)."""
        p, a = self.p, self.act(s)
        s2 = int(self.maze.next_state[s, a])
        done = s2 == self.maze.goal
        r = 0.0
        if done:                           # reward noise, truncated at zero as in the reference code
            r = max(0.0, self.reward_scale * (p.reward + p.reward_sd * self.rng.standard_normal()))
            self.rewarded = True
        self.model_r[s, a], self.model_next[s, a], self.model_done[s, a] = r, s2, done
        self.T[s] *= 1 - p.t_lr
        self.T[s, s2] += p.t_lr
        target = r + (0.0 if done else p.gamma * self.Q[s2].max())
        self.Q[s, a] += p.alpha * (target - self.Q[s, a])
        self.time += 1
        return s2, done

    def episode(self) -> int:
        """Plan at the start, walk to the goal, plan at the goal; return the number of moves."""
        s, steps = self.maze.start, 0
        self.plan(s, "start")
        done = False
        while not done and steps < self.p.max_steps:
            s, done = self.step(s)
            steps += 1
        if done:
            self.plan(s, "goal")
        self.episodes += 1
        return steps

    # --- planning ------------------------------------------------------------------------------------
    def need(self, s_now: int) -> np.ndarray:
        if self.p.need == "sr":
            return successor_need(self.T, s_now, self.p.gamma)
        return stationary_need(self.T)

    def _returns(self, seq: list[tuple[int, int]]) -> np.ndarray:
        """n-step targets of every state-action of ``seq`` (temporal order), from the current Q."""
        s_last, a_last = seq[-1]
        tail = 0.0 if self.model_done[s_last, a_last] else self.Q[self.model_next[s_last, a_last]].max()
        out, g = np.zeros(len(seq)), tail
        for i in range(len(seq) - 1, -1, -1):
            s, a = seq[i]
            g = self.model_r[s, a] + self.p.gamma * g
            out[i] = g
        return out

    def _extensions(self, seq: list[tuple[int, int]]) -> list[tuple[str, list[tuple[int, int]]]]:
        visited = {s for s, _ in seq}
        out = []
        s_end, a_end = seq[-1]
        if not self.model_done[s_end, a_end]:                          # forward: the greedy step from the end
            e = int(self.model_next[s_end, a_end])
            a = int(np.argmax(self.Q[e]))
            if e not in visited and self.seen[e, a] and int(self.model_next[e, a]) not in visited | {e}:
                out.append(("forward", seq + [(e, a)]))
        if self.p.extend != "both":
            return out
        first = seq[0][0]                                              # reverse: experiences leading into it
        for ps, pa in np.argwhere(self.seen & (self.model_next == first) & ~self.model_done):
            if int(ps) not in visited:
                out.append(("reverse", [(int(ps), int(pa))] + seq))
        return out

    def plan(self, s_now: int, where: str) -> None:
        """One planning bout of up to ``n_plan`` backups at state ``s_now`` (``where``: start or goal).

        Each executed backup appends a record to :attr:`events`: the bout, the agent's location, the time, the
        kind of candidate (one-step, forward or reverse extension), the states it backed up and the
        transition it added (for an n-step candidate, the new one), from which :func:`replay_events` cuts the
        bout's forward and reverse sequences.
        """
        p = self.p
        if p.mode == "none" or p.n_plan == 0 or not self.rewarded:
            return
        need = self.need(s_now)
        prev: list[tuple[int, int]] | None = None
        pairs = np.argwhere(self.seen)
        bout = self.bouts
        self.bouts += 1
        for k in range(p.n_plan):
            if p.mode == "random":
                s, a = pairs[self.rng.integers(len(pairs))]
                kind, seq, value, g = "one", [(int(s), int(a))], float("nan"), float("nan")
            else:
                kind, seq, value, g = self._best(need, prev)
                if seq is None:
                    break
            targets = self._returns(seq)
            for (s, a), g in zip(seq, targets):
                self.Q[s, a] += p.alpha * (g - self.Q[s, a])
            added = seq[0] if kind == "reverse" else seq[-1]
            self.events.append({"episode": self.episodes, "bout": bout, "time": self.time, "where": where,
                                "location": s_now, "k": k, "kind": kind, "states": [s for s, _ in seq],
                                "evb": value, "gain": g,
                                "added": [int(added[0]), int(added[1])]})
            prev = seq

    def _best(self, need: np.ndarray, prev) -> tuple[str, list | None, float, float]:
        """The candidate with the largest EVB (ties go to the shortest, then at random): (kind, state-actions,
        EVB, summed gain without the baseline); the state-actions are None when no EVB exceeds the threshold."""
        p = self.p
        pairs = np.argwhere(self.seen)
        s, a = pairs[:, 0], pairs[:, 1]
        nxt, done = self.model_next[s, a], self.model_done[s, a]
        targets = self.model_r[s, a] + np.where(done, 0.0, p.gamma * self.Q[nxt].max(-1))
        raw = gain(self.Q[s], a, targets, p.alpha, p.beta)
        evb = np.maximum(raw, p.baseline_gain) * need[s]
        gains = list(raw)
        kinds = ["one"] * len(pairs)
        seqs = [[(int(i), int(j))] for i, j in pairs]
        if p.extend != "none" and prev is not None:
            for kind, seq in self._extensions(prev):
                ss = np.array([x for x, _ in seq])
                aa = np.array([y for _, y in seq])
                gs = gain(self.Q[ss], aa, self._returns(seq), p.alpha, p.beta)
                added = ss[-1] if kind == "forward" else ss[0]
                evb = np.append(evb, float(np.maximum(gs, p.baseline_gain).sum() * need[added]))
                gains.append(float(gs.sum()))
                kinds.append(kind)
                seqs.append(seq)
        best = evb.max()
        if not best > p.evb_threshold:
            return "one", None, float(best), 0.0
        ties = np.flatnonzero(evb >= best - 1e-12 * abs(best))
        lengths = np.array([len(q) for q in seqs])[ties]
        ties = ties[lengths == lengths.min()]                          # ties go to the shortest candidate
        i = int(ties[self.rng.integers(len(ties))]) if len(ties) > 1 else int(ties[0])
        return kinds[i], seqs[i], float(evb[i]), float(gains[i])

    # --- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"Q": self.Q.copy(), "T": self.T.copy(), "model_next": self.model_next.copy(),
                "model_done": self.model_done.copy(), "model_r": self.model_r.copy(), "seen": self.seen.copy(),
                "rng": self.rng.bit_generator.state, "reward_scale": self.reward_scale, "rewarded": self.rewarded,
                "episodes": self.episodes, "bouts": self.bouts, "time": self.time, "events": list(self.events)}

    def load_state_dict(self, state: dict) -> None:
        for k in ("Q", "T", "model_next", "model_done", "model_r", "seen"):
            setattr(self, k, np.array(state[k]))
        self.rng.bit_generator.state = state["rng"]
        self.reward_scale, self.episodes, self.time = state["reward_scale"], state["episodes"], state["time"]
        self.rewarded, self.bouts = bool(state["rewarded"]), int(state["bouts"])
        self.events = list(state["events"])


def replay_events(events: list[dict], next_state: np.ndarray, min_states: int = 5) -> list[dict]:
    """Cut each planning bout into forward and reverse replay events, as in Mattar & Daw's analysis.

    The transitions a bout added, (s_1, a_1), (s_2, a_2), ..., are read in order: consecutive ones are
    *forward* if a_i leads from s_i to s_{i+1}, *reverse* if a_{i+1} leads from s_{i+1} to s_i, and otherwise
    break the sequence; a change of direction also breaks it. A run of at least ``min_states`` states is an
    event. Returns dicts with ``where``, ``episode``, ``direction`` and ``states`` (in replay order).
    """
    out = []
    bouts: dict[int, list[dict]] = {}
    for e in events:
        bouts.setdefault(e["bout"], []).append(e)
    for bout in bouts.values():
        sa = [tuple(e["added"]) for e in bout]
        dirs = []
        for (s1, a1), (s2, a2) in zip(sa, sa[1:]):
            dirs.append("forward" if next_state[s1, a1] == s2 else "reverse" if next_state[s2, a2] == s1 else None)
        i = 0
        while i < len(dirs):
            j = i
            while j + 1 < len(dirs) and dirs[i] is not None and dirs[j + 1] == dirs[i]:
                j += 1
            if dirs[i] is not None and j - i + 2 >= min_states:
                states = [s for s, _ in sa[i:j + 2]]
                out.append({"where": bout[0]["where"], "episode": bout[0]["episode"], "direction": dirs[i],
                            "states": states})
            i = j + 1
    return out


def direction_fractions(events: list[dict], next_state: np.ndarray, where: str, min_states: int = 5
                        ) -> tuple[int, int]:
    """(forward, reverse) numbers of replay events (:func:`replay_events`) of the bouts at ``where``."""
    ds = [e["direction"] for e in replay_events(events, next_state, min_states) if e["where"] == where]
    return ds.count("forward"), ds.count("reverse")
