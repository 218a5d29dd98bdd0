"""`brainlearn report RUNS_DIR`: a static HTML site that compares the claims, curves, figures and runs under a
folder.

:mod:`~brainlearn.experiments.report_data` reads and groups what `verify`, `run` and `sweep` wrote (a verify
section, the runs of one experiment, preset and config judged over their seeds, a sweep as a table with a
column per grid field) and never writes there; :mod:`~brainlearn.experiments.report_curves` draws the
learning curves. A set whose config differs from its preset shows its overrides and is not judged; ungated
claims are never counted as failures. The site is one ``index.html`` with the figures copied beside it under
``figures/`` and one small inline script that sorts and filters its tables: every link is relative, every
text is escaped and nothing is fetched from elsewhere, so it opens offline and can be moved with the runs.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from brainlearn.errors import ConfigError, quoted
from brainlearn.experiments.report_curves import curves_html
from brainlearn.experiments.report_data import NOT_GATED, NOT_JUDGED, VERDICTS, Entry, Sweep, collect, tally, word
from brainlearn.runtime.report import fmt, verdict
from brainlearn.runtime.rundir import atomic_write_bytes

log = logging.getLogger("brainlearn")
GENERATOR = "brainlearn report"


# -- HTML ----------------------------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.wide { overflow-x: auto; }
td.num { font-family: ui-monospace, monospace; white-space: nowrap; }
td.id { white-space: nowrap; }
.v { font-weight: bold; white-space: nowrap; padding: 1px 5px; border-radius: 3px; }
.PASS { background: #d7f0d7; color: #145214; } .FAIL { background: #f7d4d4; color: #8a1010; }
.XFAIL { background: #f6ead0; color: #6b4d00; } .XPASS { background: #e6dcf5; color: #4b2a80; }
.ungated { opacity: 0.65; font-style: italic; }
.unjudged { background: #e4e4e4; color: #444; white-space: normal; display: inline-block; }
td.text { min-width: 16em; }
.overrides { background: #fff6d6; padding: 4px 8px; border-left: 4px solid #d9a400; }
input.filter { margin: 0.3em 0; padding: 3px 6px; width: 24em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 640px; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; }
svg.curve { margin: 0 0.8em 0.8em 0; font: 10px system-ui, sans-serif; }
svg .frame { fill: none; stroke: #bbb; } svg .mean { fill: none; stroke: #1f5fa8; stroke-width: 1.5; }
svg .band { fill: #1f5fa8; opacity: 0.2; } svg .t { font-size: 11px; }
svg .y { text-anchor: end; } svg .x1 { text-anchor: end; } svg .xl { text-anchor: middle; fill: #666; }
.problems li { color: #8a1010; }
"""

# Sorting (click a header; again to reverse) and filtering (rows holding every word typed) of the tables
# marked "sortable"; a cell's data-sort, where present, is the number it sorts by.
SCRIPT = """
"use strict";
function sortTable(table, column) {
  const header = table.tHead.rows[0].cells[column];
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  for (const cell of table.tHead.rows[0].cells) cell.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const key = row => {
    const cell = row.cells[column];
    const number = cell && cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : NaN;
    return Number.isNaN(number) ? (cell ? cell.textContent.trim() : "") : number;
  };
  const order = (a, b) => typeof a === "number" && typeof b === "number" ? a - b
    : typeof a === "number" ? -1 : typeof b === "number" ? 1 : a.localeCompare(b, undefined, {numeric: true});
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).sort((a, b) => (ascending ? 1 : -1) * order(key(a), key(b)));
  body.append(...rows);
}
for (const table of document.querySelectorAll("table.sortable")) {
  Array.from(table.tHead.rows[0].cells).forEach((cell, column) => {
    cell.tabIndex = 0;
    cell.addEventListener("click", () => sortTable(table, column));
    cell.addEventListener("keydown", event => { if (event.key === "Enter") sortTable(table, column); });
  });
}
for (const input of document.querySelectorAll("input.filter")) {
  const table = document.getElementById(input.dataset.table);
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    for (const row of table.tBodies[0].rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !words.every(word => text.includes(word));
    }
  });
}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _href(target: Path, base: Path) -> str:
    """A relative, percent-encoded link from the folder `base` to `target`."""
    return quote(Path(os.path.relpath(target.resolve(), base.resolve())).as_posix())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _verdict_cell(row: dict[str, Any], judged: bool) -> str:
    if not judged:
        return '<span class="v unjudged">not judged: overrides change the preset</span>'
    gated = row.get("gated", True)
    return f'<span class="v {word(row)}{"" if gated else " ungated"}">{_e(verdict(row))}</span>'


def _measured(row: dict[str, Any]) -> str:
    interval = row.get("interval")
    ci = f" [{fmt(interval[0])}, {fmt(interval[1])}]" if interval else ""
    return f"{fmt(row.get('measured', float('nan')))}{ci}"


def _number(x: Any) -> str:
    """A data-sort attribute for a finite number; none otherwise (the cell then sorts by its text)."""
    return f' data-sort="{float(x)!r}"' if isinstance(x, int | float) and math.isfinite(x) else ""


def _table(table_id: str, head: list[str], rows: list[list[tuple[str, str]]], label: str) -> str:
    """A sortable, filterable table; each cell is (attributes, escaped HTML)."""
    body = "\n".join("<tr>" + "".join(f"<td{attrs}>{cell}</td>" for attrs, cell in row) + "</tr>" for row in rows)
    return (f'<input class="filter" type="search" data-table="{table_id}" placeholder="filter {_e(label)}: words '
            f'that each row must contain" aria-label="filter {_e(label)}">'
            f'<div class="wide"><table class="sortable" id="{table_id}"><thead><tr>'
            + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr></thead><tbody>\n{body}\n</tbody></table></div>")


def _preset_text(e: Entry) -> str:
    if not e.overrides:
        return e.preset
    return f"{e.preset} with overrides: " + ", ".join(f"{k}={fmt(v)}" for k, (v, _) in e.overrides.items())


CLAIM_HEAD = ["experiment", "preset", "source", "seeds", "claim", "statement", "criterion", "per seed",
              "measured [95% CI]", "verdict"]


def _claims_table(table_id: str, entries: list[tuple[int, Entry]]) -> str:
    rows = []
    for i, e in entries:
        for r in e.claims:
            criterion = f"{r.get('aggregate', '?')} {r.get('comparator', '?')} {fmt(r.get('threshold', '?'))}"
            values = r.get("values", [])
            rows.append([("", f'<a href="#e{i}">{_e(e.experiment)}</a>'), ("", _e(_preset_text(e))),
                         ("", _e(e.kind)), (" class=num" + _number(len(values)), _e(len(values))),
                         (" class=id", _e(r["id"])), (" class=text", _e(r.get("statement", ""))),
                         (" class=num" + _number(r.get("threshold")), _e(criterion)),
                         (" class=num", _e(", ".join(fmt(v) for v in values))),
                         (" class=num" + _number(r.get("measured")), _e(_measured(r))),
                         (" class=id", _verdict_cell(r, e.judged))])
    return _table(table_id, CLAIM_HEAD, rows, "claims")


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


def _overrides_note(e: Entry) -> str:
    if e.overrides is None:
        return (f"<p>Config not compared with the {_e(e.preset)} preset: this installation does not know the "
                f"experiment or preset; the claims are shown as they were judged.</p>")
    if not e.overrides:
        return ""
    changed = ", ".join(f"<code>{_e(k)}={_e(fmt(v))}</code> (preset: {_e(fmt(p))})"
                        for k, (v, p) in e.overrides.items())
    return (f'<p class="overrides">Overrides of the {_e(e.preset)} preset: {changed}. The claims\' thresholds '
            f"belong to the preset, so these claims are not judged and not counted.</p>")


def _figures_html(figures: list[Path], site: Path) -> str:
    return "".join(f'<figure><img src="{quote(f.relative_to(site).as_posix())}" alt="{_e(f.stem)}" loading="lazy">'
                   f"<figcaption>{_e(f.name)}</figcaption></figure>" for f in figures)


def _run_link(r: Path, site: Path) -> str:
    return f'<a href="{_href(r, site)}/">{_e(r.name)}</a>' if r.is_dir() else f"{_e(r)} (missing)"


def _section(i: int, e: Entry, site: Path) -> str:
    own = _copy_figures(site / "figures" / f"{i:03d}-{_slug(e.experiment)}", e.figures, [e.path, *e.runs])
    out = [f'<section id="e{i}"><h3>{_e(e.experiment)} <small>(arXiv:{_e(e.paper)})</small>: {_e(e.label)}</h3>',
           _overrides_note(e), f'<p>From <a href="{_href(e.path, site)}/">{_e(e.path)}</a></p>',
           _claims_table(f"claims-{i}", [(i, e)]), "<ul>" + "".join(_details(r) for r in e.claims) + "</ul>",
           curves_html(e.runs), _figures_html(own, site)]
    if len(e.runs) > 1:  # the other seeds' own figures, folded: the ones above are the first seed's
        per_seed = []
        for k, run in enumerate(e.runs[1:], 1):
            copied = _copy_figures(site / "figures" / f"{i:03d}-{_slug(e.experiment)}" / f"run{k}",
                                   sorted((run / "figures").glob("*.png")), [run])
            if copied:
                per_seed.append(f"<h4>{_e(run.name)}</h4>" + _figures_html(copied, site))
        if per_seed:
            out.append(f"<details><summary>Figures of the other seeds' runs ({len(e.runs) - 1})</summary>"
                       + "".join(per_seed) + "</details>")
    if e.runs:
        out.append("<p>Run directories: " + ", ".join(_run_link(r, site) for r in e.runs) + "</p>")
    if e.repeats:
        out.append("<p>Older runs of a seed already counted (not aggregated: the newest run of each seed is): "
                   + ", ".join(_run_link(r, site) for r in e.repeats) + "</p>")
    return "\n".join(out) + "</section>"


def _cell(stat: dict[str, float]) -> str:
    half = stat.get("ci95", math.nan)
    return fmt(stat["mean"]) + (f" ± {fmt(half)}" if isinstance(half, float) and math.isfinite(half) else "")


def _sweep_section(i: int, s: Sweep, site: Path) -> str:
    metrics = sorted({k for r in s.rows for k, v in r.items() if isinstance(v, dict)})
    claims = sorted({k for r in s.rows for k in r if k.startswith("claim:")})
    rows = [[*((" class=num" + _number(_float(r[a])), _e(r[a])) for a in s.axes),
             (" class=num" + _number(r["n"]), _e(r["n"])),
             *((" class=num" + _number(r[m]["mean"]), _e(_cell(r[m]))) if m in r else ("", "") for m in metrics),
             *((" class=num" + _number(r[c]), _e(f"{r[c]:.0%}")) if c in r else ("", "") for c in claims)]
            for r in s.rows]
    finished = sum(r["n"] for r in s.rows)
    copied = _copy_figures(site / "figures" / f"sweep{i:03d}-{_slug(s.experiment)}", s.figures, [s.path])
    summary = [f'<a href="{_href(s.path / name, site)}">{name}</a>' for name in ("summary.md", "summary.csv")
               if (s.path / name).is_file()]
    return "\n".join([
        f'<section id="s{i}"><h3>{_e(s.experiment)}: sweep {_e(s.path.name)}</h3>',
        f"<p>{_e(s.preset)} preset"
        + (f" with overrides {_e(' '.join(s.fixed))}" if s.fixed else "")
        + f"; grid over {_e(', '.join(s.axes) or '(no field)')}; {len(s.rows)} grid points × {s.seeds} seed(s), "
        f"{finished} finished. From <a href=\"{_href(s.path, site)}/\">{_e(s.path)}</a>"
        + (f"; its summary: {', '.join(summary)}" if summary else "; no summary yet (`brainlearn sweep-report`)")
        + ".</p>",
        "<p>Per grid point: each metric's mean ± 95% CI half-width over the finished seeds (n); claims: the "
        "fraction of seeds meeting the preset's threshold. The grid changes the preset, so these are not "
        "verdicts and are not counted above.</p>",
        _table(f"sweep-{i}", [*s.axes, "n", *metrics, *claims], rows, "grid points"),
        _figures_html(copied, site), "</section>"])


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _copy_figures(dest: Path, figures: list[Path], inside: list[Path]) -> list[Path]:
    copied = []
    allowed = [p.resolve() for p in inside]
    for f in figures:
        # a site is made to be published: only regular files that live inside the run directories go into it
        if f.is_symlink() or not f.is_file() or not any(f.resolve().is_relative_to(a) for a in allowed):
            log.warning("report: skipping %s (not a regular file inside %s)", quoted(f), quoted(inside[0]))
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


def _counts_text(counts: dict[str, int]) -> str:
    gated = ", ".join(f'<span class="v {v}">{v}</span> {counts[v]}' for v in VERDICTS)
    return (f"gated claims: {gated}; {counts[NOT_GATED]} reported only (not gated, never a failure); "
            f"{counts[NOT_JUDGED]} not judged (runs whose overrides change the preset)")


def write_site(runs_dir: str | Path, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Write the site for `runs_dir` into `out` (default ``RUNS_DIR/report``); returns the path of its
    index.html and the count of claims per verdict (:func:`tally`)."""
    runs_dir = Path(runs_dir)
    site = Path(out) if out is not None else runs_dir / "report"
    if runs_dir.resolve().is_relative_to(site.resolve()):
        raise ConfigError(f"--out {quoted(site)} holds the runs folder {quoted(runs_dir)}; give a folder of its own "
                          "for the site (default RUNS_DIR/report)")
    found = collect(runs_dir, skip=site)
    entries = found.entries
    if not entries and not found.sweeps and not found.unfinished and not found.problems:
        raise ConfigError(f"found no run, sweep or verify directory under {quoted(runs_dir)} "
                          "(expected claims.json files written by `brainlearn run` or `brainlearn verify`)")
    _prepare(site)
    counts = tally(entries)
    numbered = list(enumerate(entries))
    names = sorted({e.experiment for e in entries} | {s.experiment for s in found.sweeps})
    body = [f"<h1>brainlearn: claims under {_e(runs_dir)}</h1>",
            f"<p>{len(entries)} judged set{'s' * (len(entries) != 1)} of claims and {len(found.sweeps)} "
            f"sweep{'s' * (len(found.sweeps) != 1)} from {len(names)} experiment(s); {_counts_text(counts)}.</p>",
            "<p>Experiments: " + ", ".join(
                f'<a href="#x-{_e(_slug(n))}">{_e(n)}</a> ('
                + (", ".join(f"{k} {v}" for v, k in tally([e for e in entries if e.experiment == n]).items() if k)
                   or "sweeps only") + ")" for n in names) + ".</p>",
            "<p>Runs of one experiment, preset and config are one set, judged over their seeds as "
            "<code>brainlearn verify</code> judges them; click a column's header to sort, type in a box to filter.</p>"]
    if found.problems:
        body.append('<h2>Skipped</h2><ul class="problems">' + "".join(f"<li>{_e(p)}</li>" for p in found.problems)
                    + "</ul>")
    body += ["<h2>Reproduction table</h2>", _claims_table("claims", numbered), "<h2>Experiments</h2>"]
    for experiment in names:
        body.append(f"<h2 id=\"x-{_e(_slug(experiment))}\">{_e(experiment)}</h2>")
        body += [_section(i, e, site) for i, e in numbered if e.experiment == experiment]
        body += [_sweep_section(i, s, site) for i, s in enumerate(found.sweeps) if s.experiment == experiment]
    if found.unfinished:
        body.append("<h2>Runs without claims (unfinished)</h2><ul>" + "".join(
            f'<li><a href="{_href(p, site)}/">{_e(p)}</a></li>' for p in found.unfinished) + "</ul>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="{GENERATOR}"><title>brainlearn report: {_e(runs_dir.name)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    atomic_write_bytes(site / "index.html", page.encode())
    return site / "index.html", counts
