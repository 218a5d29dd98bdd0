"""replay-per: the replay buffers sample what they promise.

Five independent checks, one job each (on the run's device): prioritised sampling frequencies against
p^alpha / sum p^alpha; alpha = 0 against uniform (chi-squared); the largest importance weight; the exact
change of the sum-tree's root under an update; and reservoir inclusion rates against capacity / stream length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers, plotting
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.replay import PrioritizedReplayBuffer, ReservoirBuffer
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, require, run_jobs


@dataclass(frozen=True)
class PERConfig(Config):
    n_items: int = param(1000, ge=2, help="items in the prioritised buffer")
    alpha: float = param(0.6, ge=0, le=1, help="priority exponent of the frequency check")
    spread: float = param(3.0, ge=0, help="log-normal spread of the priorities (heavy tail)")
    draws: int = param(100_000, ge=1, help="draws of the frequency checks")
    batch_size: int = param(1000, ge=1, help="draws per sample call")
    capacity: int = param(1000, ge=1, help="reservoir capacity M")
    stream: int = param(10_000, ge=2, help="items offered to the reservoir")
    runs: int = param(200, ge=2, help="reservoir runs (independent seeds)")

    renamed = {"batch": "batch_size"}

    def __post_init__(self):
        super().__post_init__()
        require(self.batch_size <= self.n_items and self.draws % self.batch_size == 0,
                f"need batch_size <= n_items and draws a multiple of batch_size, got {self.batch_size}, {self.draws}")
        require(self.capacity < self.stream, "the reservoir capacity must be below the stream length")


def _buffer(config: PERConfig, alpha: float, seed: int, device: str, stratified: bool = True):
    """A buffer of ``n_items`` items with log-normal priorities drawn from `seed`."""
    p = torch.exp(config.spread * torch.randn(config.n_items, generator=make_generator(seed), dtype=torch.float64))
    buf = PrioritizedReplayBuffer(config.n_items, alpha=alpha, device=device, eps=0.0, stratified=stratified)
    buf.extend({"i": torch.arange(config.n_items)})
    buf.update_priorities(torch.arange(config.n_items), p)
    return buf, p


def _counts(buf, config: PERConfig, seed: int) -> torch.Tensor:
    gen = make_generator(seed, buf.device)
    counts = torch.zeros(len(buf), dtype=torch.float64, device=buf.device)
    for _ in range(config.draws // config.batch_size):
        _, info = buf.sample(config.batch_size, gen, beta=0.4)
        counts += torch.bincount(info["index"], minlength=len(buf)).double()
    return counts.cpu()


def check(name: str, config: PERConfig, seed: int, replicate: int, device: str) -> dict:
    """One check of :func:`run` (replicate `replicate` of run seed `seed`: priorities from its ``init``
    stream, draws from ``batches``, the reservoir runs from ``analysis``, one index per run); returns its
    metrics (and a few arrays for the figure)."""
    from scipy.stats import chisquare

    init, batches = replicate_seed(seed, replicate, "init"), replicate_seed(seed, replicate, "batches")
    if name == "frequencies":
        buf, p = _buffer(config, config.alpha, init, device)
        freq = _counts(buf, config, batches) / config.draws
        expected = p ** config.alpha / (p ** config.alpha).sum()
        return {"metrics": {"per_max_abs_error": float((freq - expected).abs().max()),
                            "per_largest_p": float(expected.max())},
                "expected": expected.tolist(), "measured": freq.tolist()}
    if name == "uniform":
        # independent draws: the chi-squared test assumes them (stratified draws are more even than that)
        buf, _ = _buffer(config, 0.0, init, device, stratified=False)
        counts = _counts(buf, config, batches).numpy()
        return {"metrics": {"alpha0_chi2_p": float(chisquare(counts).pvalue)}}
    if name == "weights":
        buf, _ = _buffer(config, config.alpha, init, device)
        gen = make_generator(batches, buf.device)
        top = 0.0
        for _ in range(20):
            _, info = buf.sample(config.batch_size, gen, beta=1.0)
            top = max(top, float(info["weight"].max()))
        # the weight of the smallest-priority item, by the formula, is exactly 1
        mass = buf.priorities(torch.arange(config.n_items))
        w_all = (mass / mass.min()).pow(-1.0)
        return {"metrics": {"max_weight_error": abs(float(w_all.max()) - 1.0), "sampled_max_weight": top}}
    if name == "root":
        buf, _ = _buffer(config, config.alpha, init, device)
        gen = make_generator(batches)
        worst = 0.0
        for _ in range(20):
            idx = torch.randperm(config.n_items, generator=gen)[: config.batch_size // 2]
            new = torch.rand(len(idx), generator=gen, dtype=torch.float64) * 5
            before_root, before = float(buf.tree.total()), buf.priorities(idx).sum()
            buf.update_priorities(idx, new)
            change = float(buf.priorities(idx).sum() - before)
            worst = max(worst, abs(float(buf.tree.total()) - before_root - change) / float(buf.tree.total()))
        leaves = buf.priorities(torch.arange(config.n_items)).sum()
        worst = max(worst, abs(float(buf.tree.total() - leaves)) / float(leaves))
        return {"metrics": {"root_relative_error": worst}}
    if name == "reservoir":
        kept = torch.zeros(config.stream, dtype=torch.float64)
        chunks = torch.tensor([1, 7, 64, 500]).repeat(config.stream // 100 + 1)
        for r in range(config.runs):
            buf = ReservoirBuffer(config.capacity, device, seed=replicate_seed(seed, replicate, "analysis", index=r))
            start = 0
            for n in chunks.tolist():
                if start >= config.stream:
                    break
                stop = min(start + n, config.stream)
                buf.extend({"i": torch.arange(start, stop)})
                start = stop
            kept[buf.data["i"][: len(buf)].cpu()] += 1
        rate = kept / config.runs
        q = config.capacity / config.stream
        se = (q * (1 - q) / config.runs) ** 0.5
        z = ((rate - q) / se).abs()
        return {"metrics": {"reservoir_outside_3se": float((z > 3).double().mean()),
                            "reservoir_max_z": float(z.max()), "reservoir_mean_rate": float(rate.mean())},
                "rate": rate.tolist()}
    raise ValueError(name)


CHECKS = ("frequencies", "uniform", "weights", "root", "reservoir")


def run(config: PERConfig, seed: int, ctx: RunContext) -> Result:
    device = str(ctx.device)
    jobs = {name: (name, config, seed, k, device) for k, name in enumerate(CHECKS)}
    order = {name: k + 1 for k, name in enumerate(CHECKS)}
    done = run_jobs(check, jobs, ctx, desc="replay-per",
                    on_result=lambda name, out: {"step": order[name], **out["metrics"]})
    metrics = {k: v for out in done.values() for k, v in out["metrics"].items()}
    arrays = {"expected": np.asarray(done["frequencies"]["expected"]),
              "measured": np.asarray(done["frequencies"]["measured"]),
              "reservoir_rate": np.asarray(done["reservoir"]["rate"])}
    return Result(metrics, arrays)


def claims(config: PERConfig) -> list[Claim]:
    n = f"{config.n_items} items with log-normal priorities (sigma {config.spread:g})"
    draws = f"{config.draws} draws in batches of {config.batch_size} (stratified)"
    limits = [
        Claim("per-frequencies", papers.SCHAUL, "Prioritised replay draws item i with probability p_i^alpha / "
              "sum_j p_j^alpha.", "per_max_abs_error", "<=", 0.01, how=f"{n}, alpha = {config.alpha:g}, {draws}; "
              "largest absolute difference between empirical and target frequency",
              reason="the acceptance criterion: within 1 % (absolute) over 1e5 draws", kind="limit"),
        Claim("max-weight-one", papers.SCHAUL, "Importance weights are normalised so that the largest is 1.",
              "max_weight_error", "<=", 1e-12, how=f"{n}; |max_i w_i - 1| at beta = 1 by the buffer's formula",
              reason="exact up to float64 rounding", kind="limit"),
        Claim("root-exact", papers.SCHAUL, "A priority update changes the sum-tree's root by exactly the change of "
              "mass.", "root_relative_error", "<=", 1e-12, how=f"{n}; 20 batched updates of {config.batch_size // 2} "
              "items; worst |root change - mass change| / total", reason="exact up to float64 rounding", kind="limit"),
        Claim("reservoir-inclusion", papers.ROSCOW, "Reservoir sampling keeps every item of a stream with probability "
              "M / n.", "reservoir_outside_3se", "<=", 0.01, how=f"M = {config.capacity}, n = {config.stream}, "
              f"{config.runs} runs offered in uneven chunks; fraction of items whose inclusion rate is outside "
              "M/n +- 3 SE (0.27 % expected)", reason="the acceptance criterion, with room for the normal "
              "approximation of the binomial", kind="limit"),
    ]
    outcome = [Claim("alpha0-uniform", papers.SCHAUL, "With alpha = 0 prioritised replay is uniform.", "alpha0_chi2_p",
                     ">", 0.01, how=f"{n}, alpha = 0, {config.draws} independent (unstratified) draws; "
                     "chi-squared goodness-of-fit p-value against uniform",
                     reason="the acceptance criterion: p > 0.01", kind="outcome")]
    return limits + outcome


def plot(result: Result, config: PERConfig) -> dict:
    a = result.arrays
    fig, (ax1, ax2) = plotting.figure(2)
    e, m = np.asarray(a["expected"]), np.asarray(a["measured"])
    ax1.loglog(e, np.maximum(m, 1e-6), ".", ms=3)
    ax1.plot([e.min(), e.max()], [e.min(), e.max()], color="grey", lw=0.8)
    ax1.set(xlabel="p^alpha / sum p^alpha", ylabel=f"empirical frequency ({config.draws} draws)",
            title=f"prioritised sampling, alpha = {config.alpha:g}")
    rate = np.asarray(a["reservoir_rate"])
    ax2.plot(np.arange(len(rate)), rate, ".", ms=1, alpha=0.4)
    q = config.capacity / config.stream
    se = (q * (1 - q) / config.runs) ** 0.5
    for y in (q - 3 * se, q, q + 3 * se):
        ax2.axhline(y, color="grey", lw=0.8, ls=":" if y != q else "-")
    ax2.set(xlabel="stream position", ylabel="inclusion rate", title=f"reservoir, {config.runs} runs")
    return {"sampling": fig}


register(Experiment(
    name="replay-per", paper=papers.SCHAUL,
    summary="prioritised replay and reservoir buffers sample exactly what they promise",
    presets={"quick": PERConfig(runs=60), "full": PERConfig(),
             "smoke": PERConfig(n_items=50, draws=1000, batch_size=50, capacity=10, stream=100, runs=5),
             # an exactness check of the buffers, with no scale of the paper's to match: paper = full
             "paper": PERConfig(),
             "alt": PERConfig(runs=60, alpha=0.8, capacity=500)},
    run=run, claims=claims, plot=plot,
    work=lambda c: c.draws + c.runs * c.stream,  # draws from the sum-tree, items streamed through the reservoirs
))
