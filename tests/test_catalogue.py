"""The experiment catalogue: current, and `brainlearn list` answers from it without importing torch."""

import subprocess
import sys

from brainlearn import catalogue


def test_catalogue_json_is_current():
    assert catalogue.CATALOGUE.read_text() == catalogue.text(), \
        "regenerate it: python -m brainlearn.catalogue"


def test_list_imports_neither_torch_nor_any_experiment():
    code = ("import sys; from brainlearn.cli import main; main(['list']); main(['list', 'fa-vs-bp']); "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('brainlearn.experiments')]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "fa-vs-bp" in done.stdout and "config fields, quick preset" in done.stdout


def test_with_plugins_list_asks_the_registry(monkeypatch):
    monkeypatch.setenv("BRAINLEARN_PLUGINS", "some.plugin")
    assert catalogue.load() is None
