"""Mixture-of-Pathways: the three biases in closed form, the model's shapes and switches."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.data.cognitive import TaskSuite
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.pathways import (
    MixtureOfPathways,
    MixtureOfPathwaysConfig,
    drop_experts,
    dropout_probability,
    expert_costs,
    make_adamw,
    parse_experts,
    pathway_loss,
    per_task_mean,
)
from brainlearn.runtime import make_generator

TASKS = ("rtgo", "go", "dm1")


@pytest.fixture(scope="module")
def window():
    return next(TaskSuite(TASKS).stream(4, 40, make_generator(0)))


def small_model(**kw):
    torch.manual_seed(0)
    return MixtureOfPathways(MixtureOfPathwaysConfig(n_tasks=len(TASKS), experts="0,4,8;0,4,8", n_hidden=16,
                                                     router_dim=8, task_dim=4, **kw))


# ----------------------------------------------------------------------------- expert dropout
def test_dropout_probability_at_key_weights():
    w = torch.tensor([0.0, 0.05, 0.1, 0.5])
    p = dropout_probability(w, beta=0.8, gamma=0.1)
    assert torch.allclose(p, torch.tensor([0.8, 0.4, 0.0, 0.0]))


def test_dropout_empirical_rate():
    w = torch.tensor([0.0, 0.05, 0.1, 0.85]).expand(100_000, 4)
    _, keep = drop_experts(w, 0.8, 0.1, make_generator(0))
    rate = 1 - keep.float().mean(0)
    assert torch.allclose(rate, torch.tensor([0.8, 0.4, 0.0, 0.0]), atol=0.01)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0), st.floats(0.01, 0.3))
def test_renormalised_gates_sum_to_one(seed, beta, gamma):
    logits = torch.randn(64, 5, 3, generator=make_generator(seed))
    w = torch.softmax(logits, -1)
    gates, keep = drop_experts(w, beta, gamma, make_generator(seed + 1))
    assert torch.allclose(gates.sum(-1), torch.ones(64, 5), atol=1e-6)
    assert bool((gates[~keep] == 0).all())
    # gates are the kept weights rescaled: a softmax over the surviving logits
    masked = torch.softmax(logits.masked_fill(~keep, float("-inf")), -1)
    assert torch.allclose(gates, masked, atol=1e-6)


# ----------------------------------------------------------------------------- routing cost
def test_lpc_matches_hand_computation_and_skip_is_free(window):
    assert expert_costs((0, 16, 32)).tolist() == [0.0, 256.0, 1024.0]
    model = small_model(expert_dropout=False).eval()
    with torch.no_grad():
        out = model(window.inputs, window.task)
    w0, w1 = out.weights
    by_hand = (w0[..., 1] * 16 + w0[..., 2] * 64) + (w1[..., 1] * 16 + w1[..., 2] * 64)  # 4^2, 8^2; skip 0
    assert torch.allclose(out.cost, by_hand, atol=1e-4)
    only_skip = torch.tensor([1.0, 0.0, 0.0])
    assert float((only_skip * expert_costs((0, 4, 8))).sum()) == 0.0
    # per-task mean over all steps of that task
    t0 = window.task == 0
    lpc = per_task_mean(out.cost, window.task, torch.ones_like(t0), len(TASKS))
    assert torch.isclose(lpc[0], out.cost[t0].mean(), atol=1e-4)


def test_per_task_mean_absent_task_is_nan():
    v = torch.tensor([[1.0, 2.0, 3.0]])
    t = torch.tensor([[0, 0, 2]])
    m = per_task_mean(v, t, torch.tensor([[True, True, True]]), 3)
    assert m[0] == 1.5 and math.isnan(m[1]) and m[2] == 3.0
    with pytest.raises(ShapeError):
        per_task_mean(v, t[:, :2], t[:, :2] > -1, 3)


# ----------------------------------------------------------------------------- scaled cost and its gradient
def _loss_parts(window, cost_value, **kw):
    logits = torch.randn(*window.targets.shape, 17, generator=make_generator(1), requires_grad=True)
    cost = torch.full(window.targets.shape, cost_value)
    total, parts = pathway_loss(logits, window.targets, window.task, window.fixation_mask, window.response_mask,
                                cost, len(TASKS), **kw)
    return logits, total, parts


def test_scaled_cost_value(window):
    alpha, eps = 1e-3, 1e-2
    _, total, parts = _loss_parts(window, 100.0, alpha=alpha, eps=eps)
    resp = parts["response"]
    assert torch.allclose(parts["cost"], alpha * 100.0 / (resp + eps), equal_nan=True)
    expected = parts["fixation"] + (resp + alpha * 100.0 / (resp + eps))[~resp.isnan()].sum()
    assert torch.isclose(total, expected)


def test_scaled_cost_gradient_sign():
    """d/dL [L + a C / (L + eps)] = 1 - a C / (L + eps)^2: reverses once a C > (L + eps)^2, unless detached."""
    for detach, a_c, sign in ((False, 0.001, 1), (False, 10.0, -1), (True, 10.0, 1)):
        resp = torch.tensor(0.2, requires_grad=True)
        denom = (resp.detach() if detach else resp) + 0.01
        (resp + a_c / denom).backward()
        assert math.copysign(1, resp.grad.item()) == sign
        if not detach:
            assert math.isclose(resp.grad.item(), 1 - a_c / 0.21**2, rel_tol=1e-5)


def test_cost_gradient_through_the_loss(window):
    """The scaled cost's gradient w.r.t. the response logits, non-detached vs detached, differs exactly by the
    derivative of the denominator."""
    lg1, total1, _ = _loss_parts(window, 500.0, alpha=1e-2, fixation_loss=False)
    lg2, total2, _ = _loss_parts(window, 500.0, alpha=1e-2, fixation_loss=False, detach_denominator=True)
    g1 = torch.autograd.grad(total1, lg1)[0]
    g2 = torch.autograd.grad(total2, lg2)[0]
    assert not torch.allclose(g1, g2)
    # detached: the cost term is constant in the logits, so the gradient equals that of the bare CE sum
    lg3, total3, _ = _loss_parts(window, 500.0, alpha=0.0, fixation_loss=False)
    assert torch.allclose(g2, torch.autograd.grad(total3, lg3)[0], atol=1e-6)


# ----------------------------------------------------------------------------- switches
def test_each_switch_turns_its_bias_off(window):
    _, total0, parts0 = _loss_parts(window, 100.0, alpha=0.0)
    assert torch.all(parts0["cost"][~parts0["cost"].isnan()] == 0)  # alpha 0: no routing cost
    _, _, parts = _loss_parts(window, 100.0, alpha=1e-3, scaling=False)
    assert torch.allclose(parts["cost"], torch.full((3,), 0.1), equal_nan=True)  # no scaling: alpha * LPC
    model = small_model(expert_dropout=False).train()
    out = model(window.inputs, window.task, generator=make_generator(0))
    assert all(torch.equal(g, w) for g, w in zip(out.gates, out.weights))  # no dropout: gates = weights
    model = small_model(expert_dropout=True, dropout_max_prob=1.0, dropout_threshold=0.5).train()
    out = model(window.inputs, window.task, generator=make_generator(0))
    assert any(not torch.equal(g, w) for g, w in zip(out.gates, out.weights))
    model.eval()
    out = model(window.inputs, window.task)
    assert all(torch.equal(g, w) for g, w in zip(out.gates, out.weights))  # never in eval mode


def test_cost_uses_pre_dropout_weights(window):
    model = small_model(expert_dropout=True, dropout_max_prob=1.0, dropout_threshold=0.5).train()
    out = model(window.inputs, window.task, generator=make_generator(0))
    by_weights = sum((w * model.costs(i)).sum(-1) for i, w in enumerate(out.weights))
    assert torch.allclose(out.cost, by_weights)


# ----------------------------------------------------------------------------- model
def test_model_shapes_and_task_from_one_hot(window):
    model = small_model().eval()
    out = model(window.inputs)
    assert out.logits.shape == (4, 40, 17) and out.cost.shape == (4, 40)
    assert [w.shape for w in out.weights] == [(4, 40, 3)] * 2
    assert torch.allclose(out.weights[0].sum(-1), torch.ones(4, 40), atol=1e-6)
    assert torch.allclose(out.logits, model(window.inputs, window.task).logits)


def test_model_recurs_over_time_within_each_sequence(window):
    """Batch-first: a sample's outputs do not depend on the other samples (eval mode, BatchNorm frozen)."""
    model = small_model().eval()
    with torch.no_grad():
        full = model(window.inputs, window.task).logits
        one = model(window.inputs[1:2], window.task[1:2]).logits
        early = model(window.inputs[:, :10], window.task[:, :10]).logits
    assert torch.allclose(full[1:2], one, atol=1e-5)
    assert torch.allclose(full[:, :10], early, atol=1e-5)  # causal in time
    model.layout = "reference"
    with torch.no_grad():
        ref = model(window.inputs, window.task).logits
    assert not torch.allclose(full, ref, atol=1e-3)  # the reference layout mixes samples


def test_prune_and_lesion(window):
    model = small_model().eval()
    with torch.no_grad():
        out = model(window.inputs, window.task, prune_below=0.34)
        les = model(window.inputs, window.task, lesion_largest=True)
    for g, w in zip(out.gates, out.weights):
        assert bool((g[w < 0.34] == 0).all())
    for g in les.gates:
        assert bool((g[..., 2] == 0).all())
        assert torch.allclose(g.sum(-1), torch.ones(4, 40), atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ConfigError):
        parse_experts("0,-1")
    with pytest.raises(ConfigError):
        MixtureOfPathways(MixtureOfPathwaysConfig(n_tasks=3, dropout_max_prob=1.5))
    with pytest.raises(ShapeError):
        small_model()(torch.zeros(2, 5, 7))
    assert parse_experts("0,16,32;0,16,32") == ((0, 16, 32), (0, 16, 32))


def test_missing_schedulefree_is_a_config_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "schedulefree", None)
    with pytest.raises(ConfigError, match=r"brainlearn\[pathways\]"):
        make_adamw([torch.zeros(1, requires_grad=True)], lr=1e-2)
    assert isinstance(make_adamw([torch.zeros(1, requires_grad=True)], lr=1e-2, schedule_free=False),
                      torch.optim.AdamW)


def test_task_without_response_steps_keeps_gradients_finite():
    """A task seen in a window only during fixation has an LPC but no response loss: it is skipped, and its
    NaN loss must not leak into the gradient (a regression)."""
    logits = torch.randn(1, 4, 17, requires_grad=True)
    cost = torch.full((1, 4), 10.0, requires_grad=True)
    task = torch.tensor([[0, 0, 1, 1]])
    response = torch.tensor([[False, True, False, False]])
    total, parts = pathway_loss(logits, torch.zeros(1, 4, dtype=torch.long), task, ~response, response, cost, 2,
                                alpha=1e-2)
    total.backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(cost.grad).all()
    cost_terms = parts["cost"].detach()
    assert math.isnan(cost_terms[1]) and math.isfinite(cost_terms[0])
