"""The reproduction table: every claim of every experiment, with its criterion, expected outcome and the
last value `brainlearn verify --record` measured (kept in ``recorded.json`` beside this file).

``brainlearn verify --list --markdown`` prints it. The docs state no measured value by hand: docs/claims.md
is this table, and each experiment's page holds a block of its claims between the markers
``<!-- recorded: NAME -->`` and ``<!-- /recorded -->``. After ``brainlearn verify --record``,
``brainlearn verify --list --docs docs`` rewrites docs/claims.md and every block in place (tests check that
they are current)."""

from __future__ import annotations

import json
import math
import posixpath
import re
import time
from pathlib import Path
from typing import Any

from brainlearn import experiments
from brainlearn.experiments.base import Claim
from brainlearn.experiments.runner import make_config
from brainlearn.runtime.report import fmt, markdown_table, verdict
from brainlearn.runtime.rundir import atomic_write_json

RECORDED = Path(__file__).with_name("recorded.json")
PRESETS = ("quick", "alt", "full", "paper")  # an experiment without one of them is shown without it
# An experiment's page is its family's, docs/experiments/FAMILY.md (FAMILY: the name up to the first "-"),
# except these (page stems).
PAGE_OF = {"fa-vs-bp": "fa-vs-bp", "similarity-solver": "similarity-solver",
           "similarity-attractors": "similarity-attractors", "similarity-lorenz": "similarity-lorenz",
           "similarity-rnn": "similarity-rnn", "similarity-ssm": "similarity-rnn"}
REGENERATE = "brainlearn verify --list --docs docs"
BLOCK = re.compile(r"<!-- recorded: (\S+) -->\n.*?<!-- /recorded -->", re.DOTALL)


def recorded() -> dict[str, Any]:
    """``{experiment: {preset: {claim id: {"measured", "values", "verdict", "seeds", "date", "wall_s"}}}}``
    ("wall_s": the whole run's seconds, all its seeds, where the record has it); a value the
    file stores as null (a NaN measurement: strict JSON has no NaN) reads as NaN."""
    data = json.loads(RECORDED.read_text()) if RECORDED.is_file() else {}
    for presets in data.values():
        for entries in presets.values():
            for e in entries.values():
                e["measured"] = _number(e["measured"])
                e["values"] = [_number(v) for v in e["values"]]
    return data


def _number(x):
    return float("nan") if x is None else x


def _json_number(x):
    return x if not isinstance(x, float) or math.isfinite(x) else None


def record(sections: list[dict[str, Any]], path: Path = RECORDED) -> None:
    """Store each claim's measured value from a verify run as the last recorded one."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    for s in sections:
        entry = data.setdefault(s["experiment"], {}).setdefault(s["preset"], {})
        for c in s["claims"]:
            entry[c["id"]] = {"measured": _json_number(c["measured"]), "values": [_json_number(v) for v in c["values"]],
                              "verdict": c["verdict"],
                              "seeds": c["seeds"], "date": time.strftime("%Y-%m-%d")}
            if "wall_s" in s:
                entry[c["id"]].update(wall_s=round(s["wall_s"], 2), device=s["device"], workers=s["workers"])
    atomic_write_json(path, dict(sorted(data.items())))


def presets_of(exp) -> list[str]:
    """The experiment's presets among PRESETS, in their order."""
    return [p for p in PRESETS if p in exp.presets]


def _holds(entry: dict[str, Any] | None) -> bool | None:
    return None if entry is None else entry["verdict"] in ("PASS", "XPASS")


def _cell(entry: dict[str, Any] | None, gated: bool, quick: dict[str, Any] | None = None) -> str:
    """The recorded value and verdict; with `quick` (the alt preset's cell) a finding that holds at one of
    quick and alt but not at the other says so."""
    if entry is None:
        return "not recorded"
    shown = verdict({"verdict": entry["verdict"], "gated": gated})  # the words `verify` prints
    cell = f"{fmt(entry['measured'])} {shown} ({entry['seeds']} seed{'s' * (entry['seeds'] > 1)}, {entry['date']})"
    if quick is not None and _holds(quick) != _holds(entry):
        cell += f"; **holds at {'quick, not at alt' if _holds(quick) else 'alt, not at quick'}**"
    return cell


def _preset_cell(rec: dict[str, Any], preset: str, claim: Claim) -> str:
    """`_cell` of the claim's record at `preset` (`rec`: the experiment's records by preset)."""
    quick = rec.get("quick", {}).get(claim.id) if preset == "alt" else None
    return _cell(rec.get(preset, {}).get(claim.id), claim.gated, quick)


def _criterion(c: Claim) -> str:
    criterion = f"`{c.metric}` {c.comparator} {fmt(c.threshold)} ({c.aggregate})"
    if c.history:
        criterion += "; revised " + ", ".join(h.date for h in c.history)
    return criterion


def _expected(c: Claim, page_dir: str) -> str:
    """The expected outcome; a known non-reproduction links its analysis, relative to the page (in `page_dir`)."""
    expected = "pass"
    if c.expected == "fail":
        path, hash_, anchor = c.note.partition("#")
        expected = f"fail ([analysis]({posixpath.relpath(path, page_dir)}{hash_}{anchor}))"
    return expected if c.gated else f"{expected}, not gated"


def reproduction_table(names: list[str] | None = None, overrides: list[str] | tuple = ()) -> str:
    """Markdown: one row per (experiment, preset, claim)."""
    rec = recorded()
    rows = []
    for name in names or experiments.names():
        exp = experiments.get(name)
        for preset in presets_of(exp):
            for c in exp.claims(make_config(exp, preset, overrides)):
                rows.append([name, preset, c.id, f"arXiv:{c.paper}", c.statement, _criterion(c), _expected(c, "docs"),
                             _preset_cell(rec.get(name, {}), preset, c)])
    header = ["experiment", "preset", "claim", "paper", "statement", "criterion", "expected", "last measured"]
    return ("# Reproduction table\n\nEvery claim brainlearn checks, with its criterion, the expected outcome "
            "(a known non-reproduction links to its analysis) and the last value `brainlearn verify --record` "
            "measured (\"not recorded\": `--record` has not stored that preset's run yet). The `alt` preset runs at "
            "quick's budget with other, equally fair settings (each family's page says which); where a finding "
            "holds at one of quick and alt but not at the other, its alt row says so. Generated by "
            f"`{REGENERATE}`.\n\n"
            + markdown_table(rows, header) + "\n")


def _per_preset(texts: dict[str, str]) -> str:
    """One text if every preset has the same, else each preset's."""
    return next(iter(texts.values())) if len(set(texts.values())) == 1 else \
        "<br>".join(f"*{p}*: {text}" for p, text in texts.items())


def page_of(name: str) -> str:
    """The docs page (repository path) whose Claims section holds the experiment's recorded block."""
    return f"docs/experiments/{PAGE_OF.get(name, name.split('-')[0])}.md"


def claims_block(name: str, records: dict[str, Any] | None = None) -> str:
    """Markdown: the experiment's claims with, per preset, the last recorded value, verdict, seeds and date.
    A claim a preset does not check reads "not checked"; a statement, criterion or expected outcome that
    differs between presets is given per preset. `records`: :func:`recorded` (None: read it now)."""
    exp = experiments.get(name)
    rec = (recorded() if records is None else records).get(name, {})
    presets = presets_of(exp)
    by_preset = {p: {c.id: c for c in exp.claims(make_config(exp, p))} for p in presets}
    ids = list(dict.fromkeys(i for claims in by_preset.values() for i in claims))
    page_dir = posixpath.dirname(page_of(name))
    rows = []
    for i in ids:
        checked = {p: claims[i] for p, claims in by_preset.items() if i in claims}
        statement = _per_preset({p: c.statement for p, c in checked.items()})
        criterion = _per_preset({p: _criterion(c) for p, c in checked.items()})
        expected = _per_preset({p: _expected(c, page_dir) for p, c in checked.items()})
        values = [_preset_cell(rec, p, checked[p]) if p in checked else "not checked" for p in presets]
        rows.append([f"`{i}`", statement, criterion, expected, *values])
    header = ["claim", "statement", "criterion", "expected"] + [f"{p} (last recorded)" for p in presets]
    return (f"<!-- recorded: {name} -->\n\n`{name}`: the last values `brainlearn verify --record` measured "
            f"(generated from the record by `{REGENERATE}`; do not edit by hand).\n\n"
            + markdown_table(rows, header) + "\n\n<!-- /recorded -->")


def write_docs(docs: Path) -> list[Path]:
    """Rewrite `docs`/claims.md and every recorded block of the pages under `docs` from recorded.json;
    returns the files that changed."""
    new = {docs / "claims.md": reproduction_table()}
    records = recorded()  # read once for every block
    for path in sorted(docs.rglob("*.md")):
        text = path.read_text()
        if BLOCK.search(text):
            new[path] = BLOCK.sub(lambda m: claims_block(m.group(1), records), text)
    changed = [path for path, text in new.items() if not path.is_file() or path.read_text() != text]
    for path in changed:
        path.write_text(new[path])
    return changed
