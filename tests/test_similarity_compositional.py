"""The motif task families, the compositional-learning networks (the selective scan against its sequential
reference), the group statistics, and the similarity-rnn / similarity-ssm experiments."""

import numpy as np
import pytest
import torch

from brainlearn.data.cognitive.motifs import RULES, TEST_TIMING_MS, MotifTasks
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.experiments import get
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import run_experiment
from brainlearn.models.compositional import (
    LeakyGRU,
    LeakyRNN,
    SelectiveSSM,
    build_network,
    parallel_scan,
    sequential_scan,
)
from brainlearn.runtime import make_generator
from brainlearn.similarity.stats import cohens_d, compare_groups, fdr_bh, welch_p

SMALL = ["n_replicates=2", "pretrain_steps=2", "train_steps=4", "fractions=0.5,1.0", "n_test=4", "batch_size=4",
         "n_hidden=8", "rank=4", "n_delays=2", "max_iter=20"]


# ---------------------------------------------------------------- tasks

@pytest.mark.parametrize("family", ["pdm", "gonogo"])
def test_motif_trials_follow_their_rules(family):
    tasks = MotifTasks(family, dt=100)
    batch = tasks.trials(400, make_generator(0))
    tr = batch.trials
    assert batch.inputs.shape[-1] == tasks.n_inputs == 37
    rule = tr.task
    # one-hot rule input on every valid step, zero on padding
    onehot = batch.inputs[..., 33:]
    assert torch.equal(onehot.argmax(-1)[batch.valid], batch.task[batch.valid])
    assert torch.all(onehot.sum(-1) == batch.valid.float())
    # delay only in the delay rules, training timings drawn from their sets
    delayed = torch.tensor([("delay" in RULES[r]) for r in rule])
    assert torch.all((tr.durations[:, 2] > 0) == delayed)
    assert set(tr.durations[:, 1].tolist()) == {30, 40, 50}
    anti = torch.tensor([("anti" in RULES[r]) for r in rule])
    if family == "pdm":
        stronger = tr.theta_a                                   # bump a is the stronger one
        answer = tr.direction.float() * (2 * np.pi / 16)
        assert torch.allclose(torch.where(anti, tr.theta_b, stronger), answer)
        assert bool(tr.respond.all())
    else:
        go_cue = tr.theta_a == 0
        assert torch.equal(tr.respond, go_cue != anti)
    # targets: fixate until the decision, then 1 + direction on respond trials
    last = tr.length - 1
    final = batch.targets[torch.arange(len(tr)), last]
    assert torch.equal(final, torch.where(tr.respond, 1 + tr.direction, 0))
    assert torch.all(batch.targets[batch.period < 4] == 0)


def test_test_trials_have_fixed_timings_and_stimulus_window():
    tasks = MotifTasks("pdm", dt=200)
    batch = tasks.trials(5, make_generator(1), rules="anti_delay", test=True)
    steps = [tasks.steps(TEST_TIMING_MS[p]) for p in ("fixation", "stimulus", "delay", "decision")]
    assert torch.all(batch.trials.durations[:, [0, 1, 2, 4]] == torch.tensor(steps))
    window = tasks.stimulus_steps(500)
    assert torch.all(batch.period[:, window] == 1) and window.stop - window.start == steps[1] - 2


def test_motif_tasks_reject_bad_settings():
    with pytest.raises(ConfigError, match="family"):
        MotifTasks("dm")
    with pytest.raises(ConfigError, match="dt"):
        MotifTasks("pdm", dt=0)
    with pytest.raises(ConfigError, match="rules"):
        MotifTasks("pdm").trials(3, make_generator(0), rules="anti+delay")


# ---------------------------------------------------------------- networks

def test_parallel_scan_matches_sequential_scan_and_its_gradient():
    g = torch.Generator().manual_seed(0)
    for T in (1, 2, 7, 33):
        a = torch.rand(3, T, 5, 4, generator=g, dtype=torch.float64).requires_grad_()
        b = torch.randn(3, T, 5, 4, generator=g, dtype=torch.float64).requires_grad_()
        fast, slow = parallel_scan(a, b), sequential_scan(a, b)
        assert torch.allclose(fast, slow, atol=1e-12)
        w = torch.randn(fast.shape, generator=g, dtype=torch.float64)
        ga = torch.autograd.grad((fast * w).sum(), (a, b), allow_unused=True)   # a_0 multiplies h_{-1} = 0
        gs = torch.autograd.grad((slow * w).sum(), (a, b))
        ga = [torch.zeros_like(y) if x is None else x for x, y in zip(ga, gs)]
        assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(ga, gs))


def test_ssm_parallel_and_sequential_scans_give_the_same_network():
    x = torch.randn(2, 19, 37, generator=torch.Generator().manual_seed(3))
    nets = [SelectiveSSM(37, 17, 8, n_layers=2, scan=s, generator=torch.Generator().manual_seed(1))
            for s in ("parallel", "sequential")]
    (y1, h1), (y2, h2) = nets[0](x), nets[1](x)
    assert torch.allclose(y1, y2, atol=1e-5) and torch.allclose(h1, h2, atol=1e-5) and h1.shape == (2, 19, 8)


def test_ssm_is_causal():
    net = SelectiveSSM(37, 17, 8, generator=torch.Generator().manual_seed(1))
    x = torch.randn(1, 12, 37, generator=torch.Generator().manual_seed(2))
    y = x.clone()
    y[:, 8:] += 1.0
    assert torch.allclose(net(x)[1][:, :8], net(y)[1][:, :8], atol=1e-6)


def test_leaky_rnn_follows_its_equation():
    net = LeakyRNN(3, 4, 2, dt=20, tau=100, sigma_rec=0.0, activation="relu",
                   generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1))
    _, h = net(x)
    a = np.exp(-0.2)
    prev = torch.zeros(2, 4)
    for t in range(5):
        prev = a * prev + (1 - a) * torch.relu(net.input(x[:, t]) + net.recurrent(prev))
        assert torch.allclose(h[:, t], prev, atol=1e-6)


def test_leaky_gru_reduces_to_its_equation():
    net = LeakyGRU(3, 4, 2, dt=100, tau=100, sigma_rec=0.0, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(1))
    _, h = net(x)
    W_u, W_r, W_c = net.recurrent.weight.split(4)
    d = net.input(x[:, 0])
    u, r = torch.sigmoid(d[:, :4]), torch.sigmoid(d[:, 4:8])      # h_0 = 0
    assert torch.allclose(h[:, 0], (1 - np.exp(-1)) * u * torch.tanh(d[:, 8:]), atol=1e-6)
    assert r.shape == (2, 4)


@pytest.mark.parametrize("arch", ["rnn", "gru", "ssm"])
def test_networks_expose_hidden_states_and_input_layer(arch):
    net = build_network(arch, 37, 17, 8, generator=torch.Generator().manual_seed(0))
    y, h = net(torch.zeros(3, 6, 37), noise=torch.Generator().manual_seed(1))
    assert y.shape == (3, 6, 17) and h.shape == (3, 6, 8)
    assert {id(p) for p in net.input_parameters()} == {id(p) for p in net.input.parameters()}
    with pytest.raises(ShapeError, match="inputs"):
        net(torch.zeros(3, 6, 36))


def test_recurrent_noise_is_seeded():
    net = LeakyRNN(3, 4, 2, sigma_rec=0.1, generator=torch.Generator().manual_seed(0))
    x = torch.ones(1, 4, 3)
    run = [net(x, noise=torch.Generator().manual_seed(s))[1] for s in (5, 5, 6)]
    assert torch.equal(run[0], run[1]) and not torch.equal(run[0], run[2])


def test_networks_reject_bad_settings():
    with pytest.raises(ConfigError, match="activation"):
        LeakyRNN(3, 4, 2, activation="sigmoid")
    with pytest.raises(ConfigError, match="architecture"):
        build_network("lstm", 3, 2, 4)
    with pytest.raises(ConfigError, match="same shape"):
        parallel_scan(torch.zeros(1, 3, 2), torch.zeros(1, 4, 2))


# ---------------------------------------------------------------- statistics

def test_fdr_bh_matches_its_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.06, 0.0533, 0.2 -> monotone from the top: 0.04, 0.0533, 0.0533, 0.2
    assert np.allclose(fdr_bh(p), [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.all(fdr_bh(p) >= p)
    with pytest.raises(ShapeError):
        fdr_bh([0.5, 1.5])


def test_effect_size_and_tests():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    assert cohens_d(b, a) == pytest.approx(3.0) and cohens_d(a, b) == pytest.approx(-3.0)
    assert welch_p(a, a) == pytest.approx(1.0) and welch_p(a, b) < 0.05
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    res = compare_groups({"x": a, "y": b, "z": a + 0.1})
    assert list(res) == [("x", "y"), ("x", "z"), ("y", "z")] and all(r["q"] >= r["p"] for r in res.values())
    with pytest.raises(ShapeError):
        cohens_d([1.0], [2.0, 3.0])


# ---------------------------------------------------------------- experiments

def test_rnn_contracts(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-rnn", SMALL, tmp_path, interrupt_after=3, monkeypatch=monkeypatch)


def test_ssm_contracts_with_reference_axes(tmp_path, monkeypatch):
    from tests.contracts import check_contracts

    check_contracts("similarity-ssm", [*SMALL, "dsa_axes=reference"], tmp_path, interrupt_after=5,
                    monkeypatch=monkeypatch)


def test_config_rejects_bad_values():
    from brainlearn.experiments.runner import make_config

    for bad in (["dsa_axes=batch"], ["fractions=1.0,0.5"], ["architecture=lstm"], ["family=dm"]):
        with pytest.raises(ConfigError):
            make_config(get("similarity-rnn"), "quick", bad)


def _gated(name):
    return [c.id for c in get(name).claims(get(name).preset("quick")) if c.gated]


@pytest.fixture(scope="module")
def rnn_quick():
    return {c["id"]: c for c in run_experiment("similarity-rnn", seed=0, out=None).claims}


@pytest.fixture(scope="module")
def ssm_quick():
    return {c["id"]: c for c in run_experiment("similarity-ssm", seed=0, out=None).claims}


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", _gated("similarity-rnn"))
def test_rnn_quick_claim(rnn_quick, claim_id):
    assert claim_ok(rnn_quick[claim_id]), rnn_quick[claim_id]  # PASS, or XFAIL for a known non-reproduction


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", _gated("similarity-ssm"))
def test_ssm_quick_claim(ssm_quick, claim_id):
    assert claim_ok(ssm_quick[claim_id]), ssm_quick[claim_id]  # PASS, or XFAIL for a known non-reproduction
