"""docs/claims.md is the reproduction table `brainlearn verify --list --markdown` prints, and it is current
(`brainlearn verify --list --docs docs` rewrites it)."""

import json
import math

from brainlearn import experiments
from brainlearn.experiments.claims_table import recorded, reproduction_table
from brainlearn.experiments.runner import make_config
from tests import REPO

DOCS = REPO / "docs"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def test_docs_claims_md_is_current():
    assert (DOCS / "claims.md").read_text() == reproduction_table(), \
        "regenerate it: brainlearn verify --list --docs docs"


def test_every_claim_is_in_the_table_and_every_known_failure_links_its_analysis():
    table = reproduction_table()
    for name in experiments.names():
        exp = experiments.get(name)
        for preset in ("quick", "full"):
            for c in exp.claims(make_config(exp, preset)):
                assert f"| {name} | {preset} | {c.id} |" in table
                if c.expected == "fail":
                    page, _, anchor = c.note.partition("#")
                    headings = [line.lstrip("#").strip() for line in (DOCS.parent / page).read_text().splitlines()
                                if line.startswith("#")]
                    assert anchor in map(_slug, headings), c.note


def test_recorded_values_belong_to_known_claims():
    for name, presets in recorded().items():
        exp = experiments.get(name)
        for preset, claims in presets.items():
            ids = {c.id for c in exp.claims(make_config(exp, preset))}
            assert set(claims) <= ids, (name, preset, set(claims) - ids)


def test_recorded_values_are_strict_json_and_nan_round_trips(tmp_path, monkeypatch):
    from brainlearn.experiments import claims_table

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    json.loads(claims_table.RECORDED.read_text(), parse_constant=refuse)  # NaN is stored as null
    path = tmp_path / "recorded.json"
    claims_table.record([{"experiment": "x", "preset": "quick", "claims": [
        {"id": "c", "measured": float("nan"), "values": [float("nan"), 1.0], "verdict": "XFAIL", "seeds": 2}]}], path)
    json.loads(path.read_text(), parse_constant=refuse)
    monkeypatch.setattr(claims_table, "RECORDED", path)
    entry = claims_table.recorded()["x"]["quick"]["c"]
    assert math.isnan(entry["measured"]) and math.isnan(entry["values"][0]) and entry["values"][1] == 1.0
