"""The docs site's maths in a real browser: a one-page site built with the project's mkdocs.yml and hooks, its
formulas typeset by the MathJax copied into the site (no network), a long formula scrolling in its own box; and
every formula of the built site (site/, from `make docs`, which runs this file after building it) typeset."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from html import unescape

import pytest

from tests import REPO
from tests.browser import chromium, console, needs_chromium

yaml = pytest.importorskip("yaml")
pytestmark = needs_chromium
SITE = REPO / "site"

TERMS = " + ".join(f"a_{{{k}}}" for k in range(1, 41))
PAGE = rf"""# Maths

Inline $\alpha \in [0, 1]$ and \(\beta = 0.4\).

$$
P(i) = \frac{{p_i^\alpha}}{{\sum_j p_j^\alpha}} = {TERMS}
$$

<script>
window.addEventListener("load", () => MathJax.startup.promise.then(() => {{
  const box = document.querySelector("div.arithmatex");
  document.body.dataset.layout = JSON.stringify({{page: document.documentElement.scrollWidth,
    view: window.innerWidth, box: box.clientWidth, formula: box.scrollWidth}});
}}));
</script>
"""


def rendered(page):
    """`page`'s DOM once its scripts ran in headless Chromium, and the console messages and uncaught errors."""
    browser = chromium("--window-size=800,1000",
                       "--virtual-time-budget=10000",  # time for MathJax to typeset before the DOM is dumped
                       "--dump-dom", page.as_uri())
    assert browser.returncode == 0, browser.stderr[-2000:]
    return browser.stdout, console(browser.stderr)


@pytest.fixture(scope="module")
def maths_site(tmp_path_factory):
    """The page above, built strict with the site's Markdown extensions, hooks and scripts (no API plugins)."""
    for module, reason in (("mkdocs", "no mkdocs"), ("mathjax", "no MathJax distribution (django-static-mathjax)")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{reason}: pip install -e '.[docs]'")
    root = tmp_path_factory.mktemp("maths-site")
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text(PAGE, encoding="utf-8")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config = {k: v for k, v in config.items() if k not in ("watch", "exclude_docs")}
    config.update(docs_dir=str(root / "docs"), site_dir=str(root / "site"), nav=["index.md"], plugins=[],
                  hooks=[str(REPO / "docs" / "hooks.py")])
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(root / "mkdocs.yml")],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert build.returncode == 0, build.stderr[-2000:]
    return root / "site"


def test_maths_is_typeset_offline_and_long_formulas_scroll_in_their_own_box(maths_site):
    assert (maths_site / "mathjax" / "tex-chtml.js").is_file() and (maths_site / "mathjax" / "config.js").is_file()
    assert list((maths_site / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("MathJax_Main-*.woff"))
    html = (maths_site / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=\"(https?:)?//", html), "a script from the network"

    dom, console = rendered(maths_site / "index.html")
    assert not console, console
    assert dom.count("<mjx-container") == 3  # two inline formulas, one displayed
    assert "<mjx-merror" not in dom, "MathJax could not typeset a formula"
    text = re.sub(r"<[^>]+>", "", re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S))
    assert "$" not in text and "\\(" not in text and "\\[" not in text, "TeX left untypeset"
    layout = json.loads(unescape(re.search(r'data-layout="([^"]+)"', dom).group(1)))
    assert layout["page"] <= layout["view"], layout  # the page itself does not scroll sideways
    assert layout["formula"] > layout["box"], layout  # the long formula overflows its box, which scrolls


def built_site_state():
    """Why the built site cannot be checked (not built, or older than a docs page), or None."""
    if not (SITE / "index.html").is_file():
        return "site/ is not built (make docs builds it, then runs this check)"
    built = (SITE / "index.html").stat().st_mtime
    if any(p.stat().st_mtime > built for p in (REPO / "docs").rglob("*.md")):
        return "site/ is older than docs/ (make docs rebuilds it)"
    return None


@pytest.mark.skipif(built_site_state() is not None, reason=str(built_site_state()))
def test_every_formula_of_the_built_site_is_typeset():
    pages = [p for p in sorted(SITE.rglob("*.html")) if 'class="arithmatex"' in p.read_text(encoding="utf-8")]
    assert pages, "no page of the site has maths"
    for page in pages:
        dom, _ = rendered(page)  # (the search box's script logs an error on file:// URLs: not checked here)
        formulas = page.read_text(encoding="utf-8").count('class="arithmatex"')
        where = page.relative_to(SITE).as_posix()
        assert dom.count("<mjx-container") == formulas, f"{where}: not every formula was typeset"
        assert "<mjx-merror" not in dom, f"{where}: MathJax could not typeset a formula"
