"""Test systems for similarity metrics: dynamics that geometry-based metrics cannot tell apart.

* :func:`attractor_trio` — the saddle / line / point attractor trio of Galgali et al. (2023), used in
  the DSA paper (Ostrow et al. 2023, Fig. 3): three 2-D systems whose condition-averaged
  trajectories are identical by construction (the line and point attractors are driven by a
  feedback-linearising input that reproduces the saddle's condition averages), so only the
  trial-to-trial fluctuations reveal the vector field.
* :func:`ring_attractor` — a noisy continuous ring of fixed points, optionally embedded in more units.
* :func:`lorenz` with :data:`LORENZ_CLASSES` — the Lorenz test case of arXiv:2410.24070: nine values
  of rho in three classes (one stable fixed point, two stable foci, chaotic), and the noise /
  mixing schedules of its "ratio" test (:func:`diffuse`, :data:`NOISE_SCHEDULE`, :data:`MIXING_SCHEDULE`,
  :func:`mixing_test`).
* :class:`ConditionPopulation` — two networks' responses to a population of conditions with a known
  population RSA, for checking intervals over conditions
  (:func:`~brainlearn.similarity.inference.bootstrap_conditions`).

All generators take a seed and use their own ``torch.Generator``; arrays are float64 numpy of
shape (trials, time, units).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from brainlearn.runtime import make_generator, replicate_seed, require

TRIO = ("saddle", "line", "point")


def _noise(generator: torch.Generator, *shape: int) -> np.ndarray:
    return torch.randn(*shape, generator=generator, dtype=torch.float64).numpy()


def attractor_trio(n_per_type: int = 3, sigma: float = 0.05, n_trials: int = 100, n_steps: int = 10_000,
                   dt: float = 0.01, downsample: int = 10, input_strength: float = 0.1,
                   seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Saddle, line and point attractors with matched condition averages (``n_per_type`` of each).

    Saddle: dx = a x^3 + b x + u, dy = c y + u with a ~ U(-5,-4), b ~ U(4,5), c ~ U(-4,-3) and a
    constant input u = +-input_strength (two conditions, n_trials/2 trials each), from the origin.
    Line attractor: A = R V diag(0, lam) V^-1 R^T, lam ~ U(-3,-2), V = [(1,0), (1,1)/sqrt2], R a 45
    degree rotation. Point attractor: A = diag(-|a1|, -|a2|), |a_i| ~ U(1, 3). Both are driven by
    u_t = (c_t - m_{t-1} - A m_{t-1} dt) / dt, where m is the running mean of their trials and c the
    condition average of the paired saddle, so their means follow the saddle's exactly.
    Euler steps with additive noise dt * sigma * N(0, 1) (no sqrt(dt), as in the reference), then
    every ``downsample``-th step is kept.

    Returns:
        (systems, labels): a list of 3 n_per_type arrays (n_trials, n_steps/downsample, 2) ordered
        saddle_1, line_1, point_1, saddle_2, ... and the matching array of type names.
    """
    require(n_per_type >= 1 and n_trials >= 2 and n_trials % 2 == 0, "need n_per_type >= 1 and an even n_trials")
    require(sigma >= 0 and n_steps >= downsample >= 1, "need sigma >= 0 and n_steps >= downsample >= 1")
    g = make_generator(seed)
    S, half = n_per_type, n_trials // 2
    p = torch.rand(S, 6, generator=g, dtype=torch.float64).numpy()
    a, b, c, lam = -5 + p[:, 0], 4 + p[:, 1], -4 + p[:, 2], -3 + p[:, 3]
    rot = np.array([[1.0, -1.0], [1.0, 1.0]]) / math.sqrt(2)
    V = np.array([[1.0, 1.0 / math.sqrt(2)], [0.0, 1.0 / math.sqrt(2)]])
    line = np.stack([rot @ V @ np.diag([0.0, lam_i]) @ np.linalg.inv(V) @ rot.T for lam_i in lam])
    point = np.stack([np.diag([-(1 + 2 * p_i[4]), -(1 + 2 * p_i[5])]) for p_i in p])
    noise = dt * sigma * _noise(g, n_steps, 3 * S, n_trials, 2)      # (time, systems, trials, 2)
    u = np.repeat([input_strength, -input_strength], half)[None, :, None] * np.ones((1, 1, 2))

    def cond_means(x):                                                 # (systems, 2 conditions, 2)
        return np.stack([x[:, :half].mean(1), x[:, half:].mean(1)], 1)

    # the saddles (all instances at once), and their condition averages at every step
    x = np.zeros((S, n_trials, 2))
    saddle, means = [x], [cond_means(x)]
    for t in range(1, n_steps):
        drift = np.stack([a[:, None] * x[..., 0] ** 3 + b[:, None] * x[..., 0], c[:, None] * x[..., 1]], -1) + u
        x = x + dt * drift + noise[t, :S]
        saddle.append(x)
        means.append(cond_means(x))
    target = np.tile(np.asarray(means), (1, 2, 1, 1))                  # (time, 2S, 2, 2): line, point

    # line and point attractors, driven by a feedback-linearising input to follow those averages
    A = np.concatenate([line, point])                                  # (2S, 2, 2)
    x = np.zeros((2 * S, n_trials, 2))
    linear = [x]
    for t in range(1, n_steps):
        m_prev = cond_means(x)
        u_t = (target[t] - m_prev - dt * m_prev @ A.mT) / dt          # (2S, 2, 2)
        x = x + dt * (x @ A.mT + np.repeat(u_t, half, 1)) + noise[t, S:]
        linear.append(x)
    saddle, linear = np.stack(saddle, 2), np.stack(linear, 2)         # (systems, trials, time, 2)
    systems, labels = [], []
    for i in range(S):
        for name, X in zip(TRIO, (saddle[i], linear[i], linear[S + i])):
            systems.append(np.ascontiguousarray(X[:, ::downsample]))
            labels.append(name)
    return systems, np.array(labels)


def ring_attractor(n_trials: int = 50, n_steps: int = 1000, sigma: float = 0.05, n_units: int = 2,
                   dt: float = 0.01, stiffness: float = 2.0, seed: int = 0) -> np.ndarray:
    """A ring attractor: dr = k r (1 - r^2) dt, dphi = 0, with isotropic noise sigma sqrt(dt).

    Trials start at a uniform angle and a radius in [0.5, 1.5]; with ``n_units`` > 2 the plane is
    embedded by a random orthonormal (2, n_units) map. Returns (n_trials, n_steps, n_units).
    """
    require(n_units >= 2 and n_trials >= 1 and n_steps >= 2, "need n_units >= 2, n_trials >= 1, n_steps >= 2")
    g = make_generator(seed)
    phi = 2 * math.pi * torch.rand(n_trials, generator=g, dtype=torch.float64).numpy()
    r = 0.5 + torch.rand(n_trials, generator=g, dtype=torch.float64).numpy()
    x = np.stack([r * np.cos(phi), r * np.sin(phi)], 1)
    noise = sigma * math.sqrt(dt) * _noise(g, n_steps, n_trials, 2)
    traj = [x]
    for t in range(1, n_steps):
        rad2 = (x**2).sum(1, keepdims=True)
        x = x + dt * stiffness * x * (1 - rad2) + noise[t]
        traj.append(x)
    X = np.stack(traj, 1)
    if n_units > 2:
        embed = np.linalg.qr(_noise(g, n_units, 2))[0].T
        X = X @ embed
    return X


# ---------------------------------------------------------------------------- Lorenz test case

LORENZ_CLASSES = {"fixed point": (0.25, 0.5, 0.75), "two stable foci": (5.0, 10.0, 15.0),
                  "chaotic": (30.0, 40.0, 50.0)}
"""The nine rho values of arXiv:2410.24070 Sec. 3.1a, by class."""
BASE_PATTERNS = (0.5, 5.0, 10.0, 15.0, 30.0, 40.0, 50.0)
"""The seven patterns of the noise/mixing test: the r = 0.5 "curve", three two-stable, three chaotic."""
NOISE_SCHEDULE = (0.004, 0.002, 0.001)
"""Diffusion noise s per pseudo-epoch (noise shrinks as 'learning' proceeds)."""
MIXING_SCHEDULE = (1.0, 0.5, 0.25)
"""Mixing weight m of the admixed attractor per pseudo-epoch."""


def lorenz(rho: float, n_traj: int = 200, n_steps: int = 200, dt: float = 0.01, sigma: float = 10.0,
           beta: float = 2.667, seed: int = 0) -> np.ndarray:
    """Lorenz trajectories (n_traj, n_steps, 3), explicit Euler from initial points uniform in [0, 1)^3.

    dx = sigma (y - x), dy = x (rho - z) - y, dz = x y - beta z. Each trajectory is min-max
    normalised into the unit cube with one global min and max over its time points and coordinates.
    """
    require(n_traj >= 1 and n_steps >= 2 and dt > 0, "need n_traj >= 1, n_steps >= 2, dt > 0")
    g = make_generator(seed)
    x = torch.rand(n_traj, 3, generator=g, dtype=torch.float64).numpy()
    traj = [x]
    for _ in range(n_steps - 1):
        dx = np.stack([sigma * (x[:, 1] - x[:, 0]), x[:, 0] * (rho - x[:, 2]) - x[:, 1],
                       x[:, 0] * x[:, 1] - beta * x[:, 2]], 1)
        x = x + dt * dx
        traj.append(x)
    X = np.stack(traj, 1)
    lo, hi = X.min((1, 2), keepdims=True), X.max((1, 2), keepdims=True)
    return (X - lo) / np.maximum(hi - lo, 1e-12)


def lorenz_classes(n_traj: int = 200, n_steps: int = 200, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """The nine Lorenz configurations and their class labels.

    As in the reference notebook of 2410.24070, each configuration draws its own initial points
    (configuration i from ``replicate_seed(seed, stream="systems", index=i)``), so within-class distances
    include sampling differences.
    """
    rhos = [rho for group in LORENZ_CLASSES.values() for rho in group]
    systems = [lorenz(rho, n_traj, n_steps, seed=replicate_seed(seed, stream="systems", index=i))
               for i, rho in enumerate(rhos)]
    labels = [name for name, group in LORENZ_CLASSES.items() for _ in group]
    return systems, np.array(labels)


def diffuse(X: np.ndarray, s: float, generator: torch.Generator) -> np.ndarray:
    """Variance-preserving noise x <- sqrt(1 - s^2) x + s eps, eps ~ N(0, 1) per time point and unit."""
    require(0 <= s < 1, f"noise level s must be in [0, 1), got {s}")
    return math.sqrt(1 - s * s) * X + s * _noise(generator, *X.shape)


def mixing_networks(A: np.ndarray, B: np.ndarray, s: float, m: float,
                    generator: torch.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three 'networks' of one pseudo-epoch: M1, M2 = A plus independent noise; M3 = M2's pattern
    plus noise plus m (B(t) - B(0)), a compositional admixture of attractor B."""
    M1, M2 = diffuse(A, s, generator), diffuse(A, s, generator)
    M3 = diffuse(A, s, generator) + m * (B - B[:, :1])
    return M1, M2, M3


def mixing_test(patterns, noise, mixing, n_traj: int = 200, n_steps: int = 200,
                seed: int = 0) -> tuple[list[tuple[float, float]], dict[str, list[np.ndarray]]]:
    """The noise / ratio test of 2410.24070 over every ordered pair of base patterns.

    Base pattern i (a Lorenz rho in `patterns`) draws its initial points from item 50 + i of the ``"systems"``
    stream of `seed`, clear of the nine configurations of :func:`lorenz_classes` (items 0..8). For each ordered pair
    (a, b), a != b, and each pseudo-epoch (noise level s, mixing weight m) of the schedules `noise` and
    `mixing`, :func:`mixing_networks` gives M1, M2, M3; all their noise comes from one generator (the
    ``"noise"`` seed stream of `seed`), drawn pair by pair and epoch by epoch.

    Returns:
        pairs: the ordered pairs (a, b).
        nets: ``{"M1", "M2", "M3"} ->`` list of (n_traj, n_steps, 3) arrays, pair-major then epoch.
    """
    require(len(noise) == len(mixing), "noise and mixing schedules need the same length")
    base = {rho: lorenz(rho, n_traj, n_steps, seed=replicate_seed(seed, stream="systems", index=50 + i))
            for i, rho in enumerate(patterns)}
    g = make_generator(replicate_seed(seed, stream="noise"))
    pairs = [(a, b) for a in patterns for b in patterns if a != b]
    nets: dict[str, list[np.ndarray]] = {"M1": [], "M2": [], "M3": []}
    for a, b in pairs:
        for s, m in zip(noise, mixing):
            for key, X in zip(nets, mixing_networks(base[a], base[b], s, m, g)):
                nets[key].append(X)
    return pairs, nets


@dataclass(frozen=True)
class ConditionPopulation:
    """Two networks' responses to conditions drawn from a population: a latent z ~ N(0, I_d) per condition,
    X = z A + e and Y = z B + e' (e, e' unit Gaussian noise, part of each condition's pattern), A (d, p) and
    B (d, q) fixed. The population RSA is the correlation of the two networks' euclidean distances over
    independent pairs of conditions, which a sample of n conditions estimates."""

    A: np.ndarray
    B: np.ndarray

    @classmethod
    def random(cls, n_latent: int = 4, n_units: int = 6, seed: int = 0) -> ConditionPopulation:
        rng = np.random.default_rng(seed)
        return cls(rng.normal(size=(n_latent, n_units)), rng.normal(size=(n_latent, n_units)))

    def sample(self, n: int, seed: int | np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray]:
        """X (n, p), Y (n, q) for n conditions."""
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(n, self.A.shape[0]))
        return z @ self.A + rng.normal(size=(n, self.A.shape[1])), z @ self.B + rng.normal(size=(n, self.B.shape[1]))

    def rsa(self, compare: str = "corr", n_pairs: int = 10**6, seed: int = 1) -> float:
        """The population RSA of euclidean RDMs, Pearson ("corr") or Spearman, from `n_pairs` independent
        pairs of conditions (standard error about 1e-3 at the default)."""
        from scipy.stats import rankdata

        first, second = np.random.SeedSequence(seed).spawn(2)  # two independent halves of each pair
        (X1, Y1), (X2, Y2) = self.sample(n_pairs, first), self.sample(n_pairs, second)
        dx, dy = np.linalg.norm(X1 - X2, axis=1), np.linalg.norm(Y1 - Y2, axis=1)
        if compare == "spearman":
            dx, dy = rankdata(dx), rankdata(dy)
        elif compare != "corr":
            raise ValueError(f"compare must be 'corr' or 'spearman', got {compare!r}")
        return float(np.corrcoef(dx, dy)[0, 1])
