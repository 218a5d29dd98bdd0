"""`brainlearn report RUNS_DIR`: a static HTML site of every claim, figure and run found under a folder.

It reads what `brainlearn verify` and `brainlearn run` wrote (see :mod:`brainlearn.experiments.verify` and
:mod:`brainlearn.experiments.runner`): a verify directory's ``claims.json`` is a list of sections
(experiment, paper, preset, claims, figures, runs), a run directory's ``claims.json`` is the list of its
evaluated claims next to ``config.json``. The site is one ``index.html`` with the figures copied beside it
under ``figures/``: every link is relative, every text is escaped and nothing is fetched from elsewhere, so
it opens offline and can be moved with the runs. Runs that a verify directory judged appear under it, not
twice; a folder that cannot be read is listed under "skipped", not fatal.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from brainlearn.errors import ConfigError, DataError, quoted
from brainlearn.runtime.report import fmt, verdict
from brainlearn.runtime.rundir import atomic_write_bytes, read_json

log = logging.getLogger("brainlearn")
GENERATOR = "brainlearn report"
VERDICTS = ("PASS", "FAIL", "XFAIL", "XPASS")


@dataclass
class Entry:
    """One judged set of claims: a verify directory's section for one experiment, or one run directory."""

    experiment: str
    paper: str
    preset: str
    kind: str  # "verify" or "run"
    path: Path  # the verify or run directory
    label: str
    claims: list[dict[str, Any]]
    figures: list[Path] = field(default_factory=list)  # PNGs to copy into the site
    runs: list[Path] = field(default_factory=list)  # run directories behind the claims


def _claims(rows: Any, where: Path) -> list[dict[str, Any]]:
    """Evaluated claims, checked enough to render: a list of dicts with an id and numbers where numbers go."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
        raise DataError(f"{quoted(where)}: expected a list of claims (objects with an 'id'), got {type(rows).__name__}")
    for r in rows:
        number = (int, float)
        values, interval = r.get("values", []), r.get("interval")
        if not isinstance(r.get("measured", 0.0), number) or not isinstance(values, list) \
                or not all(isinstance(v, number) for v in values) \
                or interval is not None and not (isinstance(interval, list) and len(interval) == 2
                                                 and all(isinstance(v, number) for v in interval)) \
                or not isinstance(r.get("history", []), list) \
                or not all(isinstance(h, dict) for h in r.get("history", [])):
            raise DataError(f"{quoted(where)}: claim {r['id']!r} has a malformed measured value, values, "
                            "interval or history")
    return rows


def _seed_run(verify_dir: Path, recorded: str) -> Path:
    """A run directory a verify section names: as recorded (absolute, or relative to where verify ran), else
    where verify puts it relative to its own folder (``<out>/verify/<stamp>`` next to ``<out>/<exp>/<run>``)."""
    path = Path(recorded)
    if path.is_dir():
        return path
    return verify_dir.parent.parent / Path(*path.parts[-2:]) if len(path.parts) >= 2 else path


def _verify_entries(path: Path, sections: Any) -> list[Entry]:
    if not isinstance(sections, list) or not all(isinstance(s, dict) and isinstance(s.get("experiment"), str)
                                                 for s in sections):
        raise DataError(f"{quoted(path / 'claims.json')}: expected a list of experiment sections")
    out = []
    for s in sections:
        claims = _claims(s.get("claims"), path / "claims.json")
        seeds = max((len(c.get("values", [])) for c in claims), default=0)
        figures = [path / "figures" / Path(str(f)).name for f in s.get("figures", []) if isinstance(f, str)]
        runs = [_seed_run(path, r) for r in s.get("runs", []) if isinstance(r, str)]
        out.append(Entry(s["experiment"], str(s.get("paper", "?")), str(s.get("preset", "?")), "verify", path,
                         f"verify {path.name}: {s.get('preset', '?')} preset, {seeds} seed{'s' * (seeds != 1)}",
                         claims, [f for f in figures if f.is_file()], runs))
    return out


def _run_entry(path: Path, claims: Any) -> Entry:
    header = read_json(path / "config.json")
    if not isinstance(header, dict) or not isinstance(header.get("experiment"), str):
        raise DataError(f"{quoted(path / 'config.json')}: expected a run header with an 'experiment'")
    status = read_json(path / "status.json") if (path / "status.json").is_file() else {}
    state = status.get("state", "unknown") if isinstance(status, dict) else "unknown"
    preset = str(header.get("preset", "?"))
    return Entry(header["experiment"], str(header.get("paper", "?")), preset, "run", path,
                 f"run {path.name}: {preset} preset, seed {header.get('seed', '?')} ({state})",
                 _claims(claims, path / "claims.json"), sorted((path / "figures").glob("*.png")), [path])


def collect(runs_dir: str | Path, skip: Path | None = None) -> tuple[list[Entry], list[Path], list[str]]:
    """Every judged entry under `runs_dir` (verify sections first, newest first, then runs no verify
    covers), the run directories without claims (unfinished), and the problems met (one line each)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise ConfigError(f"expected a folder of runs (e.g. ./runs), got {quoted(root)}: not a directory")
    skip = skip.resolve() if skip is not None else None
    found = [p for p in sorted(root.rglob("claims.json"))
             if skip is None or not p.resolve().is_relative_to(skip)]
    verifies, runs, problems = [], [], []
    for p in found:
        try:
            data = read_json(p)
            if (p.parent / "config.json").is_file():
                runs.append(_run_entry(p.parent, data))
            else:
                verifies.extend(_verify_entries(p.parent, data))
        except (ConfigError, DataError) as e:
            problems.append(str(e))
    verifies.sort(key=lambda e: e.path.name, reverse=True)
    covered = {r.resolve() for e in verifies for r in e.runs}
    runs = [e for e in runs if e.path.resolve() not in covered]
    judged = {e.path.resolve() for e in runs} | covered
    unfinished = [p.parent for p in sorted(root.rglob("config.json")) if not (p.parent / "claims.json").exists()
                  and p.parent.resolve() not in judged and (skip is None or not p.resolve().is_relative_to(skip))]
    return verifies + runs, unfinished, problems


# -- HTML ----------------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { font-family: ui-monospace, monospace; white-space: nowrap; }
td.id { white-space: nowrap; }
.v { font-weight: bold; white-space: nowrap; padding: 1px 5px; border-radius: 3px; }
.PASS { background: #d7f0d7; color: #145214; } .FAIL { background: #f7d4d4; color: #8a1010; }
.XFAIL { background: #f6ead0; color: #6b4d00; } .XPASS { background: #e6dcf5; color: #4b2a80; }
.ungated { opacity: 0.65; font-style: italic; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 640px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
.problems li { color: #8a1010; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _href(target: Path, base: Path) -> str:
    """A relative, percent-encoded link from the folder `base` to `target`."""
    return quote(Path(os.path.relpath(target.resolve(), base.resolve())).as_posix())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _word(row: dict[str, Any]) -> str:
    word = str(row.get("verdict") or ("PASS" if row.get("passed") else "FAIL"))
    return word if word in VERDICTS else "FAIL"


def _verdict_cell(row: dict[str, Any]) -> str:
    gated = row.get("gated", True)
    return f'<span class="v {_word(row)}{"" if gated else " ungated"}">{_e(verdict(row))}</span>'


def _measured(row: dict[str, Any]) -> str:
    interval = row.get("interval")
    ci = f" [{fmt(interval[0])}, {fmt(interval[1])}]" if interval else ""
    return f"{fmt(row.get('measured', float('nan')))}{ci}"


CELL_CLASS = {0: " class=id", 3: " class=id", 5: " class=num", 6: " class=num", 7: " class=num"}


def _claims_table(entries: list[tuple[int, Entry]]) -> str:
    head = ["experiment", "preset", "source", "claim", "statement", "criterion", "per seed",
            "measured [95% CI]", "verdict"]
    rows = []
    for i, e in entries:
        for r in e.claims:
            criterion = f"{r.get('aggregate', '?')} {r.get('comparator', '?')} {fmt(r.get('threshold', '?'))}"
            cells = [f'<a href="#e{i}">{_e(e.experiment)}</a>', _e(e.preset), _e(e.kind), _e(r["id"]),
                     _e(r.get("statement", "")), f'<span class="num">{_e(criterion)}</span>',
                     _e(", ".join(fmt(v) for v in r.get("values", []))), _e(_measured(r)), _verdict_cell(r)]
            rows.append("<tr>" + "".join(f'<td{CELL_CLASS.get(k, "")}>{c}</td>' for k, c in enumerate(cells)) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>")


def _details(r: dict[str, Any]) -> str:
    parts = [f"<b>{_e(r['id'])}</b>: {_e(r.get('statement', ''))}"]
    if r.get("how"):
        parts.append(f"<i>Measured</i>: {_e(r['how'])} (<code>{_e(r.get('metric', '?'))}</code>).")
    if r.get("reason"):
        parts.append(f"<i>Threshold</i>: {_e(r['reason'])}")
    if r.get("expected") == "fail":
        parts.append(f"<i>Known non-reproduction</i>: see {_e(r.get('note', '?'))}.")
    for h in r.get("history", []):
        parts.append(f"<i>Revised {_e(h.get('date', '?'))}</i> from {_e(h.get('comparator', '?'))} "
                     f"{_e(fmt(h.get('threshold', '?')))} ({_e(h.get('aggregate', '?'))}"
                     + (f"; measured {_e(h['measured'])}" if h.get("measured") else "")
                     + f"): {_e(h.get('reason', ''))}")
    return "<li>" + " ".join(parts) + "</li>"


def _section(i: int, e: Entry, site: Path, figures: list[Path]) -> str:
    out = [f'<section id="e{i}"><h3>{_e(e.experiment)} <small>(arXiv:{_e(e.paper)})</small>: {_e(e.label)}</h3>',
           f'<p>From <a href="{_href(e.path, site)}/">{_e(e.path)}</a></p>',
           _claims_table([(i, e)]), "<ul>" + "".join(_details(r) for r in e.claims) + "</ul>"]
    out += [f'<figure><img src="{quote(f.relative_to(site).as_posix())}" alt="{_e(f.stem)}" loading="lazy">'
            f"<figcaption>{_e(f.name)}</figcaption></figure>" for f in figures]
    if e.runs:
        links = [f'<a href="{_href(r, site)}/">{_e(r.name)}</a>' if r.is_dir() else f"{_e(r)} (missing)"
                 for r in e.runs]
        out.append("<p>Run directories: " + ", ".join(links) + "</p>")
    return "\n".join(out) + "</section>"


def _copy_figures(i: int, e: Entry, site: Path) -> list[Path]:
    dest = site / "figures" / f"{i:03d}-{_slug(e.experiment)}"
    copied = []
    inside = e.path.resolve()
    for f in e.figures:
        # a site is made to be published: only regular files that live inside the run directory go into it
        if f.is_symlink() or not f.is_file() or not f.resolve().is_relative_to(inside):
            log.warning("report: skipping %s (not a regular file inside %s)", quoted(f), quoted(e.path))
            continue
        target = dest / _slug(f.name)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        copied.append(target)
    return copied


def _prepare(site: Path) -> None:
    """Make `site` ready to (re)write: new or empty, or a site this function wrote before (its old figures go)."""
    if site.exists() and not site.is_dir():
        raise ConfigError(f"--out must be a folder for the site, got {quoted(site)}: a file")
    index = site / "index.html"
    ours = index.is_file() and f'content="{GENERATOR}"' in index.read_text(errors="replace")
    if site.is_dir() and any(site.iterdir()) and not ours:
        raise ConfigError(f"--out {quoted(site)} is a folder with other files; give a new or empty folder "
                          "(or one a previous `brainlearn report` wrote)")
    shutil.rmtree(site / "figures", ignore_errors=True)
    try:
        site.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the site folder {quoted(site)}: {e.strerror or e}") from None


def write_site(runs_dir: str | Path, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Write the site for `runs_dir` into `out` (default ``RUNS_DIR/report``); returns the path of its
    index.html and the count of claims per verdict."""
    runs_dir = Path(runs_dir)
    site = Path(out) if out is not None else runs_dir / "report"
    if runs_dir.resolve().is_relative_to(site.resolve()):
        raise ConfigError(f"--out {quoted(site)} holds the runs folder {quoted(runs_dir)}; give a folder of its own "
                          "for the site (default RUNS_DIR/report)")
    entries, unfinished, problems = collect(runs_dir, skip=site)
    if not entries and not unfinished and not problems:
        raise ConfigError(f"found no run or verify directory under {quoted(runs_dir)} "
                          "(expected claims.json files written by `brainlearn run` or `brainlearn verify`)")
    _prepare(site)
    counts = {v: sum(_word(r) == v for e in entries for r in e.claims) for v in VERDICTS}
    numbered = list(enumerate(entries))
    body = [f"<h1>brainlearn: claims under {_e(runs_dir)}</h1>",
            f"<p>{len(entries)} judged set{'s' * (len(entries) != 1)} of claims from "
            f"{len({e.experiment for e in entries})} experiment(s); "
            + ", ".join(f'<span class="v {v}">{v}</span> {n}' for v, n in counts.items()) + ".</p>"]
    names = sorted({e.experiment for e in entries})
    body.append("<p>Experiments: " + ", ".join(
        f'<a href="#x-{_e(_slug(n))}">{_e(n)}</a> (' + ", ".join(
            f"{v} {k}" for v in VERDICTS if (k := sum(_word(r) == v for e in entries if e.experiment == n
                                                      for r in e.claims))) + ")" for n in names) + ".</p>")
    if problems:
        body.append('<h2>Skipped</h2><ul class="problems">' + "".join(f"<li>{_e(p)}</li>" for p in problems)
                    + "</ul>")
    body += ["<h2>Reproduction table</h2>", _claims_table(numbered), "<h2>Experiments</h2>"]
    for experiment in names:
        body.append(f"<h2 id=\"x-{_e(_slug(experiment))}\">{_e(experiment)}</h2>")
        body += [_section(i, e, site, _copy_figures(i, e, site)) for i, e in numbered if e.experiment == experiment]
    if unfinished:
        body.append("<h2>Runs without claims (unfinished)</h2><ul>" + "".join(
            f'<li><a href="{_href(p, site)}/">{_e(p)}</a></li>' for p in unfinished) + "</ul>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="{GENERATOR}"><title>brainlearn report: {_e(runs_dir.name)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    atomic_write_bytes(site / "index.html", page.encode())
    return site / "index.html", counts
