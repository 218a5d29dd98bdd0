"""The experiment registry: names follow the defining file, earlier names still work and say so once."""

import logging

import pytest

from brainlearn import experiments
from brainlearn.errors import ConfigError


def test_every_name_is_package_dash_module():
    for name in experiments.names():
        exp = experiments.get(name)
        package, module = exp.run.__module__.split(".")[-2:]
        assert name == f"{package}-{module}".replace("_", "-"), (name, exp.source)
        assert exp.source.endswith(f"{package}/{module}.py")


def test_old_names_keep_working_and_say_so_once(caplog):
    experiments._warned.discard("pp-nwb")
    with caplog.at_level(logging.WARNING, logger="brainlearn"):
        assert experiments.get("pp-nwb") is experiments.get("predictive-nwb")
        experiments.get("pp-nwb")
    assert sum("renamed 'predictive-nwb'" in r.getMessage() for r in caplog.records) == 1
    assert "pp-nwb" not in experiments.names()
    with pytest.raises(ConfigError, match="unknown experiment"):
        experiments.get("pp-nope")


def test_a_name_or_alias_cannot_be_registered_twice():
    exp = experiments.get("fa-vs-bp")
    clash = type(exp)(**{**exp.__dict__, "name": "another", "aliases": ("pp-nwb",)})
    with pytest.raises(ValueError, match="registered twice"):
        experiments.register(clash)
