"""Feedback alignment (brainlearn.rules.feedforward): FALinear's backward pass, use_rule, and the
angle it is measured with."""

import pytest
import torch

from brainlearn.analysis import angle, layer_angles
from brainlearn.errors import ShapeError
from brainlearn.nn import MLP, MLPConfig
from brainlearn.rules import FALinear, use_rule


def test_fa_linear_backward_uses_feedback_matrix():
    g = torch.Generator().manual_seed(0)
    layer = FALinear(5, 3, rule="fa", generator=g)
    x = torch.randn(4, 5, generator=g, requires_grad=True)
    upstream = torch.randn(4, 3, generator=g)
    layer(x).backward(upstream)
    torch.testing.assert_close(x.grad, upstream @ layer.feedback)
    torch.testing.assert_close(layer.weight.grad, upstream.T @ x.detach())
    torch.testing.assert_close(layer.bias.grad, upstream.sum(0))


def test_bp_rule_is_plain_autograd_and_output_layer_agrees():
    g = torch.Generator().manual_seed(1)
    net = MLP(MLPConfig(n_in=6, n_hidden=(8, 8), n_out=4, rule="fa"), generator=g)
    x, y = torch.randn(10, 6, generator=g), torch.randn(10, 4, generator=g)
    params = [layer.weight for layer in net.layers]
    fa = torch.autograd.grad((net(x) - y).pow(2).sum(), params)
    with use_rule(net, "bp"):
        bp = torch.autograd.grad((net(x) - y).pow(2).sum(), params)
    angles = layer_angles(fa, bp)
    assert angles[-1] < 1e-3          # the output layer sees the true error under both rules
    assert all(a > 30 for a in angles[:-1])
    assert net.layers[0].rule == "fa"  # use_rule restores
    assert FALinear.rules == ("bp", "fa")


def test_angle_basic():
    a = torch.tensor([1.0, 0.0])
    assert angle(a, torch.tensor([0.0, 2.0])) == pytest.approx(90)
    assert angle(a, -a) == pytest.approx(180)
    assert angle(a, torch.zeros(2)) != angle(a, torch.zeros(2))  # nan
    with pytest.raises(ShapeError):
        angle(a, torch.zeros(3))
