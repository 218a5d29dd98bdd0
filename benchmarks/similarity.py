"""Cross-check and speed benchmark of brainlearn.similarity against the reference library dsa-metric.

    python benchmarks/similarity.py                      # cross-check + 15-pair + 100-system workloads
    python benchmarks/similarity.py --skip-reference     # our timings only (dsa-metric not installed)
    python benchmarks/similarity.py --only hundred --device cuda   # our solver on a GPU (reference on CPU)

Prints one JSON summary. The reference (`pip install dsa-metric`, imported as `DSA`) is an optional
extra; it normalises its inputs in place, so it always gets copies here. Timings are wall-clock with
one torch thread; record `cat /proc/loadavg` next to them (the summary includes it). On a shared machine
the process CPU time (``*_cpu_s``) is the steadier figure; report both, and ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from brainlearn.similarity import DSA, pairwise
from brainlearn.similarity import testcases as tc
from brainlearn.similarity.dsa import align_operators, delay_embed, fit_havok


def _load() -> str:
    return open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "n/a"


def _eig_gap(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.abs(a[:, None] - b[None, :])
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


def _ref():
    import DSA as ref  # noqa: N811  (the reference package's own name)

    return ref


def crosscheck(args) -> dict:
    ref = _ref()
    systems, _ = tc.attractor_trio(2, 0.05, n_trials=40, n_steps=4000, downsample=10, seed=1)
    d, r = args.n_delays, args.rank
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # the reference builds its Hankel with torch.zeros (default dtype)
    try:
        hankel = max(float((delay_embed(X, d) - ref.dmd.embed_signal_torch(torch.tensor(X.copy()), d)).abs().max())
                     for X in systems)
        ref_ops = []
        for X in systems:
            dmd = ref.DMD(X.copy(), n_delays=d, rank=r, lamb=0.0, device="cpu")
            dmd.fit()
            ref_ops.append(dmd.A_v.detach().clone().double())
    finally:
        torch.set_default_dtype(default)
    ours = [fit_havok(X, d, rank=r) for X in systems]
    eig = max(_eig_gap(o.eigenvalues, torch.linalg.eigvals(a).numpy()) for o, a in zip(ours, ref_ops))
    pairs = [(i, j) for i in range(len(systems)) for j in range(i + 1, len(systems))]
    w_ours = pairwise(ours, DSA(score_method="wasserstein"))
    w_rel, ang = [], []
    our_angle = align_operators(torch.stack([ours[i].A for i, _ in pairs]), torch.stack([ours[j].A for _, j in pairs]),
                                max_iter=args.max_iter).angle.numpy()
    for k, (i, j) in enumerate(pairs):
        w_ref = ref.SimilarityTransformDist(score_method="wasserstein").fit_score(
            ref_ops[i].clone(), ref_ops[j].clone())
        w_rel.append(abs(w_ours[i, j] ** 2 - w_ref) / abs(w_ref))
        a_ref = ref.SimilarityTransformDist(iters=args.ref_iters, lr=args.ref_lr, score_method="angular").fit_score(
            ref_ops[i].float(), ref_ops[j].float())   # its parametrisation is float32
        ang.append((float(our_angle[k]), float(a_ref)))
    ang = np.array(ang)
    return {
        "hankel_max_abs_diff": hankel,
        "dmd_eigenvalue_max_abs_diff": eig, "dmd_eigenvalue_ok(<1e-5)": eig < 1e-5,
        "wasserstein_max_rel_diff": float(max(w_rel)), "wasserstein_ok(<1e-6)": float(max(w_rel)) < 1e-6,
        "angular_ours_minus_ref_max": float((ang[:, 0] - ang[:, 1]).max()),
        "angular_ours_minus_ref_mean": float((ang[:, 0] - ang[:, 1]).mean()),
        "angular_abs_diff_max": float(np.abs(ang[:, 0] - ang[:, 1]).max()),
        "angular_ok(ours<=ref+0.01)": bool((ang[:, 0] <= ang[:, 1] + 0.01).all()),
        "pairs": len(pairs),
    }


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _timed_cpu(fn):
    """(result, wall seconds, process CPU seconds)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def fifteen_pairs(args, with_ref: bool) -> dict:
    """The Galgali workload: 6 systems (2 per type), d = 20, rank = 15: 15 angular pairs."""
    systems, _ = tc.attractor_trio(2, 0.05, seed=0)
    metric = DSA(n_delays=args.n_delays, rank=args.rank, max_iter=args.max_iter, device=args.device)
    fits, t_fit = _timed(lambda: [metric.prepare(X) for X in systems])
    D, t_score = _timed(lambda: pairwise(fits, metric))
    out = {"ours_fit_s": t_fit, "ours_score_s": t_score, "ours_total_s": t_fit + t_score,
           "ours_mean_angle": float(D[np.triu_indices(6, 1)].mean())}
    if with_ref:
        ref = _ref()
        ops = [f.A.clone() for f in fits]

        def ref_scores():
            return [ref.SimilarityTransformDist(iters=args.ref_iters, lr=args.ref_lr, score_method="angular")
                    .fit_score(ops[i].float(), ops[j].float()) for i in range(6) for j in range(i + 1, 6)]

        vals, t_ref = _timed(ref_scores)
        _, t_ref_total = _timed(lambda: ref.DSA([X.copy() for X in systems], n_delays=args.n_delays, rank=args.rank,
                                                lamb=0.0, score_method="wasserstein").fit_score())
        out.update({"ref_score_s": t_ref, "ref_mean_angle": float(np.mean(vals)),
                    "speedup_scoring": t_ref / t_score,
                    "ref_dmd_plus_wasserstein_s": t_ref_total})
    return out


def hundred_systems(args, with_ref: bool) -> dict:
    """100 noisy ring / linear systems, d = 5, rank 10 (by default): 4950 angular pairs (reference timed on a
    sample of pairs and extrapolated linearly: it scores pairs one at a time)."""
    systems = []
    for s in range(args.n_systems):
        if s % 2:
            systems.append(tc.ring_attractor(n_trials=10, n_steps=200, sigma=0.2 + 0.01 * s, seed=s))
        else:
            g = np.random.default_rng(s)
            A = np.linalg.qr(g.normal(size=(2, 2)))[0] * (0.9 + 0.001 * s)
            x, traj = g.normal(size=(10, 2)), []
            for _ in range(200):
                traj.append(x)
                x = x @ A.T + 0.1 * g.normal(size=x.shape)
            systems.append(np.stack(traj, 1))
    metric = DSA(n_delays=args.hundred_delays, rank=args.hundred_rank, max_iter=args.max_iter, device=args.device)
    fits = [metric.prepare(X) for X in systems]
    D, t_ours, cpu_ours = _timed_cpu(lambda: pairwise(fits, metric))
    W, t_w = _timed(lambda: pairwise(fits, DSA(score_method="wasserstein")))
    n_pairs = len(systems) * (len(systems) - 1) // 2
    out = {"systems": len(systems), "pairs": n_pairs, "n_delays": args.hundred_delays, "rank": args.hundred_rank,
           "device": args.device, "ours_angular_s": t_ours, "ours_angular_cpu_s": cpu_ours,
           "ours_mean_angle": float(D[np.triu_indices(len(systems), 1)].mean()), "ours_wasserstein_s": t_w}
    if with_ref:
        ref = _ref()
        rng = np.random.default_rng(0)
        sample = [tuple(sorted(rng.choice(len(systems), 2, replace=False))) for _ in range(args.ref_sample_pairs)]
        vals, t_ref, cpu_ref = _timed_cpu(lambda: [ref.SimilarityTransformDist(iters=args.ref_iters, lr=args.ref_lr,
                                                                               score_method="angular")
                                                   .fit_score(fits[i].A.float(), fits[j].A.float()) for i, j in sample])
        ours_sample = np.array([D[i, j] for i, j in sample])
        out.update({"ref_sample_pairs": len(sample), "ref_sample_s": t_ref, "ref_sample_cpu_s": cpu_ref,
                    "ref_extrapolated_s": t_ref / len(sample) * n_pairs,
                    "ref_extrapolated_cpu_s": cpu_ref / len(sample) * n_pairs,
                    "speedup_angular": t_ref / len(sample) * n_pairs / t_ours,
                    "speedup_angular_cpu": cpu_ref / len(sample) * n_pairs / cpu_ours,
                    "sample_ours_mean": float(ours_sample.mean()), "sample_ref_mean": float(np.mean(vals)),
                    "sample_ours_minus_ref_max": float((ours_sample - np.array(vals)).max()),
                    "sample_ours_minus_ref_mean": float((ours_sample - np.array(vals)).mean())})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-delays", type=int, default=20)
    p.add_argument("--rank", type=int, default=15)
    p.add_argument("--max-iter", type=int, default=1000, help="our iteration cap per pair")
    p.add_argument("--ref-iters", type=int, default=1000, help="reference Adam steps (x2: both det signs)")
    p.add_argument("--ref-lr", type=float, default=1e-2)
    p.add_argument("--n-systems", type=int, default=100)
    p.add_argument("--hundred-delays", type=int, default=5, help="delays of the many-systems workload")
    p.add_argument("--hundred-rank", type=int, default=10, help="rank of the many-systems workload")
    p.add_argument("--device", default="cpu", help="device of our angular solver (cpu, cuda, ...)")
    p.add_argument("--ref-sample-pairs", type=int, default=10)
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--only", choices=("crosscheck", "fifteen", "hundred"), default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    try:
        _ref()
        with_ref = not args.skip_reference
    except ImportError:
        with_ref = False
    summary = {"reference": with_ref, "load_before": _load(), "torch_threads": 1}
    if with_ref and args.only in (None, "crosscheck"):
        summary["crosscheck"] = crosscheck(args)
    if args.only in (None, "fifteen"):
        summary["fifteen_pairs"] = fifteen_pairs(args, with_ref)
    if args.only in (None, "hundred"):
        summary["hundred_systems"] = hundred_systems(args, with_ref)
    summary["load_after"] = _load()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
