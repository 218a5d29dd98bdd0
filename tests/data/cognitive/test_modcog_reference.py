"""brainlearn's Mod-Cog trials against Mod-Cog's own code, where that code is at hand (skipped, saying why, elsewhere).

Mod-Cog's tasks (github.com/mikailkhona/Mod_Cog, one file: mod_cog_tasks.py) are not on pip. To run this check,
install neurogym (``pip install "brainlearn[neurogym]"``; its pins on numpy and gymnasium can be skipped with
``--no-deps``) and point ``MODCOG_REFERENCE`` at a checkout of that repository (or put mod_cog_tasks.py on the
path). The file was written for neurogym 0.x and the old ``gym``; two import shims let it run on neurogym 2.x:
``gym`` answers as gymnasium, and ``neurogym.TrialEnv`` (now in ``neurogym.core``) is put back.

Each reference trial is matched with a brainlearn trial of the same parameters, read from the reference env:
reach tasks (answer, modality, delay), match tasks (sample, test, modality, delay). Their observations must be
equal, except where the reference adds input noise (the match tasks' stimulus ring during sample and test),
where brainlearn's noise-free trial must be the reference's minus noise of sd ``NOISE_SD``. Their targets must
be equal up to the documented deviations (docs/tasks.md): Mod-Cog maps the answer of direction 15 to class 0,
"fixate", brainlearn to class 16 (so reference == ours mod 16); and Mod-Cog's category tasks put sample 8 in
category 0 but draw category-1 tests from 8..15, so their sample-8 trials are compared on observations only.
The int match tasks draw a delay per trial and are left out (too many parameter combinations to match), as are
the dm tasks (noise on both rings and random strengths).
"""

import importlib
import math
import os
import sys
import warnings

import numpy as np
import pytest

from brainlearn.data.cognitive import N_RING, TASKS, TaskSuite
from brainlearn.data.cognitive.core import DELAY, NOISE_SD
from brainlearn.runtime import make_generator

REFERENCE_FILE = "mod_cog_tasks"
REFERENCE_TRIALS = 600  # per task
POOL = 20_000  # brainlearn trials per task (and delay): each reference parameter set appears among them
COMPARED = [name for name, task in TASKS.items()
            if task.family == "reach" or (task.family == "match" and not task.integrate)]


@pytest.fixture(scope="module")
def reference():
    """Mod-Cog's task module, imported with the two shims (or a skip that says what is missing)."""
    pytest.importorskip("neurogym", reason="neurogym is not installed (pip install 'brainlearn[neurogym]')")
    import gymnasium
    import neurogym
    import neurogym.core

    checkout = os.environ.get("MODCOG_REFERENCE")
    if checkout and not os.path.isfile(os.path.join(checkout, f"{REFERENCE_FILE}.py")):
        pytest.fail(f"MODCOG_REFERENCE={checkout!r} holds no {REFERENCE_FILE}.py")
    path = [checkout] if checkout else []
    sys.path[:0] = path
    added_gym = "gym" not in sys.modules
    sys.modules.setdefault("gym", gymnasium)
    added_trial_env = not hasattr(neurogym, "TrialEnv")
    if added_trial_env:
        neurogym.TrialEnv = neurogym.core.TrialEnv
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(REFERENCE_FILE)
    except ModuleNotFoundError as e:
        if e.name != REFERENCE_FILE:
            raise
        pytest.skip("Mod-Cog's reference code is not on pip: set MODCOG_REFERENCE to a checkout of "
                    "github.com/mikailkhona/Mod_Cog")
    finally:
        del sys.path[:len(path)]
        if added_gym:
            del sys.modules["gym"]
        if added_trial_env:
            del neurogym.TrialEnv


def ring_index(theta) -> int:
    return round(float(theta) / (2 * math.pi / N_RING)) % N_RING


def steps(task, period) -> int:
    return task.end_ind[period] - task.start_ind[period] if period in task.start_ind else 0  # rt: no delay


def reference_trials(module, name, n, seed=0):
    """n trials of the reference env `name`, each (key, observations, targets, noisy: the entries given noise)."""
    env = getattr(module, name)()  # neurogym's ScheduleEnvs over the task's two modality copies
    for copy in env.envs:
        copy.unwrapped.seed(seed)
    env.schedule.seed(seed)
    np.random.seed(seed)  # the int tasks draw their delay from numpy's global generator
    trials = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            trial = env.new_trial()
            task, modality = env.envs[env.i_env].unwrapped, int(env.i_env)
            noisy = np.zeros(task.ob.shape, dtype=bool)
            if "sample_theta" in trial:  # a match task: noise on the stimulus ring during sample and test
                sample, test = ring_index(trial["sample_theta"]), ring_index(trial["test_theta"])
                key = (sample, test, modality, steps(task, "delay"))
                ring = slice(1 + N_RING * modality, 1 + N_RING * (modality + 1))
                for period in ("sample", "test"):
                    noisy[task.start_ind[period]:task.end_ind[period], ring] = True
            else:
                key = (int(trial["ground_truth"]), modality, steps(task, "delay"))
            trials.append((key, task.ob.copy(), task.gt.copy(), noisy))
    return trials


def brainlearn_trials(name, delays, n, seed=0):
    """One noise-free brainlearn trial per parameter key drawn among n (per match delay): (observations, targets)."""
    out = {}
    for delay in delays:  # a reference match env keeps one delay; draw brainlearn's with that delay
        suite = TaskSuite([name], task_input=False, noise=0.0, fixed_match_delay=delay)
        batch = suite.trials(n, make_generator(seed))
        tr, lengths = batch.trials, batch.valid.sum(1)
        for i in range(n):
            delay_i = int(tr.durations[i, DELAY])
            if tr.match[i] >= 0:
                key = (ring_index(tr.theta_a[i]), ring_index(tr.theta_b[i]), int(tr.modality[i]), delay_i)
            else:
                key = (int(tr.direction[i]), int(tr.modality[i]), delay_i)
            if key not in out:
                out[key] = (batch.inputs[i, :lengths[i]].numpy(), batch.targets[i, :lengths[i]].numpy())
    return out


@pytest.mark.parametrize("name", COMPARED)
def test_trials_equal_the_reference(reference, name):
    theirs = reference_trials(reference, name, REFERENCE_TRIALS)
    match = TASKS[name].family == "match"
    ours = brainlearn_trials(name, sorted({key[-1] for key, *_ in theirs}) if match else [None], POOL)
    missing = sorted({key for key, *_ in theirs} - set(ours))
    assert not missing, f"{name}: reference trials never drawn here: {missing}"
    noise = []
    for key, observations, gt, noisy in theirs:
        inputs, targets = ours[key]
        assert observations.shape == inputs.shape, (name, key)
        np.testing.assert_allclose(observations[~noisy], inputs[~noisy], rtol=0, atol=1e-5,  # float32 angles
                                   err_msg=f"{name} {key}")
        noise.append(observations[noisy] - inputs[noisy])
        if not (TASKS[name].category and key[0] == N_RING // 2):  # the category-boundary deviation
            np.testing.assert_array_equal(gt, targets % N_RING, err_msg=f"{name} {key}")
    if match:
        noise = np.concatenate(noise)
        assert abs(noise.std() / NOISE_SD - 1) < 0.03 and abs(noise.mean()) < 0.003, (noise.mean(), noise.std())
