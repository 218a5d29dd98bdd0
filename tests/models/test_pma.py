"""Prioritised memory access (brainlearn.models.pma): gain, need, mazes, the agent."""

import numpy as np
import pytest

from brainlearn.errors import ConfigError
from brainlearn.models.pma import (
    LINEAR_TRACK,
    OPEN_MAZE,
    GridMaze,
    PMAgent,
    PMAgentConfig,
    gain,
    replay_events,
    softmax,
    stationary_need,
    successor_need,
)


def test_open_maze_geometry():
    maze = GridMaze(OPEN_MAZE)
    assert maze.shape == (6, 9) and maze.n_states == 47 and maze.shortest_path() == 14
    assert tuple(maze.cells[maze.start]) == (2, 0) and tuple(maze.cells[maze.goal]) == (0, 8)
    up, down, left, right = maze.next_state[maze.start]
    assert left == maze.start and tuple(maze.cells[up]) == (1, 0) and tuple(maze.cells[right]) == (2, 1)
    track = GridMaze(LINEAR_TRACK)
    assert track.n_states == 10 and track.shortest_path() == 9


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("S.G\n..", "same length"), ("S.x.G", "unexpected characters"), ("...G", "exactly one 'S'"),
    ("S.G.G", "exactly one 'G'"), ("S#G", "cannot be reached"), (3, "expected text"),
])
def test_malformed_maze_text(text, message):
    with pytest.raises(ConfigError, match=message):
        GridMaze(text)


def _random_T(n, seed=0):
    T = np.random.default_rng(seed).random((n, n))
    return T / T.sum(1, keepdims=True)


def test_need_equals_the_successor_representation_row():
    T = _random_T(12)
    sr = np.linalg.inv(np.eye(12) - 0.9 * T)
    for s in (0, 5, 11):
        np.testing.assert_allclose(successor_need(T, s, 0.9), sr[s], rtol=1e-12, atol=1e-12)


def test_stationary_need_is_the_stationary_distribution():
    T = _random_T(9, 1)
    d = stationary_need(T)
    assert abs(d.sum() - 1) < 1e-12 and (d > 0).all()
    np.testing.assert_allclose(d @ T, d, atol=1e-12)


def test_gain_is_zero_when_the_policy_is_unchanged():
    q = np.array([[0.3, 0.1, 0.0, 0.2], [0.5, 0.5, 0.5, 0.5]])
    # the target equals the current value, or only shifts a value whose action already has zero probability
    assert np.allclose(gain(q[:1], np.array([2]), np.array([0.0]), 1.0, 5.0), 0.0, atol=1e-15)
    assert np.allclose(gain(q[1:], np.array([1]), np.array([0.5]), 1.0, 5.0), 0.0, atol=1e-15)
    greedy = np.array([[1.0, -1e4, -1e4, -1e4]])
    assert abs(gain(greedy, np.array([1]), np.array([-2e4]), 1.0, 5.0)[0]) < 1e-12


def test_gain_is_positive_when_a_backup_propagates_a_new_reward():
    q = np.zeros((1, 4))
    g = gain(q, np.array([3]), np.array([1.0]), 1.0, 5.0)[0]
    pi_new = softmax(np.array([0, 0, 0, 1.0]), 5.0)
    assert g > 0 and np.isclose(g, pi_new[3] - 0.25)   # sum_b Q_new(b) (pi_new - pi_old), Q_new = e_3
    # vectorised over candidates: the same as one at a time
    rng = np.random.default_rng(0)
    qs, acts, targets = rng.normal(size=(50, 4)), rng.integers(0, 4, 50), rng.normal(size=50)
    one = [gain(qs[i:i + 1], acts[i:i + 1], targets[i:i + 1], 1.0, 5.0)[0] for i in range(50)]
    np.testing.assert_allclose(gain(qs, acts, targets, 1.0, 5.0), one, rtol=1e-12, atol=1e-15)


def test_first_goal_bout_replays_in_reverse_from_the_goal():
    agent = PMAgent(PMAgentConfig(), GridMaze(OPEN_MAZE), seed=0)
    agent.episode()
    bout = [e for e in agent.events if e["where"] == "goal"]
    assert len(bout) == 20 and all(e["gain"] > 0 for e in bout)
    maze = agent.maze
    # the first backup is the predecessor of the rewarded transition; each next one leads into the last
    assert maze.next_state[tuple(bout[1]["added"])] == bout[0]["added"][0]
    events = replay_events(agent.events, maze.next_state)
    assert events and events[0]["direction"] == "reverse" and events[0]["where"] == "goal"


def test_replay_events_cut_directions():
    maze = GridMaze("S....G\n")                                        # 6 states in a row; action 3 = right
    fwd = [{"bout": 0, "where": "start", "episode": 0, "added": [s, 3]} for s in range(5)]
    rev = [{"bout": 1, "where": "goal", "episode": 0, "added": [s, 3]} for s in (4, 3, 2, 1, 0)]
    short = [{"bout": 2, "where": "goal", "episode": 0, "added": [s, 3]} for s in (4, 3, 0)]
    out = replay_events(fwd + rev + short, maze.next_state, min_states=5)
    assert [(e["where"], e["direction"], e["states"]) for e in out] == [
        ("start", "forward", [0, 1, 2, 3, 4]), ("goal", "reverse", [4, 3, 2, 1, 0])]


def test_modes_and_checkpoint_round_trip():
    maze = GridMaze(OPEN_MAZE)
    none = PMAgent(PMAgentConfig(mode="none"), maze, seed=3)
    none.episode()
    assert none.events == []
    a, b = PMAgent(PMAgentConfig(), maze, seed=3), PMAgent(PMAgentConfig(), maze, seed=99)
    for _ in range(3):
        a.episode()
    b.load_state_dict(a.state_dict())
    assert [a.episode() for _ in range(2)] == [b.episode() for _ in range(2)]
    np.testing.assert_array_equal(a.Q, b.Q)
    assert a.events == b.events
    for bad in ({"mode": "dream"}, {"need": "x"}, {"extend": "sideways"}, {"gamma": 1.0}):
        with pytest.raises(ConfigError):
            PMAgentConfig(**bad)


def test_offline_need_runs():
    agent = PMAgent(PMAgentConfig(need="stationary", extend="both"), GridMaze(OPEN_MAZE), seed=1)
    steps = [agent.episode() for _ in range(3)]
    assert all(s > 0 for s in steps) and {e["kind"] for e in agent.events} <= {"one", "forward", "reverse"}

