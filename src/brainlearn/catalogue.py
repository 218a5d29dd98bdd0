"""The experiment catalogue: what ``brainlearn list`` prints, read without importing torch or any experiment.

``catalogue.json`` beside this module holds, for every registered experiment, its name, earlier names,
paper, summary, defining file, presets, quick claims and config fields (type, default, range, help per
preset). It is regenerated with ``python -m brainlearn.catalogue`` (a test checks that it is current).
Experiments from plugins (the ``brainlearn.experiments`` entry-point group or ``$BRAINLEARN_PLUGINS``) are
not in it: with plugins configured, :func:`load` returns None and ``brainlearn list`` imports the registry.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).with_name("catalogue.json")
PACKAGE = Path(__file__).parent


def build() -> dict[str, Any]:
    """The catalogue of every built-in experiment (imports them all)."""
    from brainlearn import experiments
    from brainlearn.runtime import describe_fields

    out = {}
    for name in experiments.names():
        exp = experiments.get(name)
        if not Path(exp.source).resolve().is_relative_to(PACKAGE):   # a plugin's (or a test's) experiment
            continue
        fields = {preset: describe_fields(config) for preset, config in exp.presets.items()}
        out[name] = {"aliases": list(exp.aliases), "paper": exp.paper, "summary": exp.summary,
                     "source": Path(exp.source).resolve().relative_to(PACKAGE).as_posix(),
                     "presets": list(exp.presets), "claims": [c.id for c in exp.claims(exp.preset("quick"))],
                     "fields": fields}
    return out


def text() -> str:
    return json.dumps(build(), indent=1, ensure_ascii=False) + "\n"


def load() -> dict[str, Any] | None:
    """The catalogue, or None where plugins add experiments it cannot know (or the file is missing)."""
    if os.environ.get("BRAINLEARN_PLUGINS", "").strip() or entry_points(group="brainlearn.experiments"):
        return None
    try:
        return json.loads(CATALOGUE.read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    CATALOGUE.write_text(text())
    print(f"written: {CATALOGUE}")
