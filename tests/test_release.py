"""Release metadata: --version, LICENSE vs pyproject, CITATION.cff, CHANGELOG, the docs site's coverage."""

import importlib.util
import re
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import brainlearn
from brainlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "brainlearn"

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


@pytest.fixture(scope="module")
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_flag_prints_name_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"brainlearn {brainlearn.__version__}\n"


def test_version_has_one_source(pyproject):
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "brainlearn.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", brainlearn.__version__)


def test_license_file_matches_pyproject(pyproject):
    project = pyproject["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "MIT License"
    assert "Copyright (c) 2026 the brainlearn authors" in text
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_citation_cff_parses_with_the_expected_keys(pyproject):
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert {"message", "title", "authors", "version", "license", "references"} <= cff.keys()
    assert cff["version"] == brainlearn.__version__ and cff["license"] == pyproject["project"]["license"]
    assert cff["authors"] == [{"name": "the brainlearn authors"}]
    for ref in cff["references"]:
        assert {"type", "title", "authors", "year", "identifiers"} <= ref.keys(), ref.get("title")
        assert all({"family-names", "given-names"} <= author.keys() for author in ref["authors"])
    cited = {ident["value"] for ref in cff["references"] for ident in ref["identifiers"]}
    # every paper the README's table names by arXiv id, plus the two it names by author only
    readme_ids = set(re.findall(r"arXiv:\d{4}\.\d{4,5}", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert readme_ids and readme_ids <= cited
    assert {"arXiv:1411.0247", "arXiv:2306.10168", "arXiv:2207.03523"} <= cited


def test_changelog_has_unreleased_and_the_current_version():
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert headings[0] == "Unreleased" and brainlearn.__version__ in headings


def test_readme_wheel_name_is_the_current_version():
    wheels = re.findall(r"brainlearn-([\d.]+)-py3-none-any\.whl", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert wheels and set(wheels) == {brainlearn.__version__}


def test_every_data_file_in_the_package_is_declared(pyproject):
    """The wheel carries only declared package data: a data file beside the code must be declared."""
    declared = pyproject["tool"]["setuptools"]["package-data"]
    assert "recorded.json" in declared["brainlearn.experiments"]
    for path in SRC.rglob("*"):
        # __pycache__ holds interpreter and numba caches, never packaged
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts:
            package = ".".join(path.parent.relative_to(SRC.parent).parts)
            assert any(fnmatch(path.name, pattern) for pattern in declared.get(package, [])), path


def _public_modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__" and not any(p.startswith("_") for p in parts):
            yield ".".join(parts)


def test_api_reference_documents_every_public_module():
    documented = {m for page in (ROOT / "docs" / "api").rglob("*.md")
                  for m in re.findall(r"^::: (\S+)$", page.read_text(encoding="utf-8"), re.MULTILINE)}
    modules = set(_public_modules())
    assert modules - documented == set(), "add these modules to a page under docs/api/"
    assert documented - modules == set(), "docs/api/ names modules that do not exist"


def _nav_pages(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def test_site_nav_lists_every_docs_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert set(_nav_pages(config["nav"])) == pages


@pytest.fixture(scope="module")
def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page(src_uri):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def test_docs_hook_rewrites_repository_links_relative_to_the_page(hooks, tmp_path):
    docs = tmp_path / "docs"
    (docs / "experiments").mkdir(parents=True)
    (tmp_path / "README.md").write_text("See [claims](docs/claims.md) and [pages](docs/experiments/).\n")
    config = {"docs_dir": str(docs), "config_file_path": str(tmp_path / "mkdocs.yml")}
    home = hooks.on_page_markdown('--8<-- "README.md"\n', _page("index.md"), config, None)
    assert home == "See [claims](claims.md) and [pages](index.md#experiments).\n\n"
    table = "[analysis](docs/experiments/ccrnn.md#known-non-reproduction-3b) [web](https://example.org/docs/x)"
    assert hooks.on_page_markdown(table, _page("claims.md"), config, None) == \
        "[analysis](experiments/ccrnn.md#known-non-reproduction-3b) [web](https://example.org/docs/x)"
    assert hooks.on_page_markdown("[a](docs/sweeps.md)", _page("api/models/x.md"), config, None) == \
        "[a](../../sweeps.md)"


def test_docs_hook_renders_sphinx_roles_as_code(hooks):
    html = "use :func:<code>register</code> and :mod:<code>~brainlearn.similarity.stats</code>"
    assert hooks.on_page_content(html, None, None, None) == "use <code>register</code> and <code>stats</code>"


def test_docstring_examples_render_as_code():
    """The site's griffe extension fences interactive examples outside `Examples:` sections as pycon code (in
    Markdown, a bare `>>>` line is a nested blockquote)."""
    spec = importlib.util.spec_from_file_location("griffe_doctests", ROOT / "docs" / "griffe_doctests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Intro.\n\n>>> x = 1\n>>> x + 1\n2\n\nAfter.\n\nExamples:\n    >>> y = 2\n"
    assert module.fence_doctests(text) == ("Intro.\n\n```pycon\n>>> x = 1\n>>> x + 1\n2\n```\n\nAfter.\n\n"
                                           "Examples:\n    >>> y = 2\n")
    indented = "    >>> a\n    b\n"
    assert module.fence_doctests(indented) == "    ```pycon\n    >>> a\n    b\n    ```\n"
