"""The `alt` presets (quick's budget, other settings chosen before their first run) and how the reproduction
table shows them."""

import pytest

from brainlearn import experiments
from brainlearn.experiments import claims_table
from brainlearn.experiments.claims_table import claims_block, reproduction_table

WITH_ALT = ["generalisation-diagnosis", "generalisation-dsprites", "replay-continual", "replay-dqn", "replay-maze",
            "replay-per", "predictive-closedloop", "predictive-microcircuit", "predictive-nwb", "predictive-sequence",
            "predictive-shared-mechanism", "rnnrules-add", "rnnrules-alignment", "rnnrules-cost", "rnnrules-tasks",
            "similarity-rnn", "similarity-ssm", "pathways-mixture"]


@pytest.mark.parametrize("name", WITH_ALT)
def test_alt_exists_and_differs_from_quick(name):
    exp = experiments.get(name)
    assert "alt" in exp.presets and list(exp.presets)[-1] == "alt"  # one entry at the end of the dict
    assert exp.preset("alt") != exp.preset("quick")
    assert exp.claims(exp.preset("alt"))


def _record(monkeypatch, name, quick, alt):
    entry = {"measured": 1.0, "values": [1.0], "seeds": 1, "date": "2026-01-01"}
    data = {name: {"quick": {"per-frequencies": {**entry, "verdict": quick}},
                   "alt": {"per-frequencies": {**entry, "verdict": alt}}}}
    monkeypatch.setattr(claims_table, "recorded", lambda: data)


def test_the_table_shows_alt_and_a_finding_that_holds_at_quick_only(monkeypatch):
    _record(monkeypatch, "replay-per", "PASS", "FAIL")
    table = reproduction_table(["replay-per"])
    assert "| replay-per | alt | per-frequencies |" in table
    assert table.count("holds at quick, not at alt") == 1
    block = claims_block("replay-per")
    assert "| alt (last recorded) |" in block and "holds at quick, not at alt" in block
    _record(monkeypatch, "replay-per", "XFAIL", "XPASS")
    assert "holds at alt, not at quick" in reproduction_table(["replay-per"])
    _record(monkeypatch, "replay-per", "PASS", "PASS")
    assert "**holds at" not in reproduction_table(["replay-per"])


def test_an_experiment_without_alt_has_no_alt_rows():
    assert "alt" not in experiments.get("fa-vs-bp").presets
    assert "| fa-vs-bp | alt |" not in reproduction_table(["fa-vs-bp"])
    assert "alt (last recorded)" not in claims_block("fa-vs-bp")


def test_verify_takes_any_preset_by_name(capsys):
    from brainlearn.cli import main

    assert main(["verify", "rnnrules-add", "--preset", "alt", "--list"]) == 0
    assert "lag-4" in capsys.readouterr().out


def _claims(name, preset):
    exp = experiments.get(name)
    return {c.id: c for c in exp.claims(exp.preset(preset))}


def test_alt_gating_follows_the_documented_rules():
    quick, alt = _claims("generalisation-diagnosis", "quick"), _claims("generalisation-diagnosis", "alt")
    assert all(quick[i].expected == "pass" and alt[i].expected == "fail"    # the ellipse split's analysis
               for i in ("supervised-misreads", "supervised-reads-posx"))
    assert quick["vae-encoder-transfer"].gated and not alt["vae-encoder-transfer"].gated  # off square splits
    assert _claims("generalisation-dsprites", "alt")["r2e-small-bce"].expected == "fail"  # below 1,500 steps
    quick, alt = _claims("similarity-rnn", "quick"), _claims("similarity-rnn", "alt")
    assert all(quick[i].gated and not alt[i].gated for i in ("dsa-untrained-effect", "dsa-ordering"))
    # steps-late: within 6 steps of the maze's shortest path (14 on the open maze, 10 on the blocking maze)
    thresholds = [_claims("replay-maze", p)["steps-late"].threshold for p in ("quick", "alt")]
    assert thresholds == [20.0, 16.0]
