"""Claims tables for the terminal and Markdown reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def fmt(x: Any) -> str:
    if isinstance(x, float):
        if x != x:
            return "nan"
        return f"{x:.4g}"
    return str(x)


def verdict(row: dict[str, Any]) -> str:
    word = "PASS" if row["passed"] else "FAIL"
    return word if row.get("gated", True) else f"{word.lower()} (not gated)"


def claim_rows(experiment: str, rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [[f"{experiment}:{r['id']}", f"{fmt(r['measured'])} ({r['aggregate']})",
             f"{r['comparator']} {fmt(r['threshold'])}", verdict(r), str(r["seeds"])] for r in rows]


HEADER = ["claim", "measured", "threshold", "verdict", "seeds"]


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


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
                         + (f" *Threshold*: {r['reason']}" if r["reason"] else ""))
        lines.append("")
        for fig in s.get("figures", []):
            rel = Path(fig).relative_to(base) if Path(fig).is_relative_to(base) else Path(fig)
            lines += [f"![{Path(fig).stem}]({rel.as_posix()})", ""]
        if s.get("runs"):
            lines += ["Runs: " + ", ".join(f"`{r}`" for r in s["runs"]), ""]
    return "\n".join(lines)
