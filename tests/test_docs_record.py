"""No measured value in the docs is typed by hand: each experiment's page holds one block generated from
recorded.json (`brainlearn verify --list --docs docs` rewrites them all), and the blocks are current.

Outside the blocks, a Markdown table row of a docs page whose first cell starts with a claim id and that states
a verdict (PASS, FAIL, XFAIL, XPASS) is a hand-typed result. It is allowed only as history: when the table's
section heading or the paragraph just above the table contains "history", "seed scheme" or a date
(YYYY-MM-DD), that is, says when or under what it was measured."""

import re
from collections import defaultdict

from brainlearn import experiments
from brainlearn.experiments.claims_table import BLOCK, REGENERATE, claims_block, page_of, presets_of, recorded
from brainlearn.experiments.runner import make_config
from tests import REPO

FIRST_CELL_ID = re.compile(r"^\|\s*[`*]*([\w.-]+)")
VERDICT = re.compile(r"\b(PASS|FAIL|XFAIL|XPASS)\b")
HISTORY = re.compile(r"history|seed scheme|\d{4}-\d{2}-\d{2}", re.IGNORECASE)


def test_every_block_is_current():
    records = recorded()
    for path in sorted((REPO / "docs").rglob("*.md")):
        text = path.read_text()
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            assert m.group(0) == claims_block(m.group(1), records), \
                f"{path.relative_to(REPO)}:{line}: the block of {m.group(1)} is not the record's; run `{REGENERATE}`"


def test_every_experiment_has_one_block_on_its_page():
    pages_of = defaultdict(list)
    for path in sorted((REPO / "docs").rglob("*.md")):
        for m in BLOCK.finditer(path.read_text()):
            pages_of[m.group(1)].append(str(path.relative_to(REPO)))
    for name in experiments.names():
        assert pages_of[name] == [page_of(name)], \
            f"{name}'s blocks are on {pages_of[name]}: put one under the Claims heading of {page_of(name)} " \
            f"(`<!-- recorded: {name} -->` then `<!-- /recorded -->`) and run `{REGENERATE}`"
    assert set(pages_of) <= set(experiments.names()), set(pages_of) - set(experiments.names())


def test_no_hand_typed_verdicts_outside_the_blocks():
    ids = {c.id for name in experiments.names() for preset in presets_of(experiments.get(name))
           for c in experiments.get(name).claims(make_config(experiments.get(name), preset))}
    hand_typed = []
    for path in sorted((REPO / "docs").rglob("*.md")):
        text = BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())  # keeps line numbers
        heading = caption = paragraph = ""
        fenced = False
        for line_no, line in enumerate(text.splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            elif fenced:
                continue
            elif line.startswith("#"):
                heading, caption, paragraph = line, "", ""
            elif not line.strip():
                caption, paragraph = paragraph or caption, ""
            elif not line.startswith("|"):
                paragraph += " " + line
            elif (m := FIRST_CELL_ID.match(line)) and m.group(1) in ids and VERDICT.search(line) \
                    and not (HISTORY.search(heading) or HISTORY.search(caption)):
                hand_typed.append(f"{path.relative_to(REPO)}:{line_no}: {m.group(1)}")
    assert not hand_typed, \
        "hand-typed results: a page's current values are its generated block (`" + REGENERATE + "` rewrites " \
        "it); delete these rows, or keep them as history under a heading or after a paragraph that names the " \
        "date or seed scheme they were measured under:\n" + "\n".join(hand_typed)


def test_the_docs_command_fills_a_new_block_and_then_changes_nothing(tmp_path, capsys):
    from brainlearn.cli import main

    page = tmp_path / "experiments" / "fa-vs-bp.md"
    page.parent.mkdir()
    page.write_text("## Claims\n\n<!-- recorded: fa-vs-bp -->\n<!-- /recorded -->\n\nAnalysis.\n")
    assert main(["verify", "--list", "--docs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("rewrote") == 2  # claims.md and the page
    assert page.read_text() == f"## Claims\n\n{claims_block('fa-vs-bp')}\n\nAnalysis.\n"
    assert main(["verify", "--list", "--docs", str(tmp_path)]) == 0 and capsys.readouterr().out == ""
