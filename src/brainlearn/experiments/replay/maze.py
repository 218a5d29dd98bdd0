"""replay-maze: prioritised memory access (Mattar & Daw 2018) on the open maze and the linear track.

A tabular Dyna agent (:mod:`brainlearn.models.pma`) plans at the start and at the goal with 20 backups per
bout, chosen by gain x need (prioritised), uniformly at random (random), or not at all (none). Each
(condition, replicate) is one job. The open-maze jobs measure the steps per episode and the direction of the
replayed sequences at the start and at the goal; the linear-track jobs change the reward after some episodes
(x4 or to 0) and count the reverse replays at the goal after the change. The agent's settings are its model's
config (``--set agent.beta=10``); ``agent.mode`` is set by each condition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.models.pma import LINEAR_TRACK, MODES, OPEN_MAZE, GridMaze, PMAgent, PMAgentConfig, replay_events
from brainlearn.runtime import Config, RunContext, param, replicate_seed, require, run_jobs

NAMED = {"open": OPEN_MAZE, "linear": LINEAR_TRACK}
# the alt preset's maze: Sutton & Barto's blocking maze (Example 8.2, its second layout), as large as the open maze
BLOCKING_MAZE = "........G/........./........./########./........./...S....."
DOC = "docs/experiments/replay.md"


def maze_from(spec: str) -> GridMaze:
    """'open', 'linear', or maze rows separated by '/' (``#`` wall, ``.`` open, ``S`` start, ``G`` goal)."""
    return GridMaze(NAMED[spec] if spec in NAMED else spec.replace("/", "\n"))


@dataclass(frozen=True)
class MazeConfig(Config):
    maze: str = param("open", help="'open', 'linear', or rows separated by '/' ('#' wall, 'S' start, 'G' goal)")
    episodes: int = param(50, ge=1, help="episodes per agent")
    late_from: int = param(20, ge=1, help="first episode (1-based) of the late window of the steps claim")
    replicates: int = param(10, ge=1, help="agents per condition")
    agent: PMAgentConfig = PMAgentConfig()
    track: str = param("linear", help="maze of the reward-change test")
    track_before: int = param(20, ge=1, help="linear-track episodes before the reward change")
    track_after: int = param(3, ge=1, help="episodes after it whose goal replays are counted")
    increase: float = param(4.0, gt=1, help="reward multiplier of the increase")
    decrease: float = param(0.0, ge=0, lt=1, help="reward multiplier of the decrease")
    min_states: int = param(5, ge=2, help="fewest states of a forward or reverse replay event")
    log_events: int = param(200, ge=0, help="replay events kept from replicate 0 of the prioritised agent")

    renamed = {"n_plan": "agent.n_plan", "beta": "agent.beta", "gamma": "agent.gamma", "extend": "agent.extend"}

    def __post_init__(self):
        super().__post_init__()
        require(self.late_from <= self.episodes, f"late_from ({self.late_from}) must be <= episodes ({self.episodes})")
        maze_from(self.maze), maze_from(self.track)


def _agent(config: MazeConfig, mode: str, maze: GridMaze, seed: int, replicate: int) -> PMAgent:
    """Replicate `replicate`'s agent in `mode`: every condition of a replicate draws from the same ``init``
    stream (paired conditions)."""
    return PMAgent(dataclasses.replace(config.agent, mode=mode), maze, seed=replicate_seed(seed, replicate, "init"))


def _counts(events: list[dict], where: str) -> list[int]:
    ds = [e["direction"] for e in events if e["where"] == where]
    return [ds.count("forward"), ds.count("reverse")]


def open_job(config: MazeConfig, mode: str, seed: int, replicate: int, keep_events: int) -> dict:
    """One agent for ``config.episodes`` episodes: steps per episode, forward and reverse event counts at the
    start and the goal, and the first ``keep_events`` replay events."""
    maze = maze_from(config.maze)
    agent = _agent(config, mode, maze, seed, replicate)
    steps = [agent.episode() for _ in range(config.episodes)]
    events = replay_events(agent.events, maze.next_state, config.min_states)
    return {"steps": steps, "counts": {w: _counts(events, w) for w in ("start", "goal")},
            "events": events[:keep_events]}


def change_job(config: MazeConfig, scale: float, seed: int, replicate: int) -> dict:
    """Linear track: ``track_before`` episodes at reward 1, then ``track_after`` at reward x ``scale``; the
    reverse and forward backups at the goal after the change."""
    agent = _agent(config, "prioritized", maze_from(config.track), seed, replicate)
    for _ in range(config.track_before):
        agent.episode()
    agent.reward_scale = scale
    for _ in range(config.track_after):
        agent.episode()
    after = [e for e in replay_events(agent.events, agent.maze.next_state, config.min_states)
             if e["episode"] >= config.track_before]
    forward, reverse = _counts(after, "goal")
    return {"reverse": reverse, "forward": forward}


def run(config: MazeConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {}
    for r in range(config.replicates):
        for mode in MODES:
            keep = config.log_events if (mode == "prioritized" and r == 0) else 0
            jobs[f"{mode}-r{r}"] = (open_job, (config, mode, seed, r, keep))
        jobs[f"increase-r{r}"] = (change_job, (config, config.increase, seed, r))
        jobs[f"decrease-r{r}"] = (change_job, (config, config.decrease, seed, r))
    order = {name: k + 1 for k, name in enumerate(jobs)}

    def record(name: str, out: dict) -> dict:
        value = {"cum_steps": sum(out["steps"])} if "steps" in out else {"reverse_events": out["reverse"]}
        return {"step": order[name], **value}

    done = run_jobs(_call, jobs, ctx, desc="replay-maze", on_result=record)
    R = config.replicates
    steps = {m: np.array([done[f"{m}-r{r}"]["steps"] for r in range(R)], dtype=float) for m in MODES}
    metrics = {f"cum_steps_{m}": float(steps[m].sum(1).mean()) for m in MODES}
    metrics |= {f"steps_late_{m}": float(steps[m][:, config.late_from - 1:].mean()) for m in MODES}
    metrics["cum_ratio_prioritized_random"] = metrics["cum_steps_prioritized"] / metrics["cum_steps_random"]
    metrics["cum_ratio_random_none"] = metrics["cum_steps_random"] / metrics["cum_steps_none"]
    for where in ("start", "goal"):
        n = np.array([done[f"prioritized-r{r}"]["counts"][where] for r in range(R)]).sum(0)   # forward, reverse
        metrics[f"events_{where}"] = float(n.sum())
        metrics[f"forward_{where}"], metrics[f"reverse_{where}"] = (float(x) for x in n / max(n.sum(), 1))
    metrics["start_forward_margin"] = metrics["forward_start"] - metrics["reverse_start"]
    metrics["goal_reverse_margin"] = metrics["reverse_goal"] - metrics["forward_goal"]
    inc = np.array([done[f"increase-r{r}"]["reverse"] for r in range(R)], dtype=float)
    dec = np.array([done[f"decrease-r{r}"]["reverse"] for r in range(R)], dtype=float)
    metrics |= {"reverse_after_increase": float(inc.mean()), "reverse_after_decrease": float(dec.mean()),
                "reverse_increase_minus_decrease": float((inc - dec).mean())}
    maze = maze_from(config.maze)
    ev = done["prioritized-r0"]["events"]
    arrays = {f"steps_{m}": steps[m] for m in MODES} | {
        "reverse_increase": inc, "reverse_decrease": dec, "cells": maze.cells,
        "walls": np.array([[c == "#" for c in row] for row in maze.text.splitlines()]),
        "start_goal": np.array([maze.start, maze.goal]),
        "event_states": _pad([e["states"] for e in ev]),
        "event_meta": np.array([[e["episode"], e["where"] == "goal", e["direction"] == "reverse"] for e in ev],
                               dtype=np.int64).reshape(-1, 3)}
    return Result(metrics, arrays)


def _pad(seqs: list[list[int]]) -> np.ndarray:
    width = max((len(s) for s in seqs), default=1)
    out = -np.ones((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def _call(fn, args):
    return fn(*args)


def claims(config: MazeConfig) -> list[Claim]:
    a = config.agent
    how = (f"{config.replicates} agents per condition, {config.episodes} episodes, n_plan = {a.n_plan}, "
           f"softmax beta = {a.beta}, gamma = {a.gamma}, {a.extend} n-step extensions")
    shortest = maze_from(config.maze).shortest_path()
    out = [
        Claim("steps-late", papers.ROSCOW, "With prioritised replay the agent runs close to the shortest path "
              f"({shortest} steps) late in training.", "steps_late_prioritized", "<=", float(shortest + 6),
              how=how + f"; mean steps per episode over episodes {config.late_from}-{config.episodes}",
              reason="the acceptance criterion: within 6 steps of the optimum (14 on the open maze), set before "
                     "any run",
              expected="fail", note=f"{DOC}#steps-late-and-random-beats-none-the-softmax-temperature", kind="outcome"),
        Claim("prioritized-beats-random", papers.ROSCOW, "Prioritised replay (gain x need) needs fewer steps to learn "
              "than random replay with the same number of backups.", "cum_ratio_prioritized_random", "<", 1.0,
              how=how + "; cumulative steps over all episodes, prioritised / random",
              reason="the ordering itself: any ratio below 1", kind="outcome"),
        Claim("random-beats-none", papers.ROSCOW, "Random replay needs fewer steps to learn than no replay.",
              "cum_ratio_random_none", "<", 1.0, how=how + "; cumulative steps, random / none",
              reason="the ordering itself: any ratio below 1", expected="fail",
              note=f"{DOC}#steps-late-and-random-beats-none-the-softmax-temperature", kind="outcome"),
        Claim("reverse-at-goal", papers.ROSCOW, "Replay at the goal is more often reverse than forward.",
              "goal_reverse_margin", ">=", 0.1, how=how + "; reverse minus forward fraction of the replay events "
              f"(runs of >= {config.min_states} states in one direction) at the goal, pooled over agents",
              reason="the acceptance margin of 0.1", expected="fail",
              note=f"{DOC}#reverse-at-goal-forward-planning-at-the-goal", kind="outcome"),
        Claim("forward-at-start", papers.ROSCOW, "Replay at the start is more often forward than reverse.",
              "start_forward_margin", ">=", 0.1, how=how + "; forward minus reverse fraction, at the start",
              reason="the acceptance margin of 0.1", kind="outcome"),
        Claim("reward-increase-reverse", papers.ROSCOW, "A reward increase raises reverse replay more than a reward "
              "decrease does.", "reverse_increase_minus_decrease", ">", 0.0,
              how=f"linear track, {config.track_before} episodes at reward 1, then {config.track_after} at x"
                  f"{config.increase:g} or x{config.decrease:g}; reverse backups at the goal after the change, "
                  "mean paired difference over agents", reason="the direction itself: any positive difference",
                  kind="outcome"),
    ]
    return out


def plot(result: Result, config: MazeConfig) -> dict:
    a, m = result.arrays, result.metrics
    fig_steps, (ax,) = plotting.figure()
    plotting.curves(ax, np.arange(1, config.episodes + 1), {k: np.asarray(a[f"steps_{k}"]).mean(0) for k in MODES},
                    xlabel="episode", ylabel="steps to goal (mean over agents)", yscale="log",
                    title="open maze", dashed=("none",))
    fig_dir, (ax1, ax2) = plotting.figure(2)
    plotting.bars(ax1, {f"{d} @ {w}": m[f"{d}_{w}"] for w in ("start", "goal") for d in ("forward", "reverse")},
                  ylabel="fraction of replay events", title="replay direction")
    plotting.bars(ax2, {"reward x4": m["reverse_after_increase"], "reward x0": m["reverse_after_decrease"]},
                  ylabel="reverse events at the goal", title="after a reward change (linear track)")
    return {"steps": fig_steps, "direction": fig_dir, "trajectories": _trajectories(a)}


def _trajectories(a) -> object:
    """The replayed sequences of the first logged bouts drawn on the maze, at the start and at the goal."""
    walls, cells = np.asarray(a["walls"]), np.asarray(a["cells"])
    meta, states = np.asarray(a["event_meta"]).reshape(-1, 3), np.asarray(a["event_states"])
    fig, axes = plotting.figure(2, title="replay events of prioritised agent 0 (first logged bouts)")
    for ax, at_goal, name in zip(axes, (0, 1), ("start", "goal")):
        ax.imshow(walls, cmap="Greys", vmin=0, vmax=1.5)
        picked = np.flatnonzero(meta[:, 1] == at_goal)[:60]
        for i in picked:
            seq = states[i][states[i] >= 0]
            rc = cells[seq]
            ax.plot(rc[:, 1], rc[:, 0], color="C3" if meta[i, 2] else "C0", alpha=0.5, lw=1.5)
            ax.plot(rc[-1, 1], rc[-1, 0], "o", color="C3" if meta[i, 2] else "C0", ms=3)
        for idx, mark in zip(np.asarray(a["start_goal"]), ("S", "G")):
            ax.text(cells[idx][1], cells[idx][0], mark, ha="center", va="center", weight="bold")
        ax.set_title(f"at the {name}: blue forward, red reverse, dot = last")
        ax.set_xticks([]), ax.set_yticks([])
    return fig


register(Experiment(
    name="replay-maze", paper=papers.ROSCOW,
    summary="Mattar & Daw prioritised memory access: gain x need replay vs random and none; replay direction",
    presets={"quick": MazeConfig(replicates=3), "full": MazeConfig(),
             "smoke": MazeConfig(replicates=1, episodes=6, late_from=2, track_before=3, track_after=1),
             # Mattar & Daw's open maze (6 x 9, start to goal in 14 steps), 50 episodes, their parameters (γ 0.9,
             # α 1, β 5, transition rate 0.9, 20 backups per bout) and the linear track, as full: paper = full
             "paper": MazeConfig(),
             "alt": MazeConfig(maze=BLOCKING_MAZE, replicates=3)},
    run=run, claims=claims, plot=plot, cpu_only=True,
    work=lambda c: c.replicates * c.episodes * c.agent.n_plan,  # agents x episodes x backups per bout
))
