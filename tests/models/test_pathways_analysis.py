"""Analyses of Mixture-of-Pathways models: per-task evaluation, consistency, distinctness, LPC rise, Spearman
and the stored task difficulties."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.data.cognitive import TaskSuite
from brainlearn.errors import ShapeError
from brainlearn.models.pathways import (
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
)
from brainlearn.models.pathways_analysis import consistency, distinctness, evaluate, lpc_rise, spearman
from brainlearn.runtime import make_generator

TASKS = ("rtgo", "go", "dm1")


@pytest.fixture(scope="module")
def window():
    return next(TaskSuite(TASKS).stream(4, 40, make_generator(0)))


def small_model(**kw):
    torch.manual_seed(0)
    return MixtureOfPathways(MixtureOfPathwaysConfig(n_tasks=len(TASKS), experts="0,4,8;0,4,8", n_hidden=16,
                                                     router_dim=8, task_dim=4, **kw))


# ----------------------------------------------------------------------------- analyses
def test_evaluate_per_task(window):
    model = small_model().eval()
    m = evaluate(model, [window])
    assert m["accuracy"].shape == (3,) and m["routing"].shape == (3, 2, 3)
    with torch.no_grad():
        out = model(window.inputs, window.task)
    mask = window.response_mask & (window.task == 1)
    hit = (out.logits.argmax(-1) == window.targets)[mask].float().mean()
    assert math.isclose(m["accuracy"][1], hit.item(), rel_tol=1e-5)
    assert math.isclose(m["lpc"][1], out.cost[mask].mean().item(), rel_tol=1e-4)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_consistency_properties(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=8)
    assert math.isclose(consistency([v, 2 * v + 1, v]), 1.0, rel_tol=1e-9)
    assert math.isclose(consistency([v, -v]), -1.0, rel_tol=1e-9)
    r = rng.normal(size=(4, 8))
    assert -1 <= consistency(r) <= 1


def test_distinctness_and_rise_and_spearman():
    same = np.tile(np.array([[0.2, 0.3, 0.5]]), (4, 2, 1)).reshape(4, 2, 3)
    assert distinctness(same) == 0.0
    disjoint = np.zeros((3, 1, 3))
    disjoint[np.arange(3), 0, np.arange(3)] = 1
    assert math.isclose(distinctness(disjoint), 1.0)
    assert lpc_rise([[1.0, 5.0], [3.0, 4.0], [0.5, 2.0]]).tolist() == [2.0, 0.0]
    assert math.isclose(spearman([1, 2, 3, 4], [10, 20, 30, 25]), 0.8)
    assert math.isnan(spearman([1, 2], [3, 4]))
    with pytest.raises(ShapeError):
        distinctness(np.zeros((3, 3)))


def test_stored_difficulty_orders_the_task_families():
    from brainlearn.models.pathways_analysis import DIFFICULTY

    assert set(DIFFICULTY) == {"rtgo", "rtanti", "go", "anti", "dm1", "dlydm1", "dms", "dlygointr"}
    assert max(DIFFICULTY["rtgo"], DIFFICULTY["rtanti"]) < min(DIFFICULTY["go"], DIFFICULTY["anti"])
    assert max(DIFFICULTY["go"], DIFFICULTY["anti"]) < min(DIFFICULTY[t] for t in ("dm1", "dlydm1", "dlygointr"))


@pytest.mark.slow
def test_difficulty_recomputed_matches_stored():
    """Re-check the stored difficulties of two tasks at the two ends of the range (a few minutes on CPU)."""
    from brainlearn.models.pathways_analysis import DIFFICULTY, task_difficulty

    fresh = task_difficulty(["rtgo", "dm1"], seeds=3, max_steps=500)
    for task, value in fresh.items():
        assert math.isclose(value["difficulty"], DIFFICULTY[task], abs_tol=0.2), (task, value)
