"""Figures for experiments: one style, and the few plot shapes every experiment uses.

Figures are plain ``matplotlib.figure.Figure`` objects (no pyplot state, so no GUI backend and nothing to
close). A plot function reads every shape it needs from the result's arrays, never from a dataset's name.

>>> fig, (ax,) = figure(1)
>>> curves(ax, [1, 2, 3], {"backprop": [0.5, 0.8, 0.9]}, xlabel="epoch", ylabel="test accuracy")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported only when a figure is made
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANEL = (4.5, 3.5)  # inches per panel
STYLE: dict[str, Any] = {"font.size": 9, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False,
         "legend.fontsize": 7, "legend.frameon": False}


def figure(ncols: int = 1, nrows: int = 1, *, panel: tuple[float, float] = PANEL,
           title: str | None = None) -> tuple[Figure, list[Axes]]:
    """A figure of `nrows` x `ncols` panels in brainlearn's style; returns ``(fig, axes)`` with `axes` a
    flat list."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # (its keys are typed as a Literal of all rcParams)
        fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:  # the style applies to axes made inside the context; keep it for later artists
        ax.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(title)
    return fig, list(axes.flat)


def curves(ax: Axes, x: Sequence[float] | np.ndarray, ys: Mapping[str, Sequence[float]], *, xlabel: str = "",
           ylabel: str = "", title: str = "", dashed: Sequence[str] = (), reference: float | None = None,
           **axis: Any) -> None:
    """One line per ``label -> y`` against `x` (`dashed` labels dashed, e.g. baselines); an optional
    horizontal `reference` line; extra keywords go to ``ax.set`` (``yscale="log"``, ``ylim=...``)."""
    for label, y in ys.items():
        ax.plot(np.asarray(x)[: len(y)], y, label=label, ls="--" if label in dashed else "-")
    if reference is not None:
        ax.axhline(reference, color="grey", lw=0.8, ls=":")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, **axis)
    if len(ys) > 1:
        ax.legend()


def bars(ax: Axes, values: Mapping[str, float], errors: Mapping[str, float] | None = None, *, ylabel: str = "",
         title: str = "", reference: float | None = None) -> None:
    """A bar per ``label -> value`` with optional error bars and a horizontal `reference` line."""
    labels = list(values)
    err = [errors[k] for k in labels] if errors else None
    ax.bar(range(len(labels)), [values[k] for k in labels], yerr=err, capsize=3, color="C0")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    if reference is not None:
        ax.axhline(reference, color="grey", lw=0.8, ls=":")
    ax.set(ylabel=ylabel, title=title)


def matrix(ax: Axes, M: np.ndarray, labels: Sequence[str] | None = None, *, title: str = "", colorbar: bool = False,
           **imshow: Any) -> None:
    """A matrix as an image, rows and columns labelled with `labels`."""
    image = ax.imshow(np.asarray(M), cmap=imshow.pop("cmap", "viridis"), **imshow)
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
