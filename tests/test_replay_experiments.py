"""The replay-per, replay-continual and replay-dqn experiments: contracts and quick claims."""

import io

import pytest

from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from tests.contracts import check_contracts

PER_SMALL = ["n_items=50", "draws=1000", "batch=50", "capacity=10", "stream=100", "runs=5"]


def _gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


def test_per_contracts(tmp_path):
    check_contracts("replay-per", PER_SMALL, tmp_path, interrupt_after=2)


@pytest.fixture(scope="module")
def per():
    return {c["id"]: c for c in run_experiment("replay-per", seed=0, out=None).claims}


@pytest.mark.parametrize("claim_id", _gated("replay-per"))
def test_per_claim(per, claim_id):
    assert claim_ok(per[claim_id]), per[claim_id]


# --- continual learning ------------------------------------------------------------------------------------

CONTINUAL_SMALL = ["n_train=200", "n_test=100", "epochs=1", "hidden=16", "vae_hidden=16", "memory=20"]


def _toy_tasks():
    import torch

    from brainlearn.models.continual import split_tasks

    g = torch.Generator().manual_seed(0)
    y = torch.arange(40) % 4
    x = torch.rand(40, 6, generator=g) * 0.1 + torch.nn.functional.one_hot(y, 6).float()
    return split_tasks(x, y, x[:20], y[:20], classes_per_task=2)


def test_split_tasks_and_bad_input():
    import torch

    from brainlearn.errors import ConfigError, ShapeError
    from brainlearn.models.continual import split_tasks

    tasks = _toy_tasks()
    assert [t.classes for t in tasks] == [(0, 1), (2, 3)]
    assert all(set(t.y_train.tolist()) == set(t.classes) for t in tasks) and len(tasks[0].y_train) == 20
    with pytest.raises(ConfigError, match="must divide"):
        split_tasks(torch.zeros(6, 2), torch.arange(6) % 3, torch.zeros(3, 2), torch.arange(3), classes_per_task=2)
    with pytest.raises(ShapeError, match="flat inputs"):
        split_tasks(torch.zeros(6, 2, 2), torch.arange(6) % 2, torch.zeros(2, 2), torch.arange(2))


def test_distillation_targets_new_classes_with_zero():
    import torch

    from brainlearn.models.continual import distillation

    teacher = torch.tensor([[2.0, -1.0]])
    same = distillation(torch.tensor([[2.0, -1.0, -50.0]]), teacher, 2.0)
    raised = distillation(torch.tensor([[2.0, -1.0, 5.0]]), teacher, 2.0)
    t = torch.softmax(teacher / 2, 1)
    assert torch.isclose(same, -(t * torch.log(t)).sum() * 4, atol=1e-4)   # the teacher's entropy: the minimum
    assert raised > same + 1                                                  # a new class's logit is penalised


def test_plugins_on_one_loop():
    import torch

    from brainlearn.models.continual import VAE, ContinualLearner, ExactReplay, GenerativeReplay, Solver

    tasks = _toy_tasks()
    results = {}
    for name in ("naive", "exact", "generative", "feature"):
        torch.manual_seed(0)
        plugins = {"naive": [], "exact": [ExactReplay(8, "cpu", seed=1)],
                   "generative": [GenerativeReplay(lambda n: VAE(n, 8, 2), epochs=2)],
                   "feature": [GenerativeReplay(lambda n: VAE(n, 8, 2, bernoulli=False), epochs=2, level="features")]}
        learner = ContinualLearner(Solver(6, 8, 4), plugins[name], epochs=30, batch_size=8, lr=1e-2,
                                   generator=torch.Generator().manual_seed(2))
        out = learner.fit(tasks)
        results[name] = out
        assert len(out["matrix"]) == 2 and 0 <= out["final_acc"] <= 1 and out["forgetting"] <= 1
        if name == "exact":
            assert set(plugins[name][0].buffer.data["y"][:8].tolist()) == {0, 1, 2, 3}   # both tasks in memory
        if name == "feature":
            assert not any(p.requires_grad for p in learner.solver.features.parameters())
    assert results["naive"]["matrix"][1][0] < 0.5 and results["exact"]["final_acc"] > results["naive"]["final_acc"]


def test_continual_contracts(tmp_path):
    check_contracts("replay-continual", CONTINUAL_SMALL, tmp_path, interrupt_after=2)


@pytest.fixture(scope="module")
def continual():
    return {c["id"]: c for c in run_experiment("replay-continual", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", _gated("replay-continual"))
def test_continual_claim(continual, claim_id):
    assert claim_ok(continual[claim_id]), continual[claim_id]


# --- DQN -----------------------------------------------------------------------------------------------------

DQN_SMALL = ["replicates=1", "steps=120", "warmup=20", "eval_every=40", "hidden=8", "capacity=100"]


def test_procedural_grid_passes_the_env_checker():
    import warnings

    pytest.importorskip("gymnasium")

    import numpy as np
    from gymnasium.utils.env_checker import check_env

    from brainlearn.errors import ConfigError
    from brainlearn.models.dqn import ProceduralGrid

    env = ProceduralGrid(5, 0.2, layout_seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # "no spec": the env is built directly, not via gymnasium.make
        check_env(env, skip_render_check=True)
    assert env.shortest >= 8 and env.optimal_return == pytest.approx(1 - 0.01 * (env.shortest - 1))
    layouts = {ProceduralGrid(5, 0.3, layout_seed=s).walls.tobytes() for s in range(6)}
    assert len(layouts) > 1
    assert np.array_equal(ProceduralGrid(5, 0.3, layout_seed=2).walls, ProceduralGrid(5, 0.3, layout_seed=2).walls)
    with pytest.raises(ConfigError):
        ProceduralGrid(1)


@pytest.mark.parametrize("prioritized", [False, True])
def test_dqn_agent_checkpoint_round_trip(prioritized):
    pytest.importorskip("gymnasium")
    import torch

    from brainlearn.models.dqn import DQNAgent, ProceduralGrid, q_network

    def make(seed):
        torch.manual_seed(seed)
        env = ProceduralGrid(4, 0.2, layout_seed=1, max_steps=20)
        return DQNAgent(env, q_network(16, 8, 4), q_network(16, 8, 4), prioritized=prioritized, capacity=200,
                        batch_size=8, lr=1e-3, gamma=0.9, total_steps=200, warmup=10, target_every=5,
                        eps_end=0.1, eps_fraction=0.5, alpha=0.6, beta0=0.4, device="cpu",
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


def test_dqn_contracts(tmp_path):
    pytest.importorskip("gymnasium")
    check_contracts("replay-dqn", DQN_SMALL, tmp_path, interrupt_after=1)


@pytest.fixture(scope="module")
def dqn():
    return {c["id"]: c for c in run_experiment("replay-dqn", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", _gated("replay-dqn"))
def test_dqn_claim(dqn, claim_id):
    assert claim_ok(dqn[claim_id]), dqn[claim_id]
