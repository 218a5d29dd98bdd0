"""DSA's separation of attractor types against delays and rank, beside the held-out prediction rule that
`select_embedding` applies, and the figure of both.

    python benchmarks/similarity_embedding.py            # writes docs/figures/similarity/embedding_grid.png

Data: `testcases.attractor_trio(n_per_type=2, sigma=0.05, seed=0)` (saddle, line and point attractors
with matched condition averages; 6 systems of 100 trials x 1000 steps x 2 units). For every (delays,
rank) cell: the separation ratio (mean between-type / mean within-type angular DSA distance) and the
median over the 6 systems of `select_embedding`'s held-out one-step error (relative to persistence).
Prints one JSON summary.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import numpy as np
import torch

from brainlearn.similarity import DSA, pairwise, separation_ratio
from brainlearn.similarity import testcases as tc
from brainlearn.similarity.dsa import select_embedding

DELAYS = (2, 5, 10, 20)
RANKS = (4, 8, 10, 15, 20)


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    systems, labels = tc.attractor_trio(n_per_type=2, sigma=0.05, seed=0)
    choices = [select_embedding(X, DELAYS, RANKS) for X in systems]
    nmse = np.median(np.stack([c.errors for c in choices]), 0)
    ratio = np.full((len(DELAYS), len(RANKS)), np.nan)
    for a, d in enumerate(DELAYS):
        for b, r in enumerate(RANKS):
            if r <= 2 * d:
                ratio[a, b] = separation_ratio(pairwise(systems, DSA(n_delays=d, rank=r)), labels)
    picked = Counter((c.n_delays, c.rank) for c in choices).most_common(1)[0][0]
    out = {"delays": DELAYS, "ranks": RANKS, "separation_ratio": np.round(ratio, 3).tolist(),
           "median_nmse": np.round(nmse, 4).tolist(), "choices": [(c.n_delays, c.rank) for c in choices],
           "most_common_choice": picked, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out))

    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    titles = ("DSA separation ratio (between / within type)",
              "held-out one-step error / persistence error (median of 6)")
    for ax, grid, title, fmt in zip(fig.subplots(1, 2), (ratio, nmse), titles, ("{:.2f}", "{:.3f}")):
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(RANKS)), [str(r) for r in RANKS])
        ax.set_yticks(range(len(DELAYS)), [str(d) for d in DELAYS])
        ax.set_xlabel("rank")
        ax.set_ylabel("delays")
        ax.set_title(title, fontsize=9)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="w")
        a, b = DELAYS.index(picked[0]), RANKS.index(picked[1])
        ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, ec="red", lw=2))   # the rule's choice
        fig.colorbar(im, ax=ax, shrink=0.8)
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "figures", "similarity", "embedding_grid.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
