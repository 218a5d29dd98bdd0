"""brainlearn's tests; the layout mirrors src/brainlearn (tests/<package>/test_<module>.py)."""

from pathlib import Path

#: The repository root (docs/, src/, README.md).
REPO = Path(__file__).resolve().parents[1]
