"""A griffe extension for the brainlearn site (named in mkdocs.yml; not part of the package).

Interactive examples (``>>>`` lines and their output) written in a docstring outside a Google ``Examples:``
section would render as nested blockquotes; this turns every such block into a ``pycon`` code block. Lines
inside ``Examples:`` sections are left to griffe, which renders them as code already; an ``Example:`` header
(an admonition in Google style) becomes ``Examples:``.
"""

from __future__ import annotations

import re

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


def fence_doctests(text: str) -> str:
    """`text` with each run of ``>>>``/``...`` lines and the output lines that follow them fenced as pycon."""
    out, block, indent = [], [], ""

    def flush():
        if block:
            out.extend([f"{indent}```pycon", *block, f"{indent}```"])
            block.clear()

    in_examples = False
    for line in text.split("\n"):
        stripped = line.strip()
        if re.match(r"^Examples?:$", stripped):
            flush()
            in_examples = True
            out.append(line)
            continue
        if in_examples and stripped and not line.startswith((" ", "\t")):
            in_examples = False
        if not in_examples and stripped.startswith(">>>") and not block:
            indent = line[: len(line) - len(line.lstrip())]
            block.append(line)
        elif block and stripped:
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out)


try:  # the docs tools; fence_doctests itself needs nothing (the test suite imports it without them)
    import griffe
except ImportError:  # pragma: no cover - depends on the environment
    griffe = None

if griffe is not None:
    class DoctestFences(griffe.Extension):
        def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
            if obj.docstring is not None:
                obj.docstring.value = fence_doctests(_EXAMPLE.sub(r"\1Examples:", obj.docstring.value))
