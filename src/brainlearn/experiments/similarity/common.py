"""What the similarity experiments share: the papers' ids and the distance-matrix figures."""

from __future__ import annotations

import numpy as np

from brainlearn import plotting
from brainlearn.similarity import classical_mds

DSA_PAPER = "2306.10168"      # Ostrow et al., "Beyond geometry: comparing the temporal structure of computation"
GUILHOT = "2410.24070"        # Guilhot et al., "DSA can identify compositional dynamics developing in RNNs"

PANEL = (3.2, 3.2)


def plot_matrices(mats: dict[str, np.ndarray], labels, title: str):
    """One panel per ``name -> (n, n)`` distance matrix, rows and columns labelled with the (n,) `labels`."""
    fig, axes = plotting.figure(len(mats), panel=PANEL, title=title)
    for ax, (name, D) in zip(axes, mats.items()):
        plotting.matrix(ax, D, [str(lab) for lab in labels], title=name)
    return fig


def plot_mds(mats: dict[str, np.ndarray], labels: np.ndarray, title: str):
    """One panel per ``name -> (n, n)`` distance matrix: its 2-d classical MDS, coloured by (n,) `labels`."""
    fig, axes = plotting.figure(len(mats), panel=PANEL, title=title)
    for ax, (name, D) in zip(axes, mats.items()):
        Y = classical_mds(D)
        for lab in dict.fromkeys(labels):
            sel = labels == lab
            ax.scatter(Y[sel, 0], Y[sel, 1], label=str(lab), s=20)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend()
    return fig
