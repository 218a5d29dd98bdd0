"""`brainlearn report` (the HTML site of a runs folder) and the docs figures (`make figures`).

The site is built from a real `verify` over three seeds, real `run`s (two seeds of one config, one run with
an override) and a real `sweep` of a toy experiment whose claims take every verdict and whose texts carry
HTML, plus hand-written records (hostile names, a malformed file, an unfinished run). A headless Chromium
(skipped where none is installed) renders it: no console message, every image a file, a screenshot that is
not blank, and its tables sort when a header is clicked (driven over the DevTools protocol).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from brainlearn import experiments, plotting
from brainlearn.cli import main
from brainlearn.errors import ConfigError, DataError
from brainlearn.experiments import Claim, Experiment, Result, figures, html_report, report_curves, report_data
from brainlearn.experiments.base import Revision
from brainlearn.experiments.runner import run_experiment
from brainlearn.experiments.verify import verify
from brainlearn.runtime import Config, RunDir, param
from tests import REPO
from tests.browser import DevTools, chromium, console, needs_chromium

ROOT = REPO
DOCS = ROOT / "docs"
HOSTILE = "<script>alert('x')</script> & \"quoted\""


@dataclass(frozen=True)
class ToyConfig(Config):
    value: float = param(1.0)
    scale: float = param(1.0)


def _run(config, seed, ctx):
    for step in range(4):  # a learning curve in metrics.jsonl
        ctx.log(step, loss=config.value * (4 - step) + seed)
    return Result({"value": config.value * config.scale + seed}, {"curve": [seed, seed + 1.0, 4.0]})


def _plot(result, config):
    fig, (ax,) = plotting.figure(1)
    ax.plot(result.arrays["curve"])
    return {"curve <&> #1": fig}


def _claims(config):
    note = "docs/experiments/toy.md#gap"
    return [Claim("passes", "0000.00000", f"value is positive {HOSTILE}", "value", ">=", 0, kind="outcome",
                  how="the value <b>", reason="because & so",
                  history=(Revision("2026-12-01", ">=", 5.0, "mean", "1, 2, 3 <i>", "owner's rule"),)),
            Claim("fails", "0000.00000", "value is huge", "value", ">", 100, kind="outcome"),
            Claim("known-gap", "0000.00000", "known to fail", "value", ">", 100, expected="fail", note=note,
                  kind="outcome"),
            Claim("stale-gap", "0000.00000", "known to fail, passes", "value", ">=", 0, expected="fail", note=note,
                  kind="outcome"),
            Claim("reported", "0000.00000", "a missing metric", "absent", ">=", 0, gated=False, kind="outcome")]


TOY = Experiment("html-toy", "0000.00000", "a toy for the report",
                 dict.fromkeys(("smoke", "quick", "full", "paper"), ToyConfig()), _run, _claims, plot=_plot)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A runs folder: a verify over 3 seeds, two runs (seeds 7 and 8) of one config, a run with an override,
    a hostile verify record, an unfinished run and a malformed claims.json."""
    experiments.names()  # load the registry first, so the toy is removed again after the test
    monkeypatch.setitem(experiments._REGISTRY, TOY.name, TOY)
    root = tmp_path / "runs"
    verify([TOY.name], seeds=3, out=root)
    run_experiment(TOY.name, seed=7, out=root)
    run_experiment(TOY.name, seed=8, out=root)
    run_experiment(TOY.name, ToyConfig(value=50.0), seed=0, out=root)  # `--set value=50`
    evil = root / "verify" / "evil"
    evil.mkdir(parents=True)
    (evil / "claims.json").write_text(json.dumps([{"experiment": "<img src=x onerror=alert(1)>", "paper": "<p>",
                                                   "claims": [{"id": "</td></table>", "statement": HOSTILE,
                                                               "measured": 1.0, "values": [1.0], "verdict": "PASS"}]}]))
    RunDir.create(root, TOY.name, {"experiment": TOY.name, "seed": 1}, root / TOY.name / "unfinished")
    broken = root / TOY.name / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"experiment": TOY.name}))
    (broken / "claims.json").write_text("{not json")
    return root


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _links(tags: _Tags, kind: str, attr: str) -> list[str]:
    return [a[attr] for t, a in tags.tags if t == kind and attr in a]


def test_site_holds_every_claim_with_its_seeds_interval_and_verdict(runs, tmp_path):
    index, counts = html_report.write_site(runs, tmp_path / "site")
    page = index.read_text()
    text = " ".join(_parse(page).text)
    verified = json.loads(next((runs / "verify").glob("2*/claims.json")).read_text())[0]["claims"]
    assert [c["verdict"] for c in verified] == ["PASS", "FAIL", "XFAIL", "XPASS", "FAIL"]
    for c in verified:
        assert c["id"] in text and ", ".join(f"{v:.4g}" for v in c["values"]) in text
    lo, hi = verified[0]["interval"]
    assert f"{verified[0]['measured']:.4g} [{lo:.4g}, {hi:.4g}]" in text
    assert "median >= 0" in text and "XPASS (expected to fail: update its docs)" in text
    assert "fail (not gated)" in text and "docs/experiments/toy.md#gap" in text and "Revised 2026-12-01" in text
    # gated claims of the verify, of the two runs judged together and of the hostile record; the ungated one
    # is never a failure; the run with an override is not judged
    assert counts == {"PASS": 1 + 1 + 1, "FAIL": 1 + 1, "XFAIL": 1 + 1, "XPASS": 1 + 1, "not gated": 2,
                      "not judged": 5}
    assert "runs: quick preset, 2 seeds (7, 8) (finished)" in text and "8, 9" in text  # value = 1 + seed
    assert "quick with overrides: value=50" in text and "not judged: overrides change the preset" in text
    assert "unfinished" in text and "broken" in text and "is not a readable JSON file" in text


def _same(a, b) -> bool:
    """Equal claims, NaN included (a missing metric's value)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_runs_are_grouped_by_experiment_preset_and_config_and_judged_over_their_seeds(runs):
    found = html_report.collect(runs)
    kinds = [(e.kind, [json.loads((r / "config.json").read_text())["seed"] for r in e.runs], e.judged)
             for e in found.entries if e.experiment == TOY.name]
    # the verify's own runs are not repeated as runs
    assert kinds == [("verify", [0, 1, 2], True), ("runs", [7, 8], True), ("runs", [0], False)]
    pair = next(e for e in found.entries if e.runs and len(e.runs) == 2)
    assert _same(pair.claims, TOY.judge(ToyConfig(), [{"value": 8.0}, {"value": 9.0}]))  # as verify judges
    assert next(e for e in found.entries if not e.judged).overrides == {"value": (50.0, 1.0)}
    assert html_report.tally(found.entries)["not judged"] == 5


def test_a_seed_run_twice_counts_once_and_other_criteria_are_another_group(runs):
    again = run_experiment(TOY.name, seed=8, out=runs).run_dir.path
    found = html_report.collect(runs)
    pair = next(e for e in found.entries if e.kind == "runs" and e.judged)
    assert len(pair.runs) == 2 and again in pair.runs and len(pair.repeats) == 1
    # a run whose claims were judged with another threshold (an older release) is not mixed in
    claims = json.loads((again / "claims.json").read_text())
    claims[0]["threshold"] = -1.0
    (again / "claims.json").write_text(json.dumps(claims))
    groups = [len(e.runs) for e in html_report.collect(runs).entries if e.kind == "runs" and e.judged]
    assert sorted(groups) == [1, 2]


def test_claims_of_separate_runs_are_judged_over_seeds_like_verify():
    claims = TOY.claims(ToyConfig())
    seeds = [{"value": 3.0}, {"value": -1.0}, {"value": 5.0}, {"value": 2.0}]
    per_seed = [TOY.judge(ToyConfig(), [m]) for m in seeds]
    assert _same(report_data.aggregate_claims(per_seed), [c.evaluate([m.get(c.metric, np.nan) for m in seeds])
                                                          for c in claims])
    broken = [[{**per_seed[0][0], "aggregate": "mode"}], [per_seed[1][0]]]
    with pytest.raises(DataError, match="no usable criterion"):
        report_data.aggregate_claims(broken)


def test_learning_curves_are_the_mean_and_interval_over_seeds(runs, tmp_path):
    from brainlearn.experiments.sweep_report import ci95

    found = html_report.collect(runs)
    verified = next(e for e in found.entries if e.kind == "verify" and e.experiment == TOY.name)
    steps, values = report_curves.seed_curves(verified.runs)["loss"]
    assert steps.tolist() == [0, 1, 2, 3] and values.tolist() == [[4.0 - s + seed for s in range(4)]
                                                                    for seed in range(3)]
    assert np.allclose(ci95(values, axis=0), [ci95(values[:, k]) for k in range(4)])
    svg = report_curves.curve_svg("loss", steps, values)
    assert "loss (mean ± 95% CI, 3 seeds)" in svg and "<polygon" in svg
    assert "<polygon" not in report_curves.curve_svg("loss", steps, values[:1])  # one seed: no band
    page = html_report.write_site(runs, tmp_path / "site")[0].read_text()
    assert page.count('<svg class="curve"') == 3  # one metric: the verify, the two runs, the overridden run


def test_every_text_is_escaped(runs, tmp_path):
    page = html_report.write_site(runs, tmp_path / "site")[0].read_text()
    tags = _parse(page).tags
    assert not any(any(k.startswith("on") for k in a) for t, a in tags)
    assert page.count("<script") == 1 and page.index("<script>") > page.index("</h1>")  # its own sorter only
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;/td&gt;&lt;/table&gt;" in page
    # the verify's claims plot and each seed's figure; each seed's figure of the two runs and of the override
    assert sum(t == "img" for t, _ in tags) == 2 + 2 + 2 + 1


def test_site_is_self_contained_with_relative_links(runs, tmp_path):
    site = tmp_path / "site"
    index, _ = html_report.write_site(runs, site)
    tags = _parse(index.read_text())
    srcs, hrefs = _links(tags, "img", "src"), _links(tags, "a", "href")
    assert srcs and hrefs
    for link in srcs + hrefs + _links(tags, "link", "href") + _links(tags, "script", "src"):
        assert not re.match(r"^[a-z]+:|^/", link), link  # no scheme, no absolute path: nothing from elsewhere
    for src in srcs:
        assert (site / unquote(src)).resolve().is_relative_to(site.resolve())
        assert (site / unquote(src)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_links = [h for h in hrefs if not h.startswith("#")]
    assert all((site / unquote(h)).is_dir() for h in run_links)
    linked = {Path(unquote(h)).name for h in run_links}  # every verify and run directory, the broken one aside
    assert linked == {p.name for p in [*(runs / "verify").iterdir(), *(runs / TOY.name).iterdir()]} - {"broken"}
    # moved together with the runs, the site still finds everything
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path, moved, ignore=shutil.ignore_patterns("moved"))
    assert all((moved / "site" / unquote(s)).is_file() for s in srcs)


def test_figures_that_leave_the_run_directory_are_not_copied(runs, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    run = next(p for p in (runs / TOY.name).iterdir()   # the lone run (seed 7): its own figures go to the site
               if (p / "config.json").is_file() and json.loads((p / "config.json").read_text()).get("seed") == 7)
    (run / "figures" / "a.png").symlink_to(secret)
    (run / "figures" / "<b>evil.png").symlink_to(Path("/etc/passwd"))
    site = tmp_path / "site"
    warned = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warned.append(record.getMessage())
    logging.getLogger("brainlearn").addHandler(handler)
    try:
        html_report.write_site(runs, site)
    finally:
        logging.getLogger("brainlearn").removeHandler(handler)
    copied = [f.read_bytes() for f in (site / "figures").rglob("*") if f.is_file()]
    assert copied and not any(b"secret" in c or b"root:" in c for c in copied)
    assert not any(f.is_symlink() for f in (site / "figures").rglob("*"))
    assert sum("skipping" in m for m in warned) == 2, warned


def test_default_out_is_inside_the_runs_folder_and_rewrites_itself(runs, capsys):
    assert main(["report", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "gated claims: 3 PASS, 2 FAIL, 2 XFAIL, 2 XPASS; 2 reported only (not gated); 5 not judged" in out
    assert "written:" in out
    first = (runs / "report" / "index.html").read_text()
    assert main(["report", str(runs)]) == 0  # its own site is not read as runs, and may be rewritten
    assert (runs / "report" / "index.html").read_text() == first


def test_user_errors(runs, tmp_path, capsys):
    with pytest.raises(ConfigError, match="not a directory"):
        html_report.write_site(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="found no run, sweep or verify directory"):
        html_report.write_site(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="a file"):
        html_report.write_site(runs, tmp_path / "file")
    with pytest.raises(ConfigError, match="holds the runs folder"):
        html_report.write_site(runs, runs)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="other files"):
        html_report.write_site(runs, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("brainlearn: error: expected a folder of runs")


def test_malformed_records_are_skipped_with_a_reason(tmp_path):
    root = tmp_path / "runs"
    for name, data in {"a": [{"experiment": "x", "claims": [{"id": "c", "values": ["one"]}]}], "b": {"x": 1},
                       "c": [{"experiment": "x", "claims": [{"id": "c", "interval": [1]}]}]}.items():
        (root / "verify" / name).mkdir(parents=True)
        (root / "verify" / name / "claims.json").write_text(json.dumps(data))
    found = html_report.collect(root)
    assert not found.entries and not found.unfinished and len(found.problems) == 3
    page = html_report.write_site(root, tmp_path / "site")[0].read_text()
    assert page.count('<li>') == 3 and "malformed" in page and "experiment sections" in page


@pytest.fixture
def compared(tmp_path, monkeypatch):
    """A runs folder to compare: a verify over two seeds and a 4-point sweep (one seed a point)."""
    experiments.names()
    monkeypatch.setitem(experiments._REGISTRY, TOY.name, TOY)
    root = tmp_path / "runs"
    verify([TOY.name], seeds=2, out=root)
    assert main(["sweep", TOY.name, "--grid", "scale=2,1,4,3", "--set", "value=2", "--out", str(root),
                 "--quiet"]) == 0
    return root


def test_a_sweep_is_one_table_with_a_column_per_grid_field_and_its_own_figures(compared, tmp_path):
    found = html_report.collect(compared)
    assert [e.kind for e in found.entries] == ["verify"] and not found.unfinished  # its points are its table
    (sweep,) = found.sweeps
    assert sweep.axes == ["scale"] and sweep.fixed == ["value=2"] and len(sweep.rows) == 4
    before = _snapshot(compared)
    page = html_report.write_site(compared, tmp_path / "site")[0].read_text()
    assert _snapshot(compared) == before  # the runs are only read
    tags = _parse(page)
    head = _table_texts(page, "sweep-0")[0]
    assert head[:3] == ["scale", "n", "value"] and "claim:fails" in head
    assert [row[:3] for row in _table_texts(page, "sweep-0")[1:]] == [["2", "1", "4"], ["1", "1", "2"],
                                                                       ["4", "1", "8"], ["3", "1", "6"]]
    srcs = _links(tags, "img", "src")
    assert any(Path(unquote(s)).name == "value-vs-scale.png" for s in srcs)  # the sweep's own figure
    assert any(h.endswith("summary.md") for h in _links(tags, "a", "href"))
    assert "value=2" in " ".join(tags.text) and "not verdicts" in " ".join(tags.text)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _table_texts(page: str, table_id: str) -> list[list[str]]:
    """The cells' texts of the table with `table_id`, header row first."""
    start = page.index(f'id="{table_id}"')
    table = page[start:page.index("</table>", start)]
    return [[" ".join(_parse(c).text).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


# -- a real browser --------------------------------------------------------------------------------------

@needs_chromium
def test_site_renders_in_headlesschromium(runs, tmp_path):
    import matplotlib.image

    index, _ = html_report.write_site(runs, tmp_path / "site")
    url = index.resolve().as_uri()
    shot = tmp_path / "shot.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not console(proc.stderr), console(proc.stderr)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, tables, colours
    dom = chromium("--dump-dom", url)
    tags = _parse(dom.stdout)
    srcs = _links(tags, "img", "src")
    assert len(srcs) == 7 and not console(dom.stderr)
    assert all((index.parent / unquote(s)).is_file() for s in srcs)


CLAIM_COLUMNS = html_report.CLAIM_HEAD
COLUMN = """Array.from(document.getElementById({table!r}).tBodies[0].rows).filter(r => !r.hidden)
             .map(r => r.cells[{column}].textContent.trim())"""


@needs_chromium
def test_a_two_seed_verify_and_a_sweep_render_and_sort_in_headlesschromium(compared, tmp_path):
    import matplotlib.image

    index, _ = html_report.write_site(compared, tmp_path / "site")
    browser = DevTools(tmp_path / "profile")
    try:
        page = browser.open(index.resolve().as_uri(), 1200, 1600)
        shot = tmp_path / "shot.png"
        shot.write_bytes(base64.b64decode(browser.call("Page.captureScreenshot", page)["data"]))
        text = browser.evaluate(page, "document.body.innerText")
        # the verify's claims over its two seeds (value = 1 + seed), one curve panel with its band
        assert "2 seeds (0, 1)" in text and "1, 2" in text
        assert browser.evaluate(page, "document.querySelectorAll('#e0 svg.curve polygon.band').length") == 1
        # the sweep: a column per grid field, rows in the grid's order; click to sort, again to reverse
        assert browser.evaluate(page, COLUMN.format(table="sweep-0", column=0)) == ["2", "1", "4", "3"]
        header = "document.getElementById('sweep-0').tHead.rows[0].cells[{}]"
        browser.evaluate(page, header.format(0) + ".click()")
        assert browser.evaluate(page, COLUMN.format(table="sweep-0", column=0)) == ["1", "2", "3", "4"]
        assert browser.evaluate(page, header.format(0) + ".getAttribute('aria-sort')") == "ascending"
        browser.evaluate(page, header.format(2) + ".click();" + header.format(2) + ".click()")  # the metric
        assert browser.evaluate(page, COLUMN.format(table="sweep-0", column=2)) == ["8", "6", "4", "2"]
        # the reproduction table sorts numbers as numbers, and filters by words
        claims = "document.getElementById('claims')"
        measured = CLAIM_COLUMNS.index("measured [95% CI]")
        browser.evaluate(page, f"{claims}.tHead.rows[0].cells[{measured}].click()")
        values = browser.evaluate(page, COLUMN.format(table="claims", column=measured))
        numbers = [float(v.split()[0]) for v in values if v.split()[0] != "nan"]
        assert numbers == sorted(numbers) and len(numbers) >= 4
        browser.evaluate(page, "const box = document.querySelector('input[data-table=claims]'); "
                               "box.value = 'Known  xfail'; box.dispatchEvent(new Event('input'))")  # every word
        assert browser.evaluate(page, COLUMN.format(table="claims", column=CLAIM_COLUMNS.index("claim"))) == [
            "known-gap"]
        assert not browser.console(), browser.console()
    finally:
        browser.close()
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


@needs_chromium
def test_the_console_check_sees_a_script_error(tmp_path):
    """The negative control: the log scan above does catch a page's console error."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefined_function();</script></body></html>")
    assert any("Uncaught ReferenceError" in line for line in console(chromium("--dump-dom", page.as_uri()).stderr))


# -- the docs' figures -----------------------------------------------------------------------------------

PAGES = sorted((DOCS / "experiments").glob("*.md"))
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _embedded() -> dict[Path, list[Path]]:
    return {p: [(p.parent / unquote(m)).resolve() for m in IMAGE.findall(p.read_text())] for p in PAGES}


def test_every_figure_a_docs_page_names_exists():
    missing = [f"{p.name}: {f}" for p, figs in _embedded().items() for f in figs if not f.is_file()]
    assert not missing, missing


def test_every_experiment_has_its_figures_embedded_next_to_its_claims():
    embedded = {f for figs in _embedded().values() for f in figs}
    for name in experiments.names():
        rendered = {f.resolve() for f in (DOCS / "figures" / name).glob("*.png")}
        assert rendered, f"no figures for {name}: run `make figures`"
        assert (DOCS / "figures" / name / figures.CLAIMS_FIGURE).resolve() in rendered
        assert rendered <= embedded, f"{name}: not embedded in docs/experiments: {sorted(rendered - embedded)}"
    for page, figs in _embedded().items():
        if figs:
            assert re.search(r"^#+ .*[Cc]laims", page.read_text(), re.M), f"{page.name} embeds figures, no claims"


def test_docs_figures_stay_small_and_belong_to_experiments():
    pages = {"tasks", "similarity", "league"}  # the task generator's, the measures' and the league's pages
    dirs = [d for d in (DOCS / "figures").iterdir() if d.is_dir()]
    assert {d.name for d in dirs} - pages <= set(experiments.names())
    assert sum(f.stat().st_size for d in dirs for f in d.glob("*.png")) < 5 * 2**20


def test_figures_script_renders_a_quick_run(tmp_path, monkeypatch, capsys):
    experiments.names()
    monkeypatch.setitem(experiments._REGISTRY, TOY.name, TOY)
    dest = tmp_path / "figs" / TOY.name
    dest.mkdir(parents=True)
    (dest / "stale.png").write_bytes(b"old")
    assert figures.main([TOY.name, "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["claims.png", "curve <&> #1.png"]
    assert "html-toy:passes" in capsys.readouterr().out
    assert figures.main(["no-such-experiment", "--out", str(tmp_path / "figs")]) == 2


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def test_every_docs_link_of_the_experiment_pages_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = unquote(target).partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in {
                    _slug(line.lstrip("#").strip()) for line in dest.read_text().splitlines() if line.startswith("#")}:
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
