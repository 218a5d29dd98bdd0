import dataclasses
import math

import numpy as np
import pytest
import torch

from brainlearn.data.cognitive import PERIODS, SUITES, TASKS, TaskSuite, gaussian_bump, get_task, task_names
from brainlearn.data.cognitive.core import DECISION, N_RING
from brainlearn.errors import ConfigError
from brainlearn.runtime import make_generator

ALL = task_names()


@pytest.fixture(scope="module")
def suite():
    return TaskSuite("modcog/all")


@pytest.fixture(scope="module")
def batch(suite):
    return suite.trials(4000, make_generator(0))


def test_task_counts_and_suites():
    assert len(ALL) == 82 and len(set(ALL)) == 82
    assert len(SUITES["modcog/base"]) == 20 and len(SUITES["modcog/int"]) == 22 and len(SUITES["modcog/seq"]) == 40
    assert set(SUITES["modcog/16"]) <= set(ALL) and len(SUITES["modcog/16"]) == 16
    assert ALL[:3] == ("go", "rtgo", "dlygo") and ALL[-1] == "dnmcseql"
    assert TaskSuite("modcog/all").n_inputs == 115 and TaskSuite("modcog/16").n_inputs == 49
    assert TaskSuite("modcog/all", task_input=False).n_inputs == 33 and TaskSuite("go").n_outputs == 17


def test_layout_fixation_task_onehot_and_targets(suite, batch):
    x, y, p, v = batch.inputs, batch.targets, batch.period, batch.valid
    assert x.shape[0] == 4000 and x.shape[2] == 115 and x.dtype == torch.float32 and y.dtype == torch.int64
    # fixation input is exactly 1 before the decision period, 0 in it and on padding
    assert torch.equal(x[..., 0], (v & (p < DECISION)).float())
    assert torch.equal(batch.fixation_mask, x[..., 0] == 1)
    assert torch.equal(batch.response_mask, v & (x[..., 0] == 0))
    # task one-hot on every valid step, matching the per-step task ids
    onehot = x[..., 33:]
    assert torch.equal(onehot.argmax(-1)[v], batch.task[v]) and torch.all(onehot.sum(-1) == v.float())
    assert torch.all((y >= 0) & (y < 17)) and torch.all(y[~batch.response_mask] == 0)
    assert torch.all(x[~v] == 0) and torch.all(p[~v] == -1)
    # every task appears; every direction class appears
    assert len(torch.unique(batch.task[:, 0])) == 82 and set(torch.unique(y).tolist()) == set(range(17))


def test_period_lengths_follow_the_notes(suite, batch):
    d = batch.trials.durations
    for k, task in enumerate(suite.tasks):
        dk = d[batch.trials.task == k]
        assert len(dk) > 10, task.name
        assert torch.all(dk[:, DECISION] == task.decision), task.name
        values = {name: set(torch.unique(dk[:, i]).tolist()) for i, name in enumerate(PERIODS)}
        if task.family == "reach":
            assert values["fixation"] == {5} and values["stimulus2"] == {0}
            if task.reaction:
                assert values["stimulus"] == {0} and values["delay"] == {0}
            else:
                assert values["stimulus"] == {5}
                assert values["delay"] <= set(range(12)) if task.integrate else values["delay"] == {5}
        elif task.family == "dm":
            assert values["fixation"] <= {2, 3, 4} and values["stimulus"] == {5}
            assert values["delay"] == values["stimulus2"] == ({5} if task.delayed else {0})
        else:
            assert values["fixation"] == {3} and values["stimulus"] == values["stimulus2"] == {5}
            assert values["delay"] <= (set(range(12)) if task.integrate else set(range(2, 12)))
    # the notes: reach trials 20 steps, rt 10, dm 9-11, dlydm 19-21
    lengths = {t: set(batch.trials.length[batch.trials.task == suite.index(t)].tolist()) for t in ("go", "rtgo", "dm1",
                                                                                                   "dlydm1")}
    assert lengths == {"go": {20}, "rtgo": {10}, "dm1": {9, 10, 11}, "dlydm1": {19, 20, 21}}


def test_oracle_solves_every_task(suite, batch):
    """The oracle reads only the metadata; it must reproduce every target of all 82 tasks."""
    actions = suite.oracle(batch)
    for k, name in enumerate(suite.names):
        rows = batch.task[:, 0] == k
        mask = batch.response_mask[rows]
        acc = (actions[rows] == batch.targets[rows])[mask].float().mean().item()
        assert acc == 1.0, (name, acc)
    assert torch.equal(actions, batch.targets)


def _observer(task, x, steps, B_inv):
    """Answer of a rule-following observer that sees only the noise-free inputs of one trial (or None on a tie).

    Returns the expected target sequence. Stimulus strengths per ring location are recovered exactly by
    inverting the (circulant, invertible) bump matrix; reach stimuli sit off the grid, so their angle is the
    population-vector angle.
    """
    fix, rings = x[:steps, 0], x[:steps, 1:33].reshape(steps, 2, N_RING)
    onset = int(np.argmin(fix))
    theta = np.arange(N_RING) * 2 * np.pi / N_RING
    if task.family == "reach":
        frame = rings[onset] if task.reaction else rings[5]
        r = frame.sum(0)
        angle = math.atan2((r * np.sin(theta)).sum(), (r * np.cos(theta)).sum())
        delay = 0 if task.reaction else onset - 10
        answer = round((angle - task.integrate * delay - task.anti * math.pi) / (2 * math.pi / N_RING)) % N_RING
        go = True
    elif task.family == "dm":
        strengths = rings @ B_inv  # (steps, 2, 16) strength at each ring location
        w = np.array(task.weights, dtype=float)[:, None]
        start = int(np.argmax(np.abs(rings).sum((1, 2)) > 0))
        if task.delayed:
            s1, s2 = strengths[start], strengths[onset - 5]
            loc1, loc2 = int(np.abs(s1).sum(0).argmax()), int(np.abs(s2).sum(0).argmax())
            e1, e2 = (w * s1).sum(0)[loc1], (w * s2).sum(0)[loc2]
        else:
            s = strengths[start]
            loc1, loc2 = np.argsort(-np.abs(s).sum(0))[:2]
            e1, e2 = (w * s).sum(0)[loc1], (w * s).sum(0)[loc2]
        if abs(e1 - e2) < 1e-4:
            return None
        answer = ((loc1 if e1 > e2 else loc2) + 5 * task.integrate) % N_RING
        go = True
    else:
        strengths = (rings @ B_inv).sum(1)
        sample, test = int(strengths[3].argmax()), int(strengths[onset - 5].argmax())
        delay = onset - 13
        match = (sample // 8 == test // 8) if task.category else sample == test
        go = match == task.match_go
        answer = (test + task.integrate * delay) % N_RING
    target = np.zeros(steps, dtype=np.int64)
    if go:
        tau = np.arange(steps - onset)
        target[onset:] = 1 + (answer + task.seq * tau) % N_RING
    return target


def test_ideal_observer_reproduces_targets_from_inputs_alone():
    """Noise-free inputs determine the targets of all 82 tasks (except dm ties, which Mod-Cog breaks by a coin)."""
    suite = TaskSuite("modcog/all", noise=0.0, task_input=False)
    batch = suite.trials(82 * 24, make_generator(1), tasks=torch.arange(82).repeat(24))
    B = gaussian_bump(torch.arange(N_RING, dtype=torch.float64) * 2 * math.pi / N_RING).numpy()
    B_inv = np.linalg.inv(B)
    x, y = batch.inputs.double().numpy(), batch.targets.numpy()
    checked = {n: 0 for n in suite.names}
    for i in range(len(x)):
        task = suite.tasks[int(batch.task[i, 0])]
        steps = int(batch.valid[i].sum())
        expected = _observer(task, x[i], steps, B_inv)
        assert (expected is None) == bool(batch.trials.ambiguous[i]), task.name
        if expected is not None:
            np.testing.assert_array_equal(expected, y[i, :steps], err_msg=task.name)
            checked[task.name] += 1
    assert min(checked.values()) >= 15


def test_reach_int_rotates_the_stimulus_and_dm_match_int_rotate_the_target():
    suite = TaskSuite(["dlygointr", "dlyantiintl", "dlydm1intl", "dmsintr"], noise=0.0)
    tr = suite.trials(400, make_generator(2)).trials
    step = 2 * math.pi / N_RING
    r = tr.task == 0
    expected = torch.remainder(tr.direction[r] * step + tr.delay[r], 2 * math.pi)
    assert torch.allclose(tr.theta_a[r], expected, atol=1e-5)
    a = tr.task == 1
    expected = torch.remainder(tr.direction[a] * step - tr.delay[a] + math.pi, 2 * math.pi)
    assert torch.allclose(torch.cos(tr.theta_a[a] - expected), torch.ones(int(a.sum())), atol=1e-5)
    assert set(tr.delay[r].tolist()) == set(range(12))  # 0..1100 ms
    m = tr.task == 3
    test = torch.round(tr.theta_b[m] / step).long()
    assert torch.equal(tr.direction[m], (test + tr.delay[m]) % N_RING)


def test_statistics_directions_matches_and_noise():
    suite = TaskSuite(["go", "dms", "dmc", "multidm", "multidlydm", "dm1"])
    batch = suite.trials(12000, make_generator(3))
    tr = batch.trials
    counts = torch.bincount(tr.direction[tr.task == 0], minlength=16).float()
    assert counts.min() > 0.75 * counts.mean()
    for k in (1, 2):
        assert abs(tr.match[tr.task == k].float().mean().item() - 0.5) < 0.05
    # coin-flip ties: 1/8 of multidm (equal |coh|, opposite signs) and 1/6 of multidlydm trials
    assert abs(tr.ambiguous[tr.task == 3].float().mean().item() - 1 / 8) < 0.03
    assert abs(tr.ambiguous[tr.task == 4].float().mean().item() - 1 / 6) < 0.03
    assert not tr.ambiguous[tr.task == 5].any()
    # noise sd 0.1 on both rings of dm trials during the stimulus; none in reach trials; fixation stays binary
    clean = dataclasses.replace(tr, noise_sd=torch.zeros_like(tr.noise_sd))
    same = suite.render(clean, batch.trial_index, batch.time, make_generator(0))[0]
    diff = batch.inputs - same
    dm1 = (batch.task == 5) & (batch.period == 1)
    assert abs(diff[dm1][:, 1:33].std().item() - 0.1) < 0.005
    assert torch.all(diff[batch.task == 0] == 0) and torch.all(diff[..., 0] == 0)
    dms = (batch.task == 1) & (batch.period == 2)
    assert torch.all(diff[dms] == 0)  # no noise in the delay


def test_seeding_is_reproducible(suite):
    a, b = suite.trials(64, make_generator(5)), suite.trials(64, make_generator(5))
    c = suite.trials(64, make_generator(6))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.task, c.task)
    s1, s2 = suite.stream(8, 100, make_generator(5)), suite.stream(8, 100, make_generator(5))
    for _ in range(3):
        w1, w2 = next(s1), next(s2)
        assert torch.equal(w1.inputs, w2.inputs) and torch.equal(w1.targets, w2.targets)


def _check_window(w, suite):
    b, t = w.targets.shape
    assert w.inputs.shape == (b, t, suite.n_inputs) and w.valid.all() and torch.all(w.period >= 0)
    length = w.trials.length[w.trial_index]
    assert torch.all(w.time < length)
    # time advances by one inside a trial and restarts at 0 exactly when the trial ended
    nxt, prev = w.time[:, 1:], w.time[:, :-1]
    ended = prev == length[:, :-1] - 1
    assert torch.all(torch.where(ended, nxt == 0, nxt == prev + 1))
    assert torch.equal(w.task, w.trials.task[w.trial_index])
    assert torch.equal(w.inputs[..., 33:].argmax(-1), w.task)
    assert torch.equal(w.fixation_mask, w.inputs[..., 0] == 1) and torch.equal(w.response_mask, ~w.fixation_mask)
    assert torch.equal(suite.oracle(w), w.targets)


def test_stream_windows_are_back_to_back_trials(suite):
    stream = suite.stream(16, 350, make_generator(7))
    w1, w2 = next(stream), next(stream)
    for w in (w1, w2):
        _check_window(w, suite)
        assert w.trial_start.sum(1).min() >= 8  # 350 steps hold ~12-40 trials
    # the trial running at the end of window 1 continues into window 2
    last = w1.trials[w1.trial_index[:, -1]]
    cont = w1.time[:, -1] + 1 < last.length
    assert torch.all(torch.where(cont, w2.time[:, 0] == w1.time[:, -1] + 1, w2.time[:, 0] == 0))
    assert torch.all(w2.task[cont, 0] == w1.task[cont, -1])
    assert torch.equal(w2.trials.direction[w2.trial_index[cont, 0]], last.direction[cont])
    # windows shorter than a trial
    short = suite.stream(4, 3, make_generator(8))
    for _ in range(12):
        _check_window(next(short), suite)


def test_stream_restricted_to_some_tasks(suite):
    w = next(suite.stream(4, 200, make_generator(9), tasks=["dms", "go"]))
    assert set(torch.unique(w.task).tolist()) <= {suite.index("dms"), suite.index("go")}


def test_generator_device_placement_and_task_selection():
    suite = TaskSuite("modcog/16")
    b = suite.trials(10, make_generator(0), tasks="dnmsseql")
    assert torch.all(b.task == suite.index("dnmsseql")) and b.inputs.device.type == "cpu"
    b = suite.trials(3, make_generator(0), tasks=[0, 1, 2])
    assert b.task[:, 0].tolist() == [0, 1, 2]
    assert b.to("cpu").inputs is not None


def test_task_specs_and_descriptions():
    assert get_task("dlygointr").base == "dlygo" and get_task("modcog/go").name == "go"
    assert get_task("rtgoseqr").decision == 5 and get_task("goseqr").decision == 10  # as in Mod-Cog
    assert get_task("ctxdlydm2").weights == (0, 1) and get_task("dnmc").category and not get_task("dnmc").match_go
    for name in ALL:
        row = TASKS[name].describe()
        assert row["task"] == name and all(row.values())


@pytest.mark.parametrize("bad, match", [
    ("gogo", "unknown task 'gogo'; valid tasks: go, rtgo"),
    ("modcog/17", "unknown suite"),
    ([], "empty task list"),
    (["go", "go"], "duplicates"),
    (["go", "nope"], "unknown task 'nope'"),
])
def test_bad_task_names(bad, match):
    with pytest.raises(ConfigError, match=match):
        TaskSuite(bad)


def test_bad_arguments():
    suite = TaskSuite("modcog/16")
    g = make_generator(0)
    for call, match in [
        (lambda: suite.trials(0, g), "n must be a positive int"),
        (lambda: suite.trials(2.5, g), "n must be a positive int"),
        (lambda: suite.trials(4, 0), "expected a torch.Generator"),
        (lambda: suite.stream(-1, 10, g), "batch_size must be a positive int"),
        (lambda: suite.stream(4, 0, g), "seq_len must be a positive int"),
        (lambda: suite.trials(4, g, tasks="dms"), "not in this suite"),
        (lambda: suite.trials(4, g, tasks=[0, 1]), "expected None, a task name or 4 task ids"),
        (lambda: suite.sample_trials(torch.tensor([99]), g), "task ids must be"),
        (lambda: TaskSuite("go", noise=-1.0), "noise must be"),
        (lambda: TaskSuite("go", noise=float("nan")), "noise must be"),
        (lambda: TaskSuite("dms", fixed_match_delay=-2), "fixed_match_delay"),
    ]:
        with pytest.raises(ConfigError, match=match):
            call()


def test_fixed_match_delay_reproduces_the_reference_per_instance_delay():
    tr = TaskSuite(["dms", "dmsintr"], fixed_match_delay=7).trials(200, make_generator(0)).trials
    assert set(tr.delay[tr.task == 0].tolist()) == {7} and len(set(tr.delay[tr.task == 1].tolist())) > 5


def test_plot_and_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from brainlearn.analysis.task_figures import plot_trials, write_task_figures

    fig = plot_trials("dnmcseql", n=2)
    assert len(fig.axes) == 4
    paths = write_task_figures(["rtgo", "ctxdlydm1intr"], tmp_path)
    assert [p.name for p in paths] == ["rtgo.png", "ctxdlydm1intr.png"] and all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ConfigError, match="unknown task"):
        plot_trials("nope")


def test_gymnasium_env():
    pytest.importorskip("gymnasium")
    from brainlearn.data.cognitive.env import make_env

    env = make_env(["go", "dnms"], seed=0)
    ob, info = env.reset(seed=3)
    assert ob.shape == (35,) and env.action_space.n == 17 and info["task"] in ("go", "dnms")
    rewards, trials = [], 0
    for _ in range(400):  # acting on the target is always right
        ob, reward, terminated, truncated, info = env.step(info["gt"] if "gt" in info else 0)
        ob_now_gt = env._now()[1]
        info["gt"] = ob_now_gt
        rewards.append(reward)
        trials += info["new_trial"]
        assert not terminated and not truncated
    assert min(rewards) >= 0 and trials > 10 and sum(r > 0 for r in rewards) > 5


def test_stream_never_repeats_a_task_back_to_back_unless_asked(suite):
    for allow, expect_repeats in ((False, False), (True, True)):
        stream = suite.stream(32, 350, make_generator(11), allow_repeats=allow)
        previous, repeats = None, 0
        for _ in range(3):
            w = next(stream)
            starts = w.trial_start
            for row in range(32):
                tasks = w.task[row][starts[row]].tolist()
                if previous is not None and bool(starts[row, 0]):
                    tasks = [previous[row]] + tasks
                repeats += sum(a == b for a, b in zip(tasks, tasks[1:]))
            previous = w.task[:, -1].tolist()
        assert (repeats > 0) == expect_repeats, repeats
    single = next(TaskSuite("go").stream(2, 50, make_generator(0)))
    assert torch.all(single.task == 0)


def test_cli_tasks_list_and_show(tmp_path, capsys):
    from brainlearn.cli import main

    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "dlygointr" in out and "modcog/all (82)" in out
    assert main(["tasks", "show", "rtgo", "--out", str(tmp_path), "--n", "2"]) == 0
    assert (tmp_path / "tasks" / "rtgo.png").exists()
    shown = capsys.readouterr().out
    assert "rtgo (reach)" in shown and "periods:" in shown and "response:" in shown and "rtgo.png" in shown
    assert main(["tasks", "show", "gogo", "--out", str(tmp_path)]) == 2
    assert "valid tasks: go, rtgo" in capsys.readouterr().err
