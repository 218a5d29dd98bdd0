"""The motif task families (data.cognitive.motifs): trials follow their rules, test trials their fixed timings."""

import numpy as np
import pytest
import torch

from brainlearn.data.cognitive.motifs import MOTIF_RULES, TEST_TIMING_MS, MotifTasks
from brainlearn.errors import ConfigError
from brainlearn.runtime import make_generator


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
    delayed = torch.tensor([("delay" in MOTIF_RULES[r]) for r in rule])
    assert torch.all((tr.durations[:, 2] > 0) == delayed)
    assert set(tr.durations[:, 1].tolist()) == {30, 40, 50}
    anti = torch.tensor([("anti" in MOTIF_RULES[r]) for r in rule])
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
