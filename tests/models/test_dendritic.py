"""Dendritic cortical microcircuits (Sacramento et al. 2018): steady state, plasticity, dynamics."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.dendritic import (
    Conductances,
    DendriticNetwork,
    DendriticNetworkConfig,
    LearningRates,
    angles_to_backprop,
    as_mlp,
    mean_apical,
)


def make(sizes=(12, 9, 7, 5), seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return DendriticNetwork(DendriticNetworkConfig(sizes=tuple(sizes), **kw), generator=g), g


def maxabs(tensors):
    return max(float(t.abs().max()) for t in tensors)


# ---------------------------------------------------------------- self-predicting state
@pytest.mark.parametrize("feedback", ["tied", "random"])
@pytest.mark.parametrize("activation", ["softplus", "sigmoid"])
def test_sps_without_target_is_silent(feedback, activation):
    """In the SPS with no target: apical ~0, interneurons copy the next layer, no weight changes."""
    net, g = make(feedback=feedback, activation=activation, bias=True)
    with torch.no_grad():
        for b in net.b:
            b.normal_(generator=g)
    net.init_self_predicting()
    x = torch.rand(32, 12, generator=g)
    state = net.settle(x)
    assert maxabs(state.v_apical) < 1e-5
    assert maxabs([ui - u for ui, u in zip(state.u_int, state.u[1:])]) < 1e-5
    upd = net.local_updates(state)
    assert maxabs(upd.W + upd.b + upd.W_IP + upd.b_IP + upd.W_PI) < 1e-6
    torch.testing.assert_close(state.u[-1], net(x))


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=5), seed=st.integers(0, 10_000),
       activation=st.sampled_from(["softplus", "sigmoid"]))
def test_sps_property(sizes, seed, activation):
    net, g = make(tuple(sizes), seed, activation=activation)
    x = torch.rand(4, sizes[0], generator=g)
    state = net.settle(x)
    assert all(float(v.abs().max()) < 1e-5 for v in state.v_apical)
    assert maxabs(net.local_updates(state).W) < 1e-6


def test_lateral_plasticity_learns_sps_from_random():
    net, g = make((10, 8, 4), feedback="random", self_predicting=False)
    probe = torch.rand(64, 10, generator=g)
    before = mean_apical(net, probe)
    rates = LearningRates(forward=0.0, ip=0.1, pi=0.1)
    for _ in range(300):
        net.train_step(torch.rand(16, 10, generator=g), None, rates)
    assert mean_apical(net, probe) < 0.1 * before


# ---------------------------------------------------------------- backprop approximation
def test_weak_nudge_follows_backprop():
    """With symmetric feedback and a weak nudge, every layer's update is within 10 deg of backprop."""
    net, g = make((20, 30, 15, 6), conductances=Conductances(g_som=0.02), sweeps=10)
    teacher, _ = make((20, 30, 15, 6), seed=1, init_gain=2.0)
    x = torch.rand(32, 20, generator=g)
    target = teacher(x)
    angles = angles_to_backprop(net, x, target, "nudge")
    assert max(angles) < 10.0, angles
    assert max(angles) < 1.0, angles  # the weak-nudging limit is exact up to O(g_som)
    weaker = DendriticNetwork(DendriticNetworkConfig(sizes=net.sizes, conductances=Conductances(g_som=0.002),
                                                     sweeps=10))
    weaker.load_state_dict(net.state_dict())
    assert max(angles_to_backprop(weaker, x, target, "nudge")) < 0.2 * max(angles)


def test_random_feedback_is_not_backprop():
    net, g = make((20, 30, 6), feedback="random", feedback_gain=1.0)
    x = torch.rand(32, 20, generator=g)
    angles = angles_to_backprop(net, x, net(x) + torch.randn(32, 6, generator=g))
    assert angles[0] > 45.0  # a random B carries no gradient information at initialisation


def test_reference_gradients_match_mlp_autograd():
    """reference_gradients(loss="potential") is the MSE gradient of the equivalent brainlearn MLP."""
    net, g = make((8, 6, 3), activation="sigmoid", bias=True)
    x, target = torch.rand(5, 8, generator=g), torch.randn(5, 3, generator=g)
    mlp = as_mlp(net)
    torch.testing.assert_close(mlp(x), net(x))
    loss = 0.5 * (mlp(x) - target).pow(2).sum(1).mean()
    loss.backward()
    ref = net.reference_gradients(x, target, "potential")
    for layer, c, dW, db in zip(mlp.layers, net.attenuation, ref.W, ref.b):
        torch.testing.assert_close(dW, -c * layer.weight.grad)  # dL/dW = c dL/d(cW)
        torch.testing.assert_close(db, -c * layer.bias.grad)


def test_output_update_is_nudge_times_rate_slope():
    """Closed form at the output: u_N - c v_B = g_som/(g_lk+g_B+g_som) (u_trgt - c v_B) exactly."""
    net, g = make((6, 4), activation="sigmoid")
    x, target = torch.rand(3, 6, generator=g), torch.randn(3, 4, generator=g)
    state = net.settle(x, target)
    gc = net.g
    free = net.attenuation[0] * state.v_basal[0]
    torch.testing.assert_close(state.u[0] - free, gc.g_som / (gc.g_lk + gc.g_B + gc.g_som) * (target - free))


def test_settle_solves_the_fixed_point():
    net, g = make(feedback="random")
    x, target = torch.rand(8, 12, generator=g), torch.randn(8, 5, generator=g)
    s = net.settle(x, target, sweeps=40)
    gc, phi = net.g, net.phi
    rates = [x] + [phi(u) for u in s.u]
    for k in range(net.n_layers - 1):
        v_b = rates[k] @ net.W[k].T + net.b[k]
        v_a = rates[k + 2] @ net.B[k].T + phi(s.u_int[k]) @ net.W_PI[k].T
        torch.testing.assert_close(s.u[k], (gc.g_B * v_b + gc.g_A * v_a) / (gc.g_lk + gc.g_B + gc.g_A))
        v_i = rates[k + 1] @ net.W_IP[k].T + net.b_IP[k]
        torch.testing.assert_close(s.u_int[k], (gc.g_D * v_i + gc.g_som * s.u[k + 1]) / (gc.g_lk + gc.g_D + gc.g_som))


# ---------------------------------------------------------------- time-continuous dynamics
def test_dynamics_settle_to_steady_state():
    net, g = make((10, 8, 6, 4), feedback="random", activation="softplus")
    x, target = torch.rand(3, 10, generator=g), torch.randn(3, 4, generator=g)
    dyn, rec = net.simulate(x, target, duration=60.0, dt=0.1, record_every=10)
    steady = net.settle(x, target, sweeps=40)
    assert maxabs([a - b for a, b in zip(dyn.u, steady.u)]) < 1e-4
    assert maxabs([a - b for a, b in zip(dyn.u_int, steady.u_int)]) < 1e-4
    assert rec["t"].shape == rec["apical"].shape and rec["output"].shape[1:] == (3, 4)


def test_dynamics_dt_convergence_and_noise():
    net, g = make((6, 5, 3))
    x = torch.rand(2, 6, generator=g)
    a, _ = net.simulate(x, duration=5.0, dt=0.1)
    b, _ = net.simulate(x, duration=5.0, dt=0.025)
    assert maxabs([p - q for p, q in zip(a.u, b.u)]) < 5e-3  # Euler error shrinks with dt
    noisy, _ = net.simulate(x, duration=5.0, noise=0.1, generator=torch.Generator().manual_seed(1))
    again, _ = net.simulate(x, duration=5.0, noise=0.1, generator=torch.Generator().manual_seed(1))
    assert all(torch.isfinite(u).all() for u in noisy.u)
    assert all(torch.equal(p, q) for p, q in zip(noisy.u, again.u))


def test_dynamics_plasticity():
    """Settled SPS without a target: no forward change; a target then changes the weights."""
    net, g = make((6, 5, 3))
    x = torch.rand(4, 6, generator=g)
    rates = LearningRates(forward=0.1, ip=0.05, pi=0.05)
    dyn, _ = net.simulate(x, duration=30.0)  # settle with frozen weights
    before = [w.clone() for w in net.W]
    dyn, _ = net.simulate(x, duration=5.0, rates=rates, dynamics=dyn)
    assert maxabs([w - b for w, b in zip(net.W, before)]) < 1e-5
    net.simulate(x, net(x) + 1.0, duration=5.0, rates=rates, dynamics=dyn)
    assert maxabs([w - b for w, b in zip(net.W, before)]) > 1e-4


# ---------------------------------------------------------------- API and bad input
def test_deterministic_construction_and_shapes():
    a, _ = make(seed=3)
    b, _ = make(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    x = torch.rand(7, 12)
    assert a(x).shape == (7, 5)
    s = a.settle(x, torch.zeros(7, 5))
    assert [u.shape[1] for u in s.u] == [9, 7, 5] and [u.shape[1] for u in s.u_int] == [7, 5]
    assert [v.shape[1] for v in s.v_apical] == [9, 7]


def test_apply_updates_tied_keeps_sps():
    net, g = make()
    x = torch.rand(8, 12, generator=g)
    net.train_step(x, torch.randn(8, 5, generator=g), LearningRates(forward=0.5))
    for k in range(net.n_layers - 1):
        torch.testing.assert_close(net.B[k], net.W[k + 1].T)
    assert maxabs(net.settle(x).v_apical) < 1e-5


@pytest.mark.parametrize("kwargs", [dict(sizes=(3,)), dict(sizes=(3, 0, 2)), dict(activation="relu"),
                                    dict(feedback="learned"), dict(sweeps=0)])
def test_bad_construction(kwargs):
    kwargs = {"sizes": (3, 4, 2), **kwargs}
    with pytest.raises(ConfigError):
        DendriticNetwork(DendriticNetworkConfig(**kwargs))


def test_bad_inputs():
    net, _ = make()
    with pytest.raises(ShapeError):
        net.settle(torch.rand(4, 11))
    with pytest.raises(ShapeError):
        net.settle(torch.rand(4, 12), torch.rand(4, 4))
    with pytest.raises(ShapeError):
        net(torch.full((2, 12), math.nan))
    with pytest.raises(ShapeError):
        net.settle(torch.rand(12))
    with pytest.raises(ConfigError):
        net.apply_updates(net.local_updates(net.settle(torch.rand(2, 12))), LearningRates(forward=(0.1, 0.1)))
    with pytest.raises(ConfigError):
        net.reference_gradients(torch.rand(2, 12), torch.rand(2, 5), loss="ce")
    with pytest.raises(ConfigError):
        net.simulate(torch.rand(2, 12), dt=0.0)
    with pytest.raises(ConfigError):
        Conductances(g_B=0.0)


def test_the_config_rates_are_the_default_of_train_step():
    net, g = make(feedback="random", rates=LearningRates(forward=0.0, ip=0.0, pi=0.0))
    before = [p.clone() for p in net.parameters()]
    net.train_step(torch.rand(4, 12, generator=g), torch.randn(4, 5, generator=g))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    with pytest.raises(ConfigError):
        LearningRates(ip=-1.0)
