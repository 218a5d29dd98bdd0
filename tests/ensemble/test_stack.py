"""Stacked ensembles: each member trained in the stack equals that member trained alone."""

import math

import pytest
import torch

from brainlearn.ensemble import Ensemble, Member, StackedAdam, StackedSGD, members
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.compositional import (
    CompositionalGRU,
    CompositionalGRUConfig,
    CompositionalRNN,
    CompositionalRNNConfig,
    SelectiveSSM,
    SelectiveSSMConfig,
)
from brainlearn.nn import MLP, MLPConfig, one_hot_mse
from brainlearn.rules.rnn_base import LeakyRNN, LeakyRNNConfig
from brainlearn.runtime import make_generator, replicate_seed

# vmap's per-member fallback (an op without a batching rule) would loop over the members: never on these paths
pytestmark = pytest.mark.filterwarnings("error:There is a performance drop")


STEPS = 100
LRS = (0.05, 0.1, 0.2)
SEEDS = (0, 7, 11)


def _mlp(rule):
    config = MLPConfig(n_in=6, n_hidden=(9, 7), n_out=3, rule=rule, output_activation="sigmoid")
    return lambda seed: MLP(config, generator=make_generator(seed)), \
        lambda m, x, y: one_hot_mse(m(x), y), (6,), "classes"


def _sequence(cls, config):
    def loss(m, x, y):
        out = m(x)[0]
        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return lambda seed: cls(config, generator=make_generator(seed)), loss, (5, config.n_in), "sequence"


MODELS = {
    "mlp-bp": _mlp("bp"),
    "mlp-fa": _mlp("fa"),
    "leaky-rnn-bptt": _sequence(LeakyRNN, LeakyRNNConfig(n_in=3, n_hidden=8, n_out=2, alpha=0.5,
                                                         dtype="float64")),
    "compositional-rnn": _sequence(CompositionalRNN, CompositionalRNNConfig(n_in=3, n_hidden=8, n_out=2,
                                                                            dt=20.0)),
    "compositional-gru": _sequence(CompositionalGRU, CompositionalGRUConfig(n_in=3, n_hidden=8, n_out=2,
                                                                            dt=20.0)),
    "selective-ssm": _sequence(SelectiveSSM, SelectiveSSMConfig(n_in=3, n_hidden=8, n_out=2, n_layers=1,
                                                                d_state=4)),
}


def _batches(shape, n_out, kind, n_members, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(STEPS, n_members, 4, *shape, generator=g, dtype=dtype)
    y = torch.randint(0, n_out, (STEPS, n_members, 4, *shape[:-1]), generator=g)
    return x, y


def _alone(build, loss, seed, lr, xs, ys, optimizer, dtype):
    torch.manual_seed(0)
    net = build(seed).to(dtype)
    opt = optimizer(net.parameters(), lr)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss(net, x, y).backward()
        opt.step()
    return net, opt


OPTIMIZERS = {
    "sgd": (lambda params, lr: StackedSGD(params, lr=lr, momentum=0.9, weight_decay=1e-3),
            lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-3)),
    "adam": (lambda params, lr: StackedAdam(params, lr=[x / 20 for x in lr] if isinstance(lr, tuple) else lr / 20),
             lambda params, lr: torch.optim.Adam(params, lr=lr / 20)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_every_member_equals_its_run_alone(name, opt, dtype, tol):
    """100 steps, members differing in seed and learning rate: float64 to 1e-10; float32 to 1e-4 (the
    stacked kernels sum in another order; float32 rounding, 6e-8 a step, compounds over 100 steps)."""
    if name == "leaky-rnn-bptt" and dtype == torch.float32:
        pytest.skip("the leaky RNN's dtype is its config's (float64 here)")
    build, loss, shape, _ = MODELS[name]
    stacked_opt, alone_opt = OPTIMIZERS[opt]
    xs, ys = _batches(shape, 2 if "mlp" not in name else 3, None, len(SEEDS), dtype)
    ens = Ensemble([build(s).to(dtype) for s in SEEDS])
    optimizer = stacked_opt(ens.params, LRS)
    for x, y in zip(xs, ys):
        grads, _ = ens.grad_and_value(loss, x, y)
        optimizer.step(grads)
    names = [n for n, _ in ens.template.named_parameters()]
    for k, (seed, lr) in enumerate(zip(SEEDS, LRS)):
        net, alone = _alone(build, loss, seed, lr, xs[:, k], ys[:, k], alone_opt, dtype)
        member = ens.member(k)
        for (pname, a), b in zip(net.named_parameters(), member.parameters()):
            assert float((a - b).detach().abs().max()) <= tol, (name, k, pname)
        # the member's optimiser state is the torch optimiser's, loadable as it is
        state = optimizer.member_state_dict(k, names)
        reloaded = alone_opt(net.parameters(), 1.0)
        reloaded.load_state_dict(state)
        want = alone.state_dict()
        assert reloaded.state_dict()["param_groups"] == want["param_groups"]
        for i, slots in want["state"].items():
            for s, v in slots.items():
                assert torch.allclose(torch.as_tensor(state["state"][i][s]).to(v), v, rtol=0, atol=tol), (i, s)


def test_a_nan_member_leaves_the_others_bit_identical():
    build, loss, shape, _ = MODELS["mlp-fa"]
    xs, ys = _batches(shape, 3, None, 3, torch.float64)
    runs = []
    for poison in (False, True):
        ens = Ensemble([build(s).double() for s in SEEDS])
        if poison:
            ens.params["layers.0.weight"][1, 0, 0] = float("nan")
        opt = StackedSGD(ens.params, lr=LRS)
        for x, y in zip(xs[:20], ys[:20]):
            opt.step(ens.grad_and_value(loss, x, y)[0])
        runs.append(ens)
    assert runs[1].finite().tolist() == [True, False, True]
    for name, t in runs[0].params.items():
        assert torch.equal(t[[0, 2]], runs[1].params[name][[0, 2]])


def test_chunks_give_the_same_numbers():
    build, loss, shape, _ = MODELS["compositional-gru"]
    xs, ys = _batches(shape, 2, None, 5, torch.float64)
    ens = Ensemble([build(s).double() for s in range(5)])
    whole = ens.grad_and_value(loss, xs[0], ys[0])
    chunked = ens.grad_and_value(loss, xs[0], ys[0], chunk=2)
    assert torch.equal(whole[1], chunked[1])
    for name in whole[0]:
        torch.testing.assert_close(whole[0][name], chunked[0][name], rtol=0, atol=1e-14)


def test_forward_and_methods_match_the_members():
    build, _, shape, _ = MODELS["mlp-bp"]
    nets = [build(s) for s in SEEDS]
    ens = Ensemble(nets)
    x = torch.randn(len(SEEDS), 5, *shape)
    out = ens(x)
    shared = ens(x[0], in_dims=None)
    for k, net in enumerate(nets):
        torch.testing.assert_close(out[k], net(x[k]))
        torch.testing.assert_close(shared[k], net(x[0]))
    # any method through .call, and a member's state round-trips
    outs = ens.vmap(lambda m, xb: m.call("forward", xb), x)
    torch.testing.assert_close(outs, out)
    ens.load_member_state_dict(0, nets[2].state_dict())
    torch.testing.assert_close(ens(x)[0], nets[2](x[0]))


def test_members_grid_and_validation():
    grid = members(range(2), {"lr": [0.1, 0.3]})
    assert [(m.seed, m.overrides) for m in grid] == [(0, ("lr=0.1",)), (1, ("lr=0.1",)), (0, ("lr=0.3",)),
                                                      (1, ("lr=0.3",))]
    with pytest.raises(ConfigError, match="unknown config key 'lr'"):
        grid[2].config(MLPConfig())
    assert Member(1, ("n_out=4",)).config(MLPConfig()).n_out == 4
    # build: each member from its config overrides and its seed's init stream, as an experiment builds it
    ens = Ensemble.build(MLP, MLPConfig(n_in=3, n_out=2), [Member(0), Member(5, ("init_gain=2",))])
    alone = MLP(MLPConfig(n_in=3, n_out=2, init_gain=2.0), generator=make_generator(replicate_seed(5)))
    for name, t in alone.state_dict().items():
        assert torch.equal(ens.member_state_dict(1)[name], t)
    with pytest.raises(ConfigError, match="unknown config key 'lr'"):
        Ensemble.build(MLP, MLPConfig(), grid[:1] + grid[2:3])
    with pytest.raises(ConfigError, match="seed"):
        Member(-1)
    with pytest.raises(ConfigError, match="overrides"):
        Member(0, "lr=0.1")
    with pytest.raises(ConfigError, match="non-empty"):
        members([0], {"lr": []})


def test_clear_errors():
    build, loss, shape, _ = MODELS["mlp-bp"]
    with pytest.raises(ConfigError, match="at least one"):
        Ensemble([])
    with pytest.raises(ConfigError, match="differs from member 0"):
        Ensemble([build(0), MLP(MLPConfig(n_in=6, n_hidden=(4,), n_out=3))])
    ens = Ensemble([build(s) for s in SEEDS])
    with pytest.raises(ShapeError, match="expected 3 members on axis 0"):
        ens(torch.zeros(2, 5, 6))
    with pytest.raises(ShapeError, match="NaN"):
        ens(torch.full((3, 5, 6), math.nan))
    with pytest.raises(ConfigError, match="chunk"):
        ens(torch.zeros(3, 5, 6), chunk=0)
    with pytest.raises(ConfigError, match="member index"):
        ens.member(3)
    with pytest.raises(ConfigError, match="one per member"):
        StackedSGD(ens.params, lr=[0.1, 0.2])
    with pytest.raises(ConfigError, match=">= 0"):
        StackedSGD(ens.params, lr=-1.0)
    with pytest.raises(ConfigError, match="nesterov"):
        StackedSGD(ens.params, lr=0.1, nesterov=True)
    with pytest.raises(ConfigError, match="gradients of"):
        StackedSGD(ens.params, lr=0.1).step({})


def test_recurrent_noise_drawn_per_member_as_alone():
    """A model that draws noise in its forward pass: each member's noise is drawn beforehand from its own
    generator (draw_noise, the order forward draws in) and handed in; every member equals its run alone."""
    config = CompositionalGRUConfig(n_in=3, n_hidden=8, n_out=2, dt=20.0, sigma_rec=0.1)
    xs, ys = _batches((5, 3), 2, None, len(SEEDS), torch.float64)

    def loss(m, x, y, noise):
        out = m(x, noise)[0]
        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    nets = [CompositionalGRU(config, generator=make_generator(s)).double() for s in SEEDS]
    ens = Ensemble(nets)
    opt = StackedSGD(ens.params, lr=LRS)
    noises = [make_generator(100 + s) for s in SEEDS]
    for x, y in zip(xs[:20], ys[:20]):
        drawn = torch.stack([nets[0].draw_noise(4, 5, g) for g in noises])
        opt.step(ens.grad_and_value(loss, x, y, drawn)[0])
    for k, seed in enumerate(SEEDS):
        net = CompositionalGRU(config, generator=make_generator(seed)).double()
        alone, noise = torch.optim.SGD(net.parameters(), lr=LRS[k]), make_generator(100 + seed)
        for x, y in zip(xs[:20, k], ys[:20, k]):
            alone.zero_grad()
            out = net(x, noise)[0]
            torch.nn.functional.cross_entropy(out.reshape(-1, 2), y.reshape(-1)).backward()
            alone.step()
        for a, b in zip(net.parameters(), ens.member(k).parameters()):
            assert float((a - b).detach().abs().max()) <= 1e-10
    with pytest.raises(ShapeError, match="noise"):
        nets[0](xs[0, 0], torch.zeros(4, 4, 8))
