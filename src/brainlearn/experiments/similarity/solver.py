"""similarity-solver: DSA's orthogonal-group solver and DMD fit on systems whose answer is known.

The solver recovers exactly conjugate operators (B = Q A Q^T, Q in O(n), both det signs) at distance 0
and behaves as a metric (identity, symmetry, triangle inequality); the DMD fit recovers a noiseless
linear system's eigenvalues, and at full rank DSA is invariant to invertible maps of the data.

The run is five kinds of rounds on one random stream (one round per operator size, then the metric
axioms, the DMD eigenvalues and the invariances), checkpointed after each so that a resumed run draws
exactly the numbers of an uninterrupted one. CPU only: :mod:`brainlearn.similarity` computes on float64
CPU tensors (its inputs are converted there, the DMD least squares uses LAPACK's gelsd driver).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainlearn import papers
from brainlearn.experiments import Claim, Experiment, Result, register
from brainlearn.experiments.base import AGGREGATE_RULE, revise
from brainlearn.experiments.estimate import steps_work
from brainlearn.runtime import Config, RunContext, make_generator, param, replicate_seed, train
from brainlearn.similarity import DSA
from brainlearn.similarity import testcases as tc
from brainlearn.similarity.dsa import align_operators, eigenvalue_wasserstein, fit_havok


@dataclass(frozen=True)
class SolverConfig(Config):
    sizes: tuple[int, ...] = param((10, 20, 50), ge=2, nonempty=True, help="operator sizes n of the conjugate pairs")
    pairs_per_size: int = param(2, ge=1, help="conjugate pairs per size and det sign")
    spectral_radius: float = param(0.95, gt=0, help="spectral radius of the random operators")
    triangle_size: int = param(10, ge=1, help="size of the random operators of the metric-axiom test")
    triangle_matrices: int = param(5, ge=3, help="random operators of the metric-axiom test")
    max_iter: int = param(500, ge=1, help="solver iteration cap per start")
    n_random: int = param(2, ge=0, help="random orthogonal starts per pair (each also transposed)")


def _random_operator(n: int, radius: float, g: torch.Generator) -> torch.Tensor:
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A * radius / torch.linalg.eigvals(A).abs().max()


def _random_orthogonal(n: int, det: int, g: torch.Generator) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    Q = Q * torch.sign(R.diagonal())
    if torch.det(Q).sign() != det:
        Q[:, 0] = -Q[:, 0]
    return Q


class Learner:
    """One round per operator size (conjugate pairs), then the metric axioms, the DMD eigenvalues and the
    invariances; all draw from one generator, whose state is checkpointed with the partial results."""

    def __init__(self, config: SolverConfig, seed: int):
        self.config, self.seed = config, seed
        self.g = make_generator(replicate_seed(seed))
        self.solver = {"max_iter": config.max_iter, "n_random": config.n_random}
        self.metrics: dict[str, float] = {}
        self.arrays: dict[str, torch.Tensor] = {}
        self.worst, self.ortho = 0.0, 0.0
        self.parts = [*((self._conjugate, n) for n in config.sizes), (self._axioms, None), (self._dmd, None),
                      (self._invariance, None)]

    def step(self, i: int):
        part, arg = self.parts[i]
        return part(arg)

    def _conjugate(self, n: int) -> dict:
        """Exactly conjugate pairs B = Q A Q^T, both det signs, all pairs of size n in one batch."""
        g, config = self.g, self.config
        As, Bs = [], []
        for det in (1, -1):
            for _ in range(config.pairs_per_size):
                A, Q = _random_operator(n, config.spectral_radius, g), _random_orthogonal(n, det, g)
                As.append(A)
                Bs.append(Q @ A @ Q.T)
        res = align_operators(torch.stack(As), torch.stack(Bs), **self.solver)
        cold = align_operators(torch.stack(As), torch.stack(Bs), warm_start=False, **self.solver)
        self.arrays[f"conjugate_angle_n{n}"] = res.angle
        self.arrays[f"conjugate_angle_cold_n{n}"] = cold.angle
        self.metrics[f"conjugate_angle_cold_max_n{n}"] = float(cold.angle.max())
        self.worst = max(self.worst, float(res.angle.max()))
        eye = torch.eye(n, dtype=torch.float64)
        self.ortho = max(self.ortho, float((res.C.mT @ res.C - eye).abs().amax()))
        return {"step": n, "conjugate_angle_max": float(res.angle.max())}

    def _axioms(self, _) -> None:
        """Identity, symmetry and the triangle inequality on the distance matrix of random operators."""
        self.metrics["conjugate_angle_max"] = self.worst
        self.metrics["orthogonality_residual"] = self.ortho
        n = self.config.triangle_size
        Ms = torch.stack([_random_operator(n, self.config.spectral_radius, self.g)
                          for _ in range(self.config.triangle_matrices)])
        m = len(Ms)
        ii, jj = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
        D = align_operators(Ms[ii.flatten()], Ms[jj.flatten()], **self.solver).angle.reshape(m, m).numpy()
        self.arrays["axiom_matrix"] = torch.from_numpy(D)
        self.metrics["self_distance_max"] = float(np.diag(D).max())
        self.metrics["asymmetry_max"] = float(np.abs(D - D.T).max())
        tri = D[:, None, :] - D[:, :, None] - D[None, :, :].transpose(0, 2, 1)   # d(i,k) - d(i,j) - d(j,k)
        self.metrics["triangle_violation_max"] = float(max(tri.max(), 0.0))

    def _dmd(self, _) -> None:
        """DMD of a noiseless linear system recovers eig(A) (N = 5, d = 1, full rank, 20 initial conditions)."""
        A = _random_operator(5, self.config.spectral_radius, self.g).numpy()
        x = torch.randn(20, 5, generator=self.g, dtype=torch.float64).numpy()
        traj = [x]
        for _ in range(40):
            x = x @ A.T
            traj.append(x)
        self.metrics["eigenvalue_error"] = eigenvalue_wasserstein(fit_havok(np.stack(traj, 1)), A)

    def _invariance(self, _) -> None:
        """The DMD operator under linear maps of the data (noisy ring attractor in 2 units)."""
        X = tc.ring_attractor(n_trials=30, n_steps=400, sigma=0.3, n_units=2, seed=replicate_seed(self.seed))
        M = torch.randn(2, 2, generator=self.g, dtype=torch.float64).numpy() + 2 * np.eye(2)
        Q = _random_orthogonal(2, -1, self.g).numpy()
        full = DSA(n_delays=8, **self.solver)
        self.metrics["invertible_map_angle"] = full.fit_score(X, X @ M)
        self.metrics["orthogonal_map_angle"] = full.fit_score(X, X @ Q)
        self.metrics["invertible_map_angle_rank6"] = DSA(n_delays=8, rank=6, **self.solver).fit_score(X, X @ M)

    def state_dict(self) -> dict:
        return {"g": self.g.get_state(), "metrics": self.metrics, "arrays": self.arrays,
                "worst": self.worst, "ortho": self.ortho}

    def load_state_dict(self, state: dict) -> None:
        self.g.set_state(state["g"])
        self.metrics, self.arrays = dict(state["metrics"]), dict(state["arrays"])
        self.worst, self.ortho = state["worst"], state["ortho"]


def run(config: SolverConfig, seed: int, ctx: RunContext) -> Result:
    learner = Learner(config, seed)
    train(learner, len(learner.parts), ctx, desc="similarity-solver")
    return Result(dict(learner.metrics), {k: v.numpy() for k, v in learner.arrays.items()})


def claims(config: SolverConfig) -> list[Claim]:
    tolerance = "the solver tolerance 0.02 rad, the reference library's test tolerance SIMTOL"
    out = [
        Claim("conjugate-pairs", papers.OSTROW, "Exactly conjugate operators (B = Q A Q^T, Q in O(n), both det signs) "
              "are at distance 0.", "conjugate_angle_max", "<", 0.02,
              how=f"max angle (rad) over {2 * config.pairs_per_size} pairs for each n in {config.sizes}",
              reason="the reference library's test tolerance SIMTOL = 0.02 rad",
              kind="limit"),
        *[Claim(f"conjugate-pairs-cold-n{n}", papers.OSTROW, f"Without the eigenbasis warm start, the L-BFGS "
                f"iteration from identity, reflection and random starts alone recovers conjugate pairs (n = {n}).",
                f"conjugate_angle_cold_max_n{n}", "<", 0.02,
                how="as conjugate-pairs with warm_start=False", reason="exploratory: shows the search itself",
                gated=False, kind="limit") for n in config.sizes],
        Claim("orthogonal-C", papers.OSTROW, "The fitted C is orthogonal: C^T C = I.", "orthogonality_residual",
              "<", 1e-3, how="max |C^T C - I| entry over all conjugate pairs",
              reason="reference test_ortho_c; ours is a polar factor, exact to rounding", kind="limit"),
        Claim("identity", papers.OSTROW, "d(A, A) = 0.", "self_distance_max", "<", 1e-3,
              how="max diagonal of the distance matrix of random operators",
              reason="a distance of a system to itself is zero; 1e-3 rad leaves room for the iteration's rounding",
              kind="limit"),
        Claim("symmetry", papers.OSTROW, "d(A, B) = d(B, A).", "asymmetry_max", "<", 0.02,
              how="max |D - D^T|", reason=f"within {tolerance}", kind="limit"),
        Claim("triangle", papers.OSTROW, "The angular distance obeys the triangle inequality.",
              "triangle_violation_max", "<", 0.02,
              how=f"max violation over all triples of {config.triangle_matrices} random operators",
              reason=f"within {tolerance}", kind="limit"),
        Claim("dmd-eigenvalues", papers.OSTROW, "DMD of a noiseless linear system recovers eig(A).",
              "eigenvalue_error", "<", 1e-6,
              how="eigenvalue W2 between A_v and A (N=5, d=1, full rank, 20 initial conditions)",
              reason="float64 exactness: the fit is a least-squares solve on noiseless data", kind="limit"),
        Claim("invertible-invariance", papers.OSTROW, "At full rank DSA is invariant to invertible linear maps "
              "of the data.", "invertible_map_angle", "<", 0.03,
              how="d(DMD(X), DMD(X M)), noisy ring attractor in 2 units, d = 8, full rank (16)",
              reason="the reference library reaches 0.027 rad on this test, its optimiser's residue", kind="limit"),
        Claim("orthogonal-invariance", papers.OSTROW, "DSA is invariant to orthogonal maps of the data.",
              "orthogonal_map_angle", "<", 0.03, how="as above with M orthogonal, det -1",
              reason="as invertible-invariance (an orthogonal map is invertible)", kind="limit"),
        Claim("truncated-rank-deviation", papers.OSTROW, "Rank truncation breaks the invertible-map invariance "
              "(reported, not asserted).", "invertible_map_angle_rank6", ">=", 0.0,
              how="as invertible-invariance with rank 6 of 16", reason="exploratory: the reference gives 0.62 rad",
              gated=False, kind="outcome"),
    ]
    # an exploratory measurement (an outcome), aggregated by the max over seeds until the rule was applied to it
    return revise(out, {"truncated-rank-deviation": {}}, date="2026-12-07", was={"truncated-rank-deviation": "max"},
                  reason=AGGREGATE_RULE)


register(Experiment(
    name="similarity-solver", paper=papers.OSTROW,
    summary="DSA's orthogonal-group solver and DMD fit: exactness, metric axioms, invariances",
    presets={"smoke": SolverConfig(sizes=(4, 6), pairs_per_size=1, triangle_size=4, triangle_matrices=3, max_iter=50),
             "quick": SolverConfig(sizes=(10, 20), pairs_per_size=1), "full": SolverConfig(),
             # exactness and invariance checks of the solver, with no scale of the paper's to match: paper = full
             "paper": SolverConfig()},
    run=run, claims=claims, cpu_only=True,
    work=lambda c: sum(steps_work(c.max_iter * c.pairs_per_size, 10 * n ** 3) for n in c.sizes),  # ~10 size³ each
))
