"""replay-dqn: DQN with uniform vs prioritised experience replay on procedural gridworlds.

Each replicate draws one gridworld layout (:class:`brainlearn.models.dqn.ProceduralGrid`) and one initial
Q-network; the uniform and the prioritised agent of that replicate share both (a paired comparison). Each
(variant, replicate) is one job; the greedy policy is evaluated every ``eval_every`` environment steps.
The environment's and the agent's settings are their models' configs (``--set env.size=6``,
``--set agent.n_hidden=32``); ``agent.prioritized`` is set by the variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.estimate import dense_weights, steps_work
from brainlearn.models.dqn import DQNAgent, DQNAgentConfig, ProceduralGrid, ProceduralGridConfig, q_network
from brainlearn.runtime import (
    Config,
    RunContext,
    isolated_rng,
    make_generator,
    param,
    place,
    replicate_seed,
    require,
    run_jobs,
)

VARIANTS = ("uniform", "prioritized")
FULL_STEPS = 4000


@dataclass(frozen=True)
class DQNConfig(Config):
    env: ProceduralGridConfig = ProceduralGridConfig()
    agent: DQNAgentConfig = DQNAgentConfig(steps=FULL_STEPS)
    eval_every: int = param(250, ge=1, help="steps between greedy evaluations")
    replicates: int = param(5, ge=1, help="layouts (paired agents per variant)")

    renamed = {"size": "env.size", "wall_p": "env.wall_p", "max_steps": "env.max_steps", "steps": "agent.steps",
               "warmup": "agent.warmup", "capacity": "agent.capacity", "batch_size": "agent.batch_size",
               "hidden": "agent.n_hidden", "lr": "agent.lr", "gamma": "agent.gamma",
               "target_every": "agent.target_every", "eps_end": "agent.eps_end", "eps_fraction": "agent.eps_fraction",
               "alpha": "agent.alpha", "beta0": "agent.beta0"}

    def __post_init__(self):
        super().__post_init__()
        require(self.eval_every <= self.agent.steps, "eval_every must be <= agent.steps")


def agent_job(config: DQNConfig, variant: str, seed: int, replicate: int, device: str) -> dict:
    """Train one agent of replicate `replicate`: the layout and the initial Q-network come from its ``init``
    stream (shared by both variants), exploration and replay from its ``batches`` stream. Its greedy return
    and success after every ``eval_every`` steps."""
    init = replicate_seed(seed, replicate, "init")
    env = ProceduralGrid(config.env, layout_seed=init)
    agent_config = dataclasses.replace(config.agent, prioritized=variant == "prioritized")
    n_obs = config.env.size * config.env.size
    with isolated_rng(init):                                        # torch.nn's initialisers draw globally
        net = place(q_network(agent_config, n_obs, 4), device)
        target = place(q_network(agent_config, n_obs, 4), device)
    agent = DQNAgent(agent_config, env, net, target, device=device,
                     generator=make_generator(replicate_seed(seed, replicate, "batches")))
    returns, success = [], []
    for _ in range(config.agent.steps // config.eval_every):
        agent.train_steps(config.eval_every)
        r, s = agent.evaluate()
        returns.append(r / env.optimal_return)
        success.append(s)
    return {"returns": returns, "success": success, "optimal": env.optimal_return, "shortest": env.shortest}


def run(config: DQNConfig, seed: int, ctx: RunContext) -> Result:
    device = str(ctx.device)
    jobs = {f"{v}-r{r}": (config, v, seed, r, device)
            for r in range(config.replicates) for v in VARIANTS}
    order = {name: k + 1 for k, name in enumerate(jobs)}
    done = run_jobs(agent_job, jobs, ctx, desc="replay-dqn",
                    on_result=lambda name, out: {"step": order[name], "final_return": out["returns"][-1]})
    metrics, arrays = {}, {}
    for v in VARIANTS:
        ret = np.array([done[f"{v}-r{r}"]["returns"] for r in range(config.replicates)])
        suc = np.array([done[f"{v}-r{r}"]["success"] for r in range(config.replicates)])
        arrays[f"returns_{v}"] = ret
        metrics[f"final_success_{v}"] = float(suc[:, -1].mean())
        metrics[f"final_return_{v}"] = float(ret[:, -1].mean())
        metrics[f"auc_{v}"] = float(ret.mean())
    metrics["auc_per_minus_uniform"] = metrics["auc_prioritized"] - metrics["auc_uniform"]
    arrays["eval_steps"] = np.arange(1, config.agent.steps // config.eval_every + 1) * config.eval_every
    return Result(metrics, arrays)


def claims(config: DQNConfig) -> list[Claim]:
    e, a = config.env, config.agent
    how = (f"{config.replicates} procedural {e.size}x{e.size} gridworlds (wall p {e.wall_p:g}), "
           f"{a.steps} steps, batch {a.batch_size}, target copy every {a.target_every} updates")
    short = a.steps < FULL_STEPS          # the quick budget: see the docs section on it
    out = [
        Claim(f"{v}-learns", papers.ROSCOW if v == "uniform" else papers.SCHAUL,
              f"DQN with {v} experience replay learns the task.", f"final_success_{v}", ">=", 0.8,
              how=how + "; fraction of gridworlds whose final greedy policy reaches the goal",
              reason="set before any run: at least 4 of 5 gridworlds solved",
              # below the full budget its verdict depends on the seed (seeds 0-3 solve 1, 1, 0.5, 0.5): reported
              **({"gated": False, "note": "docs/experiments/replay.md#replay-dqn-at-the-quick-budget"}
                 if short and v == "prioritized" else {}), kind="outcome")
        for v in VARIANTS
    ]
    out.append(Claim("per-vs-uniform", papers.SCHAUL, "Prioritised replay learns faster than uniform replay "
                     "(reported: Schaul et al. found it better on 41 of 49 Atari games).", "auc_per_minus_uniform",
                     ">", 0.0, how=how + "; mean over evaluations of the greedy return / optimal return, "
                     "prioritised minus uniform, paired by gridworld", gated=False,
                     reason="reported only: the difference on small gridworlds has no predicted size", kind="outcome"))
    return out


def plot(result: Result, config: DQNConfig) -> dict:
    a = result.arrays
    fig, (ax,) = plotting.figure()
    plotting.curves(ax, a["eval_steps"], {v: np.asarray(a[f"returns_{v}"]).mean(0) for v in VARIANTS},
                    xlabel="environment steps", ylabel="greedy return / optimal (mean over gridworlds)",
                    title="DQN: uniform vs prioritised replay", reference=1.0)
    return {"returns": fig}


register(Experiment(
    name="replay-dqn", paper=papers.ROSCOW,
    summary="DQN with uniform vs prioritised experience replay on procedural gridworlds",
    presets={"quick": DQNConfig(agent=DQNAgentConfig(steps=2000), replicates=2), "full": DQNConfig(),
             "smoke": DQNConfig(agent=DQNAgentConfig(steps=400, warmup=20, n_hidden=8, capacity=100), eval_every=40,
                                replicates=1),
             # the review sets no scale of its own and PER's Atari games are not expressible here: paper = full
             "paper": DQNConfig(),
             "alt": DQNConfig(env=ProceduralGridConfig(wall_p=0.3), agent=DQNAgentConfig(steps=2000), replicates=2)},
    run=run, claims=claims, plot=plot,
    # environment steps (both variants over the gridworlds), of an update of batch x 3 x the Q-network's weights
    work=lambda c: steps_work(2 * c.replicates * c.agent.steps,
                              3 * c.agent.batch_size * dense_weights(c.env.size ** 2, c.agent.n_hidden, 4)),
))
