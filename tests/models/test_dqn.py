"""DQN (brainlearn.models.dqn): the procedural gridworld and the agent's checkpoints."""

import io

import pytest


def test_procedural_grid_passes_the_env_checker():
    import warnings

    pytest.importorskip("gymnasium")

    import numpy as np
    from gymnasium.utils.env_checker import check_env

    from brainlearn.errors import ConfigError
    from brainlearn.models.dqn import ProceduralGrid, ProceduralGridConfig

    def grid(size=5, wall_p=0.2, layout_seed=0):
        return ProceduralGrid(ProceduralGridConfig(size=size, wall_p=wall_p), layout_seed=layout_seed)

    env = grid(5, 0.2, layout_seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # "no spec": the env is built directly, not via gymnasium.make
        check_env(env, skip_render_check=True)
    assert env.shortest >= 8 and env.optimal_return == pytest.approx(1 - 0.01 * (env.shortest - 1))
    layouts = {grid(5, 0.3, layout_seed=s).walls.tobytes() for s in range(6)}
    assert len(layouts) > 1
    assert np.array_equal(grid(5, 0.3, layout_seed=2).walls, grid(5, 0.3, layout_seed=2).walls)
    with pytest.raises(ConfigError):
        grid(1)


@pytest.mark.parametrize("prioritized", [False, True])
def test_dqn_agent_checkpoint_round_trip(prioritized):
    pytest.importorskip("gymnasium")
    import torch

    from brainlearn.models.dqn import DQNAgent, DQNAgentConfig, ProceduralGrid, ProceduralGridConfig, q_network

    config = DQNAgentConfig(prioritized=prioritized, capacity=200, batch_size=8, n_hidden=8, lr=1e-3, gamma=0.9,
                            steps=200, warmup=10, target_every=5, eps_end=0.1, eps_fraction=0.5, alpha=0.6, beta0=0.4)

    def make(seed):
        torch.manual_seed(seed)
        env = ProceduralGrid(ProceduralGridConfig(size=4, wall_p=0.2, max_steps=20), layout_seed=1)
        return DQNAgent(config, env, q_network(config, 16, 4), q_network(config, 16, 4), device="cpu",
                        generator=torch.Generator().manual_seed(seed))

    a, b = make(0), make(1)
    a.train_steps(60)
    blob = io.BytesIO()
    torch.save(a.state_dict(), blob)                   # a real checkpoint: no tensors shared with `a`
    blob.seek(0)
    b.load_state_dict(torch.load(blob, weights_only=True))
    a.train_steps(40)
    b.train_steps(40)
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(pa, pb)
    assert a.returns == b.returns and a.evaluate() == b.evaluate()


def test_grid_copy_is_independent_and_equal():
    pytest.importorskip("gymnasium")
    import numpy as np

    from brainlearn.models.dqn import ProceduralGrid

    env = ProceduralGrid(layout_seed=4)
    env.reset()
    env.step(1)
    twin = env.copy()
    assert np.array_equal(twin.walls, env.walls) and (twin.pos, twin.t) == (env.pos, env.t)
    twin.step(3)
    assert env.t == 1 and twin.t == 2
