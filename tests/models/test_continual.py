"""Continual-learning replay (brainlearn.models.continual): task splits, distillation, plugins on one loop."""

import pytest


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

    from brainlearn.models.continual import (
        ContinualLearner,
        ContinualLearnerConfig,
        ExactReplay,
        ExactReplayConfig,
        GenerativeReplay,
        GenerativeReplayConfig,
        ReplayVAEConfig,
        Solver,
        SolverConfig,
    )

    tasks = _toy_tasks()
    results = {}
    for name in ("naive", "exact", "generative", "feature"):
        torch.manual_seed(0)
        plugins = {"naive": [], "exact": [ExactReplay(ExactReplayConfig(memory=8), device="cpu", seed=1)],
                   "generative": [GenerativeReplay(GenerativeReplayConfig(vae=ReplayVAEConfig(8, 2), epochs=2))],
                   "feature": [GenerativeReplay(GenerativeReplayConfig(vae=ReplayVAEConfig(8, 2, bernoulli=False),
                                                                       epochs=2, level="features"))]}
        learner = ContinualLearner(ContinualLearnerConfig(epochs=30, batch_size=8, lr=1e-2),
                                   Solver(SolverConfig(n_hidden=8), 6, 4), plugins[name],
                                   generator=torch.Generator().manual_seed(2))
        out = learner.fit(tasks)
        results[name] = out
        assert len(out["matrix"]) == 2 and 0 <= out["final_acc"] <= 1 and out["forgetting"] <= 1
        if name == "exact":
            assert set(plugins[name][0].buffer.data["y"][:8].tolist()) == {0, 1, 2, 3}   # both tasks in memory
        if name == "feature":
            assert not any(p.requires_grad for p in learner.solver.features.parameters())
    assert results["naive"]["matrix"][1][0] < 0.5 and results["exact"]["final_acc"] > results["naive"]["final_acc"]
