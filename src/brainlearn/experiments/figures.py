"""`python -m brainlearn.experiments.figures`: each experiment's quick-preset figures for the docs.

Runs every experiment's `quick` preset at seed 0 (a normal run directory, so the figures are exactly what
``brainlearn run NAME`` draws) and copies its ``figures/*.png`` into ``docs/figures/<experiment>/``, with
``claims.png``, the strip plot of the run's claims (per-seed value, aggregate, threshold: the figure
``brainlearn verify`` draws), so every experiment, even one without a plot function, has a figure. The
pages in ``docs/experiments/`` embed them next to their claims tables; ``make figures`` calls this.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from brainlearn import experiments
from brainlearn.errors import BrainlearnError, ConfigError, quoted
from brainlearn.experiments.runner import run_experiment
from brainlearn.runtime.report import claim_rows, strip_plot, text_table
from brainlearn.runtime.rundir import atomic_write_bytes

CLAIMS_FIGURE = "claims.png"
DPI = 110  # as RunDir.save_figure


def png_bytes(figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def render(name: str, dest: Path, runs: Path, *, preset: str = "quick", seed: int = 0) -> list[Path]:
    """Run `name` (`preset`, `seed`) into a new run directory under `runs` and replace the PNGs in `dest`
    with its figures and its claims strip plot; returns the written paths, sorted."""
    outcome = run_experiment(name, seed=seed, preset=preset, out=runs)
    produced = sorted((outcome.run_dir.path / "figures").glob("*.png"))
    if any(p.name == CLAIMS_FIGURE for p in produced):
        raise ConfigError(f"{name} draws a figure named {CLAIMS_FIGURE}, the name kept for its claims strip plot")
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    written = []
    for fig in produced:
        shutil.copyfile(fig, dest / fig.name)
        written.append(dest / fig.name)
    if outcome.claims:
        atomic_write_bytes(dest / CLAIMS_FIGURE, png_bytes(strip_plot(name, outcome.claims)))
        written.append(dest / CLAIMS_FIGURE)
    print(f"{name}: {len(written)} figure(s) in {quoted(dest)}; run {quoted(outcome.run_dir.path)}")
    print(text_table(claim_rows(name, outcome.claims)), flush=True)
    return sorted(written)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainlearn.experiments.figures", description=__doc__.split(
        "\n")[0].split(": ", 1)[1])
    parser.add_argument("names", nargs="*", help="experiments (default: all)")
    parser.add_argument("--out", default="docs/figures", help="figures go to OUT/<experiment>/ (default %(default)s)")
    parser.add_argument("--runs", default=None, help="keep the run directories here (default: a temporary folder)")
    args = parser.parse_args(argv)
    names = args.names or experiments.names()
    try:
        for n in names:
            experiments.get(n)  # unknown names fail before anything runs
        with tempfile.TemporaryDirectory(prefix="brainlearn-figures-") as tmp:
            runs = Path(args.runs) if args.runs else Path(tmp)
            for n in names:
                render(n, Path(args.out) / n, runs)
    except BrainlearnError as e:
        print(f"figures: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
