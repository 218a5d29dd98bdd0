"""Calibration of brainlearn.similarity.inference on null data, and its figure.

    python benchmarks/similarity_calibration.py      # writes docs/figures/similarity/calibration.png
    python benchmarks/similarity_calibration.py --conditions   # bootstrap_conditions coverage only

Left: the cumulative distribution of RSA permutation-test p-values (Spearman, 4 units) over 1000 null data
sets (independent X, Y) with 5, 6 and 7 conditions; a calibrated test lies on or below the diagonal (exact
tests with a discrete statistic are conservative). Right: coverage of the 95% `bootstrap_mean` interval
over 1000 normal samples of n networks, expanded (default) and plain percentile. The same seeds as
tests/similarity/test_inference.py for the left panel. Prints one JSON summary.

`--conditions`: coverage of the 95% `bootstrap_conditions` interval (RSA of euclidean RDMs, Pearson and
Spearman) for the population RSA of `testcases.ConditionPopulation.random()`, over 1000 data sets of n
conditions (1000 resamples each), with the seeds of the tests; no figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from brainlearn.similarity import RSA
from brainlearn.similarity.inference import bootstrap_conditions, bootstrap_mean, permutation_test
from brainlearn.similarity.testcases import ConditionPopulation


def conditions() -> None:
    population, out = ConditionPopulation.random(), {}
    for compare in ("corr", "spearman"):
        truth, m = population.rsa(compare), RSA(rdm="euclidean", compare=compare)
        out[compare] = {"truth": round(truth, 4)}
        for n in (6, 10, 20, 40):
            t = time.process_time()
            hits = [(iv := bootstrap_conditions(*population.sample(n, 10_000 + k), m, n_boot=1000, seed=k)).low
                    <= truth <= iv.high for k in range(1000)]
            out[compare][n] = {"coverage": float(np.mean(hits)), "cpu_s": round(time.process_time() - t, 1)}
            print(json.dumps({compare: {n: out[compare][n]}}), flush=True)
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conditions", action="store_true", help="only the bootstrap_conditions coverage")
    if p.parse_args().conditions:
        return conditions()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    out = {"fpr": {}, "coverage": {}}
    grid = np.linspace(0, 1, 201)
    for c in (5, 6, 7):
        rng = np.random.default_rng(c)
        p = np.array([permutation_test(rng.normal(size=(c, 4)), rng.normal(size=(c, 4)), RSA(compare="spearman"),
                                       seed=d).p_value for d in range(1000)])
        out["fpr"][c] = float(np.mean(p <= 0.05))
        left.plot(grid, [np.mean(p <= g) for g in grid], label=f"{c} conditions")
    left.plot([0, 1], [0, 1], "k--", lw=0.8)
    left.axvline(0.05, color="grey", lw=0.5)
    left.set(xlabel="nominal level", ylabel="fraction of null p-values <= level",
             title="RSA permutation test, 1000 null data sets each")
    left.legend(fontsize=8)
    ns = (5, 7, 10, 20)
    for method in ("expanded", "percentile"):
        cov = []
        for n in ns:
            rng = np.random.default_rng(100 + n)
            hits = [(iv := bootstrap_mean(rng.normal(size=n), n_boot=2000, seed=d, method=method)).low <= 0 <= iv.high
                    for d in range(1000)]
            cov.append(float(np.mean(hits)))
        out["coverage"][method] = dict(zip(ns, cov))
        right.plot(ns, cov, "o-", label=method)
    right.axhspan(0.92, 0.98, color="grey", alpha=0.2, label="95% +- 3 points")
    right.set(xlabel="networks n", ylabel="coverage of the true mean", ylim=(0.8, 1.0),
              title="bootstrap_mean 95% interval, 1000 samples each")
    right.legend(fontsize=8)
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "figures", "similarity", "calibration.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
