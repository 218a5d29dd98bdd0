"""Predictive coding (inference learning) against backprop's gradient and its own definitions."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.rules.feedforward import convert
from brainlearn.rules.predictive_coding import PC_PLAUSIBILITY, PredictiveCodingConfig, infer, pc_grads
from brainlearn.runtime import make_generator

X, Y = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 3


def _mlp(*acts: type[nn.Module], bias: bool = True) -> nn.Sequential:
    """Linear(5, 7), acts[0], Linear(7, 6), acts[1], Linear(6, 3): L = 3 layers, two hidden."""
    torch.manual_seed(0)
    a, b = acts or (nn.ReLU, nn.Tanh)
    return nn.Sequential(nn.Linear(5, 7), a(), nn.Linear(7, 6, bias=bias), b(), nn.Linear(6, 3)).double()


def _bp(net, x=X, y=Y):
    net.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}, loss


def _pc(net, config, x=X, y=Y):
    net.zero_grad(set_to_none=True)
    loss = pc_grads(net, x, y, config)
    return {n: p.grad.clone() for n, p in net.named_parameters()}, loss


def _relative_error(got, want):
    """The worst layer's ‖PC − BP‖ / ‖BP‖ (weights and biases)."""
    return max(float((got[n] - want[n]).norm() / want[n].norm()) for n in want)


@pytest.mark.parametrize("variant", ["fixed-prediction", "zero-divergence"])
@pytest.mark.parametrize("steps", [2, 7])  # L - 1 = 2: the fewest that reach the first layer
@pytest.mark.parametrize("bias", [True, False])
def test_exact_variants_equal_backprop(variant, steps, bias):
    """With γ = 1 the fixed prediction assumption (after L - 1 steps, and at its fixed point after more) and
    Z-IL give backprop's gradient exactly: 1e-10 in float64."""
    net = _mlp(bias=bias)
    want, loss = _bp(net)
    got, pc_loss = _pc(net, PredictiveCodingConfig(inference_steps=steps, inference_lr=1.0, variant=variant))
    assert set(got) == set(want)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=0, atol=1e-10)
    assert torch.equal(pc_loss, loss.detach())


def test_flatten_input_and_float32():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.GELU(), nn.Linear(4, 3))
    x = torch.randn(6, 1, 3, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    want, _ = _bp(net, x, y)
    got, _ = _pc(net, PredictiveCodingConfig(inference_steps=1, inference_lr=1.0, variant="fixed-prediction"), x, y)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-5, atol=1e-6)


STEPS = (0, 10, 30, 100, 200)


@pytest.mark.parametrize("variant, loss_scale", [("fixed-prediction", 1.0), ("standard", 1e-6)])
def test_many_inference_steps_approach_backprop(variant, loss_scale):
    """The update's worst-layer relative error to backprop's gradient falls at every checkpoint of T and is
    below 1e-3 at T = 200, γ = 0.1. Principle: inference contracts toward its fixed point geometrically (for
    the fixed prediction assumption the error vector evolves as ((1 - γ) I + γ A)^T with A nilpotent: about
    T^(L-2) 0.9^T ≈ 1e-7 at T = 200); the standard fixed point differs from backprop's by O(β) relative
    (the small-error limit), 1e-6 here. 1e-3 leaves a wide margin for the constants of both."""
    net = _mlp()
    want, _ = _bp(net)
    errors = [_relative_error(_pc(net, PredictiveCodingConfig(inference_steps=T, inference_lr=0.1, variant=variant,
                                                              loss_scale=loss_scale))[0], want) for T in STEPS]
    assert errors[0] == pytest.approx(1.0)  # T = 0: the hidden layers have no error yet
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-3, errors


def test_standard_output_layer_is_exact_at_the_start_and_hidden_updates_zero():
    net = _mlp()
    want, _ = _bp(net)
    got, _ = _pc(net, PredictiveCodingConfig(inference_steps=0))
    torch.testing.assert_close(got["4.weight"], want["4.weight"], rtol=0, atol=1e-12)
    torch.testing.assert_close(got["4.bias"], want["4.bias"], rtol=0, atol=1e-12)
    assert all(not got[n].any() for n in ("0.weight", "0.bias", "2.weight", "2.bias"))


@pytest.mark.parametrize("loss_scale", [1.0, 0.1])
def test_energy_decreases_over_inference(loss_scale):
    """Standard inference is gradient descent on F; with a smooth activation (tanh) and γ = 0.1, well below
    2 / (F's curvature, of order 1 + ‖W‖² for these weights), F falls at every step (up to rounding)."""
    out = infer(_mlp(nn.Tanh, nn.Tanh), X, Y, PredictiveCodingConfig(inference_steps=100, loss_scale=loss_scale))
    energy = out.energy
    assert energy.shape == (101,)
    assert (energy.diff() <= 1e-13).all(), energy.diff().max()
    assert energy[-1] < energy[0]
    torch.testing.assert_close(energy[0], loss_scale * out.loss)  # hidden errors start at 0: F = βℓ


@pytest.mark.parametrize("variant", ["standard", "fixed-prediction", "zero-divergence"])
def test_zero_error_gives_zero_updates(variant):
    """One class: the softmax is 1 = the one-hot target, so the output error is exactly 0; no error reaches
    the hidden layers, the values stay at the forward pass and every update is 0."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    config = PredictiveCodingConfig(inference_steps=5, inference_lr=1.0, variant=variant)
    y = torch.zeros(8, dtype=torch.long)
    grads, loss = _pc(net, config, y=y)
    assert loss == 0 and all(not g.any() for g in grads.values())
    out = infer(net, X, y, config)
    assert not out.energy.any()
    with torch.no_grad():
        torch.testing.assert_close(out.values[0], net[0](X), rtol=0, atol=0)


@pytest.mark.parametrize("rule", ["bp", "fa"])
def test_swapped_layers_are_read_as_their_linear_layers(rule):
    """A network built for the league (layers swapped by convert) gives the same updates: PC reads W and b and
    the forward pass, which every rule keeps, and sends errors through W itself."""
    net, config = _mlp(), PredictiveCodingConfig(inference_steps=4)
    want, _ = _pc(net, config)
    got, _ = _pc(convert(net, rule, generator=make_generator(0)), config)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=0, atol=1e-15)


def test_grads_accumulate_like_backward_and_leave_the_network_alone():
    net = _mlp()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    config = PredictiveCodingConfig(inference_steps=3)
    once, _ = _pc(net, config)
    pc_grads(net, X, Y, config)
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, 2 * once[n], rtol=0, atol=1e-15)
        assert p.grad.grad_fn is None and torch.equal(p.detach(), before[n])


def test_training_with_pc_grads_lowers_the_loss():
    net = _mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    losses = []
    for _ in range(30):
        opt.zero_grad(set_to_none=True)
        losses.append(float(pc_grads(net, X, Y, PredictiveCodingConfig(inference_steps=20))))
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_plausibility():
    assert (PC_PLAUSIBILITY.weight_transport, PC_PLAUSIBILITY.backward_sweep, PC_PLAUSIBILITY.phases,
            PC_PLAUSIBILITY.local_update, PC_PLAUSIBILITY.error_channel) == ("exact", False, 2, True, True)


@pytest.mark.parametrize("net, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 3)), "module 0 is Conv2d"),
    (nn.Sequential(nn.Linear(5, 4), nn.Flatten(), nn.Linear(4, 3)), "module 1 is Flatten"),
    (nn.Sequential(nn.Linear(5, 4), nn.Dropout(), nn.Linear(4, 3)), "module 1 is Dropout"),
    (nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Softmax(1)), "module 3 is Softmax"),
    (nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU()), "ends in nn.Linear"),
    (nn.Sequential(nn.Flatten()), "ends in nn.Linear"),
    (nn.Linear(5, 3), "nn.Sequential"),
])
def test_unsupported_networks_are_refused(net, match):
    with pytest.raises(ConfigError, match=match) as err:
        pc_grads(net.double(), X, Y)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kw, match", [
    ({"inference_steps": -1}, "inference_steps"), ({"inference_steps": 2.5}, "inference_steps"),
    ({"inference_lr": 0.0}, "inference_lr"), ({"inference_lr": 1.5}, "inference_lr"),
    ({"inference_lr": float("nan")}, "inference_lr"), ({"loss_scale": 0.0}, "loss_scale"),
    ({"variant": "exact"}, "variant"), ({"variant": "zero-divergence", "inference_lr": 0.5}, "inference_lr = 1"),
])
def test_bad_config_values(kw, match):
    with pytest.raises(ConfigError, match=match) as err:
        PredictiveCodingConfig(**kw)
    assert "\n" not in str(err.value)


def test_config_type_and_zero_divergence_depth():
    with pytest.raises(ConfigError, match="PredictiveCodingConfig"):
        pc_grads(_mlp(), X, Y, {"inference_steps": 3})
    with pytest.raises(ConfigError, match="inference_steps >= L - 1 = 2"):
        pc_grads(_mlp(), X, Y, PredictiveCodingConfig(inference_steps=1, inference_lr=1.0, variant="zero-divergence"))


@pytest.mark.parametrize("x, y, match", [
    (X[:, :4], Y, r"needs \(batch, 5\)"), (X[None], Y, r"needs \(batch, 5\)"), (X[:0], Y[:0], "empty"),
    (X, Y[:5], "labels of shape"), (X, Y.double(), "labels of shape"), (X, Y[:, None], "labels of shape"),
    (X, Y + 1, r"in \[0, 3\)"), (X, Y - 1, r"in \[0, 3\)"), (X.clone().fill_(float("nan")), Y, "NaN"),
])
def test_bad_batches(x, y, match):
    with pytest.raises(ShapeError, match=match) as err:
        pc_grads(_mlp(), x, y)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
def test_closed_form_slopes_equal_autograds(act):
    from brainlearn.rules.predictive_coding import _activate

    x = torch.cat([torch.linspace(-3, 3, 61, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])[None]
    fast = _activate(nn.Sequential(act()), x)
    slow = _activate(nn.Sequential(act(), nn.Identity()), x)  # two modules: autograd's path
    assert torch.equal(fast[0], slow[0])
    torch.testing.assert_close(fast[1], slow[1], rtol=0, atol=4e-16)  # a slope <= 1: a few float64 ulps (fused ops)
