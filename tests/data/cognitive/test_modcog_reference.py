"""brainlearn's Mod-Cog trials against Mod-Cog's own code, where that code is at hand (skipped, saying why, elsewhere).

Mod-Cog's tasks (github.com/mikailkhona/Mod_Cog, one file: mod_cog_tasks.py) are not on pip. To run this check,
install neurogym (``pip install "brainlearn[neurogym]"``; its pins on numpy and gymnasium can be skipped with
``--no-deps``) and point ``MODCOG_REFERENCE`` at a checkout of that repository (or put mod_cog_tasks.py on the
path). The file was written for neurogym 0.x and the old ``gym``; two import shims let it run on neurogym 2.x:
``gym`` answers as gymnasium, and ``neurogym.TrialEnv`` (now in ``neurogym.core``) is put back.

The reach tasks draw no input noise, so their trials can be compared exactly: every reference trial (its
answer, modality and delay read from the reference env) must have a brainlearn trial with the same three
parameters and the same observations, and the same targets up to the one documented deviation (Mod-Cog maps
the answer of direction 15 to class 0, "fixate"; brainlearn to class 16: so reference == ours mod 16).
"""

import importlib
import os
import sys
import warnings

import numpy as np
import pytest

from brainlearn.data.cognitive import TASKS, TaskSuite
from brainlearn.data.cognitive.core import DELAY
from brainlearn.runtime import make_generator

REFERENCE_FILE = "mod_cog_tasks"
REFERENCE_TRIALS = 600  # per task
POOL = 20_000  # brainlearn trials per task: every (answer, modality, delay) of the reference appears among them
REACH_TASKS = [name for name, task in TASKS.items() if task.family == "reach"]


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


def reference_trials(module, name, n, seed=0):
    """n trials of the reference env `name`: (answer, modality, delay steps) -> list of (observations, targets)."""
    env = getattr(module, name)()  # neurogym's ScheduleEnvs over the task's two modality copies
    for copy in env.envs:
        copy.unwrapped.seed(seed)
    env.schedule.seed(seed)
    np.random.seed(seed)  # the int tasks draw their delay from numpy's global generator
    trials = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            trial = env.new_trial()
            task = env.envs[env.i_env].unwrapped
            delay = task.end_ind["delay"] - task.start_ind["delay"] if "delay" in task.start_ind else 0  # rt: none
            key = (int(trial["ground_truth"]), int(env.i_env), int(delay))
            trials.setdefault(key, []).append((task.ob.copy(), task.gt.copy()))
    return trials


def brainlearn_trials(name, n, seed=0):
    """One brainlearn trial per (answer, modality, delay steps) drawn among n: its (observations, targets)."""
    batch = TaskSuite([name], task_input=False).trials(n, make_generator(seed))
    tr, lengths = batch.trials, batch.valid.sum(1)
    delay = tr.durations[:, DELAY]
    out = {}
    for i in range(n):
        key = (int(tr.direction[i]), int(tr.modality[i]), int(delay[i]))
        if key not in out:
            steps = int(lengths[i])
            out[key] = (batch.inputs[i, :steps].numpy(), batch.targets[i, :steps].numpy())
    return out


@pytest.mark.parametrize("name", REACH_TASKS)
def test_reach_trials_equal_the_reference(reference, name):
    ours = brainlearn_trials(name, POOL)
    theirs = reference_trials(reference, name, REFERENCE_TRIALS)
    assert set(theirs) <= set(ours), f"{name}: reference trials never drawn here: {sorted(set(theirs) - set(ours))}"
    for key, trials in theirs.items():
        inputs, targets = ours[key]
        for observations, gt in trials:
            assert observations.shape == inputs.shape, (name, key)
            np.testing.assert_allclose(observations, inputs, rtol=0, atol=1e-5,  # float32 angles (int: off-grid)
                                       err_msg=f"{name} {key}")
            np.testing.assert_array_equal(gt, targets % 16, err_msg=f"{name} {key}")
