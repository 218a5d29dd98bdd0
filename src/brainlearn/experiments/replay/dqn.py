"""replay-dqn: DQN with uniform vs prioritised experience replay on procedural gridworlds.

Each replicate draws one gridworld layout (:class:`brainlearn.models.dqn.ProceduralGrid`) and one initial
Q-network; the uniform and the prioritised agent of that replicate share both (a paired comparison). Each
(variant, replicate) is one job; the greedy policy is evaluated every ``eval_every`` environment steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlearn import plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.replay.common import PER_PAPER, REVIEW
from brainlearn.models.dqn import DQNAgent, ProceduralGrid, q_network
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
    size: int = param(5, ge=2, help="grid side")
    wall_p: float = param(0.2, ge=0, lt=1, help="probability that a cell is a wall")
    max_steps: int = param(50, ge=1, help="episode length limit")
    steps: int = param(FULL_STEPS, ge=1, help="environment steps per agent")
    warmup: int = param(200, ge=0, help="steps before the first update")
    capacity: int = param(10_000, ge=1, help="replay capacity")
    batch_size: int = param(32, ge=1, help="transitions per update")
    hidden: int = param(64, ge=1, help="Q-network hidden units (two layers)")
    lr: float = param(1e-3, gt=0, help="Adam learning rate")
    gamma: float = param(0.95, ge=0, lt=1, help="discount")
    target_every: int = param(100, ge=1, help="updates between target-network copies")
    eps_end: float = param(0.05, ge=0, le=1, help="final exploration rate")
    eps_fraction: float = param(0.5, gt=0, le=1, help="fraction of the steps over which epsilon anneals")
    alpha: float = param(0.6, ge=0, le=1, help="PER priority exponent")
    beta0: float = param(0.4, ge=0, le=1, help="PER initial importance exponent (annealed to 1)")
    eval_every: int = param(250, ge=1, help="steps between greedy evaluations")
    replicates: int = param(5, ge=1, help="layouts (paired agents per variant)")

    def __post_init__(self):
        super().__post_init__()
        require(self.eval_every <= self.steps, "eval_every must be <= steps")


def agent_job(config: DQNConfig, variant: str, seed: int, device: str) -> dict:
    """Train one agent; its greedy return and success after every ``eval_every`` steps."""
    env = ProceduralGrid(config.size, config.wall_p, layout_seed=seed, max_steps=config.max_steps)
    n_obs = config.size * config.size
    with isolated_rng(replicate_seed(seed, stream="init")):        # torch.nn's initialisers draw globally
        net = place(q_network(n_obs, config.hidden, 4), device)
        target = place(q_network(n_obs, config.hidden, 4), device)
    agent = DQNAgent(env, net, target, prioritized=variant == "prioritized", capacity=config.capacity,
                     batch_size=config.batch_size, lr=config.lr, gamma=config.gamma, total_steps=config.steps,
                     warmup=config.warmup, target_every=config.target_every, eps_end=config.eps_end,
                     eps_fraction=config.eps_fraction, alpha=config.alpha, beta0=config.beta0, device=device,
                     generator=make_generator(replicate_seed(seed, stream="batches")))
    returns, success = [], []
    for _ in range(config.steps // config.eval_every):
        agent.train_steps(config.eval_every)
        r, s = agent.evaluate()
        returns.append(r / env.optimal_return)
        success.append(s)
    return {"returns": returns, "success": success, "optimal": env.optimal_return, "shortest": env.shortest}


def run(config: DQNConfig, seed: int, ctx: RunContext) -> Result:
    device = str(ctx.device)
    jobs = {f"{v}-r{r}": (config, v, replicate_seed(seed, r), device)
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
    arrays["eval_steps"] = np.arange(1, config.steps // config.eval_every + 1) * config.eval_every
    return Result(metrics, arrays)


def claims(config: DQNConfig) -> list[Claim]:
    how = (f"{config.replicates} procedural {config.size}x{config.size} gridworlds (wall p {config.wall_p:g}), "
           f"{config.steps} steps, batch {config.batch_size}, target copy every {config.target_every} updates")
    short = config.steps < FULL_STEPS          # the quick budget: see the docs section on it
    out = [
        Claim(f"{v}-learns", REVIEW if v == "uniform" else PER_PAPER,
              f"DQN with {v} experience replay learns the task.", f"final_success_{v}", ">=", 0.8,
              how=how + "; fraction of gridworlds whose final greedy policy reaches the goal",
              reason="set before any run: at least 4 of 5 gridworlds solved",
              **({"expected": "fail", "note": "docs/experiments/replay.md#replay-dqn-at-the-quick-budget"}
                 if short and v == "prioritized" else {}), kind="outcome")
        for v in VARIANTS
    ]
    out.append(Claim("per-vs-uniform", PER_PAPER, "Prioritised replay learns faster than uniform replay "
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
    name="replay-dqn", paper=REVIEW,
    summary="DQN with uniform vs prioritised experience replay on procedural gridworlds",
    presets={"quick": DQNConfig(replicates=2, steps=2000), "full": DQNConfig()},
    run=run, claims=claims, plot=plot,
))
