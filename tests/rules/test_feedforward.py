"""Feedforward rules as layer swaps: each rule's backward pass against its definition."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.rules.feedforward import FEEDFORWARD_RULES, FeedbackConv2d, FeedbackLinear, convert, feedback_matrices
from brainlearn.runtime import make_generator


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def _lenet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).double()


def _grads(net, x, y):
    net.zero_grad()
    out = net(x)
    F.cross_entropy(out, y).backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}, out


X, Y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
XI = torch.randn(8, 1, 7, 7, dtype=torch.float64)


@pytest.mark.parametrize("build, x", [(_mlp, X), (_lenet, XI)])
def test_bp_is_the_exact_gradient_and_every_rule_keeps_the_forward_pass(build, x):
    net = build()
    want, out = _grads(net, x, Y)
    got, out_bp = _grads(convert(net, "bp"), x, Y)
    assert torch.equal(out, out_bp)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=1e-14)
    for rule in FEEDFORWARD_RULES:
        converted = convert(net, rule, generator=make_generator(0), example=x)
        assert torch.equal(converted(x), out), rule
    assert type(net[0]) in (nn.Linear, nn.Conv2d)  # a copy unless inplace=True


@pytest.mark.parametrize("rule", ["fa", "usf", "frsf", "brsf", "kp"])
@pytest.mark.parametrize("build, x", [(_mlp, X), (_lenet, XI)])
def test_errors_go_down_through_b(rule, build, x):
    """Each layer's input gradient is Bᵀ δy with B the rule's matrix; its weight gradient δy xᵀ. Checked
    layer by layer against autograd through a copy whose weight in the backward pass is B."""
    net = convert(build(), rule, generator=make_generator(1))
    layers = [m for m in net.modules() if isinstance(m, (FeedbackLinear, FeedbackConv2d))]
    seen = {}
    for m in layers:
        m.register_forward_hook(lambda m, args, out: seen.__setitem__(m, (args[0], out)))
    for m in layers:
        m.register_full_backward_hook(lambda m, gin, gout: seen.__setitem__((m, "grads"), (gin[0], gout[0])))
    net.zero_grad()
    F.cross_entropy(net(x.clone().requires_grad_()), Y).backward()  # an input that needs grad: every hook fires
    for m in layers:
        xin, _ = seen[m]
        gin, gout = seen[m, "grads"]
        B = m.backward_matrix().detach()
        xr = xin.detach().requires_grad_()
        w = m.weight.detach().requires_grad_()
        if isinstance(m, nn.Linear):
            ref_in = torch.autograd.grad(F.linear(xr, B), xr, gout)[0]
            ref_w = torch.autograd.grad(F.linear(xin.detach(), w), w, gout)[0]
        else:
            def conv(a, k, m=m):
                return F.conv2d(a, k, None, m.stride, m.padding, m.dilation, m.groups)

            ref_in = torch.autograd.grad(conv(xr, B), xr, gout)[0]
            ref_w = torch.autograd.grad(conv(xin.detach(), w), w, gout)[0]
        torch.testing.assert_close(gin, ref_in, rtol=0, atol=1e-13)
        torch.testing.assert_close(m.weight.grad, ref_w, rtol=0, atol=1e-13)
        if rule == "kp":
            assert torch.equal(m.feedback.grad, m.weight.grad)


def test_sign_concordant_feedback():
    net = convert(_mlp(), "usf")
    for name, B in feedback_matrices(net).items():
        W = net.get_submodule(name).weight
        assert torch.equal(torch.sign(B), torch.sign(W))
        assert torch.allclose(B.abs(), torch.full_like(B, net.get_submodule(name).init_std))
    fixed, batchwise = convert(_mlp(), "frsf", generator=make_generator(2)), convert(_mlp(), "brsf",
                                                                                       generator=make_generator(2))
    before = [feedback_matrices(n) for n in (fixed, batchwise)]
    for n in (fixed, batchwise):
        n(X)
    after = [feedback_matrices(n) for n in (fixed, batchwise)]
    for name in before[0]:
        W = fixed.get_submodule(name).weight
        assert torch.equal(torch.sign(after[0][name]), torch.sign(W))
        assert torch.equal(torch.sign(after[1][name]), torch.sign(W))
        assert torch.equal(before[0][name], after[0][name])          # frSF: fixed magnitudes
        assert not torch.equal(before[1][name], after[1][name])      # brSF: redrawn at every training step
    batchwise.eval()
    frozen = feedback_matrices(batchwise)
    batchwise(X)
    assert all(torch.equal(frozen[n], B) for n, B in feedback_matrices(batchwise).items())


def test_kolen_pollack_converges_to_the_transpose_at_the_decay_rate():
    """B gets W's gradient, and both decay: W − B shrinks by (1 − lr·λ) at every SGD step, exactly."""
    net = convert(_mlp(), "kp", generator=make_generator(3))
    lr, decay = 0.1, 0.05
    opt = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=decay)
    layers = [m for m in net.modules() if isinstance(m, FeedbackLinear)]
    gap0 = [(m.weight - m.feedback).detach().clone() for m in layers]
    g = torch.Generator().manual_seed(4)
    for _ in range(30):
        opt.zero_grad()
        F.cross_entropy(net(torch.randn(8, 5, generator=g, dtype=torch.float64)), Y).backward()
        opt.step()
    for m, gap in zip(layers, gap0):
        torch.testing.assert_close(m.weight - m.feedback, gap * (1 - lr * decay) ** 30, rtol=1e-10, atol=1e-13)


def test_dfa_sends_the_output_error_to_every_layer():
    """W_1's gradient is ((B_2ᵀ e) ∘ f'(a_1)) xᵀ with e = ∂L/∂y: the output error, not the error of layer 2."""
    net = convert(_mlp(), "dfa", generator=make_generator(5), example=X)
    net.zero_grad()
    y = net(X)
    loss = F.cross_entropy(y, Y)
    loss.backward()
    yl = y.detach().requires_grad_()
    (e,) = torch.autograd.grad(F.cross_entropy(yl, Y), yl)
    l1, l2, l3 = net[0], net[2], net[4]
    with torch.no_grad():
        a1 = l1(X)
        h1 = torch.relu(a1)
        a2 = l2(h1)
        d2 = (e @ l3.feedback) * (1 - torch.tanh(a2) ** 2)   # the layer-3 input's error, through B_3
        d1 = (e @ l2.feedback) * (a1 > 0)                    # the layer-2 input's error, through B_2
    torch.testing.assert_close(l2.weight.grad, d2.T @ h1, rtol=0, atol=1e-13)
    torch.testing.assert_close(l1.weight.grad, d1.T @ X, rtol=0, atol=1e-13)
    assert l2.feedback.shape == (3, 7) and l1.feedback.shape == (3, 5)
    lenet = convert(_lenet(), "dfa", generator=make_generator(5), example=XI)
    F.cross_entropy(lenet(XI), Y).backward()
    assert lenet[0].feedback.shape == (3, 1 * 7 * 7) and torch.isfinite(lenet[0].weight.grad).all()


def test_attributes_and_errors():
    assert set(FEEDFORWARD_RULES) == {"bp", "fa", "dfa", "usf", "frsf", "brsf", "kp"}
    assert FEEDFORWARD_RULES["bp"].weight_transport == "exact" and not FEEDFORWARD_RULES["dfa"].backward_sweep
    with pytest.raises(ConfigError, match="unknown feedforward rule 'sgd'"):
        convert(_mlp(), "sgd")
    with pytest.raises(ConfigError, match="example="):
        convert(_mlp(), "dfa")
    with pytest.raises(ConfigError, match="no nn.Linear"):
        convert(nn.ReLU(), "fa")
    with pytest.raises(ConfigError, match="zero padding"):
        convert(nn.Sequential(nn.Conv2d(1, 2, 3, padding="same")), "fa")
    dfa = convert(_mlp(), "dfa", example=X)
    with pytest.raises(ShapeError, match="dfa layer"):
        dfa(torch.zeros(2, 6, dtype=torch.float64))
    assert "rule=fa" in repr(convert(_mlp(), "fa"))
