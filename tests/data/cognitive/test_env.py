"""The Mod-Cog tasks as registered gymnasium environments (brainlearn.data.cognitive.env)."""

import copy
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from brainlearn.data.cognitive import TaskSuite, task_names  # noqa: E402
from brainlearn.data.cognitive.env import ENV_IDS, MIX_ID, CognitiveEnv, env_id, make_env, register_envs  # noqa: E402
from brainlearn.errors import ConfigError  # noqa: E402
from brainlearn.runtime import make_generator  # noqa: E402
from tests import REPO  # noqa: E402

SRC = REPO / "src"


def run(env, actions, seed=None):
    """Observations, rewards and infos of `actions` from reset(seed)."""
    ob, info = env.reset(seed=seed)
    obs, rewards, infos = [ob], [], [info]
    for a in actions:
        ob, reward, terminated, truncated, info = env.step(a)
        obs.append(ob), rewards.append(reward), infos.append(info)
    return np.stack(obs), rewards, infos


def test_all_82_tasks_registered_and_checked():
    assert len(ENV_IDS) == 83 and ENV_IDS[-1] == MIX_ID
    assert [i for i in ENV_IDS[:-1]] == [f"brainlearn/{t}-v0" for t in task_names()]
    assert register_envs() == ENV_IDS  # idempotent: registering again changes nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every other checker warning fails the test
        warnings.filterwarnings("ignore", message=".*infinity")  # the noisy rings are unbounded, by design
        for i in ENV_IDS:
            env = gym.make(i, chunk=8)  # small chunks keep the 83 checks to a few seconds
            assert env.spec.id == i and env.spec.entry_point == "brainlearn.data.cognitive.env:CognitiveEnv"
            check_env(env.unwrapped)
            assert env.unwrapped.suite.names == (tuple(task_names()) if i == MIX_ID else (i[11:-3],))


def test_make_by_module_path_and_spaces():
    env = gym.make("brainlearn.data.cognitive.env:brainlearn/dlygointr-v0")
    assert env.observation_space.shape == (33,) and env.action_space == gym.spaces.Discrete(17)
    box = env.observation_space
    assert box.dtype == np.float32 and box.low[0] == 0 and box.high[0] == 1 and np.isinf(box.low[1:33]).all()
    mix = gym.make(MIX_ID)
    assert mix.observation_space.shape == (115,) and (mix.observation_space.high[33:] == 1).all()
    sub = gym.make(MIX_ID, tasks="modcog/16")
    assert sub.observation_space.shape == (49,) and len(sub.unwrapped.suite) == 16
    ob, info = gym.make(env_id("go"), task_input=True).reset(seed=0)
    assert ob.shape == (34,) and ob[33] == 1 and info["task"] == "go"


def test_reset_seed_is_deterministic_and_serves_the_batch_generator():
    env = gym.make(env_id("dms"), chunk=16).unwrapped
    actions = [0] * 300
    a, ra, _ = run(env, actions, seed=7)
    b, rb, _ = run(env, actions, seed=7)
    c, _, _ = run(env, actions, seed=8)
    assert np.array_equal(a, b) and ra == rb and not np.array_equal(a, c)
    # a fixating agent sees the trials of suite.trials(chunk, make_generator(seed)), back to back
    batch = TaskSuite("dms", task_input=False).trials(16, make_generator(7))
    served = np.concatenate([batch.inputs[i, : int(batch.valid[i].sum())].numpy() for i in range(16)])
    assert np.array_equal(a, served[: len(a)])
    # the constructor seed is what the first unseeded reset uses; reset() then continues, it does not reseed
    e1, e2 = make_env("go", seed=7, task_input=False), make_env("go", seed=7, task_input=False)
    assert np.array_equal(run(e1, [0] * 50)[0], run(e2, [0] * 50, seed=7)[0])
    assert not np.array_equal(run(e1, [0] * 20)[0], run(e2, [0] * 20, seed=7)[0])
    # unseeded envs draw their stream from gymnasium's entropy-seeded np_random
    assert not np.array_equal(run(CognitiveEnv("dm1"), [0] * 30)[0], run(CognitiveEnv("dm1"), [0] * 30)[0])


def test_observations_are_copies():
    env = gym.make(env_id("dm1")).unwrapped  # noisy stimulus: every step differs
    ob, _ = env.reset(seed=0)
    expected = env._inputs[env._row, 0].copy()
    assert not np.shares_memory(ob, env._inputs)
    ob[:] = 99.0  # the user's array is theirs to change
    assert np.array_equal(env._inputs[env._row, 0], expected)
    twin = gym.make(env_id("dm1")).unwrapped
    twin.reset(seed=0)
    for _ in range(30):
        ob, *_ = env.step(0)
        ob_twin, *_ = twin.step(0)
        assert not np.shares_memory(ob, env._inputs) and np.array_equal(ob, ob_twin)
        ob *= -1.0


def test_pickle_and_deepcopy_continue_the_same_stream():
    for env in (gym.make(env_id("ctxdm1seqr")), gym.make(MIX_ID, chunk=4).unwrapped):
        env.reset(seed=3)
        for _ in range(37):
            env.step(0)
        copies = [pickle.loads(pickle.dumps(env)), copy.deepcopy(env)]
        rest = run_on(env, 80)
        for other in copies:
            assert np.array_equal(run_on(other, 80), rest)


def run_on(env, n):
    """n steps of a fixating agent, without reset."""
    return np.stack([env.step(0)[0] for _ in range(n)])


def test_rewards_follow_the_neurogym_rules():
    env = make_env(["go", "dnms", "dm2seql"], seed=0)
    env.reset(seed=1)
    total, trials, correct = 0.0, 0, 0
    for _ in range(600):  # the oracle: act on the current target
        gt = env.gt_now
        ob, reward, terminated, truncated, info = env.step(gt)
        assert info["gt"] == gt and info["task"] in ("go", "dnms", "dm2seql") and not (terminated or truncated)
        assert reward == (1.0 if gt else 0.0) and (info["new_trial"] if gt else True)
        total += reward
        trials += info["new_trial"]
        correct += reward == 1.0
    assert trials > 20 and correct > 10
    env = make_env("go", seed=0)
    env.reset(seed=1)  # breaking fixation costs 0.1; a wrong response ends the trial with 0
    while env.gt_now == 0:
        ob, reward, *_, info = env.step(5)
        assert reward == -0.1 and info["period"] < 4 and not info["new_trial"]
    ob, reward, *_, info = env.step(1 + env.gt_now % 16)
    assert reward == 0.0 and info["new_trial"] and info["period"] == 4
    assert env._t == 0 and ob[0] == 1.0  # the next trial begins, fixation on


def test_time_limit_recipe():
    env = gym.make(env_id("go"), max_episode_steps=100)  # gymnasium.wrappers.TimeLimit, applied by make
    assert isinstance(env, gym.wrappers.TimeLimit)
    ob, info = env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        ob, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        assert not terminated
    assert steps == 100
    wrapped = gym.wrappers.TimeLimit(CognitiveEnv("rtgo", task_input=False), max_episode_steps=7)
    wrapped.reset(seed=0)
    assert [wrapped.step(0)[3] for _ in range(7)] == [False] * 6 + [True]


def test_docs_time_limit_example_runs():
    text = (REPO / "docs" / "tasks.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    recipe = [b for b in blocks if "max_episode_steps=200" in b]
    assert len(recipe) == 1
    scope = {}
    exec(recipe[0], scope)  # its asserts: truncated after 200 steps, return 12 for the oracle
    assert scope["vec"].reset(seed=0)[0].shape == (4, 33)


def python_with_src(script):
    """`script` run by a fresh interpreter that imports this checkout's brainlearn."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize("imports", ["import brainlearn, gymnasium as gym", "import gymnasium as gym, brainlearn",
                                     "import brainlearn, brainlearn.models.dqn, gymnasium as gym"])
def test_ids_registered_by_import_brainlearn_in_either_order(imports):
    script = f"{imports}\nprint(gym.make('brainlearn/dlygo-v0').reset(seed=0)[0].shape)"
    out = python_with_src(script)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(33,)"


def test_import_brainlearn_imports_neither_gymnasium_nor_torch():
    out = python_with_src("import sys, brainlearn\nprint(sorted({'gymnasium', 'torch', 'numpy'} & set(sys.modules)))")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_async_vector_env_after_torch_ran_in_the_parent():
    """Forked workers (AsyncVectorEnv's default on Linux) must not hang in torch's thread pool."""
    script = (
        "import gymnasium as gym, brainlearn.data.cognitive.env\n"
        "e = gym.make('brainlearn/ModCog-v0', chunk=256); e.reset(seed=0)\n"  # multi-threaded torch in the parent
        "v = gym.vector.AsyncVectorEnv([lambda: gym.make('brainlearn/dms-v0', chunk=256)] * 2)\n"
        "print(v.reset(seed=0)[0].shape, v.step([0, 0])[1].tolist()); v.close()\n"
    )
    out = python_with_src(script)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "(2, 33) [0.0, 0.0]"


def test_trials_per_episode_terminates():
    env = gym.make(env_id("rtgo"), trials_per_episode=3)  # rtgo: 10-step trials
    env.reset(seed=0)
    done = [env.step(0)[2] for _ in range(30)]
    assert done == [False] * 29 + [True]


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown task"):
        gym.make(MIX_ID, tasks="nope")
    for kwargs, match in (({"chunk": 0}, "chunk"), ({"trials_per_episode": 1.5}, "trials_per_episode"),
                          ({"seed": -1}, "seed"), ({"render_mode": "human"}, "render_mode")):
        with pytest.raises(ConfigError, match=match):
            CognitiveEnv("go", **kwargs)
    env = CognitiveEnv("go")
    with pytest.raises(ConfigError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    for action in (17, -1, 2.5, "a", True):
        with pytest.raises(ConfigError, match="0..16"):
            env.step(action)
    env.step(np.int64(3))  # NumPy ints are fine


def test_vector_env_with_one_sub_env_is_the_single_env_step_for_step():
    from brainlearn.data.cognitive.env import CognitiveVectorEnv

    single = make_env("modcog/all", seed=3, chunk=16)
    vec = CognitiveVectorEnv("modcog/all", num_envs=1, pool=16, seed=3)
    o1, _ = single.reset()
    o2, _ = vec.reset()
    assert np.array_equal(o1, o2[0])
    rng = np.random.default_rng(0)
    for _ in range(1500):   # the oracle most of the time, random actions otherwise: aborts, fails, long trials
        a = single.gt_now if rng.random() < 0.7 else int(rng.integers(0, 17))
        o1, r1, _, _, i1 = single.step(a)
        o2, r2, term, trunc, i2 = vec.step(np.array([a]))
        assert np.array_equal(o1, o2[0]) and r1 == r2[0] and i1["new_trial"] == i2["new_trial"][0]
        assert i1["gt"] == i2["gt"][0] and i1["period"] == i2["period"][0] and not term[0] and not trunc[0]


def test_vector_env_batches_its_spaces_and_refuses_bad_input():
    from brainlearn.data.cognitive.env import CognitiveVectorEnv

    env = CognitiveVectorEnv("go", num_envs=8, task_input=False, seed=0, pool=8)
    with pytest.raises(ConfigError, match="reset"):
        env.step(np.zeros(8, dtype=np.int64))
    obs, _ = env.reset()
    assert obs.shape == (8, 33) and env.observation_space.contains(obs)
    assert env.single_action_space.n == 17 and env.action_space.shape == (8,)
    rewards = []
    for _ in range(200):   # several pools (8 trials each) go by; trials in flight keep their data
        obs, r, *_ = env.step(env.gt_now)
        assert env.observation_space.contains(obs)
        rewards.append(r)
    assert np.isin(np.concatenate(rewards), [0.0, 1.0]).all() and np.concatenate(rewards).sum() > 0
    for bad in (np.zeros(7, dtype=np.int64), np.full(8, 17), np.zeros(8), np.full(8, -1)):
        with pytest.raises(ConfigError, match="actions must be 8 ints"):
            env.step(bad)
    for kwargs in ({"num_envs": 0}, {"pool": 0}, {"seed": -1}):
        with pytest.raises(ConfigError):
            CognitiveVectorEnv("go", **kwargs)


def test_neurogym_attributes():
    env = make_env("dlygointr", task_input=False)
    with pytest.raises(ConfigError, match="reset"):
        _ = env.timing
    ob, _ = env.reset()
    assert env.dt == 100 and env.act_dict == {"fixation": [0], "choice": list(range(1, 17))}
    assert env.ob_dict == {"fixation": [0], "stimulus_mod1": list(range(1, 17)), "stimulus_mod2": list(range(17, 33))}
    timing = env.timing
    assert list(timing) == ["fixation", "stimulus", "delay", "stimulus2", "decision"]
    assert timing["fixation"] == 500 and timing["stimulus"] == 500 and timing["decision"] == 500
    steps = 1
    while not env.step(0)[4]["new_trial"]:           # fixating throughout: the trial runs its whole length
        steps += 1
    assert steps * env.dt == sum(timing.values())   # the trial lasted what its timing says
    assert make_env("modcog/all").ob_dict["task"] == list(range(33, 115))
