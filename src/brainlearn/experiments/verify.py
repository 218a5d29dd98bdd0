"""`brainlearn verify`: run experiments over seeds (as sweep points) and judge their claims."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brainlearn import experiments
from brainlearn.errors import BrainlearnError, ConfigError
from brainlearn.experiments import sweep
from brainlearn.experiments.base import claim_ok
from brainlearn.experiments.runner import interrupted_run, make_config, run_experiment
from brainlearn.runtime import RunDir
from brainlearn.runtime.report import markdown_report, strip_plot
from brainlearn.runtime.rundir import atomic_write_bytes, atomic_write_json, short_hash

log = logging.getLogger("brainlearn")


@dataclass
class Verification:
    sections: list[dict[str, Any]]
    out_dir: Path | None

    def passed(self, strict: bool = False) -> bool:
        """No gated claim FAILs (with `strict`, none XPASSes either)."""
        return all(claim_ok(c, strict) for s in self.sections for c in s["claims"])


def verify(names: list[str], *, preset: str = "quick", seeds: int = 1, device: str = "cpu",
           out: str | Path | None = "runs", overrides: list[str] | tuple = (), quiet: bool = True,
           workers: int = 1, threads: int = 1, backend: str | None = None, address: str | None = None,
           on_section=None, slurm: dict | None = None, chunk: int | None = None) -> Verification:
    """Run each experiment over `seeds` seeds (0..seeds-1) and judge its claims over them.

    Seeds run as sweep points (see :mod:`brainlearn.experiments.sweep`), each in a normal run directory
    under `out`: by default (`backend` None) as one stacked ensemble for an experiment that declares stacked
    runs, from its `stack_from` seeds and with `workers` 1, otherwise `workers` at a time on `backend`
    ("local" when None). Writes
    ``<out>/verify/<timestamp>-<hash>/claims.json`` and ``report.md`` (a strip plot of each experiment's
    per-seed claim values against their thresholds, and the first seed's figures). A run of an earlier verify
    that was interrupted, with the same experiment, preset, seed, device, threads and config, resumes in its
    own directory (not for stacked seeds): rerunning a killed verify keeps what it had finished. With
    ``out=None`` everything stays in memory. `on_section` is called with each finished experiment's section.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    sweep.check_options(backend or "local", workers, threads, 0, device, slurm)
    sweep.check_chunk(chunk)
    exps = [experiments.get(n) for n in names]
    configs = [make_config(e, preset, overrides) for e in exps]  # validate everything before running
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{short_hash([names, preset, seeds, time.time_ns()])}"
    verify_dir = Path(out) / "verify" / stamp if out is not None else None
    sections = []
    for exp, config in zip(exps, configs):
        started = time.perf_counter()
        if out is None:
            metrics = [run_experiment(exp, config, s, preset=preset, device=device, out=None).result.metrics
                       for s in range(seeds)]
            runs = []
        else:
            points = sweep.expand(exp.name, preset, {}, seeds, tuple(overrides))
            stacks = exp.run_stacked is not None and workers == 1 and seeds >= exp.stack_from
            chosen = backend or ("stacked" if stacks else "local")
            runs = [Path(out) / exp.name / f"{stamp}-seed{p.seed}" for p in points]
            if chosen != "stacked":   # a run this verify started before it was interrupted resumes (rerun to resume)
                runs = [interrupted_run(out, exp, config, p.seed, preset, device, threads) or fresh
                        for p, fresh in zip(points, runs)]
                for path in runs:
                    if not path.name.startswith(stamp):
                        log.info("%s: resuming the interrupted run %s", exp.name, path)
            records = sweep.run_points(points, runs, workers=workers, threads=threads, backend=chosen,
                                       address=address, device=device, quiet=quiet, slurm=slurm, chunk=chunk)
            for p, r in zip(points, records):
                if r["state"] == "diverged":  # judged like any run: its non-finite claims fail
                    log.warning("%s seed %s %s", exp.name, p.seed, r["error"])
                elif r["state"] != "finished":
                    raise (BrainlearnError if r.get("user_error") else RuntimeError)(
                        f"{exp.name} seed {p.seed} failed: {r['error']}")
            metrics = [r["metrics"] for r in records]
        wall_s = time.perf_counter() - started      # the runs alone: what `--estimate` scales from
        claims = exp.judge(config, metrics)
        figures = []
        if verify_dir is not None:
            if claims:
                figures.append(RunDir(verify_dir).save_figure(f"{exp.name}-claims", strip_plot(exp.name, claims)))
            for fig in sorted((runs[0] / "figures").glob("*.png")):
                dest = verify_dir / "figures" / f"{exp.name}-{fig.name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fig, dest)
                figures.append(dest)
        section = {"experiment": exp.name, "paper": exp.paper, "preset": preset, "claims": claims,
                   "figures": figures, "runs": [str(r) for r in runs], "wall_s": wall_s, "seeds": seeds,
                   "device": device, "workers": workers}
        sections.append(section)
        if on_section:
            on_section(section)
    if verify_dir is not None:
        verify_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(verify_dir / "claims.json", sections)
        report = markdown_report(f"brainlearn verify ({preset}, {seeds} seed{'s' * (seeds > 1)})",
                                 sections, verify_dir)
        atomic_write_bytes(verify_dir / "report.md", report.encode())
    return Verification(sections, verify_dir)
