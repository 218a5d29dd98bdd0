from dataclasses import dataclass
from typing import Literal

import pytest

from brainlearn.errors import ConfigError
from brainlearn.runtime import apply_overrides, config_from_dict, config_to_dict, require


@dataclass(frozen=True)
class Cfg:
    n: int = 1
    lr: float = 0.1
    flag: bool = False
    name: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (3, 4)
    root: str | None = None

    def __post_init__(self):
        require(self.n >= 1, f"n must be >= 1, got {self.n}")


def test_overrides_are_typed():
    c = apply_overrides(Cfg(), ["n=3", "lr=1e-3", "flag=true", "name=b", "sizes=5,6,7", "root=/x"])
    assert c == Cfg(3, 1e-3, True, "b", (5, 6, 7), "/x")
    assert apply_overrides(c, ["root=none"]).root is None


@pytest.mark.parametrize("item, message", [
    ("m=1", "unknown config key 'm'"), ("n=x", "expected int"), ("flag=maybe", "expected a boolean"),
    ("name=c", "expected one of a, b"), ("n", "expected key=value"), ("n=0", "n must be >= 1"),
    ("sizes=1,x", "expected int"),
])
def test_bad_overrides(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Cfg(), [item])


def test_roundtrip_through_json():
    c = Cfg(sizes=(1, 2))
    assert config_from_dict(Cfg, config_to_dict(c)) == c
    with pytest.raises(ConfigError, match="unknown keys"):
        config_from_dict(Cfg, {"zzz": 1})


# -- declared bounds and nested configs --------------------------------------------------------------

from brainlearn.runtime import Config, describe_fields, param  # noqa: E402


@dataclass(frozen=True)
class Part(Config):
    steps: int = param(10, ge=1, help="training steps")
    rate: float = param(0.5, gt=0, le=1)


@dataclass(frozen=True)
class Whole(Config):
    width: tuple[int, ...] = param((4, 4), ge=1, nonempty=True)
    gain: float = param(1.0, gt=0)
    part: Part = Part()
    other: Part = Part(steps=3)


def test_nested_overrides_reach_nested_configs():
    c = apply_overrides(Whole(), ["part.steps=7", "other.rate=1", "gain=2"])
    assert c.part == Part(7, 0.5) and c.other == Part(3, 1.0) and c.gain == 2.0
    assert config_from_dict(Whole, config_to_dict(c)) == c


@pytest.mark.parametrize("item, message", [
    ("part.steps=0", "steps must be >= 1, got 0"), ("part.rate=2", r"rate must be in \(0, 1\], got 2.0"),
    ("gain=nan", "gain must be a finite number"), ("gain=inf", "gain must be a finite number"),
    ("width=0,3", "width must be >= 1"), ("width=", "width must not be empty"),
    ("part=3", "part is a group of settings"), ("gain.x=1", "gain has no fields"),
    ("part.nope=1", "unknown config key 'part.nope'"),
])
def test_declared_bounds_are_checked_with_clear_messages(item, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Whole(), [item])


def test_bounds_apply_to_python_construction_too():
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        Part(steps=0)
    with pytest.raises(ConfigError, match="expected int"):
        Part(steps=1.5)
    with pytest.raises(ConfigError, match="expected a Part"):
        Whole(part={"steps": 3})


def test_describe_fields_lists_nested_fields_with_ranges():
    rows = {r["name"]: r for r in describe_fields(Whole())}
    assert rows["part.steps"] == {"name": "part.steps", "type": "int", "default": "10", "range": ">= 1",
                                  "help": "training steps"}
    assert rows["part.rate"]["range"] == "(0, 1]" and rows["width"]["default"] == "4,4"


def test_renamed_keys_are_refused_with_the_new_name_and_read_from_old_runs():
    from dataclasses import dataclass

    from brainlearn.runtime import config_from_dict

    @dataclass(frozen=True)
    class Inner(Config):
        n_hidden: int = param(4, ge=1)

    @dataclass(frozen=True)
    class Outer(Config):
        renamed = {"hidden": "model.n_hidden", "batch": "batch_size"}
        batch_size: int = param(8, ge=1)
        model: Inner = Inner()

    with pytest.raises(ConfigError, match="'hidden' was renamed: use 'model.n_hidden'"):
        apply_overrides(Outer(), ["hidden=3"])
    with pytest.raises(ConfigError, match="'batch' was renamed: use 'batch_size'"):
        apply_overrides(Outer(), ["batch=3"])
    assert config_from_dict(Outer, {"hidden": 7, "batch": 2}) == Outer(2, Inner(7))

    @dataclass(frozen=True)
    class Widths(Config):
        n_hidden: tuple[int, ...] = param((4,), ge=1)

    @dataclass(frozen=True)
    class Wider(Config):
        renamed = {"hidden": "model.n_hidden"}
        model: Widths = Widths()

    assert config_from_dict(Wider, {"hidden": 7}) == Wider(Widths((7,)))  # an old scalar width: one layer
