"""league-feedforward: contracts, stacked members equal members trained one by one, the measures, config
validation, and the quick preset's gated claims."""

import math

import pytest
import torch

from brainlearn.errors import ConfigError
from brainlearn.experiments.league import feedforward as league
from brainlearn.experiments.league.feedforward import LeagueFeedforwardConfig
from tests.contracts import check_contracts, gated_claims, quick_claims


def test_contracts(tmp_path):
    check_contracts("league-feedforward", tmp_path, interrupt_after=2)


def _members(rule, config, x):
    return [league.network(config, (1, 8, 8), 10, rule, 0, r, x[:2], "cpu") for r in range(3)]


@pytest.mark.parametrize("rule", ["fa", "usf", "kp", "burstccn-random", "burstprop", "bp-sigmoid"])
def test_stacked_members_equal_members_trained_one_by_one(rule, monkeypatch):
    config = LeagueFeedforwardConfig(hidden=(12,), epochs=2, batch_size=16)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(80, 1, 8, 8, generator=g), torch.randint(0, 10, (80,), generator=g)
    if rule in league.FLAT_INPUT:  # dense networks on flattened images
        x = x.flatten(1)
    probe, lrs = (x[:32], y[:32]), [0.05, 0.1, 0.2]
    order = lambda: [torch.Generator().manual_seed(r) for r in range(3)]  # noqa: E731
    stacked = _members(rule, config, x)
    angles_stacked = league.fit(config, rule, stacked, lrs, order(), x, y, probe)
    monkeypatch.setattr(league, "STACKED_RULES", ())
    alone = _members(rule, config, x)
    angles_alone = league.fit(config, rule, alone, lrs, order(), x, y, probe)
    for a, b in zip(stacked, alone):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            assert float((p - q).detach().abs().max()) <= 1e-5, (rule, name)
    for a, b in zip(angles_stacked, angles_alone):
        assert len(a) == 3 and all(abs(u - v) < 1e-2 for u, v in zip(a, b))


def test_measures():
    config = LeagueFeedforwardConfig(hidden=(12,), timing_steps=2)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    bp, fa = (league.network(config, (1, 8, 8), 10, r, 0, 0, x[:2], "cpu") for r in ("bp", "fa"))
    assert league.fgsm_accuracy(bp, x, y, 0.0) == league.fgsm_accuracy(bp, x, y, 0.0)
    assert league.fgsm_accuracy(bp, x, y, 0.3) <= league.fgsm_accuracy(bp, x, y, 0.0)
    costs = {r: league.cost(config, r, n, x, y) for r, n in (("bp", bp), ("fa", fa))}
    assert costs["fa"]["saved_bytes"] == costs["bp"]["saved_bytes"] > 0  # FA saves B, a buffer: no activation
    assert all(c["step_s"] > 0 for c in costs.values())
    # every rule starts from the same weights at a replicate
    assert torch.equal(bp[1].weight, fa[1].weight)


def test_tied_burstccn_follows_backprop_and_the_paper_models_train():
    """Tied BurstCCN's update follows backprop's gradient of its squared error (within 2°, the bound its own
    tests hold it to; the burst nonlinearity keeps it from equality); random feedback starts far from it."""
    config = LeagueFeedforwardConfig(hidden=(12,), epochs=1, batch_size=16)
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(64, 64, generator=g), torch.randint(0, 10, (64,), generator=g)
    got = {}
    for rule in ("burstccn-tied", "burstccn-random"):
        nets = [league.network(config, (1, 8, 8), 10, rule, 0, r, x[:2], "cpu") for r in range(2)]
        got[rule] = league.fit(config, rule, nets, [0.5, 0.5], [torch.Generator().manual_seed(r) for r in range(2)],
                               x, y, (x[:32], y[:32]))
    assert all(a < 2.0 for member in got["burstccn-tied"] for a in member)
    assert all(member[0] > 20.0 for member in got["burstccn-random"])


def test_bp_sigmoid_is_backprop_on_the_burstccn_network():
    """The reference entry starts from tied BurstCCN's weights and follows the exact gradient of its squared
    error, stacked (an ensemble member is the template with its tensors) as alone."""
    config = LeagueFeedforwardConfig(hidden=(12,), epochs=1, batch_size=16)
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(64, 64, generator=g), torch.randint(0, 10, (64,), generator=g)
    ref, tied = (league.network(config, (1, 8, 8), 10, r, 0, 0, x[:2], "cpu") for r in ("bp-sigmoid", "burstccn-tied"))
    assert all(torch.equal(p, q) for p, q in zip(ref.parameters(), tied.parameters()))
    nets = [league.network(config, (1, 8, 8), 10, "bp-sigmoid", 0, r, x[:2], "cpu") for r in range(2)]
    angles = league.fit(config, "bp-sigmoid", nets, [0.5, 0.5], [torch.Generator().manual_seed(r) for r in range(2)],
                        x, y, (x[:32], y[:32]))
    assert all(a < 1e-2 for member in angles for a in member)
    assert league.ENTRIES["bp-sigmoid"] == league.FEEDFORWARD_RULES["bp"]


def test_predictive_coding_trains_the_plain_network():
    """The pc entry: inference learning on the same MLP as every rule (one network at a time)."""
    config = LeagueFeedforwardConfig(hidden=(12,), epochs=2, batch_size=16)
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    nets = [league.network(config, (1, 8, 8), 10, "pc", 0, r, x[:2], "cpu") for r in range(2)]
    bp = league.network(config, (1, 8, 8), 10, "bp", 0, 0, x[:2], "cpu")
    assert torch.equal(nets[0][1].weight, bp[1].weight)  # the same starting weights as the other rules
    before = league.loss(nets[0], x, y).item()
    angles = league.fit(config, "pc", nets, [0.1, 0.1], [torch.Generator().manual_seed(r) for r in range(2)], x, y,
                        (x[:32], y[:32]))
    assert league.loss(nets[0], x, y).item() < before and all(0 <= a < 90 for a in angles[0])


def test_bad_configs():
    with pytest.raises(ConfigError, match="rules must be among"):
        LeagueFeedforwardConfig(rules=("bp", "sgd"))
    with pytest.raises(ConfigError, match="each rule once"):
        LeagueFeedforwardConfig(rules=("bp", "bp"))
    with pytest.raises(ConfigError, match="lenet"):
        LeagueFeedforwardConfig(arch="lenet")
    with pytest.raises(ConfigError, match="need dense networks"):
        LeagueFeedforwardConfig(arch="lenet", dataset="fashion-mnist", rules=("bp", "burstccn-tied"))
    with pytest.raises(ConfigError):
        LeagueFeedforwardConfig(lr_grid=(0.1, -1.0))


@pytest.mark.parametrize("rule", ["bp", "fa", "kp", "dfa", "brsf"])
def test_lenet_trains_under_every_kind_of_rule(rule):
    """LeNet-5 on 28-pixel images: stacked (BP), one by one (the swapped convolutions, DFA's output error to
    convolutions, brSF)."""
    config = LeagueFeedforwardConfig(dataset="fashion-mnist", arch="lenet", epochs=1, batch_size=8,
                                     rules=("bp", "fa", "kp", "dfa", "brsf"))
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    nets = [league.network(config, (1, 28, 28), 10, rule, 0, r, x[:2], "cpu") for r in range(2)]
    before = nets[0][0].weight.detach().clone()
    angles = league.fit(config, rule, nets, [0.1, 0.1], [torch.Generator().manual_seed(r) for r in range(2)], x, y,
                        (x[:8], y[:8]))
    assert not torch.equal(before, nets[0][0].weight) and all(math.isfinite(a) for a in angles[0])


@pytest.mark.slow
@pytest.mark.parametrize("claim", gated_claims("league-feedforward"))
def test_quick_claim(claim):
    assert quick_claims("league-feedforward")[claim]["passed"]


@pytest.mark.parametrize("arch", ["lenet", "resnet20"])
def test_the_league_on_a_cifar10_root_the_user_supplies(arch, tmp_path):
    """The cifar10 preset's data path (and ResNet-20 in place of its LeNet-5), on synthetic CIFAR-10 batch files
    in a user's folder."""
    import numpy as np

    from brainlearn.data.cifar import write_cifar_batch
    from brainlearn.experiments import get
    from brainlearn.experiments.runner import make_config, run_experiment

    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(tmp_path / name, rng.integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8),
                          rng.integers(0, 10, size=8))
    exp = get("league-feedforward")
    assert exp.presets["cifar10"].dataset == "cifar10" and exp.presets["cifar10"].arch == "lenet"
    config = make_config(exp, "cifar10", [f"data_root={tmp_path}", "rules=bp,fa", "epochs=1", "replicates=2",
                                          "lr_grid=0.01", "timing=false", "probe_size=8", f"arch={arch}"])
    metrics = run_experiment(exp, config, seed=0, out=None).result.metrics
    assert {"bp_acc", "fa_acc", "fa_angle_end"} <= set(metrics) and metrics["bp_angle_start"] < 1e-3
    assert metrics["fa_angle_start"] > 45   # random feedback on the convolutions and dense layers


def test_resnet20_and_its_probes_keep_batch_norm_statistics():
    """ResNet-20 has He et al.'s 0.27 M weights; a probe leaves batch norm's running statistics as they were;
    every rule swaps its convolutions and trains it."""
    config = LeagueFeedforwardConfig(arch="resnet20", dataset="cifar10", rules=("bp", "fa", "dfa", "usf", "kp"))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    net = league.network(config, (3, 32, 32), 10, "bp", 0, 0, x[:2], "cpu")
    assert 0.26e6 < sum(p.numel() for p in net.parameters()) < 0.28e6
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    with league.kept_statistics(net):
        net(x)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    net(x)                                                     # outside it, training updates them
    assert not all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(8))
    for rule in ("fa", "dfa", "usf", "kp"):
        fa = league.network(config, (3, 32, 32), 10, rule, 0, 0, x[:2], "cpu")
        league.rule_grads(config, rule, fa, x, y)
        assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in fa.parameters()
                   if p.requires_grad), rule


def test_the_dendritic_microcircuit_entry():
    """One hidden layer, random top-down weights; its forward updates land in .grad (the descent direction,
    minus the circuit's change), its lateral ones are applied in training and left alone by a probe; with tied
    feedback its hidden update points along backprop's (random feedback: far from it)."""
    from brainlearn.experiments.league import entries
    from brainlearn.models.dendritic import DendriticNetwork, DendriticNetworkConfig

    config = LeagueFeedforwardConfig(hidden=(12, 12))
    g = torch.Generator().manual_seed(6)
    x, y = torch.rand(48, 64, generator=g), torch.randint(0, 10, (48,), generator=g)
    net = league.network(config, (1, 8, 8), 10, "dendritic", 0, 0, x[:2], "cpu")
    assert net.sizes == (64, 12, 10) and net.feedback == "random" and league.hidden_weights(net) == ["W.0"]
    lateral = [p.clone() for p in (*net.W_IP, *net.W_PI)]
    expected = net.local_updates(net.settle(x, entries.targets(net, y)))
    league.rule_grads(config, "dendritic", net, x, y, learn=False)
    assert torch.equal(net.W[0].grad, -expected.W[0]) and torch.equal(net.b[1].grad, -expected.b[1])
    assert all(torch.equal(a, b) for a, b in zip(lateral, (*net.W_IP, *net.W_PI)))     # a probe changes nothing
    league.rule_grads(config, "dendritic", net, x, y)
    assert not all(torch.equal(a, b) for a, b in zip(lateral, (*net.W_IP, *net.W_PI)))
    random_angle = league.angles(net.W[0].grad[None], league.exact_gradient(net, x, y)[0][None])[0]
    tied = DendriticNetwork(DendriticNetworkConfig(sizes=(64, 12, 10), activation="sigmoid", feedback="tied"),
                            generator=torch.Generator().manual_seed(0))
    league.rule_grads(config, "dendritic", tied, x, y, learn=False)
    tied_angle = league.angles(tied.W[0].grad[None], league.exact_gradient(tied, x, y)[0][None])[0]
    assert tied_angle < 30.0 < random_angle
    assert 0.0 <= league.fgsm_accuracy(net, x.view(48, 64), y, 0.05) <= 1.0
