"""MkDocs hooks for the brainlearn site (named in mkdocs.yml; not part of the package).

- A line ``--8<-- "FILE"`` includes a repository file (docs/index.md includes README.md), before links
  are checked, so the included links are checked too.
- Links written from the repository root (``docs/claims.md`` in README.md and in the generated
  reproduction table) are rewritten relative to the page, so one Markdown source serves both the
  repository view and the site. A link to a docs folder without an index page goes to that folder's
  section on the home page.
- Sphinx-style roles in docstrings (``:func:`name```) render as plain code: mkdocstrings shows the
  role's text literally, and ``~a.b.c`` (Sphinx's "last component") shows as ``c``.
- Maths: ``$...$`` / ``\\(...\\)`` inline and ``$$...$$`` / ``\\[...\\]`` displayed (pymdownx.arithmatex,
  generic mode) are typeset by MathJax in the browser. Its script and fonts come from the pinned
  ``django-static-mathjax`` package (the docs extra) and are copied into the site, so neither building nor
  viewing it needs the network.
"""

from __future__ import annotations

import importlib.resources
import posixpath
import re
from pathlib import Path

_INCLUDE = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
_REPO_LINK = re.compile(r"\]\(docs/([^)\s]*)\)")
_ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def on_page_markdown(markdown, page, config, files):
    docs_dir = Path(config["docs_dir"])
    root = Path(config["config_file_path"]).parent
    markdown = _INCLUDE.sub(lambda m: (root / m.group(1)).read_text(encoding="utf-8"), markdown)
    here = posixpath.dirname(page.file.src_uri) or "."

    def relink(match: re.Match) -> str:
        target, _, anchor = match.group(1).partition("#")
        path = target.rstrip("/")
        if (docs_dir / path).is_dir() and not (docs_dir / path / "index.md").exists():
            target, anchor = "index.md", posixpath.basename(path)
        rel = posixpath.relpath(target or "index.md", here)
        return f"]({rel}{'#' + anchor if anchor else ''})"

    return _REPO_LINK.sub(relink, markdown)


def on_page_content(html, page, config, files):
    return _ROLE.sub(lambda m: f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>", html)


# MathJax 3's CommonHTML build: the script, and the fonts it loads from beside itself (output/chtml/fonts/...).
MATHJAX_PACKAGE = "mathjax"  # the import name of django-static-mathjax
MATHJAX_SCRIPT = "tex-chtml.js"
MATHJAX_FONTS = "output/chtml/fonts/woff-v2"
# arithmatex (generic) hands each formula over in an element of class "arithmatex", as \(...\) or \[...\]:
# MathJax typesets those elements only.
MATHJAX_CONFIG = r"""window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"}
};
"""


def mathjax_dir() -> Path:
    """The es5 folder of the installed MathJax distribution; a clear error when the docs extra is missing."""
    try:
        root = importlib.resources.files(MATHJAX_PACKAGE) / "static" / "mathjax" / "es5"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / MATHJAX_SCRIPT).is_file():
        raise RuntimeError("the docs' maths need MathJax from the docs extra: pip install -e '.[docs]'")
    return Path(str(root))


def on_files(files, config):
    """Add MathJax (config, script, fonts) under mathjax/ in the site; mkdocs.yml's extra_javascript loads it."""
    from mkdocs.structure.files import File  # here, so that the tests of the other hooks need no mkdocs

    es5 = mathjax_dir()
    files.append(File.generated(config, "mathjax/config.js", content=MATHJAX_CONFIG))
    files.append(File.generated(config, f"mathjax/{MATHJAX_SCRIPT}", abs_src_path=str(es5 / MATHJAX_SCRIPT)))
    for font in sorted((es5 / MATHJAX_FONTS).iterdir()):
        files.append(File.generated(config, f"mathjax/{MATHJAX_FONTS}/{font.name}", abs_src_path=str(font)))
    return files
