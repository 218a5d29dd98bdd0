"""league-recurrent: every recurrent learning rule on the same tasks, with one budget and one set of measures.

Each rule variant (:class:`~brainlearn.experiments.rnnrules.common.RuleVariants`: readout only, BPTT, BPTT
truncated to windows of 3 steps, RTRL, e-prop with symmetric and random feedback, RFLO, UORO, KeRNL, DNI, the
ccRNN (DNI with its cerebellar MLP), BP(λ)) trains the same leaky RNN on each task of
:data:`~brainlearn.data.rnn_tasks.TASKS`: at replicate r every rule starts from the same weights and sees the
same sequences. **Budget**: Adam at every rate of `lr_grid` for `steps` batches (one optimiser step per batch of
sequences); the lowest validation loss (fresh sequences of the "eval" stream) picks the rate; then `replicates`
networks train at that rate. The entry is the test loss after learning divided by the same network's before (1:
nothing learned). The members of each phase train as one stacked ensemble where the rule stacks
(:class:`~brainlearn.ensemble.StackedRule`), one by one otherwise (DNI, BP(λ)).

**Measures** per (task, rule): the loss ratio (mean over replicates, 95% interval); the cosine between the
rule's update of the recurrent weights and BPTT's gradient of the same network on a probe batch, at the start,
middle and end of training; the time per update relative to BPTT's, both measured in the same cell on one
network alone.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from brainlearn import papers, plotting
from brainlearn.analysis import cosine
from brainlearn.data.rnn_tasks import TASKS
from brainlearn.ensemble import STACKABLE_RULES, Ensemble, StackedAdam, StackedRule
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.rnnrules.common import (
    VARIANTS,
    RuleVariants,
    build,
    network,
    rule_of,
    rule_work,
    task_loss,
)
from brainlearn.experiments.sweep_report import ci95
from brainlearn.rules.recurrent import LeakyRNNConfig, make_rule
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, run_jobs

RULES = ("readout", "bptt", "bptt3", "rtrl", "eprop", "eprop_random", "rflo", "uoro", "kernl", "dni3", "ccrnn3",
         "bplambda")
"""The rule variants the league compares by default."""


@dataclass(frozen=True)
class LeagueRecurrentConfig(Config):
    """The tasks, the rules, the network, the shared budget and the measures' settings."""

    tasks: tuple[str, ...] = param(tuple(TASKS), nonempty=True, help="task names (rnn_tasks.TASKS)")
    rules: tuple[str, ...] = param(RULES, nonempty=True, help="rule variants (fields of variants)")
    model: LeakyRNNConfig = LeakyRNNConfig(n_in=1, n_hidden=16, n_out=1, alpha=0.5, gain=0.9)
    variants: RuleVariants = RuleVariants()
    lr_grid: tuple[float, ...] = param((1e-3, 3e-3, 1e-2, 3e-2), nonempty=True, help="Adam learning rates tried")
    steps: int = param(100, ge=1, help="training batches (one optimiser step each)")
    batch_size: int = param(16, ge=1)
    length: int = param(24, ge=6, help="sequence length T (digits: 8 rows)")
    test_batch_size: int = param(128, ge=1, help="sequences of the validation and of the test set")
    replicates: int = param(5, ge=1, help="networks trained at the chosen rate (the interval's samples)")
    probe_size: int = param(32, ge=1, help="sequences of the alignment probe")
    timing: bool = param(True, help="measure the time per update (False: NaN, so that runs repeat to the bit)")
    timing_steps: int = param(5, ge=1)

    def __post_init__(self):
        super().__post_init__()
        require(all(t in TASKS for t in self.tasks), f"tasks must be among {sorted(TASKS)}, got {self.tasks}")
        require(all(r in VARIANTS for r in self.rules), f"rules must be among {sorted(VARIANTS)}, got {self.rules}")
        require(len(set(self.rules)) == len(self.rules) and len(set(self.tasks)) == len(self.tasks),
                "rules and tasks: each once")
        require(all(lr > 0 for lr in self.lr_grid), "lr_grid: learning rates must be > 0")
        require(self.model.n_in == 1 and self.model.n_out == 1,
                "model.n_in and model.n_out are each task's own (set per task): leave them at 1")


class Cell:
    """One (task, rule) cell: its networks, rules, data streams and measures."""

    def __init__(self, config: LeagueRecurrentConfig, task: str, variant: str, seed: int, device: str):
        self.config, self.task, self.variant, self.seed, self.device = config, task, variant, seed, device
        self.spec, self.item = TASKS[task], list(TASKS).index(task)
        self.stacked = rule_of(variant, config.variants) in STACKABLE_RULES
        px, py, pw = self.spec.sample(config.probe_size, config.length, self._gen(None, "probe"))
        self.probe = (px.to(device), py.to(device), pw.to(device))

    def _gen(self, replicate, stream):
        return make_generator(replicate_seed(self.seed, replicate, stream, index=self.item))

    def member(self, replicate: int | None):
        """The network and rule of `replicate` (None: the trials' network)."""
        model_config = dataclasses.replace(self.config.model, n_in=self.spec.n_in, n_out=self.spec.n_out)
        net = network(model_config, self.seed, self.device, replicate, self.item)
        return net, build(self.variant, net, self.spec.loss, self.config.variants, self.seed, replicate, self.item)

    def loss(self, net, stream: str) -> float:
        c = self.config
        return task_loss(net, self.task, c.test_batch_size, c.length, self._gen(None, stream))

    def fit(self, members: list, lrs: list[float], data: list[torch.Generator]) -> list[list[float]]:
        """Train the members (network, rule) at rates `lrs` on their batch streams; returns each member's
        cosine to BPTT at the start, middle and end."""
        c, nets, rules = self.config, [n for n, _ in members], [r for _, r in members]
        marks = [0, c.steps // 2, c.steps]  # start, middle, end
        measured: list[list[float]] = [[] for _ in members]
        if self.stacked:
            ens = Ensemble(nets)
            stacked, opt = StackedRule(ens, rules), StackedAdam(ens.params, lr=lrs)
            exact = StackedRule(ens, [make_rule("bptt", n, loss_fn=self.spec.loss) for n in nets])
        else:
            opts = [torch.optim.Adam(r.parameters(), lr=lr) for r, lr in zip(rules, lrs)]
        for step in range(c.steps + 1):
            if step in marks:
                cos = self._cosines_stacked(stacked, exact) if self.stacked else self._cosines(members)
                for k, v in enumerate(cos):
                    measured[k] += [v] * marks.count(step)
            if step == c.steps:
                break
            batches = [self.spec.sample(c.batch_size, c.length, g) for g in data]
            if self.stacked:
                x, y, w = (torch.stack(parts).to(self.device) for parts in zip(*batches))
                opt.step(stacked.accumulate(x, y, w)[0])
            else:
                for rule, o, (x, y, w) in zip(rules, opts, batches):
                    rule.run(x.to(self.device), y.to(self.device), w.to(self.device))
                    o.step()
                    o.zero_grad(set_to_none=True)
        if self.stacked:
            for k, net in enumerate(nets):
                net.load_state_dict(ens.member_state_dict(k))
        return measured

    def _cosines_stacked(self, stacked: StackedRule, exact: StackedRule) -> list[float]:
        """Each member's update of the recurrent weights against BPTT's, on the probe; the rules' own state
        (KeRNL's learned tensors, the members' generators) is left as it was."""
        n = len(stacked.members)
        probe = [t.expand(n, *t.shape) for t in self.probe]
        rules = [stacked, *stacked.members]
        states = [_state(r) for r in rules]
        update = stacked.accumulate(*probe)[0]["cell.weight"]
        for r, state in zip(rules, states):
            _restore(r, state)
        gradient = exact.accumulate(*probe)[0]["cell.weight"]
        return cosine(update.flatten(1), gradient.flatten(1)).tolist()

    def _cosines(self, members: list) -> list[float]:
        """:meth:`_cosines_stacked` one member at a time, its rule's own state put back as it was (the tensors
        it learns, its generator); the ``.grad`` the probe leaves (the synthesiser's too) is cleared."""
        out = []
        for net, rule in members:
            state, updates = _state(rule), []
            for r in (rule, make_rule("bptt", net, loss_fn=self.spec.loss)):
                for p in rule.parameters():
                    p.grad = None
                r.run(*self.probe)
                updates.append(net.cell.weight.grad.clone())
            for p in rule.parameters():
                p.grad = None
            _restore(rule, state)
            out.append(float(cosine(updates[0].flatten(), updates[1].flatten())))
        return out

    def time_per_update(self, lr: float) -> dict[str, float]:
        """Median seconds per update (a batch through the rule, then Adam) of the rule and of BPTT on one
        network alone, measured back to back."""
        c = self.config
        if not c.timing:
            return {"step_s": float("nan"), "bptt_step_s": float("nan")}
        x, y, w = (t.to(self.device) for t in self.spec.sample(c.batch_size, c.length, self._gen(0, "batches")))
        out = {}
        for key, (net, rule) in (("step_s", self.member(0)), ("bptt_step_s", self.member(0))):
            rule = rule if key == "step_s" else make_rule("bptt", net, loss_fn=self.spec.loss)
            opt, times = torch.optim.Adam(rule.parameters(), lr=lr), []
            for _ in range(c.timing_steps + 2):  # two warm-up updates
                start = time.perf_counter()
                rule.run(x, y, w)
                opt.step()
                opt.zero_grad(set_to_none=True)
                times.append(time.perf_counter() - start)
            out[key] = float(np.median(times[2:]))
        return out


def _state(rule) -> dict:
    """What a probe could change in a rule (a LearningRule, or a StackedRule and its members' tensors): the
    tensors it holds (KeRNL's learned ones; updated in place too) and its generator's state."""
    tensors: dict[str, object] = {n: v.clone() for n, v in vars(rule).items() if isinstance(v, torch.Tensor)}
    if isinstance(rule, StackedRule):
        tensors["tensors"] = {k: t.clone() for k, t in rule.tensors.items()}
    generator = getattr(rule, "generator", None)
    return {"tensors": tensors, "generator": None if generator is None else generator.get_state()}


def _restore(rule, state: dict) -> None:
    vars(rule).update(state["tensors"])
    if state["generator"] is not None:
        rule.generator.set_state(state["generator"])


def learn(config: LeagueRecurrentConfig, task: str, variant: str, seed: int, device: str) -> dict:
    """One cell: the rate chosen on the validation sequences, then the replicates measured on the test ones."""
    cell, grid = Cell(config, task, variant, seed, device), list(config.lr_grid)
    trials = [cell.member(None) for _ in grid]  # every grid point from the same weights and sequences
    untrained = cell.loss(trials[0][0], "eval")
    cell.fit(trials, grid, [cell._gen(None, "data") for _ in grid])
    val = [cell.loss(net, "eval") / untrained for net, _ in trials]
    lr = grid[int(np.nanargmin(val))] if np.isfinite(val).any() else grid[0]
    reps = [cell.member(r) for r in range(config.replicates)]
    before = [cell.loss(net, "test") for net, _ in reps]
    cos = cell.fit(reps, [lr] * len(reps), [cell._gen(r, "data") for r in range(config.replicates)])
    ratio = [cell.loss(net, "test") / b for (net, _), b in zip(reps, before)]
    return {"lr": lr, "val": val, "ratio": ratio, "cos": cos, **cell.time_per_update(lr)}


def run(config: LeagueRecurrentConfig, seed: int, ctx: RunContext) -> Result:
    jobs = {f"{t}/{r}": (config, t, r, seed, str(ctx.device)) for t in config.tasks for r in config.rules}
    done = run_jobs(learn, jobs, ctx, desc="league-recurrent", on_result=lambda name, out: {
        "job": name, "lr": out["lr"], "ratio": float(np.mean(out["ratio"]))})
    return _result(config, done)


def _result(config: LeagueRecurrentConfig, done: dict) -> Result:
    m: dict[str, float] = {}
    for name, out in done.items():
        key = name.replace("/", "_")
        start, mid, end = np.mean(out["cos"], axis=0)
        m |= {f"{key}_loss": float(np.mean(out["ratio"])), f"{key}_loss_ci": float(ci95(out["ratio"])),
              f"{key}_lr": out["lr"], f"{key}_cos_start": float(start), f"{key}_cos_mid": float(mid),
              f"{key}_cos_end": float(end), f"{key}_time_vs_bptt": out["step_s"] / out["bptt_step_s"]}
    rules, tasks = config.rules, config.tasks
    for r in rules:  # each rule over the tasks
        m[f"{r}_loss"] = float(np.mean([m[f"{t}_{r}_loss"] for t in tasks]))
        m[f"{r}_cos_end"] = float(np.mean([m[f"{t}_{r}_cos_end"] for t in tasks]))
    if {"bptt", "rtrl"} <= set(rules):
        m["rtrl_bptt_gap"] = max(abs(m[f"{t}_rtrl_loss"] - m[f"{t}_bptt_loss"]) for t in tasks)
    if "add" in tasks and {"bptt", "rtrl"} & set(rules) and {"eprop", "rflo"} & set(rules):
        exact = min(m[f"add_{r}_loss"] for r in ("bptt", "rtrl") if r in rules)
        m["add_exact_lead"] = min(m[f"add_{r}_loss"] for r in ("eprop", "rflo") if r in rules) - exact
    if len(rules) >= 3:
        m["alignment_loss_rho"] = float(stats.spearmanr([m[f"{r}_cos_end"] for r in rules],
                                                        [m[f"{r}_loss"] for r in rules]).statistic)
    table = np.array([[m[f"{t}_{r}_loss"] for t in tasks] for r in rules])
    return Result(m, {"table": table})


def claims(config: LeagueRecurrentConfig) -> list[Claim]:
    how = (f"leaky RNN n = {config.model.n_hidden}, {config.steps} Adam steps of {config.batch_size} sequences "
           f"of {config.length} steps, rate chosen from {list(config.lr_grid)} on validation sequences, "
           f"{config.replicates} replicates; test loss after ÷ before")
    rules, out = set(config.rules), []
    if {"bptt", "rtrl"} <= rules:
        out.append(Claim("rtrl-equals-bptt", papers.HENHA_EYONO, "RTRL computes the same gradient as BPTT, so "
                         "with the same budget it learns exactly as much.", "rtrl_bptt_gap", "<=", 1e-3, how=how,
                         reason="an identity of the two algorithms (forward and backward accumulation of one "
                                "gradient); 1e-3 allows float32 rounding through the chosen rate's training",
                         kind="limit"))
    if "add" in config.tasks and {"bptt", "rtrl"} & rules and {"eprop", "rflo"} & rules:
        out.append(Claim("exact-ahead-on-add", papers.HENHA_EYONO, "On the Add task the exact-gradient rules "
                         "learn more than e-prop and RFLO.", "add_exact_lead", ">", 0.0, how=how,
                         reason="e-prop and RFLO truncate the gradient to one step of recurrence, and Add needs "
                                "credit 5 and 9 steps back", kind="outcome"))
    if len(rules) >= 3:
        out.append(Claim("alignment-predicts-loss", papers.HENHA_EYONO, "Rules whose updates align better with "
                         "the exact gradient learn more (the perspective's open question).", "alignment_loss_rho",
                         "<", 0.0, how=how + "; Spearman ρ over rules of the end cosine and the loss ratio, each "
                         "averaged over tasks", reason="reported whichever sign it has", kind="outcome",
                         gated=False))
    return out


def plot(result: Result, config: LeagueRecurrentConfig) -> dict:
    m, rules = result.metrics, list(config.rules)
    fig, axes = plotting.figure(2, title="recurrent rules over " + ", ".join(config.tasks))
    plotting.matrix(axes[0], np.clip(result.arrays["table"], 0, 1.5), title="test loss after / before",
                    colorbar=True, cmap="viridis_r", vmin=0, vmax=1.5, aspect="auto")
    axes[0].set_xticks(range(len(config.tasks)), config.tasks)
    axes[0].set_yticks(range(len(rules)), rules)
    xs, ys = [m[f"{r}_cos_end"] for r in rules], [m[f"{r}_loss"] for r in rules]
    axes[1].scatter(xs, ys)
    for r, a, b in zip(rules, xs, ys):
        axes[1].annotate(r, (a, b), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axes[1].set_xlabel("cosine to BPTT at the end")
    axes[1].set_ylabel("test loss after / before")
    axes[1].set_title(f"Spearman ρ = {m.get('alignment_loss_rho', float('nan')):.2f}", fontsize=9)
    return {"loss_alignment": fig}


register(Experiment(
    name="league-recurrent", paper=papers.HENHA_EYONO,
    summary="every recurrent learning rule (BPTT, RTRL, e-prop, RFLO, UORO, KeRNL, DNI, BP(λ)) on the same tasks, "
            "budget and measures",
    presets={"smoke": LeagueRecurrentConfig(tasks=("add",), rules=("readout", "bptt", "rtrl", "dni3"), lr_grid=(1e-2,),
                                            steps=2, batch_size=2, test_batch_size=4, replicates=2, probe_size=2,
                                            model=LeakyRNNConfig(n_in=1, n_hidden=4, n_out=1, alpha=0.5, gain=0.9),
                                            timing=False),
             "quick": LeagueRecurrentConfig(tasks=("add", "digits"), steps=50, replicates=3),
             "full": LeagueRecurrentConfig(),
             # the perspective sets no scale of its own (no units, steps, seeds or tasks to match): paper = full
             "paper": LeagueRecurrentConfig()},
    run=run, claims=claims, plot=plot,
    # the rules' training at every rate of the grid and then of the replicates, over the tasks
    work=lambda c: (len(c.tasks) * (len(c.lr_grid) + c.replicates) * c.steps * c.length
                    * rule_work(c.rules, c.model.n_hidden, c.batch_size)),
    nan_metrics=("*_time_vs_bptt", "*_loss_ci", "alignment_loss_rho"),  # untimed; one replicate; ties
))
