"""BurstCCN model: exactness against autograd backprop and feedback alignment, the single-phase
property, the continuous form's fixed point, conv shapes, Q learning and bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.analysis import angle
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.burstccn import BurstCCN, BurstCCNConfig, burst_convnet, burst_mlp, matching_mlp


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(n_in, n_out=10, batch=32, seed=1):
    g = _gen(seed)
    return torch.rand(batch, n_in, generator=g), torch.randint(0, n_out, (batch,), generator=g)


def test_tied_feedback_follows_backprop_in_every_layer():
    """B1: tied Y and Q = p_b Y on a 3-hidden-layer sigmoid MLP: every layer within 2 degrees of BP."""
    net = burst_mlp([64, 100, 100, 100, 10], feedback="tied", generator=_gen())
    x, y = _batch(64)
    net.backward_local(x, y)
    bp = net.backprop_grads(x, y)
    for layer, g_w, g_c in zip(net.layers, bp[0::2], bp[1::2]):
        assert angle(layer.weight.grad, g_w) < 2.0
        assert angle(layer.bias.grad, g_c) < 2.0
    assert angle(net.layers[-1].weight.grad, bp[-2]) < 1e-3  # the output update is exactly parallel
    torch.testing.assert_close(net.layers[-1].weight.grad, bp[-2], rtol=1e-4, atol=1e-7)


def test_tied_feedback_follows_backprop_in_the_convnet():
    net = burst_convnet(in_shape=(3, 16, 16), channels=(4, 6), kernels=(3, 3), strides=(2, 1), n_hidden=(20,),
                        generator=_gen())
    g = _gen(2)
    x, y = torch.rand(5, 3, 16, 16, generator=g), torch.randint(0, 10, (5,), generator=g)
    net.backward_local(x, y)
    bp = net.backprop_grads(x, y)
    for layer, g_w in zip(net.layers, bp[0::2]):
        assert angle(layer.weight.grad, g_w) < 2.0


@pytest.mark.parametrize("q_mode", ["tied", "learned"])
def test_no_target_gives_exactly_zero_update(q_mode):
    """Single phase: without a teacher p = p_b everywhere in the cancelling state, so ΔW = 0 exactly."""
    net = burst_mlp([64, 50, 40, 10], feedback="random", q_mode=q_mode, generator=_gen())
    x, _ = _batch(64)
    state = net.backward_local(x, None)
    for p in state.p:
        assert torch.equal(p, torch.full_like(p, 0.5))
    for param in net.forward_parameters():
        assert param.grad.abs().max() < 1e-7


def test_random_feedback_gives_feedback_alignment_update():
    """B2: random Y with Q = p_b Y equals FA's update (same Y as FA's B) and is far from BP at init."""
    net = burst_mlp([64, 100, 100, 10], feedback="random", generator=_gen())
    x, y = _batch(64)
    net.backward_local(x, y)
    fa = matching_mlp(net, "fa")
    target = torch.nn.functional.one_hot(y, 10).float()
    fa_grads = torch.autograd.grad(0.5 * (fa(x) - target).pow(2).sum(1).mean(), [m.weight for m in fa.layers])
    bp = net.backprop_grads(x, y)[0::2]
    for layer, g_fa in zip(net.layers, fa_grads):
        assert angle(layer.weight.grad, g_fa) < 2.0
    for layer, g_bp in zip(net.layers[:-1], bp[:-1]):
        assert angle(layer.weight.grad, g_bp) > 60.0


def test_continuous_form_settles_to_the_discrete_steady_state():
    net = burst_mlp([8, 12, 10, 3], feedback="random", q_mode="learned", q_init="random", generator=_gen())
    g = _gen(3)
    x, t = torch.rand(6, 8, generator=g), torch.rand(6, 3, generator=g)
    discrete = net.burst_pass(x, t)
    continuous, trace = net.settle(x, t, steps=800, dt=0.01, record=True)
    for a, b in zip(discrete.e + discrete.p + discrete.u, continuous.e + continuous.p + continuous.u):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert trace.shape == (800, 2)


def test_q_learning_is_descent_on_the_apical_potential():
    """Q.grad is the autograd gradient of ⟨½‖u‖²⟩ w.r.t. Q."""
    net = burst_mlp([10, 7, 5], feedback="random", q_mode="learned", q_init="random", generator=_gen())
    x, y = _batch(10, 5, batch=4)
    state = net.backward_local(x, y)
    q = net.layers[1].Q
    qd = q.detach().clone().requires_grad_(True)
    b, e_above = state.p[1] * state.e[2], state.e[2]
    u = b @ net.layers[1].Y - e_above @ qd
    torch.testing.assert_close(u.detach(), state.u[0])
    (ref,) = torch.autograd.grad(0.5 * u.pow(2).sum(1).mean(), qd)
    torch.testing.assert_close(q.grad, ref)


def test_kolen_pollack_feedback_gets_the_forward_update():
    net = burst_mlp([10, 7, 5], feedback="learned", generator=_gen())
    x, y = _batch(10, 5, batch=4)
    net.backward_local(x, y)
    torch.testing.assert_close(net.layers[1].Y.grad, net.layers[1].weight.grad)
    assert net.y_parameters() and not net.q_parameters()


def test_optimizer_step_reduces_the_loss_on_a_batch():
    net = burst_mlp([64, 30, 10], generator=_gen())
    x, y = _batch(64)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    target = torch.nn.functional.one_hot(y, 10).float()

    def loss():
        with torch.no_grad():
            return float(0.5 * (net(x) - target).pow(2).sum(1).mean())

    before = loss()
    for _ in range(5):
        opt.zero_grad()
        net.backward_local(x, y)
        opt.step()
    assert loss() < before


def test_shapes_of_the_cifar_convnet():
    net = burst_convnet(generator=_gen())
    assert [tuple(layer.weight.shape) for layer in net.layers] == [
        (64, 3, 5, 5), (128, 64, 5, 5), (256, 128, 3, 3), (1480, 2304), (10, 1480)]
    x = torch.rand(2, 3, 32, 32, generator=_gen(4))
    state = net.burst_pass(x, torch.tensor([1, 7]))
    assert state.e[-1].shape == (2, 10)
    assert [tuple(u.shape) for u in state.u] == [(2, 64, 14, 14), (2, 128, 5, 5), (2, 256, 3, 3), (2, 1480)]
    assert all(((p >= 0) & (p <= 1)).all() for p in state.p)


def test_same_seed_same_numbers():
    a, b = (burst_mlp([5, 4, 3], feedback="random", generator=_gen(7)) for _ in range(2))
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.05, 0.5), st.floats(-3, 3))
def test_hidden_burst_probability_is_baseline_at_zero_and_bounded(p_b, u):
    net = burst_mlp([2, 2, 2], p_baseline=p_b, generator=_gen())
    e = torch.tensor([0.1, 0.5, 0.9])
    p0 = net.hidden_burst_probability(torch.zeros(3), e)
    torch.testing.assert_close(p0, torch.full((3,), p_b))
    p = net.hidden_burst_probability(torch.full((3,), u), e)
    assert bool(((p >= 0) & (p <= 2 * p_b)).all())


def test_bad_input():
    net = burst_mlp([4, 3, 2], generator=_gen())
    with pytest.raises(ShapeError):
        net.burst_pass(torch.rand(5, 3))
    with pytest.raises(ShapeError):
        net.burst_pass(torch.full((5, 4), float("nan")))
    with pytest.raises(ShapeError):
        net.burst_pass(torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1]))  # label 2 out of range
    with pytest.raises(ShapeError):
        net.burst_pass(torch.rand(5, 4), torch.rand(5, 3))
    with pytest.raises(ConfigError):
        burst_mlp([4, 3, 2], feedback="symmetric")
    with pytest.raises(ConfigError):
        burst_mlp([4, 3, 2], p_baseline=0.7)
    with pytest.raises(ConfigError):
        burst_mlp([4])
    with pytest.raises(ConfigError):
        burst_convnet(in_shape=(3, 8, 8))
    with pytest.raises(ConfigError):
        net.settle(torch.rand(2, 4), dt=1.0)


def test_the_config_builds_the_network_and_the_builders_agree():
    config = BurstCCNConfig(in_shape=(5,), n_hidden=(4,), n_out=3, feedback="random")
    a, b = BurstCCN(config, generator=_gen(7)), burst_mlp([5, 4, 3], feedback="random", generator=_gen(7))
    assert a.config == b.config
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    with pytest.raises(ConfigError):
        BurstCCNConfig(in_shape=(3, 8))
