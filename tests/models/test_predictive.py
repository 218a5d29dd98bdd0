import numpy as np
import pytest
import torch

from brainlearn.analysis.mismatch import mismatch_index
from brainlearn.errors import ConfigError, ShapeError
from brainlearn.models.predictive import (
    AdaptationModel,
    AdaptationModelConfig,
    HierarchicalPC,
    HierarchicalPCConfig,
    PEMicrocircuit,
    PEMicrocircuitConfig,
    TemporalPC,
    TemporalPCConfig,
)
from brainlearn.paradigms import OddballProtocol, stimulus_matrix
from brainlearn.runtime import make_generator


def _small_circuit(seed=0, **kw):
    return PEMicrocircuit(PEMicrocircuitConfig(n_e=30, n_pv=8, n_sst=8, n_vip=8, **kw), generator=make_generator(seed))


def test_microcircuit_steady_state_at_s_equals_p_after_training():
    c = _small_circuit(steps=100, batch_size=32, lr=0.01)
    c.train_matched(make_generator(1))
    s = torch.linspace(0.5, 5, 6)
    r = c.steady_state(s, s)
    assert (r["E"] - c.rho_e).abs().mean() < 0.1 * c.rho_e + 0.05
    # it is a fixed point: one more relaxation step changes nothing measurable
    t = c.targets(r, s, s)
    assert all(float((t[k] - r[k]).abs().max()) < 1e-3 for k in r)


def test_relaxation_matches_the_rate_dynamics():
    c = _small_circuit(2)
    S, P = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([1.0, 2.0, 0.0])
    fixed = c.steady_state(S, P, iterations=300)
    r = c.initial_state(3)
    for _ in range(2000):      # 2 s of the real dynamics (tau_E = 60 ms, tau_I = 2 ms)
        r = c.step(r, S, P, 0.001)
    assert torch.allclose(r["E"], fixed["E"], atol=1e-3)


def test_microcircuit_is_deterministic_and_rejects_bad_input():
    a, b = _small_circuit(5), _small_circuit(5)
    assert torch.equal(a.W_EP, b.W_EP) and torch.equal(a.a, b.a)
    with pytest.raises(ShapeError):
        a.steady_state(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ShapeError):
        a.steady_state(torch.tensor([float("nan")]), torch.zeros(1))
    with pytest.raises(ShapeError):
        a.simulate(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ConfigError):  # a declared bound of the config
        PEMicrocircuit(PEMicrocircuitConfig(n_e=0), generator=make_generator(0))


def test_plasticity_signs():
    c = _small_circuit(3)
    r = c.initial_state(4)
    r = {k: v + 1.0 for k, v in r.items()}
    before = {k: getattr(c, k).clone() for k in c.PLASTIC}
    r["E"] = r["E"] + 2.0                 # somata above target: more inhibition onto E, less onto PV
    c.plasticity(r, 0.01, pv_rate=1.0)
    assert (c.W_EP >= before["W_EP"]).all() and (c.W_EP > before["W_EP"]).any()
    assert (c.W_DS > before["W_DS"]).all()          # dendrites above their target 0
    assert (c.W_PS <= before["W_PS"]).all() and (c.W_PV <= before["W_PV"]).all()


def test_hierarchical_pc_linear_inference_reaches_the_map_and_errors_split():
    pc = HierarchicalPC(HierarchicalPCConfig((6, 4), activation="linear", prior=0.5), generator=make_generator(0))
    x = torch.randn(5, 6, generator=make_generator(1))
    out = pc.infer(x, steps=2000, rate=0.05)
    W = pc.weights[0]
    mu = torch.linalg.solve(W.T @ W + 0.5 * torch.eye(4), (x @ W).T).T
    assert torch.allclose(out["mus"][1], mu, atol=1e-4)
    e = x - mu @ W.T
    assert torch.allclose(out["e_pos"][0] - out["e_neg"][0], e, atol=1e-4)
    assert (out["e_pos"][0] * out["e_neg"][0] == 0).all()
    assert all(b <= a + 1e-6 for a, b in zip(out["energy"], out["energy"][1:]))


def test_hierarchical_pc_learning_reduces_error_on_repeated_patterns():
    pc = HierarchicalPC(HierarchicalPCConfig((8, 6, 3), activation="tanh"), generator=make_generator(0))
    x = torch.randn(4, 8, generator=make_generator(1))
    first = pc.learn(x, lr=0.05, steps=40)
    for _ in range(50):
        last = pc.learn(x, lr=0.05, steps=40)
    assert last < 0.5 * first


def test_temporal_pc_iterative_settling_equals_closed_form():
    pc = TemporalPC(TemporalPCConfig(n_in=5, n_latent=4, prior=0.3), generator=make_generator(0))
    x, mu_hat = torch.randn(3, 5, generator=make_generator(1)), torch.randn(3, 4, generator=make_generator(2))
    assert torch.allclose(pc.settle(x, mu_hat, steps=3000, rate=0.1), pc.settle(x, mu_hat), atol=1e-5)


def test_temporal_pc_learns_a_sequence_then_signals_deviants_and_omissions():
    pc = TemporalPC(TemporalPCConfig(n_in=6, n_latent=6), generator=make_generator(0))
    seq = torch.eye(6)[[0, 1, 2, 3, 4, 4]]        # A B C D, two blank-ish steps of channel 4
    seq[4:] = 0
    X = seq.repeat(150, 1)[:, None]
    out = pc.run(X, lr=0.05)
    err = (out["e_pos"] + out["e_neg"]).sum(2)[:, 0].reshape(-1, 6).mean(1)
    assert err[-10:].mean() < 0.5 * err[0]
    test = seq.clone()
    test[2] = torch.eye(6)[5]                     # substitution at position 3
    o = pc.run(torch.cat([seq, test])[:, None])
    assert o["e_pos"][8, 0].sum() > 1.5 * o["e_pos"][2, 0].sum()


def test_temporal_pc_blank_bin_keeps_only_what_w_does_not_read():
    # a blank bin settles to prior (W^T W + prior I)^-1 mu_hat: 0 for mu_hat = 0, mu_hat itself in W's null space
    pc = TemporalPC(TemporalPCConfig(n_in=3, n_latent=5, prior=0.2, v_init=1.0), generator=make_generator(0))
    zero = torch.zeros(2, 3)
    assert torch.equal(pc.settle(zero, torch.zeros(2, 5)), torch.zeros(2, 5))
    null = torch.linalg.svd(pc.W)[2][3:]                 # (2, 5): the latent directions W does not read
    assert torch.allclose(pc.settle(zero, null), null, atol=1e-5)
    seen = pc.W[:2]                                      # rows of W (orthonormal): read with singular value 1
    assert torch.allclose(pc.settle(zero, seen), 0.2 / 1.2 * seen, atol=1e-5)
    assert torch.allclose(pc.V @ pc.V.T, torch.eye(5), atol=1e-5)   # v_init Q, Q orthogonal


def test_temporal_pc_learns_the_oddball_binned_at_the_stimulus_length():
    # 250 ms gratings every 1.25 s in 250 ms bins: each stimulus follows four blank bins
    proto = OddballProtocol(n_baseline=200, n_oddball=200, p_jitter=0.0, tuning_orientations=0, rf_grid=0)
    table = proto.generate(0)
    X = stimulus_matrix(table, proto.on, 16)[:, None]
    split = int(round(table["start_time"][proto.n_baseline] / proto.on))   # learn on the standards before the oddballs
    with pytest.raises(ConfigError, match="v_init"):    # V = 0 would stay 0: a clear error, not a silent 0
        TemporalPC(TemporalPCConfig(n_in=16, n_latent=64), generator=make_generator(0)).run(X[:split], lr=0.05)
    pc = TemporalPC(TemporalPCConfig(n_in=16, n_latent=64, v_init=1.0), generator=make_generator(0))
    V0 = pc.V.clone()
    pc.run(X[:split], lr=0.05)
    assert (pc.V - V0).norm() > 0.1 * V0.norm()
    out = pc.run(X[split:])
    onset = np.round(table["start_time"] / proto.on).astype(int)[proto.n_baseline:] - split
    R = out["e_pos"][:, 0].sum(1).numpy()[onset][None]  # 1 cell (the summed e+) x oddball-block trials
    kind = table["stim_type"][proto.n_baseline:]
    mi = mismatch_index(R[:, kind == "deviant_ori"], R[:, kind == "standard"], n_shuffles=200)
    assert mi["index"][0] > 0.1 and mi["p"][0] < 0.05


def test_temporal_pc_warns_when_v_starts_at_zero_and_inputs_follow_blank_bins(caplog):
    # the default oddball jitters 5% of the gratings: some straddle two bins, so V can change, but only from those
    proto = OddballProtocol(n_baseline=20, n_oddball=200, tuning_orientations=0, rf_grid=0)
    X = stimulus_matrix(proto.generate(0), proto.on, 16)[:, None]
    pc = TemporalPC(TemporalPCConfig(n_in=16, n_latent=16), generator=make_generator(0))
    with caplog.at_level("WARNING", logger="brainlearn.models.predictive"):
        pc.run(X, lr=0.05)
    assert "V = 0" in caplog.text and "after a blank bin" in caplog.text


def test_adaptation_exact_update_matches_fine_euler():
    m = AdaptationModel(AdaptationModelConfig(tau_rec=1.5, u=4.0))
    X = (torch.rand(20, 2, 3, generator=make_generator(0)) > 0.5).float()
    r = m.run(X, 0.25)["r"]
    g, fine, k = torch.ones(2, 3), [], 250
    for t in range(20):
        acc = torch.zeros(2, 3)
        for _ in range(k):
            acc += g * X[t] / k
            g = g + 0.25 / k * ((1 - g) / 1.5 - 4.0 * g * X[t])
        fine.append(acc)
    assert torch.allclose(r, torch.stack(fine), atol=2e-3)
    with pytest.raises(ShapeError):
        m.run(torch.zeros(3, 2), 0.1)


def test_adaptation_shows_stimulus_specific_adaptation():
    m = AdaptationModel()
    X = torch.zeros(40, 1, 2)
    X[::2, 0, 0] = 1.0            # a frequent standard
    X[39, 0, 1] = 1.0             # a rare deviant
    r = m.run(X, 0.25)["r"][:, 0]
    assert float(r[39, 1]) > 1.5 * float(r[38, 0])
    assert np.isfinite(r.numpy()).all()


def test_configs_declare_the_models_ranges():
    # each interneuron type needs an S-driven and a P-driven half: at least 2 cells
    for field in ("n_pv", "n_sst", "n_vip"):
        with pytest.raises(ConfigError, match=field):
            PEMicrocircuitConfig(**{field: 1})
    PEMicrocircuitConfig(n_e=1, n_pv=2, n_sst=2, n_vip=2)
    with pytest.raises(ConfigError, match="at least 2 layer"):
        HierarchicalPCConfig((6,))
    with pytest.raises(ConfigError):
        TemporalPCConfig(prior=0.0)
    with pytest.raises(ConfigError):
        AdaptationModelConfig(tau_rec=0.0)


def test_beta_mixing_draws_any_shape():
    # Johnk's method below 1 (the default 0.3), gamma ratios above: mean 1/2, variance 1 / (4 (2c + 1))
    for mix in (0.3, 3.0, 1e6):
        c = PEMicrocircuit(PEMicrocircuitConfig(n_e=4000, mix=mix, drive=1.0), generator=make_generator(0))
        assert abs(float(c.a.mean()) - 0.5) < 0.02
        assert abs(float(c.a.var()) - 1 / (4 * (2 * mix + 1))) < 0.01


def test_probe_and_classify_use_the_config():
    c = _small_circuit(4, n_amplitudes=3, s_max=3.0)
    assert c.amplitudes().tolist() == [1.0, 2.0, 3.0]
    p = c.probe()
    assert p["matched"].shape == (3, 30)
    assert set(c.classify(p)) <= {"nPE", "pPE", "none"}
