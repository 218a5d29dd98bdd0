"""Statistical inference for similarity measures: permutation tests, bootstrap intervals, group-vs-group
tests and split-half noise ceilings, valid with few conditions.

- :func:`permutation_test` (over conditions). H0: the conditions (rows) of X and Y do not correspond.
  The statistic is the measure's score; the null permutes Y's conditions. With c conditions and
  c! <= ``n_permutations`` every permutation is enumerated (an exact test: p = #{null at least as extreme}
  / c!, the identity included); otherwise p = (1 + #{null at least as extreme}) / (1 + B) over B random
  permutations (Phipson & Smyth 2010), which is valid (never below the true p in expectation). "At least as
  extreme" is >= for a similarity, <= for a distance. RSA measures take a vectorised path (the RDM is
  permuted, never recomputed).
- :func:`group_test` (over networks). H0: the two groups' values (one per network: a score to a
  reference, say) are exchangeable. Two-sided on the difference of means; labels are permuted, enumerated
  exactly when C(n_a + n_b, n_a) <= ``n_permutations`` (5 + 5 networks: 252 splits).
- :func:`bootstrap_mean` (over networks): bootstrap interval of the mean of per-network values. The plain
  percentile interval is too narrow for few networks (its coverage at 95% was 91% with 10 values and 93% with
  20 in the calibration run); the default ``method="expanded"`` widens the percentile levels as Hesterberg
  (2015) does, to (1 - level') / 2 with (1 - level') / 2 = Phi(-sqrt(n / (n - 1)) t_{n-1, (1 + level) / 2}),
  which corrects the sqrt((n-1)/n) shrinkage of the bootstrap spread and the normal-versus-t tails.
- :func:`bootstrap_conditions` (over conditions): percentile interval of a measure when conditions are
  resampled with replacement. For RSA, pairs of copies of the same condition are left out of the RDM
  comparison (their zero dissimilarity is an artefact of resampling; rsatoolbox does the same), and all
  resamples are compared in one batch from the full RDMs (Kendall's tau_a: one at a time). Its coverage of
  a known population RSA is measured in docs/similarity.md: Pearson within 3 points of nominal from 6 to 40
  conditions, Spearman conservative below 20.
- :func:`split_half_ceiling`: from (trials, conditions, units) data, the measure between the trial means of
  random half splits, averaged, and its Spearman-Brown correction 2 r / (1 + r): an estimate of the score
  the full data would reach against an independent replicate of itself (the noise ceiling).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from brainlearn.errors import ConfigError, ShapeError
from brainlearn.similarity._base import Metric, check_int
from brainlearn.similarity.dsa import DSA
from brainlearn.similarity.measures import RSA, rdm


@dataclass(frozen=True)
class PermutationResult:
    """``statistic`` (the observed score or difference), ``p_value``, ``null`` (the permutation
    distribution) and whether the test enumerated every permutation (``exact``)."""

    statistic: float
    p_value: float
    null: np.ndarray
    exact: bool


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval: the point ``estimate``, ``low`` and ``high`` at ``level``, and the bootstrap
    ``samples``."""

    estimate: float
    low: float
    high: float
    level: float
    samples: np.ndarray


def _metric(measure) -> Metric:
    from brainlearn.similarity.pairwise import make_metric

    return make_metric(measure)


@functools.lru_cache(maxsize=8)
def _all_permutations(c: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(c))))


def _permutations(c: int, n_permutations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(P, c) permutations of range(c): all of them when c! <= n_permutations, else random ones."""
    if math.factorial(c) <= n_permutations:
        return _all_permutations(c), True
    return rng.permuted(np.tile(np.arange(c), (n_permutations, 1)), axis=1), False


def _p_value(stat: float, null: np.ndarray, larger: bool, exact: bool) -> float:
    tol = 1e-12 * max(1.0, abs(stat))                     # a tie in exact arithmetic stays a tie in rounding
    hits = int(np.sum(null >= stat - tol) if larger else np.sum(null <= stat + tol))
    return hits / len(null) if exact else (1 + hits) / (1 + len(null))


def _rsa_null(m: RSA, a: torch.Tensor, b: torch.Tensor, perms: np.ndarray) -> np.ndarray:
    """RSA scores of X against Y with Y's conditions permuted, all permutations at once (numpy: these arrays
    are small, and torch's per-operation overhead would dominate)."""
    c = a.shape[-2]
    i, j = np.triu_indices(c, 1)
    v, w = rdm(a, m.rdm), rdm(b, m.rdm)
    if m.compare == "spearman":                 # permuting the entries permutes their ranks
        from brainlearn.similarity.measures import _ranks

        v, w = _ranks(v), _ranks(w)
    v, full = v.numpy(), np.zeros((c, c))
    full[i, j] = full[j, i] = w.numpy()
    out = []
    for s in range(0, len(perms), 512):                                  # blocks bound the memory
        W = full[perms[s:s + 512][:, i], perms[s:s + 512][:, j]]          # (block, m)
        if m.compare == "tau_a":
            sv = np.sign(v[:, None] - v)
            out.append(np.einsum("pkl,kl->p", np.sign(W[:, :, None] - W[:, None, :]), sv) / (len(v) * (len(v) - 1)))
            continue
        vv, WW = (v - v.mean(), W - W.mean(1, keepdims=True)) if m.compare != "cosine" else (v, W)
        out.append((WW @ vv) / (np.linalg.norm(vv) * np.linalg.norm(WW, axis=1)))
    return np.concatenate(out)


def permutation_test(X, Y, measure, n_permutations: int = 1000, seed: int = 0) -> PermutationResult:
    """Permutation test over conditions (module docstring).

    Args:
        X, Y: (conditions, units) arrays, or (partitions, conditions, units) for crossnobis RSA.
        measure: a measure object or identifier (not DSA: its rows are time points, not exchangeable).
        n_permutations: random permutations, or the most permutations to enumerate exactly.
        seed: seed of the random permutations.
    """
    m = _metric(measure)
    check_int(n_permutations, "n_permutations", 1)
    if isinstance(m, DSA):
        raise ConfigError("permutation_test permutes conditions; DSA's rows are time points (not exchangeable)")
    a, b = m.prepare(X), m.prepare(Y)
    stat = m.fit_score(X, Y)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)     # re-prepared per permutation
    larger = m.info.direction == "similarity"
    perms, exact = _permutations(b.shape[-2], n_permutations, np.random.default_rng(seed))
    if isinstance(m, RSA):
        null = _rsa_null(m, a, b, perms)
    else:                                     # one fit per permutation (measures without a batched path)
        null = np.array([m.fit_score(X, Y[..., p, :]) for p in perms])
    return PermutationResult(float(stat), _p_value(stat, null, larger, exact), null, exact)


@functools.lru_cache(maxsize=16)
def _all_splits(n: int, k: int) -> np.ndarray:
    """(C(n, k), n) boolean masks of every choice of k of n labels."""
    idx = np.array(list(itertools.combinations(range(n), k)))
    masks = np.zeros((len(idx), n), dtype=bool)
    np.put_along_axis(masks, idx, True, axis=1)
    return masks


def group_test(a, b, n_permutations: int = 10000, seed: int = 0) -> PermutationResult:
    """Two-sided permutation test of mean(a) - mean(b) for two groups of values (one per network)."""
    a, b = (np.asarray(x, dtype=np.float64).ravel() for x in (a, b))
    if len(a) < 2 or len(b) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ShapeError(f"group_test needs at least 2 finite values per group, got {len(a)} and {len(b)}")
    check_int(n_permutations, "n_permutations", 1)
    pooled, n, k = np.r_[a, b], len(a) + len(b), len(a)
    exact = math.comb(n, k) <= n_permutations
    if exact:
        masks = _all_splits(n, k)
    else:
        rng = np.random.default_rng(seed)
        masks = rng.permuted(np.tile(np.arange(n) < k, (n_permutations, 1)), axis=1)
    sums = masks @ pooled
    null = sums / k - (pooled.sum() - sums) / (n - k)
    stat = a.mean() - b.mean()
    p = _p_value(abs(stat), np.abs(null), True, exact)
    return PermutationResult(float(stat), p, null, exact)


def _percentile(estimate: float, samples: np.ndarray, level: float) -> Interval:
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(estimate), float(low), float(high), level, samples)


def bootstrap_mean(values, n_boot: int = 10000, level: float = 0.95, seed: int = 0,
                   method: str = "expanded") -> Interval:
    """Bootstrap interval of the mean of (n,) values (one per network), n >= 2: ``method="expanded"``
    (default, Hesterberg's expanded percentile interval) or ``"percentile"`` (module docstring)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) < 2 or not np.all(np.isfinite(x)):
        raise ShapeError(f"bootstrap_mean needs at least 2 finite values, got {x!r}")
    check_int(n_boot, "n_boot", 1)
    if method not in ("expanded", "percentile"):
        raise ConfigError(f"method={method!r} is not valid; expected expanded or percentile")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    n, used = len(x), level
    if method == "expanded":
        used = 1 - 2 * stats.norm.cdf(-math.sqrt(n / (n - 1)) * stats.t.ppf((1 + level) / 2, n - 1))
    iv = _percentile(x.mean(), x[idx].mean(1), used)
    return Interval(iv.estimate, iv.low, iv.high, level, iv.samples)


def bootstrap_conditions(X, Y, measure, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of a measure over conditions (rows, axis -2), resampled with
    replacement and jointly for X and Y (module docstring). Resamples on which the measure is undefined
    (with very few conditions, an RDM of too few distinct conditions) are left out of the quantiles; more
    than half of them undefined is a ShapeError. ``samples`` holds the defined ones."""
    m = _metric(measure)
    check_int(n_boot, "n_boot", 1)
    a, b = m.prepare(X), m.prepare(Y)
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    c = a.shape[-2]
    idx = np.random.default_rng(seed).integers(0, c, size=(n_boot, c))
    if isinstance(m, RSA):
        i, j = torch.triu_indices(c, c, 1)
        full = []
        for t in (a, b):
            D = torch.zeros(c, c, dtype=torch.float64)
            D[i, j] = D[j, i] = rdm(t, m.rdm)
            full.append(D)
        block = max(1, 2**22 // (c * (c - 1) // 2))                   # resamples per batch: bounded memory
        parts = torch.from_numpy(idx).split(block)
        samples = np.concatenate([_rsa_resamples(full[0], full[1], part, m.compare) for part in parts])
    else:
        samples = np.array([_or_nan(lambda s: m.fit_score(X[..., s, :], Y[..., s, :]), s) for s in idx])
    if np.isnan(samples).mean() > 0.5:
        raise ShapeError(f"bootstrap_conditions: the measure is undefined on {np.isnan(samples).mean():.0%} of the "
                         f"resamples of {c} conditions (too few distinct conditions); use more conditions")
    return _percentile(m.fit_score(X, Y), samples[~np.isnan(samples)], level)


def _rsa_resamples(Dx: torch.Tensor, Dy: torch.Tensor, idx: torch.Tensor, compare: str) -> np.ndarray:
    """RSA of each resample idx[k] of the conditions from the full (c, c) RDMs, pairs of copies of one
    condition left out; NaN where a resample's RDM is constant (or zero, for cosine) or has fewer than 2
    pairs. Cosine, Pearson and Spearman in one batch (masked moments), Kendall's tau_a one resample at a time."""
    from scipy.stats import rankdata

    from brainlearn.similarity.measures import compare_rdms

    c = idx.shape[1]
    i, j = torch.triu_indices(c, c, 1)
    si, sj = idx[:, i], idx[:, j]
    keep = si != sj                                                  # (B, c(c-1)/2)
    v, w = Dx[si, sj], Dy[si, sj]
    if compare == "tau_a":
        return np.array([_or_nan(lambda k: compare_rdms(v[k][keep[k]], w[k][keep[k]], compare), k)
                         if int(keep[k].sum()) >= 2 else math.nan for k in range(len(idx))])
    flat = torch.zeros(len(idx), dtype=torch.bool)
    for u in (v, w):
        if compare == "cosine":
            flat |= ~(u.ne(0) & keep).any(1)
        else:
            flat |= u.masked_fill(~keep, -math.inf).amax(1) == u.masked_fill(~keep, math.inf).amin(1)
    k = keep.to(v.dtype)
    if compare == "spearman":   # ranks among the kept pairs (the others sort last), ties averaged
        v, w = (torch.from_numpy(rankdata(u.masked_fill(~keep, math.inf).numpy(), axis=1)) for u in (v, w))
    if compare in ("corr", "spearman"):
        v, w = ((u - (u * k).sum(1, keepdim=True) / k.sum(1, keepdim=True)) for u in (v, w))
    v, w = v * k, w * k
    r = ((v * w).sum(1) / (v.norm(dim=1) * w.norm(dim=1))).clamp(-1.0, 1.0)
    return torch.where(flat | (keep.sum(1) < 2), math.nan, r).numpy()


def _or_nan(score, s) -> float:
    """score(s), or NaN where the resample leaves the measure undefined (e.g. an RDM of one distinct pair)."""
    try:
        return score(s)
    except (ShapeError, ConfigError):
        return math.nan


def split_half_ceiling(X, measure, n_splits: int = 100, seed: int = 0) -> dict[str, float]:
    """Split-half reliability of a similarity measure and its Spearman-Brown noise ceiling.

    Args:
        X: (trials, conditions, units) data of one system, at least 2 trials.
        measure: a similarity measure in [-1, 1] (a correlation-like score: RSA, CKA, CCA).
    Returns:
        ``{"split_half": mean score between half means, "ceiling": 2 r / (1 + r)}``.
    """
    m = _metric(measure)
    if m.info.direction != "similarity" or m.info.range[1] != 1.0:
        raise ConfigError("split_half_ceiling needs a similarity measure with maximum 1 (Spearman-Brown corrects "
                          f"a correlation-like score); got {m.info.direction} with range {m.info.range}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[0] < 2:
        raise ShapeError(f"X: expected (trials >= 2, conditions, units), got shape {X.shape}")
    rng = np.random.default_rng(seed)
    half = X.shape[0] // 2
    r = []
    for _ in range(n_splits):                                 # one score per split
        order = rng.permutation(X.shape[0])
        r.append(m.fit_score(X[order[:half]].mean(0), X[order[half:2 * half]].mean(0)))
    r = float(np.mean(r))
    return {"split_half": r, "ceiling": 2 * r / (1 + r) if r > -1 else -1.0}
