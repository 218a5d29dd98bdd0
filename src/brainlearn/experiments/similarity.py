"""DSA vs Procrustes vs CKA on systems with known dynamics (arXiv:2306.10168 and arXiv:2410.24070).

Three experiments:

* ``similarity-solver`` (AC1-AC2): the DSA solver recovers exactly conjugate operators for both
  det signs and behaves as a metric; the DMD fit recovers a linear system's eigenvalues and is
  invariant to invertible maps of the data at full rank.
* ``similarity-attractors`` (AC3-AC4): saddle / line / point attractors with identical condition
  averages (Galgali et al.): DSA tells their dynamics apart, Procrustes and CKA cannot.
* ``similarity-lorenz`` (AC5-AC6): the Lorenz test case of 2410.24070: DSA groups the nine rho values
  into their three dynamical classes, and d(M2, M3) falls linearly with the mixing weight m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.runtime import RunContext, make_generator, require
from brainlearn.similarity import CKA, DSA, Procrustes, pairwise
from brainlearn.similarity import testcases as tc
from brainlearn.similarity.dsa import align_operators, eigenvalue_wasserstein, fit_havok

DSA_PAPER = "2306.10168"      # Ostrow et al., "Beyond geometry: comparing the temporal structure of computation"
GUILHOT = "2410.24070"        # Guilhot et al., "DSA can identify compositional dynamics developing in RNNs"


# ------------------------------------------------------------------------------- shared statistics

def separation_ratio(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean between-type distance / mean within-type distance (off-diagonal entries)."""
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return float(D[~same].mean() / max(D[same & off].mean(), 1e-300))


def nn_accuracy(D: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour type accuracy."""
    D = D + np.diag(np.full(len(D), np.inf))
    return float(np.mean(labels[D.argmin(1)] == labels))


def condition_average(X: np.ndarray, n_conditions: int = 2) -> np.ndarray:
    """(trials, time, units) -> (conditions, time, units): trial means per condition block."""
    return X.reshape(n_conditions, -1, *X.shape[1:]).mean(1)


def classical_mds(D: np.ndarray, k: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: the top-k eigenvectors of -J D^2 J / 2, scaled; deterministic."""
    n = len(D)
    J = np.eye(n) - 1.0 / n
    evals, evecs = np.linalg.eigh(-0.5 * J @ (D**2) @ J)
    top = np.argsort(evals)[::-1][:k]
    return evecs[:, top] * np.sqrt(np.clip(evals[top], 0, None))


def _plot_matrices(mats: dict[str, np.ndarray], labels, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2), squeeze=False)
    for ax, (name, D) in zip(axes[0], mats.items()):
        ax.imshow(D, cmap="viridis")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _plot_mds(mats: dict[str, np.ndarray], labels, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2), squeeze=False)
    for ax, (name, D) in zip(axes[0], mats.items()):
        Y = classical_mds(D)
        for lab in dict.fromkeys(labels):
            sel = labels == lab
            ax.scatter(Y[sel, 0], Y[sel, 1], label=str(lab), s=20)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- similarity-solver

@dataclass(frozen=True)
class SolverConfig:
    sizes: tuple[int, ...] = (10, 20, 50)
    pairs_per_size: int = 2
    spectral_radius: float = 0.95
    triangle_size: int = 10
    triangle_matrices: int = 5
    max_iter: int = 500
    n_random: int = 2

    def __post_init__(self):
        require(len(self.sizes) >= 1 and min(self.sizes) >= 2, f"sizes must be >= 2, got {self.sizes}")
        require(self.pairs_per_size >= 1, f"pairs_per_size must be >= 1, got {self.pairs_per_size}")
        require(0 < self.spectral_radius, f"spectral_radius must be > 0, got {self.spectral_radius}")
        require(self.triangle_matrices >= 3, f"triangle_matrices must be >= 3, got {self.triangle_matrices}")
        require(self.max_iter >= 1, f"max_iter must be >= 1, got {self.max_iter}")


def _random_operator(n: int, radius: float, g: torch.Generator) -> torch.Tensor:
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A * radius / torch.linalg.eigvals(A).abs().max()


def _random_orthogonal(n: int, det: int, g: torch.Generator) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    Q = Q * torch.sign(R.diagonal())
    if torch.det(Q).sign() != det:
        Q[:, 0] = -Q[:, 0]
    return Q


def run_solver(config: SolverConfig, seed: int, ctx: RunContext) -> Result:
    g = make_generator(seed)
    solver = {"max_iter": config.max_iter, "n_random": config.n_random}
    metrics, arrays = {}, {}

    # AC1: exactly conjugate pairs B = Q A Q^T, both det signs, every size in one batch per size
    worst, ortho = 0.0, 0.0
    for n in config.sizes:
        As, Bs = [], []
        for det in (1, -1):
            for _ in range(config.pairs_per_size):
                A, Q = _random_operator(n, config.spectral_radius, g), _random_orthogonal(n, det, g)
                As.append(A)
                Bs.append(Q @ A @ Q.T)
        res = align_operators(torch.stack(As), torch.stack(Bs), **solver)
        cold = align_operators(torch.stack(As), torch.stack(Bs), warm_start=False, **solver)
        arrays[f"conjugate_angle_n{n}"] = res.angle.numpy()
        arrays[f"conjugate_angle_cold_n{n}"] = cold.angle.numpy()
        metrics[f"conjugate_angle_cold_max_n{n}"] = float(cold.angle.max())
        worst = max(worst, float(res.angle.max()))
        eye = torch.eye(n, dtype=torch.float64)
        ortho = max(ortho, float((res.C.mT @ res.C - eye).abs().amax()))
        ctx.log(n, conjugate_angle_max=float(res.angle.max()))
    metrics["conjugate_angle_max"] = worst
    metrics["orthogonality_residual"] = ortho

    # AC1: metric axioms on random operators
    n = config.triangle_size
    Ms = torch.stack([_random_operator(n, config.spectral_radius, g) for _ in range(config.triangle_matrices)])
    m = len(Ms)
    ii, jj = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
    D = align_operators(Ms[ii.flatten()], Ms[jj.flatten()], **solver).angle.reshape(m, m).numpy()
    arrays["axiom_matrix"] = D
    metrics["self_distance_max"] = float(np.diag(D).max())
    metrics["asymmetry_max"] = float(np.abs(D - D.T).max())
    tri = D[:, None, :] - D[:, :, None] - D[None, :, :].transpose(0, 2, 1)   # d(i,k) - d(i,j) - d(j,k)
    metrics["triangle_violation_max"] = float(max(tri.max(), 0.0))

    # AC2: DMD of a noiseless linear system recovers eig(A) (N = 5, d = 1, full rank, 20 initial conditions)
    A = _random_operator(5, config.spectral_radius, g).numpy()
    x = torch.randn(20, 5, generator=g, dtype=torch.float64).numpy()
    traj = [x]
    for _ in range(40):
        x = x @ A.T
        traj.append(x)
    fit = fit_havok(np.stack(traj, 1))
    metrics["eigenvalue_error"] = eigenvalue_wasserstein(fit, A)

    # AC2: invariance of the DMD operator to linear maps of the data (noisy ring attractor, 2 units)
    X = tc.ring_attractor(n_trials=30, n_steps=400, sigma=0.3, n_units=2, seed=seed)
    M = torch.randn(2, 2, generator=g, dtype=torch.float64).numpy() + 2 * np.eye(2)
    Q = _random_orthogonal(2, -1, g).numpy()
    full = DSA(n_delays=8, **solver)
    metrics["invertible_map_angle"] = full.fit_score(X, X @ M)
    metrics["orthogonal_map_angle"] = full.fit_score(X, X @ Q)
    metrics["invertible_map_angle_rank6"] = DSA(n_delays=8, rank=6, **solver).fit_score(X, X @ M)
    return Result(metrics, arrays)


def claims_solver(config: SolverConfig) -> list[Claim]:
    return [
        Claim("conjugate-pairs", DSA_PAPER, "Exactly conjugate operators (B = Q A Q^T, Q in O(n), both det signs) "
              "are at distance 0.", "conjugate_angle_max", "<", 0.02,
              how=f"max angle (rad) over {2 * config.pairs_per_size} pairs for each n in {config.sizes}",
              aggregate="max", reason="the reference library's test tolerance SIMTOL = 0.02 rad"),
        *[Claim(f"conjugate-pairs-cold-n{n}", DSA_PAPER, f"Without the eigenbasis warm start, the L-BFGS "
                f"iteration from identity, reflection and random starts alone recovers conjugate pairs (n = {n}).",
                f"conjugate_angle_cold_max_n{n}", "<", 0.02, aggregate="max",
                how="as conjugate-pairs with warm_start=False", reason="exploratory: shows the search itself",
                gated=False) for n in config.sizes],
        Claim("orthogonal-C", DSA_PAPER, "The fitted C is orthogonal: C^T C = I.", "orthogonality_residual",
              "<", 1e-3, how="max |C^T C - I| entry over all conjugate pairs", aggregate="max",
              reason="reference test_ortho_c; ours is a polar factor, exact to rounding"),
        Claim("identity", DSA_PAPER, "d(A, A) = 0.", "self_distance_max", "<", 1e-3, aggregate="max",
              how="max diagonal of the distance matrix of random operators", reason="AC1 of the note"),
        Claim("symmetry", DSA_PAPER, "d(A, B) = d(B, A).", "asymmetry_max", "<", 0.02, aggregate="max",
              how="max |D - D^T|", reason="AC1: within the solver tolerance 0.02"),
        Claim("triangle", DSA_PAPER, "The angular distance obeys the triangle inequality.",
              "triangle_violation_max", "<", 0.02, aggregate="max",
              how=f"max violation over all triples of {config.triangle_matrices} random operators",
              reason="AC1: within the solver tolerance 0.02"),
        Claim("dmd-eigenvalues", DSA_PAPER, "DMD of a noiseless linear system recovers eig(A).",
              "eigenvalue_error", "<", 1e-6, aggregate="max",
              how="eigenvalue W2 between A_v and A (N=5, d=1, full rank, 20 initial conditions)",
              reason="AC2: float64 exactness"),
        Claim("invertible-invariance", DSA_PAPER, "At full rank DSA is invariant to invertible linear maps "
              "of the data.", "invertible_map_angle", "<", 0.03, aggregate="max",
              how="d(DMD(X), DMD(X M)), noisy ring attractor in 2 units, d = 8, full rank (16)",
              reason="AC2 (the reference reaches 0.027 with its optimiser residue)"),
        Claim("orthogonal-invariance", DSA_PAPER, "DSA is invariant to orthogonal maps of the data.",
              "orthogonal_map_angle", "<", 0.03, aggregate="max", how="as above with M orthogonal, det -1",
              reason="AC2"),
        Claim("truncated-rank-deviation", DSA_PAPER, "Rank truncation breaks the invertible-map invariance "
              "(reported, not asserted).", "invertible_map_angle_rank6", ">=", 0.0, aggregate="max",
              how="as invertible-invariance with rank 6 of 16", reason="exploratory: the reference gives 0.62 rad",
              gated=False),
    ]


register(Experiment(
    name="similarity-solver", paper=DSA_PAPER,
    summary="DSA's orthogonal-group solver and DMD fit: exactness, metric axioms, invariances (AC1-AC2)",
    presets={"quick": SolverConfig(sizes=(10, 20), pairs_per_size=1), "full": SolverConfig()},
    run=run_solver, claims=claims_solver,
))


# ------------------------------------------------------------------------------- similarity-attractors

@dataclass(frozen=True)
class AttractorsConfig:
    sigmas: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
    n_per_type: int = 3
    n_trials: int = 100
    n_steps: int = 10_000
    downsample: int = 10
    n_delays: int = 20
    delay_interval: int = 1
    rank: int = 15
    max_iter: int = 500
    n_random: int = 2

    def __post_init__(self):
        require(len(self.sigmas) >= 1 and min(self.sigmas) >= 0, f"sigmas must be >= 0, got {self.sigmas}")
        require(self.n_per_type >= 2, f"n_per_type must be >= 2 (within-type distances), got {self.n_per_type}")
        require(self.n_trials >= 2 and self.n_trials % 2 == 0, f"n_trials must be even, got {self.n_trials}")
        require(self.n_steps >= self.downsample >= 1, "need n_steps >= downsample >= 1")
        require(self.n_delays >= 1 and self.delay_interval >= 1 and self.rank >= 1, "n_delays, delay_interval, "
                "rank must be >= 1")


ATTRACTOR_METRICS = ("dsa_angular", "dsa_wasserstein", "procrustes", "procrustes_avg", "cka", "cka_avg")


def _key(metric: str, stat: str, sigma: float) -> str:
    return f"{metric}_{stat}_s{sigma:g}"


def run_attractors(config: AttractorsConfig, seed: int, ctx: RunContext) -> Result:
    dmd = {"n_delays": config.n_delays, "delay_interval": config.delay_interval, "rank": config.rank}
    angular = DSA(**dmd, max_iter=config.max_iter, n_random=config.n_random)
    wasserstein = DSA(**dmd, score_method="wasserstein")
    metrics, arrays = {}, {}
    for k, sigma in enumerate(ctx.progress(config.sigmas, desc="similarity-attractors")):
        systems, labels = tc.attractor_trio(config.n_per_type, sigma, config.n_trials, config.n_steps,
                                            downsample=config.downsample, seed=seed * 1000 + k)
        fits = [angular.prepare(X) for X in systems]                       # one DMD per system, shared
        averages = [condition_average(X) for X in systems]
        mats = {
            "dsa_angular": pairwise(fits, angular),
            "dsa_wasserstein": pairwise(fits, wasserstein) ** 2,        # W2^2, the reference's convention
            "procrustes": pairwise(systems, Procrustes()),
            "procrustes_avg": pairwise(averages, Procrustes()),
            "cka": pairwise(systems, CKA()),
            "cka_avg": pairwise(averages, CKA()),
        }
        for name, D in mats.items():
            metrics[_key(name, "ratio", sigma)] = separation_ratio(D, labels)
            metrics[_key(name, "nn", sigma)] = nn_accuracy(D, labels)
            arrays[f"D_{name}_s{sigma:g}"] = D
        arrays["labels"] = labels
        ctx.log(k, sigma=sigma, **{f"{n}_nn": metrics[_key(n, "nn", sigma)] for n in mats})
    return Result(metrics, arrays)


def claims_attractors(config: AttractorsConfig) -> list[Claim]:
    out = []
    how = (f"{config.n_per_type} instances per type, {config.n_trials} trials; DSA d={config.n_delays}, "
           f"rank={config.rank}; ratio = mean between-type / mean within-type distance; 1-NN = leave-one-out")
    if 0.05 in config.sigmas:
        s = 0.05
        out += [
            Claim("dsa-ratio", DSA_PAPER, "Angular DSA separates saddle, line and point attractors whose condition "
                  "averages are identical (sigma = 0.05).", _key("dsa_angular", "ratio", s), ">=", 2.5, how=how,
                  reason="AC3: reference dsa-metric gives 4.3 (3.9 at 300 iters)"),
            Claim("dsa-nn", DSA_PAPER, "Angular DSA identifies each system's type (sigma = 0.05).",
                  _key("dsa_angular", "nn", s), ">=", 0.9, how=how, reason="AC3: reference gives 1.0"),
            Claim("wasserstein-ratio", DSA_PAPER, "Eigenvalue-Wasserstein DSA separates the three types "
                  "(sigma = 0.05).", _key("dsa_wasserstein", "ratio", s), ">=", 5.0, how=how + " (on W2^2)",
                  reason="AC3: reference gives 13.3 on its W2^2 convention"),
            Claim("procrustes-blind", DSA_PAPER, "Procrustes on trials cannot separate the types.",
                  _key("procrustes", "ratio", s), "<=", 1.4, how=how, reason="AC3: reference 1.21"),
            Claim("procrustes-nn-chance", DSA_PAPER, "Procrustes on trials does not identify the types.",
                  _key("procrustes", "nn", s), "<=", 0.5, how=how, reason="AC3: reference 0.00"),
            Claim("procrustes-avg-closer", DSA_PAPER, "On condition averages, Procrustes puts different types "
                  "closer than same types (the means are matched).", _key("procrustes_avg", "ratio", s), "<", 1.0,
                  how=how, reason="AC3: reference 0.52"),
            Claim("cka-blind", DSA_PAPER, "CKA on trials cannot separate the types.", _key("cka", "ratio", s), "<=",
                  1.4, how=how, reason="AC3: reference 0.88"),
            Claim("cka-nn-chance", DSA_PAPER, "CKA on trials does not identify the types.", _key("cka", "nn", s),
                  "<=", 0.5, how=how, reason="AC3: reference 0.00"),
            Claim("cka-avg-blind", DSA_PAPER, "CKA on condition averages cannot separate the types.",
                  _key("cka_avg", "ratio", s), "<=", 1.4, how=how, reason="AC3"),
        ]
    for s in config.sigmas:
        if s in (0.05, 0.1):
            out.append(Claim(f"wasserstein-nn-{s:g}", DSA_PAPER, f"Eigenvalue-Wasserstein DSA identifies the types "
                             f"at sigma = {s:g}.", _key("dsa_wasserstein", "nn", s), ">=", 0.9, how=how,
                             reason="AC4: reference 1.0 at both 0.05 and 0.1"))
        if s != 0.05:
            out.append(Claim(f"dsa-nn-{s:g}", DSA_PAPER, f"Angular DSA 1-NN accuracy at sigma = {s:g} "
                             "(reported: the separation is non-monotonic in noise).", _key("dsa_angular", "nn", s),
                             ">=", 0.8, how=how, reason="AC4: report only; reference 0.50 / 0.67 / 0.50 at "
                             "0.02 / 0.1 / 0.2", gated=False))
    return out


def plot_attractors(result: Result, config: AttractorsConfig) -> dict:
    import matplotlib.pyplot as plt

    a, m = result.arrays, result.metrics
    labels = np.asarray(a["labels"])
    s0 = 0.05 if 0.05 in config.sigmas else config.sigmas[0]
    mats = {name: np.asarray(a[f"D_{name}_s{s0:g}"]) for name in ATTRACTOR_METRICS}
    fig_nn, ax = plt.subplots(figsize=(5, 3.5))
    for name in ATTRACTOR_METRICS:
        ax.plot(config.sigmas, [m[_key(name, "nn", s)] for s in config.sigmas], marker="o", label=name)
    ax.axhline(1 / 3, color="grey", ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="noise sigma", ylabel="1-NN type accuracy", title="saddle / line / point")
    ax.legend(fontsize=7)
    return {"distance_matrices": _plot_matrices(mats, labels, f"sigma = {s0:g}"),
            "nn_vs_noise": fig_nn,
            "mds": _plot_mds({k: mats[k] for k in ("dsa_angular", "procrustes", "cka")}, labels,
                             f"MDS, sigma = {s0:g}")}


register(Experiment(
    name="similarity-attractors", paper=DSA_PAPER,
    summary="DSA vs Procrustes vs CKA on saddle/line/point attractors with matched condition averages (AC3-AC4)",
    presets={"quick": AttractorsConfig(sigmas=(0.05, 0.1), n_steps=10_000), "full": AttractorsConfig()},
    run=run_attractors, claims=claims_attractors, plot=plot_attractors,
))


# ------------------------------------------------------------------------------- similarity-lorenz

@dataclass(frozen=True)
class LorenzConfig:
    n_traj: int = 200  # per configuration, as in the reference notebooks
    n_steps: int = 200
    n_delays: int = 33
    delay_interval: int = 6
    rank: int = 20  # the class test (the reference notebook's value)
    mixing_rank: int = 50  # the noise/mixing test (the reference config's value)
    patterns: tuple[float, ...] = tc.BASE_PATTERNS
    noise: tuple[float, ...] = tc.NOISE_SCHEDULE
    mixing: tuple[float, ...] = tc.MIXING_SCHEDULE
    max_iter: int = 500
    n_random: int = 2

    def __post_init__(self):
        require(self.n_traj >= 1 and self.n_steps >= 2, "need n_traj >= 1 and n_steps >= 2")
        require(self.rank >= 1 and self.mixing_rank >= 1, "rank and mixing_rank must be >= 1")
        require(len(self.noise) == len(self.mixing) >= 2, "noise and mixing schedules need the same length >= 2")
        require(len(self.patterns) >= 2, f"need at least 2 patterns, got {self.patterns}")
        require(self.n_steps > (self.n_delays - 1) * self.delay_interval + 1,
                f"n_steps={self.n_steps} too short for n_delays={self.n_delays}, delay_interval={self.delay_interval}")


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares line through (x, y)."""
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - (resid**2).sum() / total) if total > 0 else float("nan")


def run_lorenz(config: LorenzConfig, seed: int, ctx: RunContext) -> Result:
    dsa = DSA(n_delays=config.n_delays, delay_interval=config.delay_interval, rank=config.rank,
              max_iter=config.max_iter, n_random=config.n_random)
    metrics, arrays = {}, {}

    # AC5: class identification over the nine configurations
    systems, labels = tc.lorenz_classes(config.n_traj, config.n_steps, seed=seed)
    mats = {"dsa": pairwise(systems, dsa), "procrustes": pairwise(systems, Procrustes()),
            "cka": pairwise(systems, CKA())}
    for name, D in mats.items():
        metrics[f"{name}_class_ratio"] = separation_ratio(D, labels)
        metrics[f"{name}_class_nn"] = nn_accuracy(D, labels)
        arrays[f"D_{name}"] = D
    arrays["labels"] = labels
    ctx.log(0, **{k: v for k, v in metrics.items()})

    # AC6: the noise/mixing schedule over all ordered pattern pairs
    base = {rho: tc.lorenz(rho, config.n_traj, config.n_steps, seed=seed * 100 + 50 + i)
            for i, rho in enumerate(config.patterns)}
    g = make_generator(seed + 7)
    pairs = [(a, b) for a in config.patterns for b in config.patterns if a != b]
    nets = {"M1": [], "M2": [], "M3": []}
    for a, b in pairs:
        for s, m in zip(config.noise, config.mixing):
            for key, X in zip(nets, tc.mixing_networks(base[a], base[b], s, m, g)):
                nets[key].append(X)
    E = len(config.noise)
    m = np.asarray(config.mixing)
    mixing_dsa = DSA(n_delays=config.n_delays, delay_interval=config.delay_interval, rank=config.mixing_rank,
                     max_iter=config.max_iter, n_random=config.n_random)
    metric_objs = {"dsa": mixing_dsa, "procrustes": Procrustes(), "cka": CKA()}
    for name, metric in metric_objs.items():
        prep = {k: [metric.prepare(X) for X in v] for k, v in nets.items()}
        idx = [(i, i) for i in range(len(pairs) * E)]
        v1 = metric.distances(prep["M1"], prep["M2"], idx).reshape(len(pairs), E)
        v2 = metric.distances(prep["M2"], prep["M3"], idx).reshape(len(pairs), E)
        arrays[f"noise_curve_{name}"], arrays[f"mixing_curve_{name}"] = v1, v2
        metrics[f"{name}_mixing_r2"] = _r2(m, v2.mean(0))
        metrics[f"{name}_mixing_r2_epoch"] = _r2(np.arange(E, dtype=float), v2.mean(0))   # the paper's statistic
        metrics[f"{name}_mixing_r2_min"] = min(_r2(m, row) for row in v2)
        order = np.argsort(-m)                                              # m decreasing
        metrics[f"{name}_mixing_monotone"] = float(np.mean(np.all(np.diff(v2[:, order], axis=1) < 0, axis=1)))
        metrics[f"{name}_mixing_gap"] = float(abs(v2.mean(0)[0] - v2.mean(0)[-1]))
        metrics[f"{name}_noise_gap"] = float(abs(v1.mean(0)[0] - v1.mean(0)[-1]))
        ctx.log(1, **{k: v for k, v in metrics.items() if k.startswith(name + "_mixing")})
    arrays["mixing"] = m
    return Result(metrics, arrays)


def claims_lorenz(config: LorenzConfig) -> list[Claim]:
    how5 = (f"9 Lorenz configs x {config.n_traj} trajectories x {config.n_steps} steps; DSA d={config.n_delays}, "
            f"tau={config.delay_interval}, rank={config.rank}")
    how6 = (f"{len(config.patterns) * (len(config.patterns) - 1)} ordered pattern pairs, DSA rank "
            f"{config.mixing_rank}; d(M2, M3) against "
            f"m in {config.mixing} (noise {config.noise})")
    return [
        Claim("dsa-classes-ratio", GUILHOT, "DSA separates the three Lorenz classes (one fixed point, two stable "
              "foci, chaotic): between-class distances exceed within-class ones.", "dsa_class_ratio", ">=", 1.5,
              how=how5, reason="AC5: the reference notebook gives ~2 (0.45-0.49 vs 0.16-0.29 rad)"),
        Claim("dsa-classes-nn", GUILHOT, "DSA's nearest neighbour of each configuration is in its class.",
              "dsa_class_nn", ">=", 0.8, how=how5, reason="AC5"),
        Claim("dsa-mixing-linear", GUILHOT, "d(M2, M3) falls linearly as the admixed attractor's weight m shrinks.",
              "dsa_mixing_r2", ">=", 0.95, how=how6 + "; R^2 of the pair-averaged curve",
              reason="AC6: the reference reports R^2 = 1.000 for DSA"),
        Claim("dsa-mixing-monotone", GUILHOT, "d(M2, M3) shrinks with m for every ordered pattern pair.",
              "dsa_mixing_monotone", ">=", 1.0, how=how6 + "; fraction of pairs with a strictly decreasing curve",
              reason="AC6: every pair"),
        Claim("dsa-mixing-linear-epoch", GUILHOT, "d(M2, M3) falls linearly over the pseudo-epochs (the paper's "
              "statistic: R^2 against the epoch index; reported).", "dsa_mixing_r2_epoch", ">=", 0.95,
              how=how6 + "; R^2 of the pair-averaged curve against epoch 1, 2, 3",
              reason="the paper fits against the epoch index, AC6 against m; reported only", gated=False),
        Claim("procrustes-mixing-linear", GUILHOT, "Procrustes d(M2, M3) is also linear in m (reported).",
              "procrustes_mixing_r2", ">=", 0.95, how=how6, reason="reference R^2 = 0.997", gated=False),
        Claim("cka-mixing-linear", GUILHOT, "CKA d(M2, M3) is also linear in m (reported).", "cka_mixing_r2",
              ">=", 0.95, how=how6, reason="reference R^2 = 0.999", gated=False),
    ]


def plot_lorenz(result: Result, config: LorenzConfig) -> dict:
    import matplotlib.pyplot as plt

    a = result.arrays
    labels = np.asarray(a["labels"])
    mats = {k: np.asarray(a[f"D_{k}"]) for k in ("dsa", "procrustes", "cka")}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in mats:
        curve = np.asarray(a[f"mixing_curve_{name}"]).mean(0)
        ax.plot(a["mixing"], curve / curve.max(), marker="o", label=name)
    ax.set(xlabel="mixing weight m", ylabel="d(M2, M3) / max", title="compositional admixture")
    ax.legend(fontsize=7)
    short = np.array([s.split()[0] for s in labels])
    return {"distance_matrices": _plot_matrices(mats, short, "Lorenz configurations"),
            "mds": _plot_mds(mats, short, "MDS of the nine configurations"), "mixing": fig}


register(Experiment(
    name="similarity-lorenz", paper=GUILHOT,
    summary="Lorenz test case of 2410.24070: class identification and mixing linearity (AC5-AC6)",
    presets={"quick": LorenzConfig(n_traj=30, mixing_rank=20, patterns=(0.5, 5.0, 30.0)), "full": LorenzConfig()},
    run=run_lorenz, claims=claims_lorenz, plot=plot_lorenz,
))
