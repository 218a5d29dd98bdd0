"""Claims tables for the terminal and Markdown reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def fmt(x: Any) -> str:
    if isinstance(x, float):
        if x != x:
            return "nan"
        return f"{x:.4g}"
    return str(x)


def verdict(row: dict[str, Any]) -> str:
    """PASS, FAIL, XFAIL (a known non-reproduction that failed) or XPASS (one that passed: the docs are
    stale); lower case with "(not gated)" for a reported-only claim."""
    word = row.get("verdict") or ("PASS" if row.get("passed") else "FAIL")  # claims.json written before verdicts
    if not row.get("gated", True):
        return f"{word.lower()} (not gated)"
    return "XPASS (expected to fail: update its docs)" if word == "XPASS" else word


def measured(row: dict[str, Any]) -> str:
    """The aggregate with its 95% bootstrap interval (three or more seeds)."""
    interval = row.get("interval")
    ci = f" [{fmt(interval[0])}, {fmt(interval[1])}]" if interval else ""
    return f"{fmt(row['measured'])}{ci} ({row.get('aggregate', '?')})"


def claim_rows(experiment: str, rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [[f"{experiment}:{r['id']}", measured(r), f"{r.get('comparator', '?')} {fmt(r.get('threshold', '?'))}",
             verdict(r), ", ".join(fmt(v) for v in r.get("values", []))] for r in rows]


HEADER = ["claim", "measured [95% CI]", "threshold", "verdict", "per seed"]


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def strip_plot(experiment: str, claims: Sequence[dict[str, Any]]):
    """One panel per claim: its per-seed values (dots), the aggregate (a bar) and the threshold (a line)."""
    from brainlearn import plotting

    cols = min(4, len(claims))
    fig, axes = plotting.figure(cols, -(-len(claims) // cols), panel=(2.6, 2.2), title=f"{experiment}: claims")
    for ax, r in zip(axes, claims):
        v = np.asarray(r["values"], dtype=float)
        ax.plot(np.zeros_like(v) + np.linspace(-0.15, 0.15, len(v)) * (len(v) > 1), v, "o", ms=4, alpha=0.7)
        ax.plot([-0.3, 0.3], [r["measured"]] * 2, color="k", lw=1.5)
        ax.axhline(r["threshold"], color="C3", lw=1, ls="--")
        ax.set(xlim=(-1, 1), xticks=[], title=f"{r['id']}\n{verdict(r).split(' (')[0]}")
        ax.title.set_fontsize(7)
    for ax in axes[len(claims):]:
        ax.set_axis_off()
    return fig


def markdown_report(title: str, sections: Sequence[dict[str, Any]], base: Path) -> str:
    """A report: for each experiment, its claims (statement, measure, verdict) and figures.

    Each section: {"experiment", "paper", "claims": [evaluated claim dicts], "figures": [paths],
    "runs": [run dir paths]}. Paths are written relative to `base`.
    """
    lines = [f"# {title}", ""]
    for s in sections:
        lines += [f"## {s['experiment']} (arXiv:{s['paper']})", "",
                  markdown_table(claim_rows(s["experiment"], s["claims"])), ""]
        for r in s["claims"]:
            lines.append(f"- **{r['id']}**: {r['statement']} *Measured*: {r['how']} "
                         f"(`{r['metric']}`; values per seed: {', '.join(fmt(v) for v in r['values'])})."
                         + (f" *Threshold*: {r['reason']}" if r["reason"] else "")
                         + (f" *Known non-reproduction*: see {r['note']}." if r.get("expected") == "fail" else "")
                         + "".join(f" *Revised {h['date']}* from {h['comparator']} {fmt(h['threshold'])} "
                                   f"({h['aggregate']}{'; measured ' + h['measured'] if h['measured'] else ''}): "
                                   f"{h['reason']}" for h in r.get("history", [])))
        lines.append("")
        for fig in s.get("figures", []):
            rel = Path(fig).relative_to(base) if Path(fig).is_relative_to(base) else Path(fig)
            lines += [f"![{Path(fig).stem}]({rel.as_posix()})", ""]
        if s.get("runs"):
            lines += ["Runs: " + ", ".join(f"`{r}`" for r in s["runs"]), ""]
    return "\n".join(lines)
