"""MkDocs hooks for the brainlearn site (named in mkdocs.yml; not part of the package).

- A line ``--8<-- "FILE"`` includes a repository file (docs/index.md includes README.md), before links
  are checked, so the included links are checked too.
- Links written from the repository root (``docs/claims.md`` in README.md and in the generated
  reproduction table) are rewritten relative to the page, so one Markdown source serves both the
  repository view and the site. A link to a docs folder without an index page goes to that folder's
  section on the home page.
- Sphinx-style roles in docstrings (``:func:`name```) render as plain code: mkdocstrings shows the
  role's text literally, and ``~a.b.c`` (Sphinx's "last component") shows as ``c``.
"""

from __future__ import annotations

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
