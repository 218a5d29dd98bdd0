"""The `brainlearn` command line: list, run, verify, show, sweep, sweep-report, export, report, league, tasks.

User errors (unknown names, bad overrides, missing data) print one line and exit with code 2;
failing claims make `verify` exit with code 1; Ctrl-C exits with 130 and leaves a resumable run.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from pathlib import Path

from brainlearn import __version__
from brainlearn.errors import BrainlearnError, Interrupted, quoted

EXIT_USAGE, EXIT_FAILED_CLAIMS, EXIT_INTERRUPTED = 2, 1, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other user error
        raise BrainlearnError(f"{message} (see `{self.prog} --help`)")


def _add_run_options(p: argparse.ArgumentParser, preset: bool = True) -> None:
    if preset:
        p.add_argument("--preset", default="quick", help="config preset (quick, full, paper or an ablation)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable), type-checked")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--out", default="runs", help="root folder of run directories (default ./runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or log messages")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="brainlearn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"brainlearn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list experiments with their presets and claims, or one's config fields")
    p.add_argument("name", nargs="?", help="an experiment: print its config fields (type, default, range)")
    p.add_argument("--preset", default="quick", help="preset whose defaults to show (default quick)")

    p = sub.add_parser("run", help="run one experiment at one seed into a run directory")
    p.add_argument("name", nargs="?", help="experiment name (see `brainlearn list`)")
    _add_run_options(p, preset=False)
    p.add_argument("--preset", default=None, help="config preset (quick, full, paper or an ablation; default quick)")
    p.add_argument("--seed", type=int, default=None, help="seed, 0 to 2**31 - 1 (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default 1, as in sweep and verify; recorded, and restored on --resume)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its checkpoint")
    p.add_argument("--workers", type=int, default=1,
                   help="processes for the run's independent replicates (same numbers; default 1)")

    p = sub.add_parser("verify", help="run experiments over seeds and judge their claims")
    p.add_argument("names", nargs="*", help="experiments (default: all)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="preset", action="store_const", const="quick", help="quick preset (default)")
    group.add_argument("--full", dest="preset", action="store_const", const="full", help="full preset")
    group.add_argument("--paper", dest="preset", action="store_const", const="paper",
                       help="paper preset: the paper's own settings (see docs/paper-presets.md)")
    group.add_argument("--preset", dest="preset", help="any preset by name (alt, paper, an ablation)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds, 0..N-1 (default 1)")
    p.add_argument("--list", action="store_true", help="list the claims without running anything")
    p.add_argument("--markdown", action="store_true",
                   help="with --list: the reproduction table (every claim, its paper, threshold, expected "
                        "outcome and last recorded value) as Markdown")
    p.add_argument("--docs", metavar="DIR",
                   help="with --list: rewrite DIR/claims.md and the recorded-claims block of every experiment's "
                        "page under DIR from the recorded values (all experiments, their presets' configs)")
    p.add_argument("--estimate", action="store_true",
                   help="print each experiment's expected CPU hours (scaled from its recorded quick run) and GPU "
                        "hours (from an assumed speed-up), and run nothing")
    p.add_argument("--record", action="store_true",
                   help="store the measured values as the last recorded ones (the reproduction table)")
    p.add_argument("--strict", action="store_true", help="an expected failure that passes (XPASS) exits 1 too")
    _add_run_options(p, preset=False)
    _add_parallel_options(p, default_backend=None)

    p = sub.add_parser("show", help="summarise a run or verify directory")
    p.add_argument("run_dir")

    p = sub.add_parser("sweep", help="run a parameter grid times seeds, in parallel; rerun to resume")
    p.add_argument("name", help="experiment name")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a grid axis (repeatable); tuple fields separate values with ';'")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per grid point (default 1)")
    _add_run_options(p)
    _add_parallel_options(p)
    p.add_argument("--retries", type=int, default=1, help="retries of a crashed point (default 1)")

    p = sub.add_parser("sweep-report", help="aggregate a sweep: CSV and Markdown tables, plots")
    p.add_argument("sweep_dir")

    p = sub.add_parser("export", help="every run under a folder as one tidy table, or as TensorBoard runs")
    p.add_argument("dir", help="a run, sweep or verify directory, or a root of runs")
    p.add_argument("--table", default="scalars", choices=("scalars", "curves", "claims"),
                   help="final metrics (default), learning curves from metrics.jsonl, or claim verdicts")
    p.add_argument("--format", default="csv", choices=("csv", "parquet", "tensorboard"))
    p.add_argument("--out", default=None,
                   help="output file (default DIR/results.FORMAT, DIR/TABLE.FORMAT) or folder (DIR/tensorboard)")

    p = sub.add_parser("report", help="write a static HTML site of the claims, figures and runs under a folder")
    p.add_argument("runs_dir", help="folder of run and verify directories (e.g. runs)")
    p.add_argument("--out", default=None, help="folder for the site (default RUNS_DIR/report)")

    p = sub.add_parser("league", help="every learning rule on the same tasks, budget and measures: the league's table")
    p.add_argument("--preset", default="quick", help="quick, full or paper (default quick)")
    p.add_argument("--rules", default=None, help="comma-separated rules, feedforward and recurrent (default: all)")
    p.add_argument("--tasks", default=None,
                   help="comma-separated: a dataset for the feedforward league and/or sequence tasks for the recurrent")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--out", default="runs", help="root folder; the league goes to OUT/league/ (default runs)")

    p = sub.add_parser("tasks", help="cognitive tasks (Mod-Cog): list them, or plot example trials")
    tasks = p.add_subparsers(dest="tasks_command", required=True, parser_class=_Parser)
    tasks.add_parser("list", help="list the 82 Mod-Cog tasks and the suites")
    q = tasks.add_parser("show", help="write figures of example trials (inputs and targets) of a task or suite")
    q.add_argument("name", help="task (e.g. dlygointr) or suite (e.g. modcog/all)")
    q.add_argument("--out", default="runs", help="root folder; figures go to OUT/tasks/<task>.png (default runs)")
    q.add_argument("--n", type=int, default=3, help="example trials per task (default 3)")
    q.add_argument("--seed", type=int, default=0)
    return parser


def _add_parallel_options(p: argparse.ArgumentParser, default_backend: str | None = "local") -> None:
    p.add_argument("--workers", type=int, default=1,
                   help="processes: points run at once, or a single point's replicates (default 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per point (default 1)")
    default = ("default: stacked for experiments that declare it (with one worker), else local"
               if default_backend is None else f"default {default_backend}")
    p.add_argument("--backend", default=default_backend, choices=("local", "stacked", "ray", "slurm"),
                   help="local processes, one stacked ensemble in this process (experiments that declare it), "
                        f"Ray tasks, or Slurm jobs through submitit ({default})")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="a submitit parameter for --backend slurm (repeatable): slurm_partition=gpu, timeout_min=60")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local instance)")
    p.add_argument("--chunk", type=int, default=None,
                   help="stacked runs: members per vmapped call at most (bounds peak memory; the same numbers)")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        quiet = getattr(args, "quiet", False)
        logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
        return COMMANDS[args.command](args)
    except BrainlearnError as e:  # control characters from user input are escaped: the error stays one line
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in str(e))
        print(f"brainlearn: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        if isinstance(e, Interrupted) and e.resume:
            kept = "finished work and the last checkpoint are kept" if e.checkpoint else "no checkpoint yet"
            print(f"brainlearn: interrupted; {kept}; resume with: {e.resume}", file=sys.stderr)
        else:
            print("brainlearn: interrupted; finished work and the last checkpoint are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a full disk is the environment, like missing data: one line; every file is whole (atomic writes)
        where = f" writing {quoted(e.filename)}" if e.filename else ""
        print(f"brainlearn: error: no space left on the device{where}; free some and resume the run "
              "(brainlearn run --resume RUN_DIR)", file=sys.stderr)
        return EXIT_USAGE


def cmd_list(args) -> int:
    from brainlearn import catalogue
    from brainlearn.papers import citation

    entries = catalogue.load()
    if entries is None:  # plugins add experiments the catalogue cannot know: ask the registry
        entries = catalogue.build()
    if args.name:
        aliases = {a: n for n, e in entries.items() for a in e["aliases"]}
        name = aliases.get(args.name, args.name)
        if name not in entries:
            raise BrainlearnError(f"unknown experiment {args.name!r}; available: {', '.join(sorted(entries))}")
        entry = entries[name]
        if args.preset not in entry["fields"]:
            raise BrainlearnError(f"experiment {name} has no preset {args.preset!r}; "
                                  f"expected one of {', '.join(entry['presets'])}")
        rows = entry["fields"][args.preset]
        print(f"{name} ({citation(entry['paper'])}): {entry['summary']}\n"
              f"defined in {catalogue.PACKAGE / entry['source']}"
              + (f"\nformerly named {', '.join(entry['aliases'])}" if entry["aliases"] else "")
              + f"\nconfig fields, {args.preset} preset (set with --set NAME=VALUE):")
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            rng = f"  range {r['range']}" if r["range"] else ""
            print(f"  {r['name']:{width}s}  {r['type']}  default {r['default']}{rng}"
                  + (f"\n  {'':{width}s}  {r['help']}" if r["help"] else ""))
        return 0
    for name, entry in sorted(entries.items()):
        print(f"{name:24s} arXiv:{entry['paper']:12s} {entry['summary']}")
        print(f"{'':24s} presets: {', '.join(entry['presets'])}; claims: {', '.join(entry['claims'])}")
    return 0


def cmd_run(args) -> int:
    from brainlearn.experiments import runner

    if args.resume:
        given = [flag for flag, value in (("--set", args.overrides), ("--seed", args.seed),
                                          ("--preset", args.preset), ("--threads", args.threads)) if value is not None
                 and value != []]
        if given:
            raise BrainlearnError(f"--resume continues a run with its saved config, seed and threads; "
                                  f"{', '.join(given)} cannot change them")
        outcome = runner.resume_experiment(args.resume, device=None if args.device == "cpu" else args.device,
                                           quiet=args.quiet, workers=args.workers, experiment=args.name)
    else:
        if not args.name:
            raise BrainlearnError("run: give an experiment name or --resume RUN_DIR")
        from brainlearn import experiments

        exp = experiments.get(args.name)
        preset = args.preset or "quick"
        config = runner.make_config(exp, preset, args.overrides)
        outcome = runner.run_experiment(exp, config, 0 if args.seed is None else args.seed, preset=preset,
                                        device=args.device, out=args.out, quiet=args.quiet, workers=args.workers,
                                        threads=1 if args.threads is None else args.threads)
    _print_claims(outcome.experiment.name, outcome.claims)
    print(f"\nrun directory: {quoted(outcome.run_dir.path)}")
    if outcome.diverged:
        d = outcome.diverged
        where = f", first non-finite at step {d['step']}" if d["step"] is not None else ""
        print(f"brainlearn: the run diverged: {d['metric']} = {d['value']}{where} (status 'diverged')",
              file=sys.stderr)
        return EXIT_FAILED_CLAIMS
    return 0


def cmd_verify(args) -> int:
    from brainlearn import experiments
    from brainlearn.experiments import runner, verify

    names = args.names or experiments.names()
    preset = args.preset or "quick"
    if args.list:
        if args.docs:
            from brainlearn.experiments.claims_table import write_docs

            if args.names or args.overrides:
                raise BrainlearnError("--docs renders every experiment with its presets' configs: "
                                      "give no names or overrides")
            for path in write_docs(Path(args.docs)):
                print(f"rewrote {quoted(path)}")
            return 0
        if args.markdown:
            from brainlearn.experiments.claims_table import reproduction_table

            print(reproduction_table(names, args.overrides), end="")
            return 0
        for name in names:
            exp = experiments.get(name)
            for c in exp.claims(runner.make_config(exp, preset, args.overrides)):
                expected = f", expected to fail: see {c.note}" if c.expected == "fail" else ""
                print(f"{name}:{c.id}  [{c.metric} {c.comparator} {c.threshold:g}, {c.aggregate} over seeds"
                      f"{'' if c.gated else ', not gated'}{expected}]\n    {c.statement}")
                for h in c.history:
                    measured = f", measured {h.measured}" if h.measured else ""
                    print(f"    revised {h.date}: was {h.comparator} {h.threshold:g} ({h.aggregate}){measured}; "
                          f"{h.reason}")
        return 0
    if args.estimate:
        from brainlearn.experiments.claims_table import recorded
        from brainlearn.experiments.estimate import estimate

        exps = [experiments.get(name) for name in names]  # an unknown name fails before any line
        records = recorded()
        for exp in exps:
            print(estimate(exp, preset, args.seeds, records, args.overrides).line())
        return 0
    result = verify.verify(names, preset=preset, seeds=args.seeds, device=args.device, out=args.out,
                          overrides=args.overrides, quiet=args.quiet, workers=args.workers,
                          threads=args.threads, backend=args.backend, address=args.address,
                          slurm=_slurm(args.slurm), chunk=args.chunk,
                          on_section=lambda s: _print_claims(s["experiment"], s["claims"]))
    if args.record:
        from brainlearn.experiments.claims_table import record

        record(result.sections)
    if result.out_dir is not None:
        print(f"\nreport: {quoted(result.out_dir / 'report.md')}\nclaims: {quoted(result.out_dir / 'claims.json')}")
    gated = [(s["experiment"], c) for s in result.sections for c in s["claims"] if c["gated"]]  # the rest: reported
    xpass = [f"{name}:{c['id']}" for name, c in gated if c["verdict"] == "XPASS"]
    if xpass:
        print(f"\nXPASS: {', '.join(xpass)} passed although marked as known non-reproductions; "
              "their docs are stale" + (" (--strict: failing)" if args.strict else ""))
    counts = {v: sum(c["verdict"] == v for _, c in gated) for v in ("PASS", "FAIL", "XFAIL", "XPASS")}
    print("gated claims: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
    return 0 if result.passed(args.strict) else EXIT_FAILED_CLAIMS


def cmd_show(args) -> int:
    from brainlearn.runtime import RunDir
    from brainlearn.runtime.report import fmt

    path = Path(args.run_dir)
    if (path / "claims.json").is_file() and not (path / "config.json").is_file():  # a verify directory
        from brainlearn.errors import quoted
        from brainlearn.runtime.rundir import read_json

        sections = read_json(path / "claims.json")
        if not isinstance(sections, list) or not all(isinstance(s, dict) and {"experiment", "claims"} <= set(s)
                                                     for s in sections):
            raise BrainlearnError(f"{quoted(path / 'claims.json')} is not a brainlearn verify record")
        for section in sections:
            _print_claims(section["experiment"], section["claims"])
        print(f"\nreport: {quoted(path / 'report.md')}")
        return 0
    run = RunDir.open(path)
    header, status = run.header, run.status
    print(f"{header['experiment']} (arXiv:{header.get('paper', '?')}), preset {header.get('preset', '?')}, "
          f"seed {header['seed']}, device {header.get('device', '?')}: {status.get('state', 'unknown')}")
    if status.get("resume"):
        print(f"resume with: {status['resume']}")
    result = run.result()
    if result:
        for k, v in result["metrics"].items():
            print(f"  {k:28s} {fmt(v)}")
    else:
        records = run.metrics()
        print(f"  {len(records)} metric records" + (f", last: {records[-1]}" if records else ""))
    claims = run.claims()
    if claims:
        print()
        _print_claims(header["experiment"], claims)
    return 0


def _print_claims(name: str, claims: list[dict]) -> None:
    from brainlearn.runtime.report import claim_rows, text_table

    try:
        print(text_table(claim_rows(name, claims)))
    except (KeyError, TypeError, AttributeError):
        raise BrainlearnError(f"the claims of {name} are malformed (not written by brainlearn verify)") from None


def cmd_sweep(args) -> int:
    from brainlearn.experiments import sweep, sweep_report

    sweep_dir, records = sweep.sweep(
        args.name, preset=args.preset, grid=args.grid, seeds=args.seeds, overrides=args.overrides,
        workers=args.workers, threads=args.threads, backend=args.backend, address=args.address,
        device=args.device, retries=args.retries, out=args.out, quiet=args.quiet, slurm=_slurm(args.slurm),
        chunk=args.chunk)
    failed = [r for r in records if r["state"] != "finished"]
    by_error: dict[str, list[str]] = {}
    for r in failed:
        by_error.setdefault(r["error"], []).append(r["key"])
    for error, keys in by_error.items():  # the same error of many points is printed once
        print(f"failed: {keys[0]}" + (f" and {len(keys) - 1} more points" if len(keys) > 1 else "") + f": {error}")
    paths = sweep_report.write_report(sweep_dir)
    print(f"{len(records) - len(failed)}/{len(records)} points finished; summary: {quoted(paths[1])}\n"
          f"rerun the same command to retry failed points; sweep directory: {quoted(sweep_dir)}")
    return 0 if not failed else EXIT_FAILED_CLAIMS


def _slurm(items: list[str]) -> dict:
    """--slurm KEY=VALUE items as submitit parameters (integers where they parse as such)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BrainlearnError(f"--slurm {item!r}: expected KEY=VALUE")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def cmd_sweep_report(args) -> int:
    from brainlearn.experiments import sweep_report

    paths = sweep_report.write_report(args.sweep_dir)
    print(paths[1].read_text())
    print(f"written: {', '.join(quoted(p) for p in paths[:2])} and {len(paths) - 2} figures")
    return 0


def cmd_export(args) -> int:
    from brainlearn import results

    path = results.export(args.dir, args.format, args.out, table=args.table)
    print(f"written: {quoted(path)}")
    return 0


def cmd_report(args) -> int:
    from brainlearn.experiments import html_report

    index, counts = html_report.write_site(args.runs_dir, args.out)
    gated = ", ".join(f"{counts[v]} {v}" for v in html_report.VERDICTS)
    print(f"gated claims: {gated}; {counts[html_report.NOT_GATED]} reported only (not gated); "
          f"{counts[html_report.NOT_JUDGED]} not judged (overrides change the preset)\nwritten: {quoted(index)}")
    return 0


def cmd_league(args) -> int:
    from brainlearn.experiments.league import table
    from brainlearn.runtime.report import text_table

    split = lambda text: [t for t in text.split(",") if t] if text else None  # noqa: E731
    root, rows = table.run(args.preset, split(args.rules), split(args.tasks), out=args.out, device=args.device)
    columns = ("kind", "task", "rule", "value", "ci95", "align_end", "time_vs_exact")
    print(text_table([[table.cell_text(r[c]) for c in columns] for r in rows], list(columns)))
    print(f"\nleague: {quoted(root / 'league.html')}")
    return 0


def cmd_tasks(args) -> int:
    from brainlearn.data.cognitive import SUITES, TASKS

    if args.tasks_command == "list":
        for name, task in TASKS.items():
            row = task.describe()
            print(f"{name:16s} {row['family']:6s} {row['periods']:44s} {row['response']}")
        print("suites: " + ", ".join(f"{k} ({len(v)})" for k, v in SUITES.items()))
        return 0
    from brainlearn.analysis.task_figures import write_task_figures
    from brainlearn.data.cognitive.tasks import resolve_tasks

    tasks = resolve_tasks(args.name)  # an unknown name fails here, before anything is written
    paths = write_task_figures(args.name, Path(args.out) / "tasks", n=args.n, seed=args.seed)
    for task, path in zip(tasks, paths):
        row = task.describe()
        print(f"{task.name} ({row['family']})\n  periods:  {row['periods']}\n  inputs:   {row['inputs']}\n"
              f"  response: {row['response']}\n  hard:     {row['hard']}\n  figure:   {quoted(path)}")
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "verify": cmd_verify, "show": cmd_show, "sweep": cmd_sweep,
            "sweep-report": cmd_sweep_report, "export": cmd_export, "report": cmd_report, "league": cmd_league,
            "tasks": cmd_tasks}

if __name__ == "__main__":
    raise SystemExit(main())
