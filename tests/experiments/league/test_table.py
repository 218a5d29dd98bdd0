"""brainlearn league: both league runs in fixed directories (rerun: skipped, or resumed per cell), the table as
Markdown, Parquet and a sortable HTML page (checked in headless Chromium), and one-line errors."""

import pytest

from brainlearn.cli import main
from brainlearn.experiments.league import table
from brainlearn.runtime import RunDir
from tests.browser import DevTools, needs_chromium


@pytest.fixture(scope="module")
def league(tmp_path_factory):
    out = tmp_path_factory.mktemp("league")
    root, rows = table.run("smoke", RULES, out=out)
    return out, root, rows


# the smoke presets' rules, with predictive coding and a paper model among the feedforward entries
RULES = ["bp", "fa", "dfa", "pc", "burstccn-tied", "readout", "bptt", "rtrl", "dni3"]


def test_the_table_holds_every_rule_of_both_leagues(league):
    out, root, rows = league
    assert [r["rule"] for r in rows if r["kind"] == "feedforward"] == RULES[:5]
    assert [r["rule"] for r in rows if r["kind"] == "recurrent"] == RULES[5:]
    assert {r["rule"]: r["phases"] for r in rows}["burstccn-tied"] == 1
    assert all(r[c] is not None for r in rows for c in ("weight_transport", "backward_sweep", "phases",
                                                        "local_update", "error_channel"))
    sweeps = {r["rule"]: r["backward_sweep"] for r in rows if r["kind"] == "recurrent"}
    assert sweeps == {"readout": False, "bptt": True, "rtrl": False, "dni3": True}  # only BPTT's kind sweeps back
    assert {p.name for p in root.iterdir()} >= {"league.md", "league.html", "league.parquet", "league.png",
                                                *table.EXPERIMENTS}
    assert "league.png" in (root / "league.html").read_text()  # the figure sits on the page
    text = (root / "league.md").read_text()
    assert all(f"| {r['rule']} |" in text for r in rows)
    import pandas as pd

    frame = pd.read_parquet(root / "league.parquet")
    assert list(frame.columns) == list(table.COLUMNS) and len(frame) == len(rows)
    assert frame["fgsm_acc"].isna().sum() == len([r for r in rows if r["kind"] == "recurrent"])  # real nulls


def test_a_rerun_skips_finished_runs(league, capsys):
    out, root, rows = league
    before = {name: RunDir(root / name).status for name in table.EXPERIMENTS}
    assert main(["league", "--preset", "smoke", "--rules", ",".join(RULES), "--out", str(out)]) == 0
    assert "league.html" in capsys.readouterr().out
    assert {name: RunDir(root / name).status for name in table.EXPERIMENTS} == before


def test_rules_pick_the_leagues_that_run(tmp_path):
    points = table.plan("smoke", ["fa", "rtrl"], None)
    assert [(p.experiment, p.overrides) for p in points] == [("league-feedforward", ("rules=fa",)),
                                                             ("league-recurrent", ("rules=rtrl",))]
    assert [p.experiment for p in table.plan("smoke", ["dfa"], None)] == ["league-feedforward"]
    only_add = table.plan("smoke", None, ["add"])
    assert [(p.experiment, p.overrides) for p in only_add] == [("league-recurrent", ("tasks=add",))]


def test_user_errors_are_one_line(tmp_path, capsys):
    for argv, match in ((["league", "--rules", "sgd"], "unknown rule(s) sgd"),
                        (["league", "--preset", "huge"], "preset"),
                        (["league", "--preset", "smoke", "--tasks", "chess"], "unknown task(s) chess"),
                        (["league", "--preset", "smoke", "--tasks", "digits,mnist"], "one dataset"),
                        (["league", "--preset", "smoke", "--device", "tpu"], "device"),
                        (["league", "--preset", "smoke", "--set", "x=1"], "unrecognized")):
        assert main([*argv, "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1, err
    assert not (tmp_path / "league").exists() or not any((tmp_path / "league").rglob("result.json"))


@needs_chromium
def test_the_page_sorts_in_headless_chromium(league, tmp_path):
    _, root, rows = league
    browser = DevTools(tmp_path / "profile")
    try:
        page = browser.open((root / "league.html").as_uri(), 1200, 900)
        column = table.COLUMNS.index("value")
        read = f"Array.from(document.querySelectorAll('#league tbody tr')).map(r => r.cells[{column}].dataset.sort)"
        browser.evaluate(page, f"document.querySelectorAll('#league th')[{column}].click()")
        values = [float(v) for v in browser.evaluate(page, read)]
        assert values == sorted(values) and len(values) == len(rows)
        assert not browser.console()
    finally:
        browser.close()
